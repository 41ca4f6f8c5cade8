/**
 * Reverting faults from outside the run that injected them: `faultline status`,
 * `faultline halt`, `faultline recover`, and the check every command makes for
 * faults left by a runner that died (kill -9, power loss, OOM).
 */
import { forEachByKeyLimit } from '../core/concurrency.js';
import type { FaultKind, UndoRecord } from '../core/fault.js';
import type { Registry } from '../core/registry.js';
import { readHaltFile } from './home.js';
import {
  type CorruptEntry,
  type FaultState,
  type ForgottenRecord,
  type HaltState,
  isProcessAlive,
  Ledger,
  type LedgerEntry,
  selfIdentity,
} from './ledger.js';
import { type FaultKindSource, kindsFor } from './registry.js';

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
  /** Failed revert attempts so far (the automatic check stops after AUTO_RETRY_ATTEMPTS). */
  revertAttempts?: number;
}

export interface RevertOutcome {
  id: string;
  /** The caller's own id for the fault, when its entry has one (LedgerEntry.ref). */
  ref?: string;
  kind: string;
  runId: string;
  target: string;
  /** Why it was reverted. */
  reason: 'dead-owner' | 'expired' | 'halt';
  verified: boolean;
  /** Set on failure; the entry then stays in the ledger. */
  error?: string;
  /** The revert threw but verify found the effect gone (its target no longer exists): reverted. */
  revertError?: string;
  /** Reverted, but the ledger could not be changed (read-only or full home): said, not hidden. */
  ledgerError?: string;
  /** Reverted from what could be read of a corrupt entry. */
  corrupt?: true;
}

/** What became of a corrupt entry. */
export interface CorruptOutcome extends CorruptEntry {
  /**
   * `reverted`/`failed`: reverted from what could be read (also in `reverted`/`failed`);
   * `unrevertable`: its kind or undo record cannot be read (it may still be in place);
   * `left`: its owner may be alive, or this was an automatic recovery and the owner is unknown.
   */
  handled: 'reverted' | 'failed' | 'unrevertable' | 'left';
  note?: string;
}

/**
 * An entry the automatic check of every command no longer retries: its revert failed
 * AUTO_RETRY_ATTEMPTS times, or first failed over AUTO_RETRY_WINDOW_MS ago (a control URL
 * that no longer answers). `faultline recover` and `halt` still try it, once each.
 */
export interface NotRetried {
  id: string;
  kind: string;
  runId: string;
  target: string;
  attempts: number;
  firstFailedAt?: string;
  lastError?: string;
}

/** Failed reverts after which the automatic check stops retrying an entry and only reports it. */
export const AUTO_RETRY_ATTEMPTS = 3;
/** ... or this long after its first failed revert, whichever comes first. */
export const AUTO_RETRY_WINDOW_MS = 600_000;
/**
 * How long recover, halt and the automatic check wait for one revert (and its verify) before
 * reporting it as failed: an unreachable control URL must not hold a command for a client's
 * full timeout. The entry is released with the error; the revert may still finish later.
 */
export const REVERT_TIMEOUT_MS = 10_000;

export interface RecoveryReport {
  /** Reverted, verified and removed from the ledger. */
  reverted: RevertOutcome[];
  /** Not reverted (unknown kind, revert failed or unverified, busy, other host): may still be in place. */
  failed: RevertOutcome[];
  /**
   * Entries whose injection failed (state `failed`) and whose cleanup still cannot be
   * confirmed: nothing is known to be in place, so they never count as failures.
   */
  notApplied: RevertOutcome[];
  /** Entry files that cannot be parsed, each with what could be read and what was done. */
  corrupt: CorruptOutcome[];
  /** Run files removed because their process is gone and none of their faults remain. */
  removedRuns: string[];
  /** With `bounded`: entries not retried (see NotRetried); may still be in place. */
  notRetried: NotRetried[];
  /** The ledger directory could not be listed: nothing in it could be reverted. */
  ledgerError?: string;
}

export interface HaltReport extends RecoveryReport {
  /** Whether the halt flag was raised; when not, new runs are not refused. */
  flag: { raised: true } | { raised: false; error: string };
  /**
   * Without the flag, running runs on this host cannot see the halt: each is sent
   * SIGTERM instead (a runner treats it as an interrupt and reverts its faults).
   */
  signalled: { runId: string; pid: number; error?: string }[];
}

export interface HomeOptions {
  home: string;
}

export interface RecoverOptions extends HomeOptions {
  /**
   * What `faultline recover` adds to the automatic check every command makes: faults
   * past their TTL even when their owner is alive, entries whose injection failed,
   * and corrupt entries whose owner cannot be read.
   */
  includeExpired?: boolean;
  /** Where kinds are looked up (the composition root's catalog loads only the groups named). */
  kinds: FaultKindSource;
  /**
   * The automatic check of every command: entries whose revert has failed too often or
   * for too long (AUTO_RETRY_ATTEMPTS, AUTO_RETRY_WINDOW_MS) are reported in `notRetried`,
   * not retried.
   */
  bounded?: boolean;
  /** Bound on each revert and its verify; default REVERT_TIMEOUT_MS. */
  revertTimeoutMs?: number;
  /**
   * Runs known to be over although their owner process lives: their entries are reverted too. A
   * server's run executes in a thread of the server's process, so a thread that died mid-run leaves
   * entries whose owner is alive and would never count as orphans.
   */
  endedRuns?: readonly string[];
}

/**
 * Something besides the ledger that holds faults and must stop on a halt (the
 * running proxy servers, whose CLI- and API-added toxics are not ledgered).
 * Given by the caller, so recovery imports none of them.
 */
export interface HaltParticipant {
  /** How a failure of this participant is reported (`id`, `kind`, and `label: <error>`). */
  id: string;
  kind: string;
  label: string;
  halt(
    home: string,
    halt: { pid: number; host: string; flagRaised: boolean },
    report: Pick<HaltReport, 'reverted' | 'failed'>,
  ): Promise<void>;
}

export interface HaltOptions extends HomeOptions {
  reason?: string;
  kinds: FaultKindSource;
  /** Told after the ledger's faults are reverted, in order; each bounds its own wait. */
  participants?: readonly HaltParticipant[];
  /** Bound on each revert and its verify; default REVERT_TIMEOUT_MS. */
  revertTimeoutMs?: number;
}

/** True when the report holds a fault that may still be in place (what makes recover and halt exit 1). */
export function hasFaultsInPlace(report: RecoveryReport): boolean {
  return (
    report.failed.length > 0 ||
    report.notRetried.length > 0 ||
    report.ledgerError !== undefined ||
    report.corrupt.some((c) => c.handled === 'unrevertable')
  );
}

function message(err: unknown): string {
  return (err as Error)?.message ?? String(err);
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
    ...(e.revertAttempts === undefined ? {} : { revertAttempts: e.revertAttempts }),
  };
}

/** Every fault in the ledger, oldest first, with its owner's liveness and age. */
export async function listActiveFaults({ home }: HomeOptions): Promise<ActiveFault[]> {
  return (await faultStatus({ home })).faults;
}

export interface FaultStatus {
  faults: ActiveFault[];
  /** Entries that cannot be parsed, with what could be read of each. */
  corrupt: CorruptEntry[];
  halt: HaltState | null;
  /** Entries removed by hand (`faultline ledger forget`), oldest first. */
  forgotten: ForgottenRecord[];
}

/** What `faultline status` shows: active faults, corrupt entries, forgotten ones, and the halt in force. */
export async function faultStatus({ home }: HomeOptions): Promise<FaultStatus> {
  const ledger = new Ledger({ home });
  const [{ entries, corrupt }, halt, forgotten] = await Promise.all([
    ledger.list(),
    ledger.readHalt(),
    ledger.listForgotten(),
  ]);
  const now = Date.now();
  const faults = await Promise.all(entries.map((e) => toActive(ledger, e, now)));
  return { faults, corrupt, halt, forgotten };
}

function outcome(
  e: Pick<LedgerEntry, 'id' | 'kind' | 'runId' | 'target' | 'ref'>,
  reason: RevertOutcome['reason'],
  verified: boolean,
  error?: string,
): RevertOutcome {
  return {
    id: e.id,
    ...(e.ref === undefined ? {} : { ref: e.ref }),
    kind: e.kind,
    runId: e.runId,
    target: e.target,
    reason,
    verified,
    ...(error === undefined ? {} : { error }),
  };
}

type Verified = { verified: boolean; error?: string; revertError?: string };

/**
 * Reverts (when `revert`) then verifies, whatever the revert did: a revert that
 * throws because its target no longer exists (a namespace deleted, a process gone)
 * still counts as reverted once verify finds the effect gone. Never throws. With
 * `timeoutMs`, both together get that long, then count as failed (they may still finish).
 */
export async function revertAndVerify(
  kind: FaultKind,
  record: UndoRecord,
  revert = true,
  timeoutMs?: number,
): Promise<Verified> {
  const work = revertThenVerify(kind, record, revert);
  if (timeoutMs === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Verified>((r) => {
    timer = setTimeout(
      () => r({ verified: false, error: `no answer: its revert did not finish within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function revertThenVerify(kind: FaultKind, record: UndoRecord, revert: boolean): Promise<Verified> {
  let revertError: string | undefined;
  if (revert) {
    try {
      await kind.revert(record);
    } catch (err) {
      revertError = message(err);
    }
  }
  try {
    if (await kind.verify(record))
      return revertError === undefined ? { verified: true } : { verified: true, revertError };
    return {
      verified: false,
      error: revertError ?? 'revert could not be verified: the fault is still present',
    };
  } catch (err) {
    const why = `could not verify it is gone: ${message(err)}`;
    return { verified: false, error: revertError === undefined ? why : `${revertError}; ${why}` };
  }
}

/**
 * Claims, reverts, verifies and removes one entry. Returns null when another
 * process got to it first (and `wait` is false): that process reports it. When the
 * ledger cannot be changed (a read-only or full home), it reverts from what it read
 * all the same, and says the entry could not be updated.
 */
async function revertEntry(
  ledger: Ledger,
  kinds: Registry<FaultKind>,
  entry: LedgerEntry,
  reason: RevertOutcome['reason'],
  wait: boolean,
  timeoutMs: number,
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
  let claimed: LedgerEntry | null = null;
  let unclaimable: string | undefined;
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
    unclaimable = message(err);
  }
  // Unclaimed and no error means another process reverted and removed it meanwhile: verify it is gone.
  const r = await revertAndVerify(
    kind,
    claimed?.record ?? entry.record,
    claimed !== null || !!unclaimable,
    timeoutMs,
  );
  const out = outcome(entry, reason, r.verified, r.error);
  if (r.revertError !== undefined) out.revertError = r.revertError;
  try {
    if (r.verified) await ledger.remove(entry.id);
    else if (claimed) await ledger.release(entry.id, { lastError: r.error ?? 'revert failed' });
  } catch (err) {
    out.ledgerError = message(err);
  }
  if (unclaimable && r.verified) out.ledgerError ??= unclaimable;
  return out;
}

/** Whether the automatic check has tried an entry enough: AUTO_RETRY_ATTEMPTS failures, or AUTO_RETRY_WINDOW_MS since the first. */
function givenUp(e: LedgerEntry, now: number): boolean {
  const attempts = e.revertAttempts ?? 0;
  if (attempts === 0) return false;
  const first = Date.parse(e.firstFailedAt ?? '');
  return attempts >= AUTO_RETRY_ATTEMPTS || (!Number.isNaN(first) && now - first >= AUTO_RETRY_WINDOW_MS);
}

function notRetried(e: LedgerEntry): NotRetried {
  return {
    id: e.id,
    kind: e.kind,
    runId: e.runId,
    target: e.target,
    attempts: e.revertAttempts ?? 0,
    ...(e.firstFailedAt === undefined ? {} : { firstFailedAt: e.firstFailedAt }),
    ...(e.lastError === undefined ? {} : { lastError: e.lastError }),
  };
}

/** Sorts an outcome into its bucket: an injection that had failed never counts as in place. */
function file(report: RecoveryReport, state: LedgerEntry['state'], r: RevertOutcome): void {
  if (r.verified) report.reverted.push(r);
  else if (state === 'failed') report.notApplied.push(r);
  else report.failed.push(r);
}

/** Reverts what could be read of a corrupt entry (no claim: its file cannot be parsed, the revert is idempotent). */
async function revertCorrupt(
  ledger: Ledger,
  kinds: Registry<FaultKind>,
  c: CorruptEntry,
  reason: RevertOutcome['reason'],
  report: RecoveryReport,
  timeoutMs: number,
): Promise<void> {
  const { kind: kindName, record, runId = '?', target = '?' } = c.salvaged;
  const kind = kindName ? kinds.get(kindName) : undefined;
  if (!kind || !record) {
    const missing = !kindName ? 'its kind' : !kind ? `its kind '${kindName}' (unknown)` : 'its undo record';
    report.corrupt.push({
      ...c,
      handled: 'unrevertable',
      note: `cannot revert it: ${missing} cannot be read`,
    });
    return;
  }
  const r = await revertAndVerify(kind, record, true, timeoutMs);
  const out = outcome({ id: c.id, kind: kind.kind, runId, target }, reason, r.verified, r.error);
  out.corrupt = true;
  if (r.revertError !== undefined) out.revertError = r.revertError;
  if (r.verified) {
    await ledger.remove(c.id).catch((err) => {
      out.ledgerError = message(err);
    });
  }
  file(report, 'active', out);
  report.corrupt.push({ ...c, handled: r.verified ? 'reverted' : 'failed' });
}

async function removeDeadRuns(ledger: Ledger): Promise<string[]> {
  try {
    const me = await selfIdentity();
    const { entries } = await ledger.list();
    const owning = new Set(entries.map((e) => e.runId));
    const removed: string[] = [];
    for (const run of await ledger.listRuns()) {
      if (run.host !== me.host || owning.has(run.runId) || (await isProcessAlive(run.pid, run.start)))
        continue;
      await ledger.unregisterRun(run.runId).catch(() => undefined);
      removed.push(run.runId);
    }
    return removed;
  } catch {
    return []; // housekeeping only: an unreadable home is reported by the caller's own listing
  }
}

function emptyReport(): RecoveryReport {
  return { reverted: [], failed: [], notApplied: [], corrupt: [], removedRuns: [], notRetried: [] };
}

/** One revert to do: keyed by target, so one target's faults unwind newest first, one at a time. */
interface Job {
  id: string;
  target: string;
  run: () => Promise<void>;
}

/** Runs the jobs newest first (ids are time-ordered): one target at a time, different targets at once. */
async function runJobs(jobs: Job[]): Promise<void> {
  jobs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  await forEachByKeyLimit(
    jobs,
    (j) => j.target,
    REVERT_CONCURRENCY,
    (j) => j.run(),
  );
}

/** Whether a corrupt entry's owner lives, from what could be read: null when unknown. */
async function corruptOwnerAlive(c: CorruptEntry, host: string): Promise<boolean | null> {
  const { ownerPid, ownerStart, host: owner } = c.salvaged;
  if (ownerPid === undefined || owner === undefined || owner !== host) return null;
  return isProcessAlive(ownerPid, ownerStart ?? null);
}

/**
 * Reverts the faults whose owner process is gone (or whose pid now belongs to
 * another process), and with `includeExpired` (what `faultline recover` does) those
 * past their TTL, entries whose injection failed, and corrupt entries whose owner
 * cannot be read. Safe to run from several processes at once: each fault is claimed
 * by exactly one. Reverts run concurrently across targets, like a halt. Never
 * throws for the ledger's sake: an unreadable ledger is `ledgerError`.
 * Cheap when the ledger is empty (a few directory reads, no writes).
 */
export async function recoverOrphans({
  home,
  includeExpired = false,
  kinds,
  bounded = false,
  revertTimeoutMs = REVERT_TIMEOUT_MS,
  endedRuns = [],
}: RecoverOptions): Promise<RecoveryReport> {
  const ledger = new Ledger({ home });
  const report = emptyReport();
  let listing: Awaited<ReturnType<Ledger['list']>>;
  try {
    listing = await ledger.list();
  } catch (err) {
    report.ledgerError = message(err);
    return report;
  }
  const { entries, corrupt } = listing;
  if (entries.length > 0 || corrupt.length > 0) {
    const me = await selfIdentity();
    const registry = await kindsFor(kinds, [
      ...entries.map((e) => e.kind),
      ...corrupt.flatMap((c) => (c.salvaged.kind ? [c.salvaged.kind] : [])),
    ]);
    const now = Date.now();
    const jobs: Job[] = [];
    for (const e of entries) {
      if (e.claimedBy !== undefined && (await isProcessAlive(e.claimedBy))) continue;
      // An injection that failed holds nothing known: only an explicit recover retries its cleanup.
      if (e.state === 'failed' && !includeExpired) continue;
      const alive = await ledger.isOwnerAlive(e);
      if (alive === null) continue; // another host's fault: only that host can tell whether its owner lives
      const expired = includeExpired && Date.parse(e.expiresAt) <= now;
      const ended = endedRuns.includes(e.runId);
      if (alive && !expired && !ended) continue;
      if (bounded && givenUp(e, now)) {
        report.notRetried.push(notRetried(e));
        continue;
      }
      // A run that ended with its entries in place lost the part of its owner that held them.
      const reason = alive && !ended ? 'expired' : 'dead-owner';
      jobs.push({
        id: e.id,
        target: e.target,
        run: async () => {
          const r = await revertEntry(ledger, registry, e, reason, false, revertTimeoutMs);
          if (r) file(report, e.state, r);
        },
      });
    }
    for (const c of corrupt) {
      const alive = await corruptOwnerAlive(c, me.host);
      const expires = Date.parse(c.salvaged.expiresAt ?? '');
      const expired = includeExpired && expires <= now;
      if ((alive === true && !expired) || (alive === null && !includeExpired)) {
        const who = alive ? `its owner (pid ${c.salvaged.ownerPid}) is running` : 'its owner cannot be read';
        report.corrupt.push({ ...c, handled: 'left', note: `left in place: ${who}` });
        continue;
      }
      const reason = alive ? 'expired' : 'dead-owner';
      jobs.push({
        id: c.id,
        target: c.salvaged.target ?? c.file,
        run: () => revertCorrupt(ledger, registry, c, reason, report, revertTimeoutMs),
      });
    }
    await runJobs(jobs);
  }
  report.removedRuns = await removeDeadRuns(ledger);
  await ledger.sweepTemp().catch(() => 0);
  return report;
}

/** Targets reverted at once by a halt and by a session's revertAll() (each revert claims its own entry). */
export const REVERT_CONCURRENCY = 32;

/** Raises the halt flag; a home that cannot be written (read-only, full, denied) is reported, not thrown. */
async function raiseHaltFlag(ledger: Ledger, reason: string | undefined): Promise<HaltReport['flag']> {
  const me = await selfIdentity();
  try {
    await ledger.writeHalt({
      since: new Date().toISOString(),
      pid: me.pid,
      host: me.host,
      ...(reason ? { reason } : {}),
    });
    return { raised: true };
  } catch (err) {
    const code = (err as { cause?: NodeJS.ErrnoException }).cause?.code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      return { raised: false, error: `${ledger.home} is not a directory` };
    }
    // "EROFS: read-only file system, open '<temp file>'": the part before the path says it all.
    const cause = message((err as { cause?: unknown }).cause ?? err).split(', ')[0];
    return { raised: false, error: `cannot write ${ledger.haltFile}: ${cause}` };
  }
}

/**
 * What the halt flag would have told running runs, said with SIGTERM: every run of
 * this host whose process still lives (same pid and start time), except this one.
 */
async function interruptRuns(
  ledger: Ledger,
  me: { pid: number; host: string },
): Promise<HaltReport['signalled']> {
  const out: HaltReport['signalled'] = [];
  const runs = await ledger.listRuns().catch(() => []);
  for (const run of runs) {
    if (run.host !== me.host || run.pid === me.pid || !(await isProcessAlive(run.pid, run.start))) continue;
    try {
      process.kill(run.pid, 'SIGTERM');
      out.push({ runId: run.runId, pid: run.pid });
    } catch (err) {
      out.push({ runId: run.runId, pid: run.pid, error: message(err) });
    }
  }
  return out;
}

/**
 * The emergency stop. Writes the halt file FIRST (so no new run starts and no
 * run in flight can add a fault unnoticed), then reverts every fault of every
 * run on this host, claiming each, and every corrupt entry whose kind and undo
 * record can be read. Faults owned by another host are reported as failed.
 * A flag that cannot be written (read-only, full or denied home) does not stop
 * the reverts: it is reported in `flag`, and the live runs of this host are sent
 * SIGTERM instead (`signalled`). Never throws for the ledger's sake.
 */
export async function haltAll({
  home,
  reason,
  kinds,
  participants = [],
  revertTimeoutMs = REVERT_TIMEOUT_MS,
}: HaltOptions): Promise<HaltReport> {
  const ledger = new Ledger({ home });
  const me = await selfIdentity();
  const flag = await raiseHaltFlag(ledger, reason);
  const report: HaltReport = { ...emptyReport(), flag, signalled: [] };
  if (!flag.raised) report.signalled = await interruptRuns(ledger, me);
  const seen = new Set<string>();
  // A second pass catches entries written by runs that listed before the halt file existed.
  for (let pass = 0; pass < 3; pass++) {
    let listing: Awaited<ReturnType<Ledger['list']>>;
    try {
      listing = await ledger.list();
    } catch (err) {
      report.ledgerError ??= message(err);
      break;
    }
    const fresh = listing.entries.filter((e) => !seen.has(e.id));
    const corrupt = listing.corrupt.filter((c) => !seen.has(c.id));
    if (fresh.length === 0 && corrupt.length === 0) break;
    const registry = await kindsFor(kinds, [
      ...fresh.map((e) => e.kind),
      ...corrupt.flatMap((c) => (c.salvaged.kind ? [c.salvaged.kind] : [])),
    ]);
    const jobs: Job[] = [];
    for (const e of fresh) {
      seen.add(e.id);
      jobs.push({
        id: e.id,
        target: e.target,
        run: async () => {
          if (e.host !== me.host) {
            report.failed.push(outcome(e, 'halt', false, `owned by host ${e.host}: halt it there`));
            return;
          }
          const r = await revertEntry(ledger, registry, e, 'halt', true, revertTimeoutMs);
          if (r) file(report, e.state, r);
        },
      });
    }
    for (const c of corrupt) {
      seen.add(c.id);
      const owner = c.salvaged.host;
      if (owner !== undefined && owner !== me.host) {
        report.corrupt.push({ ...c, handled: 'left', note: `owned by host ${owner}: halt it there` });
        continue;
      }
      jobs.push({
        id: c.id,
        target: c.salvaged.target ?? c.file,
        run: () => revertCorrupt(ledger, registry, c, 'halt', report, revertTimeoutMs),
      });
    }
    await runJobs(jobs);
  }
  // Participants (running proxy servers) revert their own faults on the flag; wait for each,
  // bounded by itself, and count what they reverted.
  for (const p of participants) {
    const who = { id: p.id, kind: p.kind, runId: '-', target: home };
    await p
      .halt(home, { pid: me.pid, host: me.host, flagRaised: flag.raised }, report)
      .catch((err) => report.failed.push(outcome(who, 'halt', false, `${p.label}: ${message(err)}`)));
  }
  report.removedRuns = await removeDeadRuns(ledger);
  return report;
}

/** Lifts the halt; false when none was in force (so the caller never says "released" for nothing). */
export async function releaseHalt({ home }: HomeOptions): Promise<boolean> {
  return new Ledger({ home }).removeHalt();
}

/**
 * The halt in force (`{ since, reason, pid, host }`), or null: what runs poll. Read with
 * home.ts's trust check (no link followed, no FIFO waited on, another user's file not believed).
 */
export async function haltState({ home }: HomeOptions): Promise<HaltState | null> {
  return readHaltFile(home);
}
