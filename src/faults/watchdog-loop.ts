/**
 * The watchdog process's loop (watchdog.ts says what it is for; watchdog-main.ts runs it).
 * Kept apart from the runner's side, which spawns it: this module and what it imports load
 * when the watchdog starts, beside a run that has just injected its first fault (and maybe
 * beside a `faultline halt`), so it loads the ledger and recovery only, not the stress
 * workers' spawner and what that brings (zod, re2js): see docs/benchmarks.md, halt.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive, Ledger, type LedgerEntry } from './ledger.js';
import { recoverOrphans } from './recovery.js';
import type { FaultKindSource } from './registry.js';

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
/** Watches one run; `kinds` is where recovery finds how to revert what the run left. */
export async function watchRun(c: WatchdogConfig, kinds: FaultKindSource): Promise<void> {
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
        if (registered) await recoverOrphans({ home: c.home, kinds }).catch(() => undefined);
        return;
      }
      // Unregistered once all was reverted: the session spawns a new watchdog with its next fault.
      if (!registered) return;
    } else if (mine && now >= nextTry) {
      const dead = deadSince !== undefined && now - deadSince >= c.graceMs;
      const expired = mine.some((e) => Date.parse(e.expiresAt) + c.graceMs <= now);
      if (dead || expired) {
        await recoverOrphans({ home: c.home, kinds, includeExpired: expired }).catch(() => undefined);
        nextTry = Date.now() + WATCHDOG_RETRY_MS;
      }
    }
    if (deadSince !== undefined && now - deadSince > c.graceMs + WATCHDOG_GIVE_UP_MS) return;
    await sleep(c.pollMs);
  }
}
