/**
 * The fleet's controller side: who is there (`agents()`), who a fault would
 * hit (`plan()`, blast radius checked before anything is sent), placing a
 * fault on each target under a lease it renews while it lives (`inject()`),
 * reverting, and the fleet halt.
 *
 * Every fault it places has a lease, put as the command goes out and renewed
 * by one core message per agent every third of the lease (protocol.ts says
 * why not by KV puts); an agent counts the lease from when the fault took
 * effect, so a fault whose lease put fails or comes late still reverts by
 * lease. A command that fails or is not answered has its lease deleted (and a
 * revert sent, in case the command arrived after all). A controller that dies
 * stops renewing: each agent reverts by lease on its own.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DeliverPolicy } from '@nats-io/jetstream';
import { type BlastRadius, type BlastRadiusPolicy, checkBlastRadius } from '../core/blast-radius.js';
import { FaultlineError } from '../core/errors.js';
import type { FaultTarget } from '../core/fault.js';
import { onWorkloads, type Targets } from '../core/fleet.js';
import { type WorkloadSummary, workloadRef } from '../core/workload.js';
import { MAX_FAULT_TTL_MS } from '../faults/session.js';
import { bucketKeys, connectFleet, type FleetConnection, type FleetConnectOptions } from './connect.js';
import {
  AGENTS_BUCKET,
  type AgentCommand,
  type AgentRecord,
  AgentRecordSchema,
  type AgentReply,
  AgentReplySchema,
  commandSubject,
  DEFAULT_LEASE_MS,
  EVENTS_STREAM,
  eventsSubject,
  FleetEventSchema,
  type FleetFault,
  type FleetHalt,
  FleetHaltSchema,
  HALT_KEY,
  type Lease,
  type LeaseRenewal,
  leaseKey,
  renewSubject,
} from './protocol.js';
import {
  describeSeenWorkloads,
  describeWorkloadFilter,
  formatSelector,
  type HostedWorkload,
  type LabelSelector,
  type Mode,
  matchSelector,
  matchWorkloads,
  pickTargets,
} from './select.js';
import { splitDirections } from './workloads.js';

/** An agent that missed this many heartbeats (by the server's timestamp on its record) is `lost`. */
export const LOST_AFTER_HEARTBEATS = 3;
const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;
/** A lease shorter than this cannot be renewed reliably (every third of it) on a loaded host. */
export const MIN_LEASE_MS = 300;
/** How long haltFleet keeps retrying the halt key's put, at least. */
export const HALT_PUT_PATIENCE_MS = 30_000;

export type AgentHealth = 'alive' | 'lost' | 'halted' | 'stopped';

export interface FleetAgent extends AgentRecord {
  /**
   * `alive`: its record was re-put within LOST_AFTER_HEARTBEATS heartbeats, judged by the
   * server's timestamp on the KV entry against this controller's clock (indicative: the two
   * clocks may differ); `halted`: alive and halted by the fleet halt; `stopped`: its last
   * record says it stopped cleanly (its faults reverted); `lost` otherwise.
   */
  health: AgentHealth;
  /** The server's timestamp of its last record. */
  seenAt: string;
  /** How long ago that was, by this controller's clock (may be negative with clock skew). */
  ageMs: number;
}

/** A fault's arguments: the same for every target, or made per agent. */
export type FaultArgs = Record<string, unknown> | ((agent: FleetAgent) => Record<string, unknown>);

export interface FleetTargets
  extends Partial<Pick<Targets, 'on' | 'namespaces' | 'names' | 'agentNames' | 'agentSelector' | 'peers'>> {
  selector: LabelSelector;
  mode: Mode;
  value?: number | undefined;
}

/** One fault to send when targets pick workloads: a workload, and a peer address and direction when scoped. */
export interface WorkloadPlacement {
  agent: FleetAgent;
  workload: WorkloadSummary;
  peer?: string;
  /** The direction this placement takes (a `both` fault with peers is sent once per direction). */
  direction?: string;
}

export interface PlanOptions {
  /** Policies every target set must satisfy (a bare policy is named `blastRadius`). */
  blastRadius?: BlastRadius | readonly BlastRadiusPolicy[];
  /** The draw for random modes (tests seed it); default Math.random. */
  random?: () => number;
}

export interface FleetPlan {
  kind: string;
  selector: string;
  mode: Mode;
  value?: number;
  /** Alive agents the selector matched (lost ones are never candidates). */
  candidates: FleetAgent[];
  /** Those the mode picked: the agents the fault would be sent to. */
  targets: FleetAgent[];
  /** Targets whose record does not list the kind: they will refuse it. */
  notOffering: string[];
  /** The fleet halt in force, if any (inject refuses then). */
  halt?: FleetHalt;
  /** When the targets pick workloads: the workloads that matched, those picked, and one fault each (per peer address). */
  workloads?: {
    candidates: HostedWorkload<FleetAgent>[];
    picked: HostedWorkload<FleetAgent>[];
    peers: string[];
    placements: WorkloadPlacement[];
  };
}

export interface InjectOptions extends PlanOptions {
  /** How long an agent keeps the fault without seeing a renewal (default DEFAULT_LEASE_MS). */
  leaseMs?: number;
  /** The fault's own time limit on the agent, lease or not (default the longest a fault may last). */
  ttlMs?: number;
}

export interface FleetControllerOptions {
  /** Who holds the leases (shown in them and in the halt key); default `controller-<uuid>`. */
  id?: string;
  /** How long a command waits for an agent's reply (default 15 s). */
  commandTimeoutMs?: number;
}

export interface FleetHaltReport {
  halt: FleetHalt;
  /** Agents that showed halted with no fault left, in time. */
  reverted: string[];
  /** Alive agents that did not, in time: their faults still revert by lease. */
  noAnswer: { name: string; faults: string[]; halted: boolean }[];
}

interface Held {
  fault: FleetFault;
  lease: Lease;
  /** When the controller sent it (its own clock): where to look for the fault's events. */
  sentAt: number;
}

const policiesOf = (b: PlanOptions['blastRadius']): BlastRadiusPolicy[] =>
  b === undefined ? [] : Array.isArray(b) ? [...b] : [{ source: 'blastRadius', policy: b as BlastRadius }];

/** What the blast radius sees of an agent: its name, host and labels. */
const asTarget = (a: FleetAgent): FaultTarget => ({
  type: 'agent',
  name: a.name,
  host: a.host.hostname,
  labels: a.labels,
});

/** What the blast radius sees of a workload: `namespace/name`, its namespace and labels, its agent's host. */
const workloadTarget = (h: HostedWorkload<FleetAgent>): FaultTarget => ({
  type: 'workload',
  name: workloadRef(h.workload),
  namespace: h.workload.namespace,
  host: h.agent.host.hostname,
  labels: h.workload.labels,
});

/** Agent refusals (it answered and declined) as opposed to failures of the fault itself. */
const FAILURE_CODES = new Set([
  'FAULTLINE_ERR_FAULT',
  'FAULTLINE_ERR_ACTIVITY',
  'FAULTLINE_ERR_INTERNAL',
  'FAULTLINE_ERR_FLEET',
]);

export class FleetController {
  readonly id: string;
  readonly connection: FleetConnection;
  private readonly commandTimeoutMs: number;
  private readonly held = new Map<string, Held>();
  private closed = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewEvery: number | undefined;
  private renewalsStopped = false;

  private constructor(connection: FleetConnection, options: FleetControllerOptions) {
    this.connection = connection;
    this.id = options.id ?? `controller-${randomUUID()}`;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    // A connection closed under us (its process is ending, or a test kills it): stop renewing.
    void connection.nc.closed().then(() => this.stopRenewals());
  }

  static async open(
    connect: FleetConnectOptions,
    options: FleetControllerOptions = {},
  ): Promise<FleetController> {
    const id = options.id ?? `controller-${randomUUID()}`;
    const connection = await connectFleet({ name: id, ...connect });
    return new FleetController(connection, { ...options, id });
  }

  /** Every agent record in the bucket, with its health; sorted by name. */
  async agents(): Promise<FleetAgent[]> {
    const kv = this.connection.agents;
    const names = await bucketKeys(this.connection.jsm, AGENTS_BUCKET);
    const now = Date.now();
    const found = await Promise.all(
      names.map(async (name) => {
        const e = await kv.get(name);
        if (e?.operation !== 'PUT') return undefined;
        let parsed: ReturnType<typeof AgentRecordSchema.safeParse>;
        try {
          parsed = AgentRecordSchema.safeParse(e.json());
        } catch {
          return undefined;
        }
        if (!parsed.success) return undefined;
        const record = parsed.data;
        const ageMs = now - e.created.getTime();
        const lost = ageMs > LOST_AFTER_HEARTBEATS * record.heartbeatMs;
        // An agent's last put on a clean stop carries `stoppedAt`.
        const stopped = record.stoppedAt !== undefined;
        const health: AgentHealth = stopped ? 'stopped' : lost ? 'lost' : record.halted ? 'halted' : 'alive';
        return { ...record, health, seenAt: e.created.toISOString(), ageMs };
      }),
    );
    return found.filter((a): a is FleetAgent => a !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The fleet halt in force, if any. */
  async halted(): Promise<FleetHalt | undefined> {
    const e = await this.connection.control.get(HALT_KEY);
    if (e?.operation !== 'PUT') return undefined;
    const r = FleetHaltSchema.safeParse(safeJson(e));
    // A halt key someone wrote by hand still halts the agents: report it as such.
    return r.success
      ? r.data
      : { since: e.created.toISOString(), by: 'unknown', reason: 'unreadable halt key' };
  }

  /**
   * The agents `kind` would be sent to, checked against the blast radius
   * (FAULTLINE_ERR_POLICY naming the rule); sends nothing.
   */
  async plan(kind: string, args: FaultArgs, targets: FleetTargets, options: PlanOptions = {}) {
    if (onWorkloads(targets)) return this.planWorkloads(kind, args, targets, options);
    const all = await this.agents();
    const candidates = all.filter(
      (a) => (a.health === 'alive' || a.health === 'halted') && matchSelector(a.labels, targets.selector),
    );
    const picked = pickTargets(candidates, targets, options.random);
    const selector = formatSelector(targets.selector);
    checkBlastRadius(
      policiesOf(options.blastRadius),
      `${kind} on agents matching '${selector}' (mode ${targets.mode})`,
      { targets: picked.map(asTarget), candidates: candidates.length },
    );
    const halt = await this.halted();
    const plan: FleetPlan = {
      kind,
      selector,
      mode: targets.mode,
      ...(targets.value === undefined ? {} : { value: targets.value }),
      candidates,
      targets: picked,
      notOffering: picked.filter((a) => !a.kinds.includes(kind)).map((a) => a.name),
      ...(halt ? { halt } : {}),
    };
    return plan;
  }

  /**
   * The workloads `kind` would be placed on (Chaos Mesh's pods): those of alive agents that
   * match the namespaces, labels, names and agent filters, picked by the mode; with `peers`,
   * one placement per picked workload and peer address (and per direction for `both`).
   * FAULTLINE_ERR_FLEET when nothing matches, naming the filter and what the fleet has.
   */
  private async planWorkloads(
    kind: string,
    args: FaultArgs,
    targets: FleetTargets,
    options: PlanOptions,
  ): Promise<FleetPlan> {
    const all = await this.agents();
    const alive = all.filter((a) => a.health === 'alive' || a.health === 'halted');
    const filter = { ...targets, selector: targets.selector };
    const described = describeWorkloadFilter(filter);
    const candidates = matchWorkloads(alive, filter);
    if (candidates.length === 0) {
      // The issue says it is the selection (not the fleet's reachability) that failed: the run's
      // preflight refuses the run on it (exit 2) naming the activity's `targets`.
      const why = `no workload matches ${described} (the fleet's workloads by namespace: ${describeSeenWorkloads(alive)})`;
      throw new FaultlineError('FAULTLINE_ERR_FLEET', `targets: ${why}`, {
        issues: [{ path: 'targets', message: why }],
      });
    }
    const picked = pickTargets(candidates, targets, options.random);
    let peers: string[] = [];
    if (targets.peers) {
      const p = targets.peers;
      const peerFilter = {
        ...(p.selector ? { selector: p.selector } : {}),
        ...(p.namespaces ? { namespaces: p.namespaces } : {}),
        ...(p.names ? { names: p.names } : {}),
      };
      const byWorkload = Object.keys(peerFilter).length > 0;
      const peerCandidates = byWorkload ? matchWorkloads(alive, peerFilter) : [];
      const peerPicked = pickTargets(
        peerCandidates,
        { mode: p.mode ?? 'all', ...(p.value === undefined ? {} : { value: p.value }) },
        options.random,
      );
      peers = [...new Set([...peerPicked.flatMap((h) => h.workload.addresses), ...(p.addresses ?? [])])];
      if (peers.length === 0) {
        if (byWorkload && peerCandidates.length === 0) {
          const why = `no workload matches ${describeWorkloadFilter(peerFilter)} (the fleet's workloads by namespace: ${describeSeenWorkloads(alive)})`;
          throw new FaultlineError('FAULTLINE_ERR_FLEET', `targets.peers: ${why}`, {
            issues: [{ path: 'targets.peers', message: why }],
          });
        }
        // No issue: with a random peers mode this is the draw's doing, and the injection draws again.
        throw new FaultlineError(
          'FAULTLINE_ERR_FLEET',
          `targets.peers: the peers picked have no addresses (give the workloads \`addresses\` in their agents' --workloads files, or peers.addresses)`,
        );
      }
    }
    const placements: WorkloadPlacement[] = [];
    for (const h of picked) {
      if (peers.length === 0) {
        placements.push({ agent: h.agent, workload: h.workload });
        continue;
      }
      const own = new Set(h.workload.addresses);
      const sample = typeof args === 'function' ? args(h.agent) : args;
      for (const peer of peers) {
        if (own.has(peer)) continue;
        for (const direction of splitDirections(kindName(kind), sample)) {
          placements.push({
            agent: h.agent,
            workload: h.workload,
            peer,
            ...(direction ? { direction } : {}),
          });
        }
      }
    }
    checkBlastRadius(
      policiesOf(options.blastRadius),
      `${kind} on workloads matching ${described} (mode ${targets.mode})`,
      {
        targets: picked.map(workloadTarget),
        candidates: candidates.length,
      },
    );
    const halt = await this.halted();
    const agents = [...new Map(picked.map((h) => [h.agent.name, h.agent])).values()];
    return {
      kind,
      selector: described,
      mode: targets.mode,
      ...(targets.value === undefined ? {} : { value: targets.value }),
      candidates: [...new Map(candidates.map((h) => [h.agent.name, h.agent])).values()],
      targets: agents,
      notOffering: agents.filter((a) => !a.kinds.includes(kind)).map((a) => a.name),
      ...(halt ? { halt } : {}),
      workloads: { candidates, picked, peers, placements },
    };
  }

  /**
   * Places `kind` on every agent the plan picks: per agent, its lease and the
   * command. Resolves with one outcome per target (`active`, `refused` by the
   * agent, or `failed`); refuses before sending anything when the blast radius
   * or a fleet halt forbids it, or nothing matches. `args` may be a function of
   * the agent, for arguments that differ per host (a path, an interface name).
   */
  async inject(
    kind: string,
    args: FaultArgs,
    targets: FleetTargets,
    options: InjectOptions = {},
  ): Promise<FleetFault[]> {
    if (this.closed) throw new FaultlineError('FAULTLINE_ERR_FLEET', 'the fleet controller is closed');
    const leaseMs = Math.round(options.leaseMs ?? DEFAULT_LEASE_MS);
    if (!(leaseMs >= MIN_LEASE_MS)) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `leaseMs: expected at least ${MIN_LEASE_MS} ms, got ${leaseMs}`,
      );
    }
    const ttlMs = Math.round(options.ttlMs ?? MAX_FAULT_TTL_MS);
    const plan = await this.plan(kind, args, targets, options);
    if (plan.halt) {
      throw new FaultlineError(
        'FAULTLINE_ERR_HALTED',
        `the fleet is halted (since ${plan.halt.since} by ${plan.halt.by}${plan.halt.reason ? `: ${plan.halt.reason}` : ''}); \`faultline halt --fleet --release\` allows faults again`,
      );
    }
    if (plan.candidates.length === 0) {
      throw new FaultlineError(
        'FAULTLINE_ERR_FLEET',
        `no alive agent matches '${plan.selector}' (\`faultline fleet\` lists the agents and their labels)`,
      );
    }
    if (plan.workloads) {
      return Promise.all(
        plan.workloads.placements.map((p) => {
          const base = typeof args === 'function' ? args(p.agent) : args;
          return this.injectOne(
            p.agent.name,
            kind,
            p.direction ? { ...base, direction: p.direction } : base,
            leaseMs,
            ttlMs,
            {
              workload: { namespace: p.workload.namespace, name: p.workload.name },
              ...(p.peer === undefined ? {} : { peer: p.peer }),
            },
          );
        }),
      );
    }
    return Promise.all(
      plan.targets.map((agent) =>
        this.injectOne(agent.name, kind, typeof args === 'function' ? args(agent) : args, leaseMs, ttlMs),
      ),
    );
  }

  private async injectOne(
    agent: string,
    kind: string,
    args: Record<string, unknown>,
    leaseMs: number,
    ttlMs: number,
    aim: { workload?: { namespace: string; name: string }; peer?: string } = {},
  ): Promise<FleetFault> {
    const id = randomUUID();
    const workload = aim.workload ? workloadRef(aim.workload) : undefined;
    const base: FleetFault = { id, agent, kind, ...(workload ? { workload } : {}), state: 'failed' };
    const lease: Lease = { controller: this.id, faultId: id, ttlMs: leaseMs, renewals: 0 };
    const key = leaseKey(agent, id);
    // The lease put and the command go out together: waiting for the put's acknowledgement first
    // doubled the fan-out's time. It is just as safe: the agent counts the lease from when the
    // fault took effect and reverts when it sees no put for leaseMs, so a put that fails or comes
    // late makes the fault revert by lease, exactly as a controller that died would.
    let putError: string | undefined;
    const put = this.connection.leases.put(key, JSON.stringify(lease)).then(
      () => undefined,
      (err: Error) => {
        putError = err.message;
      },
    );
    this.held.set(id, { fault: { ...base, state: 'active' }, lease, sentAt: Date.now() });
    this.scheduleRenewals();

    const command: AgentCommand = {
      op: 'inject',
      id,
      controller: this.id,
      kind,
      arguments: args,
      ttlMs,
      leaseMs,
      ...(aim.workload ? { workload: aim.workload } : {}),
      ...(aim.peer === undefined ? {} : { peer: aim.peer }),
    };
    const [reply] = await Promise.all([this.request(agent, command), put]);
    if (putError !== undefined && reply.ok && reply.fault?.state === 'active') {
      // Placed, but without a lease the agent sees: take it back now rather than leave it to lapse.
      this.drop(id);
      const r = await this.request(agent, { op: 'revert', id }, 5_000);
      return {
        ...base,
        ...(r.ok && r.fault ? r.fault : {}),
        id,
        agent,
        kind,
        state: r.ok && r.fault?.verified ? 'reverted' : 'failed',
        error: `its lease could not be put (${putError}): reverted at once${r.ok ? '' : `, and the agent did not answer the revert (it reverts by lease within ${leaseMs} ms)`}`,
      };
    }
    if (reply.ok && reply.fault && reply.fault.state === 'active') {
      const fault = { ...reply.fault, id, agent, kind, ...(workload ? { workload } : {}) };
      const h = this.held.get(id);
      if (h) h.fault = fault;
      return fault;
    }
    // Not placed: drop the lease (and, when the agent did not answer, ask it to revert in case
    // the command reached it late; the deleted lease reverts it anyway).
    this.drop(id);
    await this.connection.leases.delete(key).catch(() => undefined);
    if (reply.ok) {
      return reply.fault
        ? { ...reply.fault, id, agent, kind }
        : { ...base, error: 'the agent answered without the fault' };
    }
    if (reply.code === 'NO_ANSWER') void this.request(agent, { op: 'revert', id }, 2_000);
    const refused = reply.code !== 'NO_ANSWER' && !FAILURE_CODES.has(reply.code);
    return { ...base, state: refused ? 'refused' : 'failed', error: reply.error, reason: reply.code };
  }

  /**
   * One timer renews every lease this controller holds, every third of the shortest: one core
   * NATS message per agent naming its faults (LeaseRenewal), not a KV put per fault. A message
   * lost to a NATS restart is made up by the next tick; if they keep failing the agents revert by
   * lease, which is the point.
   */
  private scheduleRenewals(): void {
    let shortest = Number.POSITIVE_INFINITY;
    for (const h of this.held.values()) shortest = Math.min(shortest, h.lease.ttlMs);
    const every = Number.isFinite(shortest) ? Math.max(100, Math.floor(shortest / 3)) : undefined;
    if (every === this.renewEvery) return;
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    this.renewEvery = every;
    if (every === undefined || this.renewalsStopped) return;
    this.renewTimer = setInterval(() => this.renew(), every);
    this.renewTimer.unref();
  }

  private renew(): void {
    if (this.connection.nc.isClosed()) return;
    const byAgent = new Map<string, string[]>();
    for (const [id, h] of this.held) {
      const ids = byAgent.get(h.fault.agent);
      if (ids) ids.push(id);
      else byAgent.set(h.fault.agent, [id]);
    }
    for (const [agent, faults] of byAgent) {
      const renewal: LeaseRenewal = { controller: this.id, faults };
      try {
        this.connection.nc.publish(renewSubject(agent), JSON.stringify(renewal));
      } catch {
        // Closed or draining: nothing renews any more, and the agents revert by lease.
      }
    }
  }

  private drop(id: string): Held | undefined {
    const h = this.held.get(id);
    if (h) {
      this.held.delete(id);
      this.scheduleRenewals();
    }
    return h;
  }

  private stopRenewals(): void {
    this.renewalsStopped = true;
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /** The faults this controller holds leases for. */
  faults(): FleetFault[] {
    return [...this.held.values()].map((h) => h.fault);
  }

  /**
   * Asks the fault's agent to revert it, then deletes its lease. An agent that does
   * not answer still reverts by lease (when it sees the delete, or when no
   * renewal came for the lease's length): the outcome says so, unverified.
   */
  async revert(faultId: string): Promise<FleetFault> {
    const h = this.drop(faultId);
    if (!h)
      throw new FaultlineError('FAULTLINE_ERR_USAGE', `faultId: this controller holds no fault ${faultId}`);
    const { agent } = h.fault;
    // The command first, the lease delete after: an agent that saw the delete first would revert
    // on its own and could answer the command with the fault's first (inject) outcome. Renewals
    // have stopped already, so an agent that does not answer reverts by lease all the same.
    const reply = await this.request(agent, { op: 'revert', id: faultId });
    let leaseError: string | undefined;
    await this.connection.leases.delete(leaseKey(agent, faultId)).catch((err: Error) => {
      leaseError = err.message;
    });
    if (reply.ok && reply.fault && reply.fault.state !== 'active') {
      return { ...h.fault, ...reply.fault, id: faultId, agent, kind: h.fault.kind };
    }
    if (reply.ok) {
      // The agent answered without the revert's outcome (it reverted the fault on its own so long
      // ago that it forgot it, or it is older than this controller): the events stream has it.
      const ended = await this.endedOnAgent(agent, faultId, h.sentAt);
      if (ended) return { ...h.fault, ...ended, id: faultId, agent, kind: h.fault.kind };
    }
    const byLease = leaseError
      ? `its lease could not be deleted (${leaseError}) but is no longer renewed: the agent reverts it within ${h.lease.ttlMs} ms of the last renewal`
      : `its lease is deleted and no longer renewed: the agent reverts it by lease (at the delete, or ${h.lease.ttlMs} ms after the last renewal)`;
    return {
      ...h.fault,
      state: 'reverted',
      verified: false,
      reason: `no verified revert from the agent; ${byLease}`,
      error: reply.ok ? 'the agent answered without the fault' : reply.error,
    };
  }

  /** Reverts every fault this controller holds, in parallel. */
  async revertAll(): Promise<FleetFault[]> {
    return Promise.all([...this.held.keys()].map((id) => this.revert(id)));
  }

  /**
   * Puts the fleet halt key, then waits (at most `timeoutMs`, default 10 s)
   * until every alive agent's record shows it halted with no fault left.
   * Leases this controller holds are deleted too (their faults are reverted by the halt).
   */
  async haltFleet(reason?: string, options: { timeoutMs?: number } = {}): Promise<FleetHaltReport> {
    if (this.closed) throw new FaultlineError('FAULTLINE_ERR_FLEET', 'the fleet controller is closed');
    const halt: FleetHalt = { since: new Date().toISOString(), by: this.id, ...(reason ? { reason } : {}) };
    await this.putHalt(halt, Math.max(options.timeoutMs ?? 10_000, HALT_PUT_PATIENCE_MS));
    const held = [...this.held.keys()].map((id) => this.drop(id)!);
    await Promise.all(
      held.map((h) =>
        this.connection.leases.delete(leaseKey(h.fault.agent, h.fault.id)).catch(() => undefined),
      ),
    );
    const waiting = new Set(
      (await this.agents()).filter((a) => a.health === 'alive' || a.health === 'halted').map((a) => a.name),
    );
    const last = new Map<string, AgentRecord>();
    const reverted: string[] = [];
    if (waiting.size > 0) {
      // One watch on the records (each agent re-puts its record when it has reverted, and at every
      // heartbeat) rather than re-reading the whole fleet in a loop.
      const watch = await this.connection.agents.watch();
      const timer = setTimeout(() => watch.stop(), options.timeoutMs ?? 10_000);
      try {
        for await (const e of watch) {
          if (e.operation !== 'PUT' || !waiting.has(e.key)) continue;
          const r = AgentRecordSchema.safeParse(safeJson(e));
          if (!r.success) continue;
          last.set(e.key, r.data);
          if (r.data.halted && r.data.faults.length === 0) {
            waiting.delete(e.key);
            reverted.push(e.key);
            if (waiting.size === 0) break;
          }
        }
      } finally {
        clearTimeout(timer);
        watch.stop();
      }
    }
    return {
      halt,
      reverted: reverted.sort(),
      noAnswer: [...waiting].sort().map((name) => ({
        name,
        faults: last.get(name)?.faults ?? [],
        halted: last.get(name)?.halted ?? false,
      })),
    };
  }

  /**
   * Puts the halt key, retrying until `patienceMs`: a halt is most needed when JetStream is
   * saturated (a heavily loaded 1,000-agent fleet timed out a single put), and the put is
   * idempotent. A refusal by the server's permissions is final.
   */
  private async putHalt(halt: FleetHalt, patienceMs: number): Promise<void> {
    const deadline = performance.now() + patienceMs;
    for (let attempt = 1, wait = 100; ; attempt++, wait = Math.min(wait * 2, 1_000)) {
      try {
        await this.connection.control.put(HALT_KEY, JSON.stringify(halt));
        return;
      } catch (err) {
        const text = (err as Error).message;
        if (/permission/i.test(text) || performance.now() + wait > deadline) {
          throw new FaultlineError(
            'FAULTLINE_ERR_FLEET',
            `cannot put the fleet halt key (${attempt} attempt${attempt === 1 ? '' : 's'}): ${text}; the fleet is NOT halted (faults stay until their controllers revert them or stop renewing their leases)`,
            { cause: err },
          );
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Deletes the fleet halt key; false when none was in force. */
  async releaseFleet(): Promise<boolean> {
    const was = await this.halted();
    await this.connection.control.delete(HALT_KEY);
    return was !== undefined;
  }

  /**
   * Resolves when a fleet halt is put (at once if one is in force), or never
   * once `signal` aborts. For holders such as `faultline inject --on`.
   */
  async whenHalted(signal?: AbortSignal): Promise<FleetHalt | undefined> {
    const watch = await this.connection.control.watch({ key: HALT_KEY });
    const stop = () => watch.stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const e of watch) {
        if (e.operation !== 'PUT') continue;
        const r = FleetHaltSchema.safeParse(safeJson(e));
        return r.success ? r.data : { since: e.created.toISOString(), by: 'unknown' };
      }
      return undefined;
    } finally {
      signal?.removeEventListener('abort', stop);
      watch.stop();
    }
  }

  /**
   * Reverts what it holds (unless `leave`: then the faults revert by lease,
   * as if this controller had died) and closes the connection.
   */
  async close(options: { leave?: boolean } = {}): Promise<FleetFault[]> {
    if (this.closed) return [];
    this.closed = true;
    let outcomes: FleetFault[] = [];
    if (options.leave) this.stopRenewals();
    else if (!this.connection.nc.isClosed()) outcomes = await this.revertAll();
    for (const id of [...this.held.keys()]) this.drop(id);
    await this.connection.close().catch(() => undefined);
    return outcomes;
  }

  /** The fault's last revert event (`reverted`, `verified` or `failed`) its agent published, if any. */
  private async endedOnAgent(agent: string, id: string, since: number): Promise<FleetFault | undefined> {
    let found: FleetFault | undefined;
    try {
      const consumer = await this.connection.js.consumers.get(EVENTS_STREAM, {
        filter_subjects: eventsSubject(agent),
        deliver_policy: DeliverPolicy.StartTime,
        // A minute of slack for the server's clock against this one.
        opt_start_time: new Date(since - 60_000).toISOString(),
      });
      for (let i = 0; i < 100_000; i++) {
        const m = await consumer.next({ expires: 2_000 });
        if (!m) break;
        const e = FleetEventSchema.safeParse(safeJson(m));
        const fault = e.success ? e.data.fault : undefined;
        if (fault?.id === id && fault.state !== 'active' && fault.state !== 'refused') found = fault;
        if (m.info.pending === 0) break;
      }
    } catch {
      // No stream, no permission to read it: the outcome says the revert is not verified.
    }
    return found;
  }

  private async request(
    agent: string,
    command: AgentCommand,
    timeout = this.commandTimeoutMs,
  ): Promise<AgentReply | { ok: false; code: 'NO_ANSWER'; error: string }> {
    let data: unknown;
    try {
      const msg = await this.connection.nc.request(commandSubject(agent), JSON.stringify(command), {
        timeout,
      });
      data = msg.json();
    } catch (err) {
      const e = err as Error & { isNoResponders?: () => boolean };
      const why = e.isNoResponders?.() ? 'no agent listens on its subject' : e.message;
      return { ok: false, code: 'NO_ANSWER', error: `agent ${agent} did not answer: ${why}` };
    }
    const r = AgentReplySchema.safeParse(data);
    if (!r.success)
      return {
        ok: false,
        code: 'FAULTLINE_ERR_FLEET',
        error: `agent ${agent} sent a reply that does not match the protocol`,
      };
    return r.data;
  }
}

/** `network.loss` / `network-loss` -> `network-loss`: the ledger name splitDirections() knows. */
const kindName = (kind: string) => kind.replace('.', '-');

function safeJson(e: { json<T>(): T }): unknown {
  try {
    return e.json();
  } catch {
    return undefined;
  }
}
