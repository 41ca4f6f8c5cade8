/**
 * The fault contract. Every fault (proxy toxic, host fault, database fault,
 * SDK fault, the marker file) implements it, and only the ledger and the
 * session call it, so ledgering, TTLs and verified revert live in one place.
 *
 * Order of operations, on every path:
 *   1. plan(args)      -> undo record (pure data)
 *   2. ledger.write    -> the record is durable BEFORE anything changes
 *   3. inject(...)     -> the fault acts
 *   4. revert(record)  -> idempotent: "already gone" counts as reverted
 *   5. verify(record)  -> true when the fault is really gone
 */
import type { z } from 'zod';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type UndoRecord = { [k: string]: Json };

/**
 * One thing a fault touches: a process, a network scope, a database, a proxy.
 * Blast-radius policies select targets by these fields (safety/blast-radius.ts).
 */
export interface FaultTarget {
  /** What sort of thing it is: `process`, `network`, `postgres`, `redis`, `proxy`, `file`, ... */
  type: string;
  /** Its name: a process name, a proxy name, a database, a path. */
  name: string;
  host?: string;
  port?: number;
  /** Network namespace (host faults) or the experiment-level namespace of a service. */
  namespace?: string;
  labels?: Record<string, string>;
  pid?: number;
}

/** What resolveTargets() found: the targets the fault will touch, out of how many candidates. */
export interface ResolvedTargets {
  targets: FaultTarget[];
  /**
   * How many things matched the selector before count/percentage picked some
   * (for the policy's `max_percentage`); omitted when the notion does not apply.
   */
  candidates?: number;
}

/**
 * How users reach a fault kind: experiment action `faultline.<group>` / `<name>`,
 * `faultline inject <group>.<name>`, and `faultline discover`. Kinds without it
 * are reached through other activities only (proxy toxics, markers).
 */
export interface FaultExposure {
  group: string;
  name: string;
  /** One sentence for `faultline discover` and `faultline inject --help`. */
  doc: string;
}

export interface FaultKind<S extends z.ZodType = z.ZodType> {
  /** Stable name, stored in the ledger (`marker-file`, `proxy-toxic`, ...). */
  readonly kind: string;
  /** The arguments. Exposed kinds use a z.strictObject with a .describe() per field. */
  readonly args: S;
  readonly expose?: FaultExposure;
  /**
   * True for faults that cannot be undone (a process kill): revert() is a no-op
   * and verify() true, and the ledger and the journal say `irreversible`.
   */
  readonly irreversible?: boolean;
  /** Human-readable target for `faultline status` (a path, `proxy/toxic`, a host). */
  target(args: z.output<S>): string;
  /**
   * Resolves what the fault will touch (matching processes, the network scope,
   * the database), BEFORE plan(): the session checks the result against the
   * blast-radius policy and passes it to plan(), so selection happens once.
   */
  resolveTargets?(args: z.output<S>): Promise<ResolvedTargets>;
  /** The undo record: everything revert() needs, with no live handles. */
  plan(args: z.output<S>, resolved?: ResolvedTargets): UndoRecord | Promise<UndoRecord>;
  /** Applies the fault. May return a refined undo record (e.g. a server-assigned id). */
  inject(
    args: z.output<S>,
    record: UndoRecord,
    signal?: AbortSignal,
    /** The fault's TTL: a fault that runs its own process can stop by itself when it elapses. */
    ctx?: { ttlMs: number },
  ): Promise<UndoRecord | void>;
  /** Removes the fault. Must be idempotent. */
  revert(record: UndoRecord): Promise<void>;
  /** True when the fault is verifiably gone. */
  verify(record: UndoRecord): Promise<boolean>;
  /**
   * Capability of faults that live in a server (proxy toxics, SDK faults): the
   * server removes them by itself unless the runner renews their lease. The
   * session calls renew() every leaseMs / 3 while the fault is active, so if
   * the runner disappears the fault expires within `leaseMs`.
   */
  readonly leaseMs?: number;
  renew?(record: UndoRecord, leaseMs: number): Promise<void>;
}
