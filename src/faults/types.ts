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

export interface FaultKind<S extends z.ZodType = z.ZodType> {
  /** Stable name, stored in the ledger (`marker-file`, `proxy-toxic`, ...). */
  readonly kind: string;
  readonly args: S;
  /** Human-readable target for `faultline status` (a path, `proxy/toxic`, a host). */
  target(args: z.output<S>): string;
  /** The undo record: everything revert() needs, with no live handles. */
  plan(args: z.output<S>): UndoRecord | Promise<UndoRecord>;
  /** Applies the fault. May return a refined undo record (e.g. a server-assigned id). */
  inject(args: z.output<S>, record: UndoRecord, signal?: AbortSignal): Promise<UndoRecord | void>;
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
