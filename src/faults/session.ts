/**
 * A run's faults. Every fault goes through inject() here, which handles
 * validation, the halt switch, ledgering, TTLs and verified revert once for
 * every kind; the engine calls revertAll() when the run ends, on every path.
 */
import type { z } from 'zod';
import { type BlastRadiusPolicy, checkBlastRadius } from '../core/blast-radius.js';
import { forEachByKeyLimit } from '../core/concurrency.js';
import { FaultlineError, formatIssue, type Issue } from '../core/errors.js';
import type { FaultKind, FaultTarget, ResolvedTargets, UndoRecord } from '../core/fault.js';
import { type FaultRecord, isoNow } from '../core/journal.js';
import {
  CLAIM_WAIT_MS,
  type Ledger,
  type LedgerEntry,
  newFaultId,
  redactSecrets,
  selfIdentity,
} from './ledger.js';
import { REVERT_CONCURRENCY, revertAndVerify } from './recovery.js';
import { FaultKindCatalog, type FaultKindSource, kindsFor } from './registry.js';
import { spawnWatchdog, watchdogEnabled } from './watchdog.js';

/** TTL when the caller gives none: no fault lives forever. */
export const DEFAULT_FAULT_TTL_MS = 600_000;
/** setTimeout's limit (about 24.8 days). */
export const MAX_FAULT_TTL_MS = 2_147_483_647;
/**
 * How long revertAll() waits for cancelled injections to give up (every kind
 * honours its signal, so this is a bound on a kind that does not): one that
 * lands later is reverted the moment it lands.
 */
export const CANCEL_WAIT_MS = 5_000;

export type FaultEventType = 'fault-injected' | 'fault-reverted' | 'fault-revert-failed' | 'fault-expired';

export interface FaultEvent {
  type: FaultEventType;
  /** `type` without the `fault-` prefix, as the engine's run events name it. */
  action: 'injected' | 'reverted' | 'revert-failed' | 'expired';
  record: FaultRecord;
}

export interface FaultHandle {
  id: string;
  kind: string;
  target: string;
  /** Reverts and verifies now (idempotent). Never throws: failures are in the record's `error`. */
  revert(): Promise<FaultRecord>;
}

export interface InjectOptions {
  /** Reverted when this elapses; default DEFAULT_FAULT_TTL_MS. */
  ttlMs?: number;
  /** The caller's own id for the fault, kept in its ledger entry (recovery reports it). */
  ref?: string;
  signal?: AbortSignal;
}

export interface FaultSessionOptions {
  runId: string;
  ledger: Ledger;
  /** Where a kind given by name is found (the composition root's catalog). */
  kinds: FaultKindSource;
  onEvent?: (event: FaultEvent) => void;
  /** Checked against every fault's targets before it is planned (each policy must hold). */
  blastRadius?: readonly BlastRadiusPolicy[];
  /**
   * Spawn the dead-man switch (watchdog.ts) with the run's first fault, so the faults are
   * reverted if this process dies; default: unless FAULTLINE_WATCHDOG=0.
   */
  watchdog?: boolean;
  /**
   * How long a revert waits while another process holds the fault's claim before it
   * looks (verify only) and reports; default CLAIM_WAIT_MS.
   */
  claimWaitMs?: number;
}

type Status = 'injecting' | 'active' | 'reverted' | 'failed';

interface Tracked {
  id: string;
  kind: FaultKind;
  target: string;
  record: UndoRecord;
  fault: FaultRecord;
  status: Status;
  handle: FaultHandle;
  targets: FaultTarget[];
  inflight?: Promise<FaultRecord>;
  /** Aborted by revertAll() while the fault is being injected. */
  cancel: AbortSignal;
  timer?: NodeJS.Timeout;
  /** Renews the server-side lease of a fault that has one. */
  lease?: NodeJS.Timeout;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function zodIssues(error: z.ZodError): Issue[] {
  return error.issues.map((i) => ({
    path: i.path.map((p, n) => (typeof p === 'number' ? `[${p}]` : `${n ? '.' : ''}${String(p)}`)).join(''),
    message: i.message,
  }));
}

/**
 * @example
 * const faults = new FaultSession({ runId, ledger: new Ledger({ home: faultlineHome() }) });
 * const h = await faults.inject(markerKind, { path: '/tmp/flag' }, { ttlMs: 60_000 });
 * // ... later, on every path:
 * await faults.revertAll();
 */
export class FaultSession {
  readonly runId: string;
  readonly ledger: Ledger;
  readonly #onEvent: ((event: FaultEvent) => void) | undefined;
  readonly #blastRadius: readonly BlastRadiusPolicy[];
  readonly #watchdog: boolean;
  readonly #claimWaitMs: number;
  readonly #kinds: FaultKindSource;
  readonly #faults: Tracked[] = [];
  /** Targets of faults that passed the blast-radius check and are not yet tracked. */
  readonly #reserved = new Set<FaultTarget[]>();
  #violation: FaultlineError | undefined;
  readonly #injecting = new Set<Promise<unknown>>();
  /** Aborted (and replaced) by each revertAll(): cancels the injections in flight when it began. */
  #cancel = new AbortController();
  #run: Promise<void> | undefined;
  #revertAll: Promise<FaultRecord[]> | undefined;

  /** Cheap: touches no disk until the first inject. */
  constructor({ runId, ledger, kinds, onEvent, blastRadius, watchdog, claimWaitMs }: FaultSessionOptions) {
    this.#kinds = kinds;
    this.runId = runId;
    this.#claimWaitMs = claimWaitMs ?? CLAIM_WAIT_MS;
    this.#watchdog = watchdog ?? watchdogEnabled();
    this.ledger = ledger;
    this.#onEvent = onEvent;
    this.#blastRadius = blastRadius ?? [];
  }

  /** The first blast-radius refusal of this session, if any (the engine aborts the run on it). */
  get violation(): FaultlineError | undefined {
    return this.#violation;
  }

  /** Targets held by faults not (verifiably) reverted, and by faults being injected. */
  #heldTargets(): FaultTarget[] {
    const held = this.#faults.filter((t) => t.status !== 'reverted').flatMap((t) => t.targets);
    for (const r of this.#reserved) held.push(...r);
    return held;
  }

  /**
   * Resolves what the fault will touch and checks it against the blast radius.
   * A kind without resolveTargets() touches one thing: its target string.
   */
  async #resolve(kind: FaultKind, args: unknown, target: string): Promise<ResolvedTargets> {
    let resolved: ResolvedTargets;
    try {
      resolved = kind.resolveTargets
        ? await kind.resolveTargets(args)
        : { targets: [{ type: kind.kind, name: target }] };
    } catch (err) {
      if (err instanceof FaultlineError) throw err;
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        `${kind.kind}: cannot resolve its targets: ${message(err)}`,
        {
          cause: err,
        },
      );
    }
    try {
      checkBlastRadius(this.#blastRadius, `${kind.kind} ${target}`, resolved, this.#heldTargets());
    } catch (err) {
      this.#violation ??= err as FaultlineError;
      throw err;
    }
    return resolved;
  }

  /**
   * Validates `args`, records the undo record in the ledger, then injects.
   * Throws FAULTLINE_ERR_VALIDATION (bad args, naming the field), FAULTLINE_ERR_HALTED,
   * FAULTLINE_ERR_FAULT (plan or inject failed: whatever it did is reverted first)
   * or FAULTLINE_ERR_LEDGER.
   */
  async inject(kind: FaultKind | string, args: unknown, opts: InjectOptions = {}): Promise<FaultHandle> {
    const p = this.#inject(kind, args, opts, this.#cancel.signal);
    this.#injecting.add(p);
    try {
      return await p;
    } finally {
      this.#injecting.delete(p);
    }
  }

  async #inject(
    kindOrName: FaultKind | string,
    args: unknown,
    opts: InjectOptions,
    cancel: AbortSignal,
  ): Promise<FaultHandle> {
    const kind = typeof kindOrName === 'string' ? await resolveKind(this.#kinds, kindOrName) : kindOrName;
    const parsed = kind.args.safeParse(args);
    if (!parsed.success) {
      const issues = zodIssues(parsed.error);
      const first = issues[0] ?? { path: '', message: 'invalid arguments' };
      throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `${kind.kind}: ${formatIssue(first)}`, { issues });
    }
    const ttlMs = opts.ttlMs ?? DEFAULT_FAULT_TTL_MS;
    if (!Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > MAX_FAULT_TTL_MS) {
      throw new FaultlineError(
        'FAULTLINE_ERR_VALIDATION',
        `${kind.kind}: ttlMs: expected a positive number of milliseconds up to ${MAX_FAULT_TTL_MS}, got ${ttlMs}`,
      );
    }
    if (opts.signal?.aborted) {
      throw new FaultlineError(
        'FAULTLINE_ERR_INTERRUPTED',
        `${kind.kind}: not injected: the run is being interrupted`,
      );
    }
    await this.#refuseIfHalted(kind.kind);

    let target: string;
    try {
      target = kind.target(parsed.data);
    } catch (err) {
      throw new FaultlineError('FAULTLINE_ERR_FAULT', `${kind.kind}: ${message(err)}`, { cause: err });
    }
    const resolved = await this.#resolve(kind, parsed.data, target);
    // Synchronously after the check: a concurrent inject counts these targets.
    this.#reserved.add(resolved.targets);
    try {
      return await this.#injectResolved(kind, parsed.data, opts, ttlMs, target, resolved, cancel);
    } finally {
      this.#reserved.delete(resolved.targets);
    }
  }

  async #injectResolved(
    kind: FaultKind,
    args: unknown,
    opts: InjectOptions,
    ttlMs: number,
    target: string,
    resolved: ResolvedTargets,
    cancel: AbortSignal,
  ): Promise<FaultHandle> {
    let record: UndoRecord;
    try {
      record = await kind.plan(args, resolved);
    } catch (err) {
      if (err instanceof FaultlineError) throw err;
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        `${kind.kind}: cannot plan the fault: ${message(err)}`,
        {
          cause: err,
        },
      );
    }

    await this.#ensureRun();
    const me = await selfIdentity();
    if (cancel.aborted) {
      // revertAll() began while this was being planned: nothing acted yet.
      throw new FaultlineError(
        'FAULTLINE_ERR_INTERRUPTED',
        `${kind.kind}: not injected: its session is reverting`,
      );
    }
    const created = Date.now();
    const entry: LedgerEntry = {
      id: newFaultId(),
      kind: kind.kind,
      runId: this.runId,
      target,
      args: redactSecrets(args),
      record,
      ...(kind.irreversible ? { irreversible: true } : {}),
      ...(opts.ref === undefined ? {} : { ref: opts.ref }),
      state: 'pending',
      createdAt: new Date(created).toISOString(),
      ttlMs,
      expiresAt: new Date(created + ttlMs).toISOString(),
      ownerPid: me.pid,
      ownerStart: me.start,
      host: me.host,
    };
    await this.ledger.write(entry); // durable before the fault acts

    const t: Tracked = {
      id: entry.id,
      kind,
      target,
      record,
      status: 'injecting',
      cancel,
      targets: resolved.targets,
      fault: {
        id: entry.id,
        kind: kind.kind,
        target,
        injected_at: isoNow(new Date(created)),
        targets: resolved.targets,
        ...(kind.irreversible ? { irreversible: true } : {}),
      },
      handle: { id: entry.id, kind: kind.kind, target, revert: () => this.#revert(t) },
    };
    this.#faults.push(t);

    // The caller's signal or the session's revertAll(), whichever comes first.
    const signal = opts.signal ? AbortSignal.any([opts.signal, cancel]) : cancel;
    try {
      const refined = await kind.inject(args, record, signal, { ttlMs });
      if (refined) t.record = refined;
    } catch (err) {
      if (signal.aborted) {
        throw await this.#undoInjection(
          t,
          'FAULTLINE_ERR_INTERRUPTED',
          `interrupted while injecting: ${message(err)}`,
          err,
          true,
        );
      }
      throw await this.#undoInjection(t, 'FAULTLINE_ERR_FAULT', `cannot inject: ${message(err)}`, err, true);
    }
    // The journal dates a fault from when it took effect, not from when it was asked for.
    t.fault.injected_at = isoNow();
    if (cancel.aborted) {
      // It landed after revertAll() cancelled it: undone now, never left for a later pass.
      throw await this.#undoInjection(
        t,
        'FAULTLINE_ERR_INTERRUPTED',
        'reverted: it took effect after its session began reverting',
      );
    }

    // A halt that began while we injected may have listed the ledger before our
    // entry existed, or reverted it before inject() acted: undo it ourselves.
    if (await this.ledger.readHalt()) {
      throw await this.#undoInjection(
        t,
        'FAULTLINE_ERR_HALTED',
        'reverted: a halt began while it was being injected',
      );
    }
    let updated: LedgerEntry | null;
    try {
      updated = await this.ledger.update(t.id, { state: 'active', record: t.record });
    } catch (err) {
      throw await this.#undoInjection(
        t,
        'FAULTLINE_ERR_LEDGER',
        `cannot record it as active: ${message(err)}`,
        err,
      );
    }
    if (!updated) {
      throw await this.#undoInjection(
        t,
        'FAULTLINE_ERR_FAULT',
        'reverted: another process reverted it while it was being injected',
      );
    }

    t.status = 'active';
    this.#emit('fault-injected', t);
    // The TTL counts from the ledger write: expiresAt is what recovery sees.
    t.timer = setTimeout(() => this.#expire(t), Math.max(0, created + ttlMs - Date.now()));
    t.timer.unref();
    this.#startLease(t);
    return t.handle;
  }

  /** Reverts a fault whose injection did not complete, and builds the error to throw. */
  async #undoInjection(
    t: Tracked,
    code: FaultlineError['code'],
    what: string,
    cause?: unknown,
    injectFailed = false,
  ): Promise<FaultlineError> {
    const r = await this.#revert(t, { quiet: true });
    let text = `${t.kind.kind} ${t.target}: ${what}`;
    // A revert that threw (its target is unreachable or gone) still undid it if verify finds
    // nothing; undefined: verify cannot tell either.
    const gone = r.verified || (await t.kind.verify(t.record).catch(() => undefined));
    if (gone === true && code === 'FAULTLINE_ERR_INTERRUPTED') {
      // Interrupted mid-injection, it may have acted (memory taken, a lock waited on): nothing is
      // left behind, and the journal still shows it, with why it did not complete.
      if (!r.verified) await this.ledger.remove(t.id).catch(() => undefined);
      t.status = 'reverted';
      t.fault.verified = true;
      delete t.fault.error;
      t.fault.injection_error = what;
    } else if (gone === true) {
      // Nothing is left behind: the fault never was, for the journal.
      if (!r.verified) await this.ledger.remove(t.id).catch(() => undefined);
      this.#faults.splice(this.#faults.indexOf(t), 1);
    } else if (injectFailed && gone === undefined) {
      // Its injection threw and the cleanup cannot tell: nothing is known to be in place.
      // Recorded as `failed` (never a phantom that every later command tries to revert);
      // `faultline recover` retries the cleanup, `faultline ledger forget` removes it.
      this.#faults.splice(this.#faults.indexOf(t), 1);
      const lastError = `injection failed: ${message(cause)}; cleanup: ${r.error}`;
      await this.ledger.update(t.id, { state: 'failed', lastError }).catch(() => null);
      text += `; its cleanup could not be confirmed (${r.error}); it is recorded as failed in the ledger`;
    } else {
      text += `; its revert failed too (${r.error}); it stays in the ledger and is retried by revertAll`;
      t.fault.error = `${what}; revert: ${r.error}`;
      this.#emit('fault-revert-failed', t);
    }
    return new FaultlineError(code, text, cause === undefined ? {} : { cause });
  }

  async #refuseIfHalted(kind: string): Promise<void> {
    const halt = await this.ledger.readHalt();
    if (halt) {
      throw new FaultlineError(
        'FAULTLINE_ERR_HALTED',
        `${kind}: not injected: a halt is in force since ${halt.since}${halt.reason ? ` (${halt.reason})` : ''}`,
      );
    }
  }

  #ensureRun(): Promise<void> {
    this.#run ??= this.ledger.registerRun(this.runId).then(
      (info) => {
        // One per registration: it exits once the run is unregistered (all reverted), and the
        // next fault registers the run again and starts a new one.
        if (this.#watchdog) {
          spawnWatchdog({ home: this.ledger.home, runId: this.runId, pid: info.pid, start: info.start });
        }
      },
      (err) => {
        this.#run = undefined;
        throw err;
      },
    );
    return this.#run;
  }

  /** Keeps a server-side fault's lease alive while this runner lives (see FaultKind.renew). */
  #startLease(t: Tracked): void {
    const { renew, leaseMs } = t.kind;
    if (!renew || !leaseMs) return;
    t.lease = setInterval(() => {
      if (t.status !== 'active') return;
      renew.call(t.kind, t.record, leaseMs).catch(() => {
        // A missed renewal is retried at the next tick; the lease outlives two misses.
      });
    }, leaseMs / 3);
    t.lease.unref();
  }

  #expire(t: Tracked): void {
    t.timer = undefined;
    if (t.status !== 'active') return;
    this.#emit('fault-expired', t);
    void this.#revert(t);
  }

  #revert(t: Tracked, opts: { quiet?: boolean } = {}): Promise<FaultRecord> {
    if (t.status === 'reverted') return Promise.resolve({ ...t.fault });
    t.inflight ??= this.#doRevert(t, opts.quiet ?? false).finally(() => {
      t.inflight = undefined;
    });
    return t.inflight;
  }

  async #doRevert(t: Tracked, quiet: boolean): Promise<FaultRecord> {
    if (t.timer) clearTimeout(t.timer);
    t.timer = undefined;
    if (t.lease) clearInterval(t.lease);
    t.lease = undefined;
    let claimed = false;
    let busyBy: number | undefined;
    try {
      const r = await this.ledger.claimOrWait(t.id, { timeoutMs: this.#claimWaitMs });
      claimed = r.claimed !== null;
      busyBy = r.busyBy;
    } catch {
      // The ledger is unreadable: the in-memory record is enough to revert our own fault.
    }
    // Another process has held the claim past the wait: two reverts at once are not sound, so only
    // look. Otherwise revert even when another process already did: our inject may have acted after
    // its revert. A revert that throws (its target is gone) still counts once verify finds nothing.
    const r = await revertAndVerify(t.kind, t.record, busyBy === undefined);
    const verified = r.verified;
    let error = r.error;
    if (!verified && busyBy !== undefined) {
      error = `process ${busyBy} has held its revert for over ${this.#claimWaitMs} ms and it is still present (${r.error}); left to that process, or to \`faultline recover\` once it exits`;
    }
    if (verified) {
      // Gone, whoever removed it: a leftover entry would only be reverted again by recovery, and a
      // holder still at work finds its entry gone and has nothing to record.
      await this.ledger.remove(t.id).catch(() => undefined);
    } else if (claimed) {
      await this.ledger.release(t.id, { lastError: error ?? 'revert failed' }).catch(() => undefined);
    }
    t.fault.reverted_at = isoNow();
    t.fault.verified = verified;
    if (error === undefined) delete t.fault.error;
    else t.fault.error = error;
    t.status = verified ? 'reverted' : 'failed';
    if (!quiet) this.#emit(verified ? 'fault-reverted' : 'fault-revert-failed', t);
    return { ...t.fault };
  }

  /**
   * Reverts every fault of this session not yet reverted, verifying each: faults on
   * one target newest first, one at a time; different targets concurrently. A failure
   * is recorded and the rest still run. Idempotent, and
   * concurrent calls share one pass. Returns every fault's record, newest first.
   */
  revertAll(): Promise<FaultRecord[]> {
    this.#revertAll ??= this.#revertAllOnce().finally(() => {
      this.#revertAll = undefined;
    });
    return this.#revertAll;
  }

  async #revertAllOnce(): Promise<FaultRecord[]> {
    // Injections in flight are cancelled, not waited on: what is in place comes off now, and
    // one that lands anyway undoes itself as it lands (#injectResolved).
    this.#cancel.abort(new Error('the session is reverting its faults'));
    this.#cancel = new AbortController();
    const inflight = Promise.allSettled([...this.#injecting]);
    // Faults on one target unwind newest first, one after another (a later fault may sit
    // on an earlier one); different targets revert several at once, so a halt or a run's
    // end does not wait on each fault in turn.
    const tried = new Set<Tracked>();
    const pass = () =>
      forEachByKeyLimit(
        [...this.#faults]
          .reverse()
          .filter((t) => t.status !== 'reverted' && t.status !== 'injecting' && !tried.has(t)),
        (t) => t.target,
        REVERT_CONCURRENCY,
        async (t) => {
          tried.add(t);
          await this.#revert(t);
        },
      );
    await pass();
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([inflight, new Promise((r) => (bound = setTimeout(r, CANCEL_WAIT_MS)))]);
    clearTimeout(bound);
    // An injection already past its cancel check when this began became active meanwhile.
    await pass();
    const newestFirst = [...this.#faults].reverse();
    if (this.#run && this.#faults.every((t) => t.status === 'reverted') && this.#injecting.size === 0) {
      this.#run = undefined;
      await this.ledger.unregisterRun(this.runId).catch(() => undefined);
    }
    return newestFirst.map((t) => ({ ...t.fault }));
  }

  /** Journal entries for every fault of the session, in injection order. */
  records(): FaultRecord[] {
    return this.#faults.map((t) => ({ ...t.fault }));
  }

  /** How many faults are not (verifiably) reverted. */
  active(): number {
    return this.#faults.filter((t) => t.status !== 'reverted').length;
  }

  /** Handles of the faults in place now (injected, not yet reverted), in injection order. */
  activeHandles(): FaultHandle[] {
    return this.#faults.filter((t) => t.status === 'active').map((t) => t.handle);
  }

  /** The not-yet-reverted fault of `kind` at `target`, newest first. */
  findActive(kind: string, target: string): FaultHandle | undefined {
    for (let i = this.#faults.length - 1; i >= 0; i--) {
      const t = this.#faults[i]!;
      if (
        t.status !== 'reverted' &&
        t.status !== 'injecting' &&
        t.kind.kind === kind &&
        t.target === target
      ) {
        return t.handle;
      }
    }
    return undefined;
  }

  #emit(type: FaultEventType, t: Tracked): void {
    if (!this.#onEvent) return;
    try {
      this.#onEvent({
        type,
        action: type.slice('fault-'.length) as FaultEvent['action'],
        record: { ...t.fault },
      });
    } catch {
      // A listener's bug must not break reverting.
    }
  }
}

async function resolveKind(source: FaultKindSource, name: string): Promise<FaultKind> {
  let kinds = await kindsFor(source, [name]);
  // An unknown name is refused listing every kind, so load them all for the message.
  if (!kinds.has(name) && source instanceof FaultKindCatalog) kinds = await source.loadAll();
  const kind = kinds.get(name);
  if (!kind) {
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `unknown fault kind '${name}' (known: ${kinds.names().join(', ') || 'none'})`,
    );
  }
  return kind;
}
