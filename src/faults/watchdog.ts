/**
 * The dead-man switch of a run's local faults. A runner killed with SIGKILL
 * cannot revert anything, and its TTL timers die with it: proxy toxics and SDK
 * rules expire by their server-side lease, but a marker, an nft table, a tc
 * qdisc or a paused process would stay until someone typed a `faultline`
 * command. So the session spawns, with a run's first fault, a small detached
 * process (watchdog-main.ts) that outlives the runner and, when the runner dies
 * (pid + start time, as the ledger's owner check) or one of the run's faults is
 * past its TTL, reverts with `recoverOrphans` (the code `faultline recover`
 * runs), then exits once the run has nothing left to revert.
 *
 * It waits `graceMs` first (the runner's own TTL timer, or a `faultline
 * recover` typed right away, goes first; the watchdog is the backstop), so a
 * dead runner's faults are reverted within graceMs + pollMs of its death.
 * FAULTLINE_WATCHDOG=0 disables it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive, Ledger, type LedgerEntry } from './ledger.js';
import { recoverOrphans } from './recovery.js';
import { entryBeside } from './stress/spawn.js';

/**
 * How long the watchdog lets the runner (or a user) revert first: the lease of
 * proxy toxics, SDK rules and PostgreSQL holds, so every kind of fault of a dead
 * runner goes within the same bound.
 */
export const WATCHDOG_GRACE_MS = 15_000;
/** How often it checks the runner and the ledger. */
export const WATCHDOG_POLL_MS = 500;
/** A recover that left a fault in place is retried this often. */
export const WATCHDOG_RETRY_MS = 5_000;
/** After this long past the runner's death it gives up (the next command reports what is left). */
export const WATCHDOG_GIVE_UP_MS = 600_000;

export interface WatchdogConfig {
  home: string;
  runId: string;
  /** The runner: its pid and /proc start time. */
  pid: number;
  start: string | null;
  graceMs: number;
  pollMs: number;
}

/** False when FAULTLINE_WATCHDOG is `0`, `false`, `off` or `no`. */
export function watchdogEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return !/^(0|false|off|no)$/i.test(env.FAULTLINE_WATCHDOG?.trim() ?? '');
}

/** The grace from FAULTLINE_WATCHDOG_GRACE_MS (whole ms, at least 0), else WATCHDOG_GRACE_MS. */
export function watchdogGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.FAULTLINE_WATCHDOG_GRACE_MS);
  return env.FAULTLINE_WATCHDOG_GRACE_MS !== undefined && Number.isInteger(v) && v >= 0
    ? v
    : WATCHDOG_GRACE_MS;
}

/**
 * Starts the watchdog of `runId` (detached, in its own process group so the
 * terminal's Ctrl-C does not reach it, stdio ignored, unref'd: the runner never
 * waits for it). Never throws: a runner without a watchdog still has recovery.
 */
export function spawnWatchdog(
  config: Omit<WatchdogConfig, 'graceMs' | 'pollMs'> & Partial<WatchdogConfig>,
): ChildProcess | undefined {
  const full: WatchdogConfig = { graceMs: watchdogGraceMs(), pollMs: WATCHDOG_POLL_MS, ...config };
  try {
    const entry = entryBeside(import.meta.url, 'watchdog-main');
    const child = spawn(
      process.execPath,
      [...(entry.loader ? ['--import', entry.loader] : []), entry.script, JSON.stringify(full)],
      { detached: true, stdio: 'ignore' },
    );
    child.on('error', () => undefined);
    child.unref();
    return child;
  } catch {
    return undefined;
  }
}

/** The run's entries that may still be in place (a failed injection holds nothing known). */
async function entriesOf(ledger: Ledger, c: WatchdogConfig): Promise<LedgerEntry[] | null> {
  try {
    const { entries } = await ledger.list();
    return entries.filter((e) => e.runId === c.runId && e.ownerPid === c.pid && e.state !== 'failed');
  } catch {
    return null; // unreadable for now: looked at again at the next poll
  }
}

/**
 * The watchdog's loop (watchdog-main.ts runs it). Returns when the run has
 * nothing left: the runner unregistered it (its session reverted everything),
 * or the runner is dead and its faults are reverted (or it gave up on them).
 */
export async function watchRun(c: WatchdogConfig): Promise<void> {
  const ledger = new Ledger({ home: c.home });
  let deadSince: number | undefined;
  let nextTry = 0;
  for (;;) {
    const now = Date.now();
    const alive = await isProcessAlive(c.pid, c.start);
    if (!alive) deadSince ??= now;
    const mine = await entriesOf(ledger, c);
    if (mine?.length === 0) {
      const run = await ledger.getRun(c.runId);
      const registered = run?.pid === c.pid;
      if (!alive) {
        // Nothing of it left in place: recovery also forgets the dead run's file.
        if (registered) await recoverOrphans({ home: c.home }).catch(() => undefined);
        return;
      }
      // Unregistered once all was reverted: the session spawns a new watchdog with its next fault.
      if (!registered) return;
    } else if (mine && now >= nextTry) {
      const dead = deadSince !== undefined && now - deadSince >= c.graceMs;
      const expired = mine.some((e) => Date.parse(e.expiresAt) + c.graceMs <= now);
      if (dead || expired) {
        await recoverOrphans({ home: c.home, includeExpired: expired }).catch(() => undefined);
        nextTry = Date.now() + WATCHDOG_RETRY_MS;
      }
    }
    if (deadSince !== undefined && now - deadSince > c.graceMs + WATCHDOG_GIVE_UP_MS) return;
    await sleep(c.pollMs);
  }
}
