/**
 * What is injected across the fleet right now (`faultline status --fleet`):
 * each agent's record says which faults it holds and when it last saw each
 * one's lease renewed; the leases bucket says which of them a controller still
 * holds (a key is put once at inject and deleted at revert: renewals are core
 * NATS messages that leave no trace in a bucket, so only the agent can say
 * whether they still come). Neither alone tells the whole story: a fault
 * without a lease key is on its way out (its agent reverts it), a key without a
 * fault is one its controller never deleted, and a lost agent's faults are out
 * of anyone's reach but revert on their own.
 *
 * The join is pure (joinFleetStatus, unit-tested without NATS); fleetStatus
 * reads the three buckets and calls it. Times are indicative: ages compare
 * this process's clock with the server's timestamps (leases, records) and the
 * agents' own clocks (injectedAt, expiresAt, renewedAgoMs), as `faultline
 * fleet` does.
 */
import { z } from 'zod';
import { bucketKeys, type FleetConnection } from './connect.js';
import type { AgentHealth, FleetAgent } from './controller.js';
import { type FleetHalt, FleetHaltSchema, LEASES_BUCKET, type Lease, LeaseSchema } from './protocol.js';

const HEALTHS = ['alive', 'halted', 'lost', 'stopped'] as const satisfies readonly AgentHealth[];
export const AgentHealthSchema = z.enum(HEALTHS);
// The controller's type and this list must name the same states (a compile error otherwise).
const _sameHealths: [AgentHealth] extends [z.infer<typeof AgentHealthSchema>] ? true : never = true;
void _sameHealths;

/** A lease key as the server stores it. */
export const LeaseSeenSchema = z.object({
  /** The controller that put it (absent: its value does not match the protocol). */
  holder: z.string().optional(),
  ttlMs: z.number().optional(),
  renewals: z.number().optional(),
  /** The server's timestamp of its put: when the fault was placed (renewals do not re-put it). */
  putAt: z.string(),
  /** How long ago, by this process's clock (indicative; negative with clock skew). */
  putAgoMs: z.number(),
});
export type LeaseSeen = z.infer<typeof LeaseSeenSchema>;

/** One fault an agent holds, with its lease. */
export const FleetFaultRowSchema = z.object({
  agent: z.string(),
  health: AgentHealthSchema,
  id: z.string(),
  /** Absent when its agent is older than the record's `active` list (it lists fault ids only). */
  kind: z.string().optional(),
  target: z.string().optional(),
  /** The workload (`namespace/name`) it acts on, when aimed at one. */
  workload: z.string().optional(),
  /** The controller that placed it (the agent's record; else the lease's holder). */
  controller: z.string().optional(),
  /** The agent's clock. */
  injectedAt: z.string().optional(),
  ageMs: z.number().optional(),
  /** How long the agent keeps it without seeing a renewal. */
  leaseMs: z.number().optional(),
  /** When its own ttl reverts it, lease or not (the agent's clock). */
  expiresAt: z.string().optional(),
  ttlLeftMs: z.number().optional(),
  /**
   * How long ago its agent last saw its lease renewed: what its record says, plus the record's
   * age (clamped at 0 against clock skew), i.e. as if no renewal came since the record was put.
   * Absent when the agent's record does not say (an older agent).
   */
  renewedAgoMs: z.number().optional(),
  /** Absent: no lease key, so its agent reverts it (at the delete, or when it judges the lease lapsed). */
  lease: LeaseSeenSchema.optional(),
  /** What a reader should know about this row, in words (no lease, agent lost, ...). */
  notes: z.array(z.string()),
});
export type FleetFaultRow = z.infer<typeof FleetFaultRowSchema>;

/** A lease key whose agent does not list its fault. */
export const OrphanLeaseSchema = z.object({
  key: z.string(),
  agent: z.string(),
  faultId: z.string(),
  /** Absent: no agent of that name has a record. */
  health: AgentHealthSchema.optional(),
  lease: LeaseSeenSchema,
  reason: z.string(),
});
export type OrphanLease = z.infer<typeof OrphanLeaseSchema>;

/** An agent that is lost (no record for 3 heartbeats) while its last record lists faults. */
export const LostAgentSchema = z.object({
  agent: z.string(),
  /** The server's timestamp of its last record. */
  seenAt: z.string(),
  ageMs: z.number(),
  faults: z.array(z.string()),
  note: z.string(),
});
export type LostAgent = z.infer<typeof LostAgentSchema>;

/** `faultline status --fleet --json`. */
export const FleetStatusSchema = z.object({
  /** When it was read (this process's clock). */
  at: z.string(),
  /** The fleet halt in force, or null. */
  halt: FleetHaltSchema.nullable(),
  /** How many agent records were read (any health). */
  agents: z.number().int(),
  faults: z.array(FleetFaultRowSchema),
  orphanLeases: z.array(OrphanLeaseSchema),
  lostAgents: z.array(LostAgentSchema),
});
export type FleetStatus = z.infer<typeof FleetStatusSchema>;

/** One entry of the leases bucket as read. */
export interface LeaseEntry {
  /** `<agent>.<faultId>`. */
  key: string;
  /** Its value, or undefined when it does not match LeaseSchema. */
  lease?: Lease;
  /** The server's timestamp of its put. */
  putAt: string;
}

export const NO_LEASE_NOTE = 'no lease: reverting by lease';
export const LOST_AGENT_NOTE = 'its agent is lost: the fault reverts on its own';

export const lostNote = (n: number) =>
  `lost while holding ${n} fault(s) (its record is no longer re-put); they revert on their own: cut off from NATS, ` +
  'it sees no renewal and reverts each by lease; crashed, its watchdog or its next start reverts them from its ' +
  'ledger; only stalled (a paused process, a loaded host), it keeps those whose leases are still renewed';

const splitKey = (key: string): { agent: string; faultId: string } => {
  // Agent names cannot hold a dot (they are subject tokens), so the first dot splits the key.
  const dot = key.indexOf('.');
  return dot < 0 ? { agent: key, faultId: '' } : { agent: key.slice(0, dot), faultId: key.slice(dot + 1) };
};

const ms = (iso: string | undefined): number | undefined => {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
};

function leaseSeen(entry: LeaseEntry, now: number): LeaseSeen {
  return {
    ...(entry.lease
      ? { holder: entry.lease.controller, ttlMs: entry.lease.ttlMs, renewals: entry.lease.renewals }
      : {}),
    putAt: entry.putAt,
    putAgoMs: now - (ms(entry.putAt) ?? now),
  };
}

/**
 * The stale note of a fault whose agent has seen no renewal for longer than its lease. Either
 * the agent said so itself (its controller stopped renewing: died, partitioned, or left it), or
 * only the record's age makes it so: then the agent may as well be stalled since its last put.
 */
function staleNote(renewedAgoMs: number, ownMs: number, recordAgeMs: number, leaseMs: number): string {
  const lapsed = 'the agent reverts it once it judges the lease lapsed';
  if (ownMs > leaseMs) {
    return `its agent has seen no renewal for ${Math.round(renewedAgoMs)} ms, more than its ${leaseMs} ms lease: its controller stopped renewing it; ${lapsed}`;
  }
  return `its agent has seen no renewal for ${Math.round(renewedAgoMs)} ms by its last record (put ${Math.round(recordAgeMs)} ms ago), more than its ${leaseMs} ms lease: its controller stopped renewing it, or the agent is stalled and has not reported since; ${lapsed}`;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Joins the agents' records with the leases: one row per fault an agent
 * holds, the leases no agent's fault accounts for, and the lost agents that
 * hold faults. Pure: `now` is this process's clock in ms.
 *
 * @example
 * const status = joinFleetStatus({ agents: await ctl.agents(), leases, halt: await ctl.halted(), now: Date.now() });
 */
export function joinFleetStatus(input: {
  agents: readonly FleetAgent[];
  leases: readonly LeaseEntry[];
  halt?: FleetHalt;
  now: number;
}): FleetStatus {
  const { now } = input;
  const leases = new Map(input.leases.map((e) => [e.key, e]));
  const used = new Set<string>();
  const faults: FleetFaultRow[] = [];
  const lostAgents: LostAgent[] = [];

  for (const agent of input.agents) {
    // Agents older than the `active` list show ids only; what the lease says fills in the rest.
    const described = new Map((agent.active ?? []).map((f) => [f.id, f]));
    const held = agent.active ? agent.active.map((f) => f.id) : agent.faults;
    for (const id of held) {
      const key = `${agent.name}.${id}`;
      const entry = leases.get(key);
      if (entry) used.add(key);
      const full = described.get(id);
      const notes: string[] = [];
      if (!full) notes.push('its agent lists fault ids only (an older version): kind and target unknown');
      const lease = entry ? leaseSeen(entry, now) : undefined;
      if (!entry) notes.push(NO_LEASE_NOTE);
      else if (!entry.lease) notes.push("its lease's value does not match the protocol");
      const leaseMs = full?.leaseMs ?? entry?.lease?.ttlMs;
      // The agent's own value is exact on its clock; the record's age (server against this
      // clock) brings it to now. A negative age is clock skew: the agent's value alone is the best guess.
      const own = full?.renewedAgoMs;
      const recordAgeMs = Math.max(0, agent.ageMs);
      const renewedAgoMs = own === undefined ? undefined : own + recordAgeMs;
      // A lost agent's estimate is only the age of its last record: LOST_AGENT_NOTE says what that means.
      if (
        entry &&
        own !== undefined &&
        renewedAgoMs !== undefined &&
        leaseMs !== undefined &&
        renewedAgoMs > leaseMs &&
        agent.health !== 'lost'
      ) {
        notes.push(staleNote(renewedAgoMs, own, recordAgeMs, leaseMs));
      }
      if (full && lease?.holder !== undefined && lease.holder !== full.controller) {
        // The agent accepts renewals only from the controller it holds the fault for.
        notes.push(
          `the agent says ${full.controller} placed it, but its lease was put by ${lease.holder}, whose renewals the agent ignores`,
        );
      }
      if (agent.health === 'lost') notes.push(LOST_AGENT_NOTE);
      const injected = ms(full?.injectedAt);
      const expires = ms(full?.expiresAt);
      const controller = full?.controller ?? entry?.lease?.controller;
      faults.push({
        agent: agent.name,
        health: agent.health,
        id,
        ...(full ? { kind: full.kind } : {}),
        ...(full?.target !== undefined ? { target: full.target } : {}),
        ...(full?.workload !== undefined ? { workload: full.workload } : {}),
        ...(controller !== undefined ? { controller } : {}),
        ...(full ? { injectedAt: full.injectedAt } : {}),
        ...(injected !== undefined ? { ageMs: now - injected } : {}),
        ...(leaseMs !== undefined ? { leaseMs } : {}),
        ...(full?.expiresAt !== undefined ? { expiresAt: full.expiresAt } : {}),
        ...(expires !== undefined ? { ttlLeftMs: expires - now } : {}),
        ...(renewedAgoMs !== undefined ? { renewedAgoMs } : {}),
        ...(lease ? { lease } : {}),
        notes,
      });
    }
    if (agent.health === 'lost' && held.length > 0) {
      lostAgents.push({
        agent: agent.name,
        seenAt: agent.seenAt,
        ageMs: agent.ageMs,
        faults: [...held],
        note: lostNote(held.length),
      });
    }
  }

  const byName = new Map(input.agents.map((a) => [a.name, a]));
  const orphanLeases: OrphanLease[] = [];
  for (const entry of input.leases) {
    if (used.has(entry.key)) continue;
    const { agent, faultId } = splitKey(entry.key);
    const record = byName.get(agent);
    const lease = leaseSeen(entry, now);
    orphanLeases.push({
      key: entry.key,
      agent,
      faultId,
      ...(record ? { health: record.health } : {}),
      lease,
      reason: orphanReason(entry, record),
    });
  }

  faults.sort(
    (a, b) =>
      byText(a.agent, b.agent) || (ms(a.injectedAt) ?? 0) - (ms(b.injectedAt) ?? 0) || byText(a.id, b.id),
  );
  orphanLeases.sort((a, b) => byText(a.agent, b.agent) || byText(a.faultId, b.faultId));
  lostAgents.sort((a, b) => byText(a.agent, b.agent));
  return {
    at: new Date(now).toISOString(),
    halt: input.halt ?? null,
    agents: input.agents.length,
    faults,
    orphanLeases,
    lostAgents,
  };
}

/*
 * A lease key is put once and never re-put, so its age says nothing about whether its controller
 * still renews it (renewals go to the agent only): the reason says what the key can mean.
 */
const LEFT_BEHIND =
  'its controller did not delete the key (it died or was partitioned, or still believes it holds the fault); ' +
  'the bucket drops such keys after a day';

function orphanReason(entry: LeaseEntry, record: FleetAgent | undefined): string {
  if (!entry.key.includes('.')) return 'not a lease key of the form <agent>.<faultId>';
  if (!record) {
    return `no agent named ${splitKey(entry.key).agent} has a record (it never registered, or its record is gone), so no agent reports holding the fault; ${LEFT_BEHIND}`;
  }
  if (record.health === 'stopped') {
    return `its agent has stopped (it reverted its faults as it stopped): the agent no longer holds it, and ${LEFT_BEHIND}`;
  }
  return (
    "its agent's record does not list this fault: an inject in flight (an agent lists a fault from its next heartbeat), " +
    'or the agent no longer holds it (it reverted it on its own: lease lapse, halt, ttl, restart) and ' +
    LEFT_BEHIND
  );
}

/** What fleetStatus reads: a FleetController (its records with their health and age, the halt key, the leases bucket). */
export interface FleetStatusSource {
  agents(): Promise<FleetAgent[]>;
  halted(): Promise<FleetHalt | undefined>;
  readonly connection: Pick<FleetConnection, 'leases' | 'jsm'>;
}

/** Every lease in the bucket as the server stores it now. */
export async function readLeases(connection: Pick<FleetConnection, 'leases' | 'jsm'>): Promise<LeaseEntry[]> {
  const kv = connection.leases;
  const keys = await bucketKeys(connection.jsm, LEASES_BUCKET);
  const found = await Promise.all(
    keys.map(async (key): Promise<LeaseEntry | undefined> => {
      const e = await kv.get(key);
      if (e?.operation !== 'PUT') return undefined;
      let value: unknown;
      try {
        value = e.json();
      } catch {
        value = undefined;
      }
      const r = LeaseSchema.safeParse(value);
      return { key, ...(r.success ? { lease: r.data } : {}), putAt: e.created.toISOString() };
    }),
  );
  return found.filter((e): e is LeaseEntry => e !== undefined);
}

/**
 * The fleet's faults now: the halt, one row per fault an agent holds (with
 * its lease key and its last renewal as the agent saw it), lease keys no
 * agent's fault accounts for, lost agents holding faults.
 * Reads only; `source` is a FleetController (`FleetController.open(...)`).
 *
 * @example
 * const ctl = await FleetController.open({ servers: 'nats://127.0.0.1:4222' });
 * try { console.table((await fleetStatus(ctl)).faults); } finally { await ctl.close({ leave: true }); }
 */
export async function fleetStatus(
  source: FleetStatusSource,
  options: { now?: () => number } = {},
): Promise<FleetStatus> {
  const [agents, leases, halt] = await Promise.all([
    source.agents(),
    readLeases(source.connection),
    source.halted(),
  ]);
  return joinFleetStatus({ agents, leases, ...(halt ? { halt } : {}), now: (options.now ?? Date.now)() });
}
