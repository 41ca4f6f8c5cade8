/**
 * Time to recover (MTTR): after every fault is reverted, the steady state is
 * checked every `interval` until it holds or `deadline` passes. Measured from
 * the last revert, so a fault the method removed itself counts from then.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../core/duration.js';
import type { FaultRecord, SteadyState } from '../engine/journal.js';
import { isoNow } from '../engine/journal.js';

export interface RecoverySettings {
  deadline: number | string;
  interval?: number | string;
}

export interface RecoveryRecord {
  faults_reverted_at: string;
  recovered_at: string | null;
  /** Seconds from the last revert to the first check that held; null when it never did. */
  mttr: number | null;
  deadline: number;
  checks: number;
}

const parseIso = (s: string) => Date.parse(s.replace(/\d{3}\+00:00$/, 'Z'));

export async function measureRecovery(
  settings: RecoverySettings,
  faults: readonly FaultRecord[],
  check: (signal: AbortSignal) => Promise<SteadyState>,
  signal: AbortSignal,
): Promise<RecoveryRecord> {
  const deadlineMs = parseDuration(settings.deadline) ?? 0;
  const intervalMs = parseDuration(settings.interval ?? 1) ?? 1000;
  const last = Math.max(0, ...faults.map((f) => (f.reverted_at ? parseIso(f.reverted_at) : 0)));
  const from = Number.isFinite(last) && last > 0 ? last : Date.now();
  let checks = 0;
  let recoveredAt: number | undefined;
  while (!signal.aborted) {
    checks += 1;
    let state: SteadyState;
    try {
      state = await check(signal);
    } catch {
      break; // interrupted (a second Ctrl-C)
    }
    if (state.steady_state_met) {
      recoveredAt = Date.now();
      break;
    }
    if (Date.now() - from + intervalMs > deadlineMs) break;
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
  }
  return {
    faults_reverted_at: isoNow(new Date(from)),
    recovered_at: recoveredAt === undefined ? null : isoNow(new Date(recoveredAt)),
    mttr: recoveredAt === undefined ? null : (recoveredAt - from) / 1000,
    deadline: deadlineMs / 1000,
    checks,
  };
}
