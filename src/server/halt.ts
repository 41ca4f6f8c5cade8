/**
 * The control plane's emergency stop (issue #17): one request halts
 * everything Faultline has injected, every run on every server on this
 * database and every fleet agent. The shapes are the API's (and the
 * dashboard's, type-only); below them, what a server does on a halt (its runs,
 * its host's ledger and halt flag, the fleet) and the watcher that makes every
 * server on the database follow the halt row within its poll.
 */
import { z } from 'zod';
import { FaultlineError } from '../core/errors.js';
import { haltState, releaseHalt as releaseHostHalt } from '../faults/recovery.js';
import type { FleetConnectOptions } from '../fleet/connect.js';
import type { FleetController } from '../fleet/controller.js';
import { haltAll } from '../lib/faults.js';
import { ApiError } from './api-error.js';
import type { HaltRecord, Store } from './store.js';

export const HaltStateSchema = z.object({
  halted: z.boolean(),
  since: z.string().optional(),
  by: z.string().optional(),
  reason: z.string().optional(),
});
export type HaltState = z.infer<typeof HaltStateSchema>;

/** POST /api/halt's body (strict: an unknown field is a 400 naming it). */
export const RaiseHaltSchema = z.strictObject({
  /** Why, in words: shown to everyone and kept in the audit log. */
  reason: z.string().trim().min(1).max(500),
});

/** What the emergency stop did on the server that was asked (the others follow within their poll). */
export const HaltResultSchema = HaltStateSchema.extend({
  /** Runs of this server interrupted (their faults reverted with them). */
  runsInterrupted: z.array(z.string()),
  /** Faults on this host reverted from the ledger (every run's, the CLI's too), and those that failed. */
  reverted: z.number().int(),
  failed: z.array(z.object({ id: z.string(), kind: z.string(), error: z.string() })),
  /** The fleet's halt, when the server has a fleet: agents that confirmed their faults reverted, and those that did not. */
  fleet: z
    .object({ verified: z.array(z.string()), unconfirmed: z.array(z.string()), error: z.string().optional() })
    .optional(),
});
export type HaltResult = z.infer<typeof HaltResultSchema>;

// ---------------------------------------------------------------- what a server does on a halt

/**
 * Where each server keeps the record that it applied a halt on its host: the host's own halt flag,
 * whose reason ends with this tag. The flag is what `faultline run` on the host obeys, so applied
 * and enforced are one fact, and it survives a restart: a server that finds its tag on the flag
 * while the database holds no halt lifts it (the halt was released while it was down).
 */
const tagOf = (serverId: string, since: string) => ` [faultline serve ${serverId}, halt of ${since}]`;
/** Raised while the database could not record the halt: never lifted by the watcher, only by DELETE. */
const UNRECORDED = 'unrecorded';

export function haltReasonText(halt: { by: string; reason: string }): string {
  return `emergency stop by ${halt.by}: ${halt.reason}`;
}

/** The 409 POST /api/runs answers while the emergency stop is raised. */
export function haltedError(halt: HaltRecord): ApiError {
  return new ApiError(
    409,
    'halted',
    `the emergency stop is raised (${haltReasonText(halt)}, since ${halt.since}): no run starts until an approver releases it (DELETE /api/halt)`,
  );
}

/** For POST /api/runs: refuses while the database holds a halt (any server on it may have raised it). */
export async function refuseWhileHalted(store: Pick<Store, 'getHalt'>): Promise<void> {
  const halt = await store.getHalt();
  if (halt) throw haltedError(halt);
}

export function haltStateOf(halt: HaltRecord | undefined): HaltState {
  return halt ? { halted: true, since: halt.since, by: halt.by, reason: halt.reason } : { halted: false };
}

/** What a halt needs of the run loop (runner.ts's Runner; structural, as runner.ts imports this file's shapes). */
export interface HaltableRunner {
  runningIds(): string[];
  abort(id: string, reason: string): boolean;
  /** The server-wide stream (`/api/live`): told when the halt is raised or released. */
  live?: { broadcast(event: { type: 'halt'; halt: HaltState }): void };
}

export interface LocalHaltDeps {
  runner: HaltableRunner;
  /** $FAULTLINE_HOME: the ledger reverted and the flag raised. */
  home: string;
  serverId: string;
}

export interface LocalHaltOutcome {
  runsInterrupted: string[];
  reverted: number;
  failed: HaltResult['failed'];
}

/**
 * One host's ledger is worked on by one halt or release at a time: the route and the watcher of one
 * server may both act on the same halt, and the second then finds the first's flag and does nothing.
 * Each piece of work done counts a generation, so the watcher can tell that the route acted while it
 * was reading the database, and drop what it read (a halt just released, or none just before one
 * was raised) instead of undoing the route's work.
 */
const hostQueues = new Map<string, Promise<unknown>>();
const generations = new Map<string, number>();

/** How many halts and releases this process has done on the host of `home`. */
export function hostGeneration(home: string): number {
  return generations.get(home) ?? 0;
}

/** Runs `work` after the host's earlier work; undefined (without running it) when `unchangedSince` is stale. */
function onHost<T>(home: string, work: () => Promise<T>, unchangedSince?: number): Promise<T | undefined> {
  const next = (hostQueues.get(home) ?? Promise.resolve()).then(async () => {
    if (unchangedSince !== undefined && hostGeneration(home) !== unchangedSince) return undefined;
    generations.set(home, hostGeneration(home) + 1);
    return work();
  });
  const settled = next.catch(() => undefined);
  hostQueues.set(home, settled);
  void settled.then(() => {
    if (hostQueues.get(home) === settled) hostQueues.delete(home);
  });
  return next;
}

/** Interrupts every run this server is running, with the halt's who and why as the reason. */
function interruptRuns(deps: LocalHaltDeps, halt: { by: string; reason: string }): string[] {
  const reason = haltReasonText(halt);
  return deps.runner.runningIds().filter((id) => deps.runner.abort(id, reason));
}

/**
 * Whose the host's halt flag is: none; this server's, for the halt raised at `since` (or
 * `unrecorded`); or someone else's (`faultline halt` typed on the host), which a server never lifts.
 */
async function hostFlag(
  deps: Pick<LocalHaltDeps, 'home' | 'serverId'>,
): Promise<{ kind: 'none' } | { kind: 'mine'; since: string } | { kind: 'foreign'; reason?: string }> {
  const flag = await haltState({ home: deps.home });
  if (!flag) return { kind: 'none' };
  const reason = flag.reason ?? '';
  const mine = ` [faultline serve ${deps.serverId}, halt of `;
  const at = reason.lastIndexOf(mine);
  if (at < 0 || !reason.endsWith(']'))
    return { kind: 'foreign', ...(flag.reason !== undefined ? { reason: flag.reason } : {}) };
  return { kind: 'mine', since: reason.slice(at + mine.length, -1) };
}

function failures(report: Awaited<ReturnType<typeof haltAll>>): HaltResult['failed'] {
  return [
    ...report.failed.map((f) => ({
      id: f.id,
      kind: f.kind,
      error: `${f.target}: ${f.error ?? 'not reverted'}`,
    })),
    ...report.notRetried.map((f) => ({
      id: f.id,
      kind: f.kind,
      error: `${f.target}: not retried after ${f.attempts} failed reverts${f.lastError ? ` (${f.lastError})` : ''}`,
    })),
    ...report.corrupt
      .filter((c) => c.handled === 'unrevertable' || c.handled === 'left')
      .map((c) => ({
        id: c.id,
        kind: c.salvaged.kind ?? 'unknown',
        error: c.note ?? 'a corrupt ledger entry',
      })),
    ...(report.ledgerError ? [{ id: 'ledger', kind: 'ledger', error: report.ledgerError }] : []),
    ...(report.flag.raised
      ? []
      : [
          {
            id: 'halt-flag',
            kind: 'halt',
            error: `${report.flag.error}: \`faultline run\` on this host is NOT refused`,
          },
        ]),
  ];
}

/**
 * What a halt does on this server and its host: its runs interrupted (their faults reverted with
 * them), every fault in the host's ledger reverted (the CLI's and other runners' too) and the host's
 * halt flag raised, so `faultline run` and `inject` on this host are refused as after `faultline halt`.
 *
 * `outcome`: `applied` (the ledger was reverted and the flag raised now); `already` (the host's flag
 * is this halt's, or a `faultline halt` typed on the host, which is kept as it is: only the runs were
 * interrupted); `stale` (nothing done: see `unchangedSince`). `force` (the API's request) reverts the
 * ledger whatever the flag says, keeping a typed halt's flag and text. `recorded: false`: the database
 * could not keep the halt; the flag then stays until DELETE /api/halt or `faultline halt --release`,
 * whatever the database says later. `unchangedSince` (the watcher's): the hostGeneration it read
 * before the database; when a halt or release was done here since, what it read may be stale and
 * nothing is done (the next poll reads again).
 */
export async function applyHaltHere(
  deps: LocalHaltDeps,
  halt: HaltRecord,
  opts: { recorded?: boolean; force?: boolean; unchangedSince?: number } = {},
): Promise<LocalHaltOutcome & { outcome: 'applied' | 'already' | 'stale' }> {
  const done = await onHost(
    deps.home,
    async () => {
      const runsInterrupted = interruptRuns(deps, halt);
      const flag = await hostFlag(deps).catch(() => ({ kind: 'none' }) as const);
      const since = opts.recorded === false ? UNRECORDED : halt.since;
      const ours = flag.kind === 'mine' && flag.since === since;
      if (!opts.force && (ours || flag.kind === 'foreign'))
        return { runsInterrupted, reverted: 0, failed: [], outcome: 'already' as const };
      const reason =
        flag.kind === 'foreign' ? flag.reason : `${haltReasonText(halt)}${tagOf(deps.serverId, since)}`;
      const report = await haltAll({ home: deps.home, ...(reason !== undefined ? { reason } : {}) });
      return {
        runsInterrupted,
        reverted: report.reverted.length,
        failed: failures(report),
        outcome: 'applied' as const,
      };
    },
    opts.unchangedSince,
  );
  return done ?? { runsInterrupted: [], reverted: 0, failed: [], outcome: 'stale' };
}

/**
 * Lifts this host's halt flag when this server raised it: `any` also lifts one raised while the
 * database could not record the halt (DELETE /api/halt does; the watcher does not). A flag raised
 * by `faultline halt` on the host is left alone. `unchangedSince`: as for applyHaltHere.
 */
export async function releaseHaltHere(
  deps: Pick<LocalHaltDeps, 'home' | 'serverId'>,
  opts: { any?: boolean; unchangedSince?: number } = {},
): Promise<'released' | 'none' | 'foreign' | 'stale'> {
  const done = await onHost(
    deps.home,
    async () => {
      const flag = await hostFlag(deps);
      if (flag.kind !== 'mine') return flag.kind;
      if (!opts.any && flag.since === UNRECORDED) return 'foreign' as const;
      return (await releaseHostHalt({ home: deps.home })) ? ('released' as const) : ('none' as const);
    },
    opts.unchangedSince,
  );
  return done ?? 'stale';
}

/** `user:pass@` in a NATS URL never reaches a response or the audit log. */
const redact = (text: string) => text.replace(/\/\/[^/@\s]+@/g, '//***@');

/**
 * Halts the fleet: every agent reverts its faults and refuses new ones until released. Waits for
 * the agents' verified reverts at most `timeoutMs`; those that did not show one are `unconfirmed`
 * (their faults still revert when their leases run out). A fleet halted already by `faultline halt
 * --fleet` keeps that halt (only what the agents show is reported). Never throws: an unreachable
 * NATS is `error`.
 */
export async function haltFleetNow(
  fleet: FleetConnectOptions,
  id: string,
  reason: string,
  timeoutMs = FLEET_CONFIRM_MS,
): Promise<NonNullable<HaltResult['fleet']>> {
  let ctl: FleetController | undefined;
  try {
    const { FleetController } = await import('../fleet/controller.js');
    ctl = await FleetController.open({ ...fleet, name: id }, { id });
    const existing = await ctl.halted();
    if (existing && !existing.by.startsWith(FLEET_HALT_PREFIX)) {
      // Halted already by someone else (`faultline halt --fleet`): their key stays, so that lifting
      // the control plane's halt never lifts theirs; the agents reverted when it was put.
      const agents = (await ctl.agents()).filter((a) => a.health === 'alive' || a.health === 'halted');
      const done = (a: (typeof agents)[number]) => a.health === 'halted' && a.faults.length === 0;
      return {
        verified: agents.filter(done).map((a) => a.name),
        unconfirmed: agents.filter((a) => !done(a)).map((a) => a.name),
      };
    }
    const report = await ctl.haltFleet(reason, { timeoutMs });
    return { verified: report.reverted, unconfirmed: report.noAnswer.map((a) => a.name) };
  } catch (err) {
    return {
      verified: [],
      unconfirmed: [],
      error: `the fleet was NOT halted: ${redact((err as Error)?.message ?? String(err))}`,
    };
  } finally {
    await ctl?.close({ leave: true }).catch(() => undefined);
  }
}

/** Who the fleet's halt key names when a control plane put it (`haltFleetNow`'s controller id). */
export const FLEET_HALT_PREFIX = 'faultline-serve-';

/**
 * Lifts the fleet's halt when a control plane put it; one put by `faultline halt --fleet` is left for
 * `faultline halt --fleet --release` (`left` says whose it is). Throws (FAULTLINE_ERR_FLEET) when
 * NATS cannot be reached.
 */
export async function releaseFleetNow(
  fleet: FleetConnectOptions,
  id: string,
): Promise<{ released: boolean; left?: string }> {
  const { FleetController } = await import('../fleet/controller.js');
  let ctl: FleetController | undefined;
  try {
    ctl = await FleetController.open({ ...fleet, name: id }, { id });
    const halt = await ctl.halted();
    if (!halt) return { released: false };
    if (!halt.by.startsWith(FLEET_HALT_PREFIX))
      return { released: false, left: `raised by ${halt.by} since ${halt.since}` };
    return { released: await ctl.releaseFleet() };
  } catch (err) {
    throw new FaultlineError(
      'FAULTLINE_ERR_FLEET',
      `the fleet's halt was NOT released: ${redact((err as Error)?.message ?? String(err))}`,
    );
  } finally {
    await ctl?.close({ leave: true }).catch(() => undefined);
  }
}

/** How long POST /api/halt waits for the fleet's agents to show their faults reverted. */
export const FLEET_CONFIRM_MS = 10_000;

/**
 * What each server last told its `/api/live` subscribers: the route and the watcher may both see
 * one change (the watcher can read the database between the route's write and its local work), and
 * subscribers should hear of it once.
 */
const announced = new WeakMap<HaltableRunner, string>();

/** Tells this server's `/api/live` subscribers that the halt changed (once per change). */
export function announceHalt(runner: HaltableRunner, halt: HaltState): void {
  const key = JSON.stringify([halt.halted, halt.since, halt.by, halt.reason]);
  if (announced.get(runner) === key) return;
  announced.set(runner, key);
  runner.live?.broadcast({ type: 'halt', halt });
}

// ---------------------------------------------------------------- the watcher

export interface HaltWatcherOptions extends LocalHaltDeps {
  store: Pick<Store, 'getHalt'>;
  /** How often the database is read (default 1 s). */
  pollMs?: number;
  /** A database that is away, a revert that failed: said once, not at every poll. */
  onProblem?: (message: string) => void;
}

/**
 * Follows the database's halt on this server: a halt raised by another server (or by this one's
 * API) is applied here within one poll (runs interrupted, the host's ledger reverted, the host
 * flag raised), and lifted from the host when released. While a halt is in force it also
 * interrupts any run that started anyway (claimed in the instant before the halt was raised).
 */
export class HaltWatcher {
  private readonly opts: HaltWatcherOptions;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private stopped = false;
  private lastProblem: string | undefined;

  constructor(opts: HaltWatcherOptions) {
    this.opts = opts;
  }

  /** Applies a halt already raised (before the run loop claims anything), then polls. */
  async start(): Promise<void> {
    await this.check();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.checking;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule());
    }, this.opts.pollMs ?? 1000);
  }

  /**
   * Says a problem once until it changes. `kind` groups messages that are the same problem in other
   * words: while the database is away its error text changes (a connection terminated, then logins
   * refused) and that is still one outage, said once.
   */
  private problem(message: string | undefined, kind: string | undefined = message): void {
    if (message !== undefined && kind !== this.lastProblem) this.opts.onProblem?.(message);
    this.lastProblem = kind;
  }

  /** One look at the database and what follows from it; never throws. */
  check(): Promise<void> {
    this.checking ??= this.look().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async look(): Promise<void> {
    // Read before the database: if the route halts or releases meanwhile, what is read is dropped.
    const generation = hostGeneration(this.opts.home);
    let halt: HaltRecord | undefined;
    try {
      halt = await this.opts.store.getHalt();
    } catch (err) {
      // The database is away: health says so; the halt in force locally (if any) stays in force.
      this.problem(
        `cannot read the emergency stop from the database: ${(err as Error)?.message ?? String(err)}`,
        'database unreadable',
      );
      return;
    }
    try {
      if (halt) {
        const done = await applyHaltHere(this.opts, halt, { unchangedSince: generation });
        if (done.outcome === 'stale') return;
        announceHalt(this.opts.runner, haltStateOf(halt));
        this.problem(
          done.failed.length > 0
            ? `emergency stop: ${done.failed.length} fault(s) on this host could not be reverted: ${done.failed.map((f) => `${f.kind} ${f.id}: ${f.error}`).join('; ')}`
            : undefined,
        );
      } else {
        if ((await releaseHaltHere(this.opts, { unchangedSince: generation })) === 'stale') return;
        announceHalt(this.opts.runner, { halted: false });
        this.problem(undefined);
      }
    } catch (err) {
      this.problem(`emergency stop: ${(err as Error)?.message ?? String(err)}`);
    }
  }
}
