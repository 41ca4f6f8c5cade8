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
import { entryBeside } from './child-entry.js';
import { WATCHDOG_GRACE_MS, WATCHDOG_POLL_MS, type WatchdogConfig } from './watchdog-loop.js';

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
