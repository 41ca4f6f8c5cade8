/**
 * The fleet's wire contract over NATS with JetStream: bucket, stream and
 * subject names, and the zod schemas of every record and message (the single
 * source of their types). Agents and controllers import only this to talk.
 *
 * Works on nats-server 2.9 and later: leases need no per-message TTL (2.11);
 * an agent judges a lease by when it last SAW it renewed (its own monotonic
 * clock), so clock skew between hosts does not matter, and a lost connection
 * looks exactly like a controller that stopped renewing.
 *
 * - KV `faultline_agents`: key = agent name, value = AgentRecord, put at
 *   every heartbeat. Bucket max_age drops agents that stopped long ago.
 * - KV `faultline_leases`: key = `<agent>.<faultId>`, value = Lease, put by
 *   the controller at inject, deleted at revert; the agent watches its own
 *   keys and reverts a fault whose key it sees deleted.
 * - Subject `faultline.agent.<name>.renew`: core NATS, LeaseRenewal: every
 *   lease/3 the controller names the faults it still holds on that agent. The
 *   agent reverts a fault when it has seen no renewal of it (a renewal message
 *   naming it, or a put of its key) for its lease. Renewals are core messages,
 *   not KV puts: on nats-server 2.9 every message stored in the leases stream
 *   is matched against every agent's watch, so a thousand agents renewing a
 *   fault each second spent more than a core of the server's CPU on it.
 * - KV `faultline_control`: key `halt` = FleetHalt while the fleet is halted.
 * - Subject `faultline.agent.<name>.cmd`: request/reply AgentCommand ->
 *   AgentReply (core NATS: a command to an agent that is not there fails fast).
 * - Stream `FAULTLINE_EVENTS` on `faultline.events.<agent>`: FleetEvent, one
 *   per fault event (injected, reverted, verified, failed) and agent start/stop.
 */
import { z } from 'zod';
import { WorkloadSummarySchema } from '../core/workload.js';
import { NAME_PATTERN } from './constants.js';

export const AGENTS_BUCKET = 'faultline_agents';
export const LEASES_BUCKET = 'faultline_leases';
export const CONTROL_BUCKET = 'faultline_control';
export const HALT_KEY = 'halt';
export const EVENTS_STREAM = 'FAULTLINE_EVENTS';
export const EVENTS_SUBJECT_PREFIX = 'faultline.events';

export const DEFAULT_HEARTBEAT_MS = 1_000;
/** About three heartbeats, as Steadybit rolls back after three missed ones. */
export const DEFAULT_LEASE_MS = 3_000;

/** Agent names and labels become subjects and KV keys: letters, digits, `-`, `_` only. */
export const AgentNameSchema = z.string().regex(NAME_PATTERN, {
  error: 'expected 1-64 letters, digits, - or _ (an agent name becomes a NATS subject)',
});

export const commandSubject = (agent: string) => `faultline.agent.${agent}.cmd`;
export const renewSubject = (agent: string) => `faultline.agent.${agent}.renew`;
export const eventsSubject = (agent: string) => `${EVENTS_SUBJECT_PREFIX}.${agent}`;
export const leaseKey = (agent: string, faultId: string) => `${agent}.${faultId}`;

export const LabelsSchema = z.record(z.string().min(1).max(63), z.string().max(63));

/** A fault an agent holds now, as its record shows it (`faultline status --fleet`). */
export const ActiveFaultSchema = z.object({
  id: z.string(),
  kind: z.string(),
  target: z.string().optional(),
  /** The workload (`namespace/name`) it acts on, when aimed at one. */
  workload: z.string().optional(),
  /** Who placed it (the lease holder). */
  controller: z.string(),
  /** The agent's clock. */
  injectedAt: z.string(),
  leaseMs: z.number().int().positive(),
  /** When its own ttl reverts it even under a live lease (the agent's clock). */
  expiresAt: z.string().optional(),
  /** How long before this record the agent last saw its lease renewed (its own monotonic clock). */
  renewedAgoMs: z.number().int().min(0).optional(),
});
export type ActiveFault = z.infer<typeof ActiveFaultSchema>;

export const AgentRecordSchema = z.object({
  name: AgentNameSchema,
  labels: LabelsSchema,
  version: z.string(),
  host: z.object({ hostname: z.string(), platform: z.string(), arch: z.string(), pid: z.number().int() }),
  /** The fault kinds it accepts (its --allow, else every kind its host offers). */
  kinds: z.array(z.string()),
  startedAt: z.string(),
  /** Its own clock: shown to people, never used to judge health across hosts. */
  heartbeatAt: z.string(),
  heartbeatMs: z.number().int().positive(),
  /** Fault ids active on it now. */
  faults: z.array(z.string()),
  /** The same faults with what they are (absent from agents before it was added). */
  active: z.array(ActiveFaultSchema).optional(),
  halted: z.boolean(),
  /** Set by the agent's last put when it stopped cleanly (its faults reverted): stopped, not lost. */
  stoppedAt: z.string().optional(),
  /** The workloads it hosts (its --workloads file), what `targets:` on workloads select among. */
  workloads: z.array(WorkloadSummarySchema).optional(),
});
export type AgentRecord = z.infer<typeof AgentRecordSchema>;

export const LeaseSchema = z.object({
  controller: z.string(),
  faultId: z.string(),
  ttlMs: z.number().int().positive(),
  /** Puts of this key (renewals go over `renewSubject`, so this stays 0; a re-put counts as a renewal). */
  renewals: z.number().int().min(0),
});
export type Lease = z.infer<typeof LeaseSchema>;

/** A holder's renewal of the leases of the faults it holds on one agent (core NATS, every lease/3). */
export const LeaseRenewalSchema = z.object({
  controller: z.string(),
  faults: z.array(z.string()).max(100_000),
});
export type LeaseRenewal = z.infer<typeof LeaseRenewalSchema>;

export const FleetHaltSchema = z.object({ since: z.string(), reason: z.string().optional(), by: z.string() });
export type FleetHalt = z.infer<typeof FleetHaltSchema>;

/**
 * Commands. `id` is the fault's id chosen by the controller: the idempotency
 * key (a duplicated or late inject of an id the agent has seen is answered
 * with what happened the first time, never applied twice).
 */
export const InjectCommandSchema = z.object({
  op: z.literal('inject'),
  id: z.string().uuid(),
  controller: z.string(),
  kind: z.string(),
  arguments: z.record(z.string(), z.unknown()),
  /** The fault's own TTL on the agent (reverted then even with a live lease). */
  ttlMs: z.number().int().positive(),
  leaseMs: z.number().int().positive(),
  /** The workload it is aimed at: the agent fills the arguments from it (src/fleet/workloads.ts). */
  workload: z.object({ namespace: z.string().min(1).max(63), name: z.string().min(1).max(63) }).optional(),
  /** One peer address (with `workload`): the fault acts on the traffic with it only. */
  peer: z.string().min(1).max(253).optional(),
});
export const RevertCommandSchema = z.object({ op: z.literal('revert'), id: z.string().uuid() });
export const StatusCommandSchema = z.object({ op: z.literal('status') });
export const AgentCommandSchema = z.discriminatedUnion('op', [
  InjectCommandSchema,
  RevertCommandSchema,
  StatusCommandSchema,
]);
export type AgentCommand = z.infer<typeof AgentCommandSchema>;

export { type FleetFault, FleetFaultSchema } from '../core/fleet.js';

import { FleetFaultSchema } from '../core/fleet.js';

export const AgentReplySchema = z.union([
  z.object({ ok: z.literal(true), fault: FleetFaultSchema.optional(), agent: AgentRecordSchema.optional() }),
  z.object({ ok: z.literal(false), code: z.string(), error: z.string() }),
]);
export type AgentReply = z.infer<typeof AgentReplySchema>;

export const FleetEventSchema = z.object({
  agent: z.string(),
  at: z.string(),
  type: z.enum(['agent-started', 'agent-stopped', 'injected', 'reverted', 'verified', 'failed', 'refused']),
  fault: FleetFaultSchema.optional(),
  message: z.string().optional(),
});
export type FleetEvent = z.infer<typeof FleetEventSchema>;
