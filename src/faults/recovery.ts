/**
 * Reverting faults from outside the run that injected them: `faultline status`,
 * `faultline halt`, `faultline recover`, and the check every command makes for
 * faults left by a runner that died (kill -9, power loss, OOM).
 */
import { forEachByKeyLimit } from '../core/concurrency.js';
import type { Registry } from '../core/registry.js';
import {
  type CorruptEntry,
  type FaultState,
  type HaltState,
  isProcessAlive,
  Ledger,
  type LedgerEntry,
  selfIdentity,
} from './ledger.js';
import { loadFaultKindsFor } from './registry.js';
import type { FaultKind } from './types.js';

export interface ActiveFault {
  id: string;
  kind: string;
  runId: string;
  target: string;
  /** `reverting` while some process holds a claim on it. */
  state: FaultState;
  ownerPid: number;
  host: string;
  /** Whether the owning process still runs; null when it is on another host. */
  ownerAlive: boolean | null;
  createdAt: string;
  ageMs: number;
  ttlMs: number;
  expiresAt: string;
  expired: boolean;
  claimedBy?: number;
  lastError?: string;
}

export interface RevertOutcome {
  id: string;
  kind: string;
  runId: string;
  target: string;
  /** Why it was reverted. */
  reason: 'dead-owner' | 'expired' | 'halt';
  verified: boolean;
  /** Set on failure; the entry then stays in the ledger. */
  error?: string;
}

export interface RecoveryReport {
  /** Reverted, verified and removed from the ledger. */
  reverted: RevertOutcome[];
  /** Not reverted (unknown kind, revert failed or unverified, busy, other host): left in the ledger. */
  failed: RevertOutcome[];
  /** Entry files that cannot be read: left alone for a human to inspect. */
  corrupt: CorruptEntry[];
  /** Run files removed because their process is gone and none of their faults remain. */
  removedRuns: string[];
}

export interface HomeOptions {
  home: string;
}

export interface RecoverOptions extends HomeOptions {
  /** Also revert faults whose TTL has passed, even when their owner is alive. */
  includeExpired?: boolean;
  /** Where kinds are looked up; default the global registry with the built-ins. */
  kinds?: Registry<FaultKind>;
}

export interface HaltOptions extends HomeOptions {
  reason?: string;
  kinds?: Registry<FaultKind>;
}

function newestFirst(entries: LedgerEntry[]): LedgerEntry[] {
  return [...entries].reverse();
}

async function toActive(ledger: Ledger, e: LedgerEntry, now: number): Promise<ActiveFault> {
  const created = Date.parse(e.createdAt);
  const expires = Date.parse(e.expiresAt);
  return {
    id: e.id,
    kind: e.kind,
    runId: e.runId,
    target: e.target,
    state: e.state,
    ownerPid: e.ownerPid,
    host: e.host,
    ownerAlive: await ledger.isOwnerAlive(e),
    createdAt: e.createdAt,
    ageMs: Number.isNaN(created) ? 0 : Math.max(0, now - created),
    ttlMs: e.ttlMs,
    expiresAt: e.expiresAt,
    expired: !Number.isNaN(expires) && expires <= now,
    ...(e.claimedBy === undefined ? {} : { claimedBy: e.claimedBy }),
    ...(e.lastError === undefined ? {} : { lastError: e.lastError }),
  };
}

/** Every fault in the ledger, oldest first, with its owner's liveness and age. */
export async function listActiveFaults({ home }: HomeOptions): Promise<ActiveFault[]> {
  return (await faultStatus({ home })).faults;
}

/** What `faultline status` shows: active faults, unreadable entries, and the halt in force. */
export async function faultStatus({
  home,
}: HomeOptions): Promise<{ faults: ActiveFault[]; corrupt: CorruptEntry[]; halt: HaltState | null }> {
  const ledger = new Ledger({ home });
  const [{ entries, corrupt }, halt] = await Promise.all([ledger.list(), ledger.readHalt()]);
  const now = Date.now();
  const faults = await Promise.all(entries.map((e) => toActive(ledger, e, now)));
  return { faults, corrupt, halt };
}

function outcome(
  e: LedgerEntry,
  reason: RevertOutcome['reason'],
  verified: boolean,
  error?: string,
): RevertOutcome {
  return {
    id: e.id,
    kind: e.kind,
    runId: e.runId,
    target: e.target,
    reason,
    verified,
    ...(error === undefined ? {} : { error }),
  };
}

/**
 * Claims, reverts, verifies and removes one entry. Returns null when another
 * process got to it first (and `wait` is false): that process reports it.
 */
async function revertEntry(
  ledger: Ledger,
  kinds: Registry<FaultKind>,
  entry: LedgerEntry,
  reason: RevertOutcome['reason'],
  wait: boolean,
): Promise<RevertOutcome | null> {
  const kind = kinds.get(entry.kind);
  if (!kind) {
    return outcome(
      entry,
      reason,
      false,
      `unknown fault kind '${entry.kind}': left in the ledger (${ledger.dir})`,
    );
  }
  let claimed: LedgerEntry | null;
  try {
    if (wait) {
      const r = await ledger.claimOrWait(entry.id);
      if (r.busyBy !== undefined)
        return outcome(entry, reason, false, `process ${r.busyBy} is still reverting it`);
      claimed = r.claimed;
    } else {
      claimed = await ledger.claim(entry.id);
      if (!claimed) return null;
    }
  } catch (err) {
    return outcome(entry, reason, false, (err as Error).message);
  }
  const record = claimed?.record ?? entry.record;
  let verified = false;
  let error: string | undefined;
  try {
    // Unclaimed here means another process reverted and removed it meanwhile: verify it is gone.
    if (claimed) await kind.revert(record);
    verified = await kind.verify(record);
    if (!verified) error = 'revert could not be verified: the fault is still present';
  } catch (err) {
    error = (err as Error)?.message ?? String(err);
  }
  try {
    if (verified) await ledger.remove(entry.id);
    else if (claimed) await ledger.release(entry.id, { lastError: error ?? 'revert failed' });
  } catch (err) {
    error ??= (err as Error).message;
  }
  return outcome(entry, reason, verified, error);
}

async function removeDeadRuns(ledger: Ledger): Promise<string[]> {
  const me = await selfIdentity();
  const { entries } = await ledger.list();
  const owning = new Set(entries.map((e) => e.runId));
  const removed: string[] = [];
  for (const run of await ledger.listRuns()) {
    if (run.host !== me.host || owning.has(run.runId) || (await isProcessAlive(run.pid, run.start))) continue;
    await ledger.unregisterRun(run.runId).catch(() => undefined);
    removed.push(run.runId);
  }
  return removed;
}

function emptyReport(corrupt: CorruptEntry[]): RecoveryReport {
  return { reverted: [], failed: [], corrupt, removedRuns: [] };
}

/**
 * Reverts the faults whose owner process is gone (or whose pid now belongs to
 * another process), and with `includeExpired` those past their TTL. Safe to run
 * from several processes at once: each fault is claimed by exactly one.
 * Cheap when the ledger is empty (a few directory reads, no writes).
 */
export async function recoverOrphans({
  home,
  includeExpired = false,
  kinds,
}: RecoverOptions): Promise<RecoveryReport> {
  const ledger = new Ledger({ home });
  const { entries, corrupt } = await ledger.list();
  const report = emptyReport(corrupt);
  if (entries.length > 0) {
    const registry = kinds ?? (await loadFaultKindsFor(entries.map((e) => e.kind)));
    const now = Date.now();
    for (const e of newestFirst(entries)) {
      if (e.claimedBy !== undefined && (await isProcessAlive(e.claimedBy))) continue;
      const alive = await ledger.isOwnerAlive(e);
      if (alive === null) continue; // another host's fault: only that host can tell whether its owner lives
      const expired = includeExpired && Date.parse(e.expiresAt) <= now;
      if (alive && !expired) continue;
      const r = await revertEntry(ledger, registry, e, alive ? 'expired' : 'dead-owner', false);
      if (r) (r.verified ? report.reverted : report.failed).push(r);
    }
  }
  report.removedRuns = await removeDeadRuns(ledger);
  await ledger.sweepTemp().catch(() => 0);
  return report;
}

/** Targets reverted at once by a halt and by a session's revertAll() (each revert claims its own entry). */
export const REVERT_CONCURRENCY = 32;

/**
 * The emergency stop. Writes the halt file FIRST (so no new run starts and no
 * run in flight can add a fault unnoticed), then reverts every fault of every
 * run on this host, claiming each. Faults owned by another host are reported as failed.
 */
export async function haltAll({ home, reason, kinds }: HaltOptions): Promise<RecoveryReport> {
  const ledger = new Ledger({ home });
  const me = await selfIdentity();
  await ledger.writeHalt({
    since: new Date().toISOString(),
    pid: me.pid,
    host: me.host,
    ...(reason ? { reason } : {}),
  });
  const report = emptyReport([]);
  const seen = new Set<string>();
  // A second pass catches entries written by runs that listed before the halt file existed.
  for (let pass = 0; pass < 3; pass++) {
    const { entries, corrupt } = await ledger.list();
    if (pass === 0) report.corrupt = corrupt;
    const fresh = newestFirst(entries).filter((e) => !seen.has(e.id));
    if (fresh.length === 0) break;
    const registry = kinds ?? (await loadFaultKindsFor(fresh.map((e) => e.kind)));
    for (const e of fresh) seen.add(e.id);
    // One target's faults newest first, one at a time; different targets at once.
    await forEachByKeyLimit(
      fresh,
      (e) => e.target,
      REVERT_CONCURRENCY,
      async (e) => {
        if (e.host !== me.host) {
          report.failed.push(outcome(e, 'halt', false, `owned by host ${e.host}: halt it there`));
          return;
        }
        const r = await revertEntry(ledger, registry, e, 'halt', true);
        if (r) (r.verified ? report.reverted : report.failed).push(r);
      },
    );
  }
  report.removedRuns = await removeDeadRuns(ledger);
  return report;
}

/** Lifts the halt; false when none was in force. */
export async function releaseHalt({ home }: HomeOptions): Promise<boolean> {
  return new Ledger({ home }).removeHalt();
}

/** The halt in force (`{ since, reason, pid, host }`), or null. */
export async function haltState({ home }: HomeOptions): Promise<HaltState | null> {
  return new Ledger({ home }).readHalt();
}
