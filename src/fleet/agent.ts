/**
 * `faultline agent`: one host's end of the fleet. It only dials out to NATS,
 * registers itself in the agents bucket and re-puts its record every
 * heartbeat, answers commands on its subject, and applies faults through a
 * FaultSession over its own ledger, so every fault is ledgered before it acts.
 *
 * Every fault lives only as long as its lease: the agent reverts it (and says
 * so on the events stream) when it has not SEEN the controller renew the lease
 * for `leaseMs` on its own monotonic clock, when the lease is deleted, when
 * the fault's ttl ends, or when the fleet halt key is set. Losing NATS needs
 * no special case: no renewals are seen, so the leases lapse.
 */
import { randomUUID } from 'node:crypto';
import { arch, hostname, platform } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { KvWatchEntry } from '@nats-io/kv';
import type { Subscription } from '@nats-io/transport-node';
import type { z } from 'zod';
import type { BlastRadiusPolicy } from '../core/blast-radius.js';
import { FaultlineError } from '../core/errors.js';
import type { FaultKind } from '../core/fault.js';
import type { LogLevel } from '../core/resource.js';
import { summarize, type Workload, workloadRef } from '../core/workload.js';
import { faultlineHome } from '../faults/home.js';
import { exposedFaults, faultKinds } from '../faults/index.js';
import { Ledger } from '../faults/ledger.js';
import type { FaultEvent, FaultHandle } from '../faults/session.js';
import { recoverOrphans } from '../lib/faults.js';
import { FaultSession } from '../lib/session.js';
import { VERSION } from '../version.js';
import { connectFleet, type FleetConnection, type FleetConnectOptions } from './connect.js';
import { NAME_PATTERN } from './constants.js';
import { exemptControlPlane } from './exemptions.js';
import {
  type AgentCommand,
  AgentCommandSchema,
  AgentNameSchema,
  type AgentRecord,
  type AgentReply,
  commandSubject,
  DEFAULT_HEARTBEAT_MS,
  eventsSubject,
  type FleetEvent,
  type FleetFault,
  FleetHaltSchema,
  HALT_KEY,
  type InjectCommandSchema,
  LabelsSchema,
  LeaseRenewalSchema,
  renewSubject,
} from './protocol.js';
import { applyWorkload } from './workloads.js';

export const DEFAULT_MAX_FAULTS = 32;
/** How many fault ids' outcomes an agent remembers, so a duplicated or late command is never applied twice. */
export const REMEMBERED_IDS = 4096;
/** Events kept while NATS is away; older ones are dropped (and that is logged). */
const OUTBOX_LIMIT = 10_000;
/** How long stop() waits for the events still queued (NATS may be gone). */
const STOP_FLUSH_MS = 3_000;

export interface AgentOptions {
  connect: FleetConnectOptions;
  name: string;
  labels?: Record<string, string>;
  /** The fault kinds it accepts, as `group.name` (`marker.create`) or kind (`marker-file`); default every exposed kind. */
  allow?: readonly string[];
  /** Its ledger's home; default $FAULTLINE_HOME (faultlineHome()). */
  home?: string;
  heartbeatMs?: number;
  /** Faults it holds at once; an inject beyond it is refused. */
  maxFaults?: number;
  /**
   * This host's own limits on what its faults may touch (its settings file's `blast_radius`),
   * checked by its session against each fault's resolved targets and what it already holds,
   * after the controller's check of its own policies: a violation is a refusal.
   */
  blastRadius?: readonly BlastRadiusPolicy[];
  log?: (level: LogLevel, message: string) => void;
  onEvent?: (event: FleetEvent) => void;
  /**
   * Called with each valid command as it arrives, before it is handled (tracing; the fleet
   * benchmark times delivery apart from the local injection with it).
   */
  onCommand?: (command: AgentCommand) => void;
  /** The session's watchdog (reverts the ledger's faults if this process dies); default as FaultSession. */
  watchdog?: boolean;
  /** The workloads it hosts (its --workloads file, loadWorkloads()): faults aimed at them are filled from them. */
  workloads?: readonly Workload[];
}

export interface Agent {
  readonly name: string;
  /** The record it last put (or would put now). */
  record(): AgentRecord;
  /** Reverts its faults, publishes agent-stopped, marks its record stopped, closes. Idempotent. */
  stop(): Promise<void>;
  /** Resolves once stop() has finished. */
  done: Promise<void>;
}

/**
 * The kinds `allow` names, by their `group.name`; every exposed kind without
 * it. An unknown name is a FAULTLINE_ERR_USAGE naming `field` and listing the known ones.
 */
export async function allowedKinds(
  allow: readonly string[] | undefined,
  field = 'allow',
): Promise<Map<string, FaultKind>> {
  const exposed = await exposedFaults();
  if (allow === undefined) return exposed;
  const out = new Map<string, FaultKind>();
  for (const raw of allow) {
    const name = raw.trim();
    const found = lookupKind(exposed, name);
    if (!found) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `${field}: unknown fault kind '${name}' (known: ${[...exposed.keys()].sort().join(', ')})`,
      );
    }
    out.set(found[0], found[1]);
  }
  return out;
}

/** A kind by its exposed name or by its ledger kind name. */
function lookupKind(kinds: Map<string, FaultKind>, name: string): [string, FaultKind] | undefined {
  const direct = kinds.get(name);
  if (direct) return [name, direct];
  for (const [exposed, kind] of kinds) if (kind.kind === name) return [exposed, kind];
  return undefined;
}

/** Any kind by its ledger name, exposed or not (a workload's HTTP fault may become `proxy-toxic`). */
async function faultKindNamed(name: string): Promise<FaultKind | undefined> {
  return (await faultKinds.loadFor([name])).get(name);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

function refusal(code: string, error: string): AgentReply {
  return { ok: false, code, error };
}

interface Held {
  id: string;
  kind: string;
  controller: string;
  /** Wall-clock end of its own ttl (shown in the record). */
  expiresAt: string;
  fault: FleetFault;
  handle: FaultHandle;
  leaseMs: number;
  /** Monotonic ms when it became active: the lease counts from then until a renewal is seen. */
  since: number;
  reverting?: Promise<FleetFault>;
}

interface LeaseSeen {
  revision: number;
  /** Monotonic ms of the last put with a higher revision than any seen before. */
  at: number;
  deleted: boolean;
}

export async function startAgent(options: AgentOptions): Promise<Agent> {
  const name = AgentNameSchema.parse(options.name);
  const labels = LabelsSchema.parse(options.labels ?? {});
  for (const [k, v] of Object.entries(labels)) {
    if (!NAME_PATTERN.test(k) || (v !== '' && !/^[A-Za-z0-9_.-]{1,63}$/.test(v))) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `labels: '${k}=${v}': expected a key of letters, digits, - or _ and a value of letters, digits, -, _ or .`,
      );
    }
  }
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `heartbeatMs: expected a positive whole number of ms, got ${heartbeatMs}`,
    );
  }
  const maxFaults = options.maxFaults ?? DEFAULT_MAX_FAULTS;
  if (!Number.isInteger(maxFaults) || maxFaults < 1) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `maxFaults: expected a whole number >= 1, got ${maxFaults}`,
    );
  }
  const log = options.log ?? (() => {});
  const kinds = await allowedKinds(options.allow);
  const home = options.home ?? faultlineHome();

  // Before any fault can be planned: this agent's network faults never cut its NATS or its DNS.
  const servers = options.connect.servers.split(',').filter((x) => x.trim() !== '');
  const exempt = await exemptControlPlane(servers);
  log(
    'info',
    `network faults exempt ${exempt.map((e) => `${e.address}${e.port ? `:${e.port}` : ''}`).join(', ') || 'nothing (no peer resolved)'}`,
  );

  // A previous life's faults come off before this one tells anyone it exists.
  const recovered = await recoverOrphans({ home });
  if (recovered.ledgerError) log('warn', `cannot read the ledger in ${home}: ${recovered.ledgerError}`);
  for (const r of recovered.reverted) {
    log('info', `reverted ${r.kind} ${r.target} left by a previous run of this agent (verified)`);
  }
  for (const r of recovered.failed) {
    log(
      'warn',
      `could not revert ${r.kind} ${r.target} left by a previous run: ${r.error ?? 'not verified'}`,
    );
  }

  const conn = await connectFleet({
    ...options.connect,
    name: options.connect.name ?? `faultline-agent-${name}`,
  });
  return new AgentImpl({
    ...options,
    name,
    labels,
    heartbeatMs,
    maxFaults,
    log,
    kinds,
    home,
    conn,
    recovered: [...recovered.reverted, ...recovered.failed],
  }).start();
}

interface Resolved {
  name: string;
  labels: Record<string, string>;
  heartbeatMs: number;
  maxFaults: number;
  log: (level: LogLevel, message: string) => void;
  onEvent?: (event: FleetEvent) => void;
  onCommand?: (command: AgentCommand) => void;
  kinds: Map<string, FaultKind>;
  home: string;
  conn: FleetConnection;
  watchdog?: boolean;
  blastRadius?: readonly BlastRadiusPolicy[];
  workloads?: readonly Workload[];
  recovered: { id: string; ref?: string; kind: string; target: string; verified: boolean; error?: string }[];
}

class AgentImpl implements Agent {
  readonly name: string;
  readonly done: Promise<void>;
  readonly #o: Resolved;
  readonly #conn: FleetConnection;
  readonly #session: FaultSession;
  readonly #startedAt = new Date().toISOString();
  readonly #bootId = randomUUID();
  /** Active faults by fault id. */
  readonly #held = new Map<string, Held>();
  /** Ledger id -> fault id, for the session's TTL events. */
  readonly #byLedgerId = new Map<string, string>();
  /** Every command's outcome by fault id (the last REMEMBERED_IDS), in flight ones too. */
  readonly #outcomes = new Map<string, Promise<AgentReply>>();
  readonly #leases = new Map<string, LeaseSeen>();
  #halted = false;
  #connected = true;
  #stopping: Promise<void> | undefined;
  #resolveDone!: () => void;
  #heartbeat: NodeJS.Timeout | undefined;
  #leaseTick: NodeJS.Timeout | undefined;
  #sub: Subscription | undefined;
  #renewSub: Subscription | undefined;
  #watchers: { stop(): void }[] = [];
  #putting: Promise<void> | undefined;
  #putAgain: Promise<void> | undefined;
  /** The state (#stateKey) the last successful put showed. */
  #putState: string | undefined;
  #putFailing = false;
  #outbox: { subject: string; data: string; msgID: string }[] = [];
  #flushing: Promise<void> | undefined;
  #eventSeq = 0;
  #droppedEvents = 0;

  constructor(o: Resolved) {
    this.#o = o;
    this.name = o.name;
    this.#conn = o.conn;
    this.done = new Promise((r) => {
      this.#resolveDone = r;
    });
    this.#session = new FaultSession({
      runId: `agent-${o.name}-${this.#bootId}`,
      ledger: new Ledger({ home: o.home }),
      onEvent: (e) => this.#sessionEvent(e),
      ...(o.watchdog === undefined ? {} : { watchdog: o.watchdog }),
      ...(o.blastRadius?.length ? { blastRadius: [...o.blastRadius] } : {}),
    });
  }

  #log(level: LogLevel, text: string): void {
    try {
      this.#o.log(level, text);
    } catch {
      // A logger's failure must not stop a revert.
    }
  }

  async start(): Promise<Agent> {
    try {
      // The halt state is known before the first command is answered.
      const halt = await this.#conn.control.get(HALT_KEY);
      this.#halted = halt !== null && halt.operation === 'PUT';
      await this.#startWatchers();
      // What the previous life held, under the controller's id where the ledger kept it: its journal
      // matches the event, and a revert command for it hears how the start-up revert went.
      const recovered = this.#o.recovered.map(
        (r): FleetFault => ({
          id: r.ref ?? r.id,
          agent: this.name,
          kind: r.kind,
          target: r.target,
          state: r.verified ? 'reverted' : 'failed',
          revertedAt: new Date().toISOString(),
          verified: r.verified,
          reason: 'left in the ledger by a previous run of this agent: reverted at its start',
          ...(r.error ? { error: r.error } : {}),
        }),
      );
      recovered.forEach((fault, i) => {
        if (this.#o.recovered[i]?.ref) this.#remember(fault.id, Promise.resolve({ ok: true, fault }));
      });
      this.#sub = this.#conn.nc.subscribe(commandSubject(this.name), {
        callback: (err, msg) => {
          if (err) return;
          void this.#onCommand(msg.data).then(
            (reply) => {
              if (msg.reply) msg.respond(JSON.stringify(reply));
            },
            (e) => this.#log('error', `command failed: ${message(e)}`),
          );
        },
      });
      this.#renewSub = this.#conn.nc.subscribe(renewSubject(this.name), {
        callback: (err, msg) => {
          if (!err) this.#onRenewal(msg.data);
        },
      });
      await this.#putRecord({}, true);
      this.#publish({ type: 'agent-started', message: this.#startMessage() });
      for (const fault of recovered)
        this.#publish({ type: fault.state === 'reverted' ? 'reverted' : 'failed', fault });
    } catch (err) {
      await this.#conn.close().catch(() => undefined);
      throw err instanceof FaultlineError
        ? err
        : new FaultlineError('FAULTLINE_ERR_FLEET', `agent ${this.name}: cannot start: ${message(err)}`, {
            cause: err,
          });
    }
    this.#heartbeat = setInterval(() => void this.#putRecord({}, true), this.#o.heartbeatMs);
    this.#leaseTick = setInterval(() => this.#checkLeases(), Math.min(250, this.#o.heartbeatMs));
    void this.#watchStatus();
    this.#log(
      'info',
      `agent ${this.name} registered (heartbeat ${this.#o.heartbeatMs} ms, kinds: ${[...this.#o.kinds.keys()].join(', ')}${this.#halted ? '; the fleet is halted' : ''})`,
    );
    return this;
  }

  #startMessage(): string {
    const n = this.#o.recovered.length;
    return n ? `started; reverted ${n} fault(s) left by its previous run first` : 'started';
  }

  record(): AgentRecord {
    return {
      name: this.name,
      labels: this.#o.labels,
      version: VERSION,
      host: { hostname: hostname(), platform: platform(), arch: arch(), pid: process.pid },
      kinds: [...this.#o.kinds.keys()],
      startedAt: this.#startedAt,
      heartbeatAt: new Date().toISOString(),
      heartbeatMs: this.#o.heartbeatMs,
      faults: [...this.#held.keys()],
      active: [...this.#held.values()].map((h) => ({
        id: h.id,
        kind: h.kind,
        ...(h.handle.target ? { target: h.handle.target } : {}),
        ...(h.fault.workload ? { workload: h.fault.workload } : {}),
        controller: h.controller,
        injectedAt: h.fault.injectedAt ?? this.#startedAt,
        leaseMs: h.leaseMs,
        expiresAt: h.expiresAt,
        renewedAgoMs: Math.max(0, Math.round(performance.now() - this.#lastRenewal(h))),
      })),
      halted: this.#halted,
      ...(this.#o.workloads?.length ? { workloads: this.#o.workloads.map(summarize) } : {}),
    };
  }

  /**
   * Puts the record: `always` (a heartbeat, a registration), or when the state it shows changed.
   * A heartbeat while a put is in flight is skipped (that put is the heartbeat).
   * A change while a put is in flight is put right after it, once, and only if the record that
   * went out no longer shows the state (the controller's halt waits on the record that shows no
   * fault left: it must never wait a heartbeat for it); a burst of changes costs at most two puts.
   */
  #putRecord(extra: Record<string, unknown> = {}, always = false): Promise<void> {
    if (Object.keys(extra).length > 0) return this.#putOnce(extra);
    // A change already shown by the last put needs no other (a halt's reverts each ask for one).
    if (!always && !this.#putting && this.#stateKey() === this.#putState) return Promise.resolve();
    if (this.#putting) {
      if (always) return this.#putting;
      this.#putAgain ??= this.#putting.then(() => {
        this.#putAgain = undefined;
        return this.#stateKey() === this.#putState ? undefined : this.#putRecord();
      });
      return this.#putAgain;
    }
    const p = this.#putOnce({}).finally(() => {
      if (this.#putting === p) this.#putting = undefined;
    });
    this.#putting = p;
    return p;
  }

  /** What a put must show, the heartbeat's time aside. */
  #stateKey(): string {
    return `${this.#halted}|${[...this.#held.keys()].join(',')}`;
  }

  async #putOnce(extra: Record<string, unknown>): Promise<void> {
    const state = this.#stateKey();
    try {
      await this.#conn.agents.put(this.name, JSON.stringify({ ...this.record(), ...extra }));
      this.#putState = state;
      if (this.#putFailing) this.#log('info', 'heartbeat: the agents bucket accepts puts again');
      this.#putFailing = false;
    } catch (err) {
      if (!this.#putFailing) this.#log('warn', `heartbeat: cannot put the agent record: ${message(err)}`);
      this.#putFailing = true;
    }
  }

  // --- watching leases, the halt key and the connection ------------------------------------------

  async #startWatchers(): Promise<void> {
    for (const w of this.#watchers) w.stop();
    this.#watchers = [];
    const leases = await this.#conn.leases.watch({ key: `${this.name}.>` });
    const control = await this.#conn.control.watch({ key: HALT_KEY });
    this.#watchers = [leases, control];
    void this.#consume(leases, (e) => this.#onLease(e));
    void this.#consume(control, (e) => this.#onHalt(e));
  }

  async #consume(iter: AsyncIterable<KvWatchEntry>, handle: (e: KvWatchEntry) => void): Promise<void> {
    try {
      for await (const e of iter) handle(e);
    } catch (err) {
      if (!this.#stopping)
        this.#log('warn', `a watch ended: ${message(err)} (restarted at the next reconnect)`);
    }
  }

  #onLease(e: KvWatchEntry): void {
    const id = e.key.slice(this.name.length + 1);
    const seen = this.#leases.get(id);
    const deleted = e.operation !== 'PUT';
    // A watch restarted after a reconnect delivers the last value again: only a newer revision is a renewal.
    if (seen && e.revision <= seen.revision) return;
    this.#leases.delete(id);
    this.#leases.set(id, { revision: e.revision, at: performance.now(), deleted });
    if (this.#leases.size > REMEMBERED_IDS) this.#leases.delete(this.#leases.keys().next().value!);
    const held = this.#held.get(id);
    if (held && deleted) void this.#revert(held, 'its lease was deleted (its controller reverted it)');
  }

  /** A holder names the faults it still holds here: each of them is seen renewed now. */
  #onRenewal(data: Uint8Array): void {
    const r = LeaseRenewalSchema.safeParse(safeJson(new TextDecoder().decode(data)));
    if (!r.success) return;
    const now = performance.now();
    for (const id of r.data.faults) {
      // Only the holder renews: another controller naming a fault it does not hold changes nothing.
      const held = this.#held.get(id);
      if (held && held.controller !== r.data.controller) continue;
      const seen = this.#leases.get(id);
      if (seen?.deleted) continue;
      if (seen) seen.at = now;
      else if (held) this.#leases.set(id, { revision: 0, at: now, deleted: false });
    }
  }

  #onHalt(e: KvWatchEntry): void {
    if (e.operation === 'PUT') {
      const parsed = FleetHaltSchema.safeParse(safeJson(e.string()));
      const why = parsed.success
        ? `fleet halt by ${parsed.data.by} since ${parsed.data.since}${parsed.data.reason ? `: ${parsed.data.reason}` : ''}`
        : 'fleet halt';
      const was = this.#halted;
      this.#halted = true;
      if (!was) this.#log('warn', `${why}: reverting every fault and refusing new ones`);
      const all = [...this.#held.values()].map((h) => this.#revert(h, why));
      // With faults to revert, the record that shows them gone (and the halt) is the one to put.
      if (all.length === 0) void this.#putRecord();
      else void Promise.allSettled(all).then(() => this.#putRecord());
    } else if (this.#halted) {
      this.#halted = false;
      this.#log('info', 'fleet halt released: accepting faults again');
      void this.#putRecord();
    }
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#conn.nc.status()) {
      if (this.#stopping) return;
      if (s.type === 'disconnect') {
        this.#connected = false;
        this.#log(
          'warn',
          `lost NATS (${s.server}): reconnecting; faults whose lease is not seen renewed revert on their own`,
        );
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        this.#log('info', `reconnected to NATS (${s.server}): registering again`);
        // The watches' consumers may not have survived a server restart: start them afresh.
        await this.#restartWatchers();
        void this.#putRecord({}, true);
        void this.#flush();
      }
    }
  }

  async #restartWatchers(): Promise<void> {
    for (let attempt = 0; !this.#stopping && this.#connected; attempt++) {
      try {
        const halt = await this.#conn.control.get(HALT_KEY);
        if (halt === null || halt.operation !== 'PUT') {
          if (this.#halted) this.#onHalt({ operation: 'DEL' } as KvWatchEntry);
        }
        await this.#startWatchers();
        return;
      } catch (err) {
        if (attempt === 0) this.#log('warn', `cannot watch leases and the halt key yet: ${message(err)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Monotonic ms of the last renewal seen (a renewal message or a put of its key), or of its injection. */
  #lastRenewal(h: Held): number {
    const seen = this.#leases.get(h.id);
    return Math.max(h.since, seen && !seen.deleted ? seen.at : 0);
  }

  #checkLeases(): void {
    const now = performance.now();
    for (const h of this.#held.values()) {
      if (h.reverting) continue;
      if (now - this.#lastRenewal(h) > h.leaseMs) {
        const why = this.#connected
          ? 'its controller stopped renewing it'
          : 'this agent lost its NATS connection';
        void this.#revert(h, `its lease lapsed: no renewal seen for ${h.leaseMs} ms (${why})`);
      }
    }
  }

  // --- commands ---------------------------------------------------------------------------------

  async #onCommand(data: Uint8Array): Promise<AgentReply> {
    if (this.#stopping) return refusal('FAULTLINE_ERR_FLEET', `agent ${this.name} is stopping`);
    let cmd: AgentCommand;
    const raw = safeJson(new TextDecoder().decode(data));
    const parsed = AgentCommandSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const path = issuePath(issue.path);
      return refusal('FAULTLINE_ERR_VALIDATION', `command: ${path ? `${path}: ` : ''}${issue.message}`);
    }
    cmd = parsed.data;
    try {
      this.#o.onCommand?.(cmd);
    } catch {
      // A listener's bug must not stop the agent.
    }
    if (cmd.op === 'status') return { ok: true, agent: this.record() };
    const known = this.#outcomes.get(cmd.id);
    if (cmd.op === 'inject') {
      if (known) return known; // a duplicated or late inject: the first outcome, never a second fault
      return this.#remember(cmd.id, this.#inject(cmd));
    }
    // revert
    const held = this.#held.get(cmd.id);
    if (held) {
      const fault = await this.#revert(held, 'reverted by its controller');
      return { ok: true, fault };
    }
    if (known) {
      const first = await known;
      // Its inject may still have been in flight: it is held now, or it never took effect.
      const now = this.#held.get(cmd.id);
      if (now) return { ok: true, fault: await this.#revert(now, 'reverted by its controller') };
      return first.ok && first.fault ? { ok: true, fault: first.fault } : { ok: true };
    }
    // A revert before its inject (the inject is late or lost): the inject must never apply later.
    const fault: FleetFault = {
      id: cmd.id,
      agent: this.name,
      kind: '',
      state: 'reverted',
      revertedAt: new Date().toISOString(),
      verified: true,
      reason: 'reverted before its inject arrived: never applied',
    };
    const reply: AgentReply = { ok: true, fault };
    this.#remember(cmd.id, Promise.resolve(reply));
    return reply;
  }

  #remember(id: string, outcome: Promise<AgentReply>): Promise<AgentReply> {
    this.#outcomes.set(id, outcome);
    while (this.#outcomes.size > REMEMBERED_IDS) {
      const oldest = this.#outcomes.keys().next().value!;
      if (this.#held.has(oldest)) {
        // Never forget a fault that is still held: move it to the back.
        const p = this.#outcomes.get(oldest)!;
        this.#outcomes.delete(oldest);
        this.#outcomes.set(oldest, p);
        if (this.#outcomes.size <= this.#held.size) break;
      } else this.#outcomes.delete(oldest);
    }
    return outcome;
  }

  async #inject(cmd: z.infer<typeof InjectCommandSchema>): Promise<AgentReply> {
    const refuse = (code: string, error: string, kind = cmd.kind): AgentReply => {
      this.#publish({
        type: 'refused',
        fault: {
          id: cmd.id,
          agent: this.name,
          kind,
          ...(cmd.workload ? { workload: workloadRef(cmd.workload) } : {}),
          state: 'refused',
          reason: error,
        },
        message: error,
      });
      this.#log('warn', `refused ${cmd.kind} (${cmd.id}) from ${cmd.controller}: ${error}`);
      return refusal(code, error);
    };
    const found = lookupKind(this.#o.kinds, cmd.kind);
    if (!found) {
      const all = await exposedFaults();
      return lookupKind(all, cmd.kind)
        ? refuse(
            'FAULTLINE_ERR_POLICY',
            `kind: '${cmd.kind}' is not allowed on agent ${this.name} (its --allow: ${[...this.#o.kinds.keys()].join(', ')})`,
          )
        : refuse('FAULTLINE_ERR_VALIDATION', `kind: unknown fault kind '${cmd.kind}'`);
    }
    let [kindName, kind] = found;
    let argsIn: Record<string, unknown> = cmd.arguments;
    let workload: string | undefined;
    if (cmd.workload) {
      const w = this.#o.workloads?.find(
        (x) => x.namespace === cmd.workload!.namespace && x.name === cmd.workload!.name,
      );
      workload = workloadRef(cmd.workload);
      if (!w) {
        return refuse(
          'FAULTLINE_ERR_POLICY',
          `workload: agent ${this.name} hosts no workload ${workload}`,
          kindName,
        );
      }
      try {
        const applied = await applyWorkload(kind.kind, cmd.arguments, w, {
          ...(cmd.peer === undefined ? {} : { peer: cmd.peer }),
        });
        argsIn = applied.args;
        if (applied.kind !== kind.kind) {
          // An HTTP fault on a workload behind a proxy becomes the proxy's toxic (allowed with the sdk kind).
          const other = await faultKindNamed(applied.kind);
          if (!other) return refuse('FAULTLINE_ERR_UNSUPPORTED', `kind: ${applied.kind} is not available`);
          kind = other;
          kindName = other.expose ? `${other.expose.group}.${other.expose.name}` : other.kind;
        }
      } catch (err) {
        return refuse(
          err instanceof FaultlineError ? err.code : 'FAULTLINE_ERR_FAULT',
          message(err),
          kindName,
        );
      }
    }
    const args = kind.args.safeParse(argsIn);
    if (!args.success) {
      const issue = args.error.issues[0]!;
      const path = issuePath(issue.path);
      return refuse(
        'FAULTLINE_ERR_VALIDATION',
        `arguments${path ? `.${path}` : ''}: ${issue.message}`,
        kindName,
      );
    }
    if (this.#halted) {
      return refuse(
        'FAULTLINE_ERR_HALTED',
        `agent ${this.name}: the fleet is halted: no fault is injected until the halt is released`,
        kindName,
      );
    }
    if (this.#held.size >= this.#o.maxFaults) {
      return refuse(
        'FAULTLINE_ERR_POLICY',
        `agent ${this.name} already holds ${this.#held.size} fault(s), its limit (--max-faults ${this.#o.maxFaults})`,
        kindName,
      );
    }
    if (this.#leases.get(cmd.id)?.deleted) {
      return refuse(
        'FAULTLINE_ERR_FLEET',
        `lease: its lease was already deleted (the controller reverted it before this inject arrived)`,
        kindName,
      );
    }
    let handle: FaultHandle;
    try {
      handle = await this.#session.inject(kind, argsIn, { ttlMs: cmd.ttlMs, ref: cmd.id });
    } catch (err) {
      const code = err instanceof FaultlineError ? err.code : 'FAULTLINE_ERR_FAULT';
      const error = message(err);
      // Its own blast radius said no before anything acted: a refusal, not a failed fault.
      if (code === 'FAULTLINE_ERR_POLICY') return refuse(code, `agent ${this.name}: ${error}`, kindName);
      const fault: FleetFault = {
        id: cmd.id,
        agent: this.name,
        kind: kindName,
        ...(workload ? { workload } : {}),
        state: 'failed',
        error,
      };
      this.#publish({ type: 'failed', fault, message: error });
      this.#log('warn', `cannot inject ${kindName} (${cmd.id}): ${error}`);
      return refusal(code, error);
    }
    const fault: FleetFault = {
      id: cmd.id,
      agent: this.name,
      kind: kindName,
      target: handle.target,
      ...(workload ? { workload } : {}),
      state: 'active',
      injectedAt: new Date().toISOString(),
    };
    // The lease counts from when the fault took effect: a slow injection does not eat into it.
    const held: Held = {
      id: cmd.id,
      kind: kindName,
      controller: cmd.controller,
      expiresAt: new Date(Date.now() + cmd.ttlMs).toISOString(),
      fault,
      handle,
      leaseMs: cmd.leaseMs,
      since: performance.now(),
    };
    this.#held.set(cmd.id, held);
    this.#byLedgerId.set(handle.id, cmd.id);
    this.#publish({ type: 'injected', fault: { ...fault } });
    this.#log('info', `injected ${kindName} ${handle.target} (${cmd.id}) for ${cmd.controller}`);
    // The record shows it from the next heartbeat: the reply and the event say so at once, and a
    // put per inject was a thousand JetStream writes in the middle of a 1,000-agent fan-out.
    // Whatever ended it while it was being injected ends it now.
    const lease = this.#leases.get(cmd.id);
    let why: string | undefined;
    if (this.#halted) why = 'the fleet was halted while it was being injected';
    else if (lease?.deleted) why = 'its lease was deleted while it was being injected';
    else if (this.#stopping) why = 'the agent is stopping';
    if (why) return { ok: true, fault: await this.#revert(held, why) };
    return { ok: true, fault: { ...fault } };
  }

  #revert(h: Held, reason: string): Promise<FleetFault> {
    h.reverting ??= (async () => {
      const r = await h.handle.revert();
      const verified = r.verified === true;
      h.fault = {
        ...h.fault,
        state: verified ? 'reverted' : 'failed',
        revertedAt: new Date().toISOString(),
        verified,
        reason,
        ...(r.error ? { error: r.error } : {}),
      };
      this.#held.delete(h.id);
      this.#byLedgerId.delete(h.handle.id);
      // A revert command that comes after the agent reverted on its own (lease, halt, ttl) is
      // answered with how that went, not with the inject's outcome.
      this.#remember(h.id, Promise.resolve({ ok: true, fault: { ...h.fault } }));
      if (verified) {
        this.#log('info', `reverted ${h.kind} ${h.handle.target} (${h.id}): ${reason}`);
        this.#publish({ type: 'reverted', fault: { ...h.fault }, message: reason });
        this.#publish({ type: 'verified', fault: { ...h.fault } });
      } else {
        this.#log('error', `revert of ${h.kind} ${h.handle.target} (${h.id}) not verified: ${r.error ?? ''}`);
        this.#publish({ type: 'failed', fault: { ...h.fault }, message: r.error ?? 'revert not verified' });
      }
      if (!this.#stopping) void this.#putRecord();
      return { ...h.fault };
    })();
    return h.reverting;
  }

  #sessionEvent(e: FaultEvent): void {
    if (e.type !== 'fault-expired') return;
    const id = this.#byLedgerId.get(e.record.id);
    const held = id ? this.#held.get(id) : undefined;
    if (held) void this.#revert(held, 'its ttl ended');
  }

  // --- events -----------------------------------------------------------------------------------

  #publish(e: Omit<FleetEvent, 'agent' | 'at'>): void {
    const event: FleetEvent = { agent: this.name, at: new Date().toISOString(), ...e };
    try {
      this.#o.onEvent?.(event);
    } catch {
      // A listener's bug must not stop the agent.
    }
    if (this.#outbox.length >= OUTBOX_LIMIT) {
      this.#outbox.shift();
      if (this.#droppedEvents++ === 0) this.#log('warn', 'events: NATS away too long: dropping the oldest');
    }
    // The stream drops a second copy with the same id: a retried publish is never an event twice.
    const msgID = `${this.name}-${this.#bootId}-${this.#eventSeq++}`;
    this.#outbox.push({ subject: eventsSubject(this.name), data: JSON.stringify(event), msgID });
    void this.#flush();
  }

  #flush(): Promise<void> {
    this.#flushing ??= (async () => {
      while (this.#outbox.length > 0) {
        const next = this.#outbox[0]!;
        try {
          await this.#conn.js.publish(next.subject, next.data, { msgID: next.msgID, timeout: 2_000 });
          this.#outbox.shift();
        } catch {
          // Kept for the reconnect (or the next event), in order.
          if (this.#conn.nc.isClosed() || !this.#connected) break;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  // --- stopping ---------------------------------------------------------------------------------

  stop(): Promise<void> {
    this.#stopping ??= this.#stop().finally(() => this.#resolveDone());
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    clearInterval(this.#leaseTick);
    this.#sub?.unsubscribe();
    this.#renewSub?.unsubscribe();
    for (const w of this.#watchers) w.stop();
    await Promise.allSettled([...this.#held.values()].map((h) => this.#revert(h, 'the agent is stopping')));
    // Injections in flight when it began are cancelled; whatever else the session holds comes off too.
    await this.#session.revertAll();
    this.#publish({ type: 'agent-stopped', message: 'stopped: every fault reverted' });
    // The last put says it stopped, so `faultline fleet` tells it from a lost agent.
    if (this.#connected) await this.#putRecord({ stoppedAt: new Date().toISOString() });
    await Promise.race([this.#flush(), new Promise((r) => setTimeout(r, STOP_FLUSH_MS).unref())]);
    // Draining waits on the server: without one, just close.
    await (this.#connected ? this.#conn.close() : this.#conn.nc.close()).catch(() => undefined);
    this.#log('info', `agent ${this.name} stopped`);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
