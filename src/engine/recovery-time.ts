/**
 * Time to recover (MTTR): after every fault is reverted, how long the system
 * took to behave again. Measured from the last revert, so a fault the method
 * removed itself counts from then.
 *
 * Two ways, recorded as `method` with their `resolution`:
 * - `traffic`: the run has `load:` traffic and its hypothesis judges it with
 *   `faultline.load` probes. The steady state is checked every `interval`
 *   until it holds (the confirmation); the moment of recovery is then read
 *   from the traffic itself: the end of the last 100 ms slot after the revert
 *   whose requests the hypothesis's own tolerances reject. A probe's window
 *   (say, the last 5 s) no longer adds itself to the figure.
 * - `checks`: otherwise, the time of the first check that held (to `interval`).
 *
 * Recovery is not judged on traffic that has stopped: when the load is no
 * longer sending (its duration ended, or nothing completes and nothing is in
 * flight), the record says `skipped` and why, instead of a false "did not recover".
 */
import { parseDuration } from '../core/duration.js';
import type { FaultRecord, SteadyState } from '../core/journal.js';
import { isoNow } from '../core/journal.js';
import type { Configuration, Experiment, Provider } from '../core/schema.js';
import { sleepUntilAborted } from '../core/timers.js';
import { trafficOf } from '../load/resource.js';
import { SLOT_MS, type WindowMetrics } from '../load/series.js';
import type { ProviderRunner } from './context.js';

export interface RecoverySettings {
  deadline: number | string;
  interval?: number | string;
}

export interface RecoveryRecord {
  faults_reverted_at: string;
  recovered_at: string | null;
  /**
   * Seconds from the last revert to recovery; null when the steady state did not
   * hold again within the deadline; absent when recovery was `skipped`.
   */
  mttr?: number | null;
  deadline: number;
  checks: number;
  /** How the moment of recovery was found (see the module comment). */
  method: 'traffic' | 'checks';
  /** Seconds: how precise `mttr` is (0.1 from the traffic's slots; the check interval otherwise). */
  resolution: number;
  /** When a check confirmed that the steady state holds again (`traffic`: recovery is read back from here). */
  confirmed_at?: string;
  /** Why recovery was not measured (no traffic left to judge). */
  skipped?: string;
}

/** One hypothesis probe over the traffic, as a test of a 100 ms slot. */
type SlotJudge = (m: WindowMetrics) => boolean;

/** What measureRecovery reads the traffic from: the run's load, and the hypothesis's load probes as slot tests. */
export interface RecoveryTraffic {
  /** Milliseconds on the load's clock (since it started). */
  elapsed(): number;
  slots(fromMs: number, toMs: number): (WindowMetrics & { start_ms: number })[];
  /** Undefined while the load is sending; else why there is no traffic to judge. */
  stopped(): string | undefined;
  judges: SlotJudge[];
}

const parseIso = (s: string) => Date.parse(s.replace(/\d{3}\+00:00$/, 'Z'));

function inRange(value: number, tolerance: unknown): boolean | undefined {
  if (typeof tolerance === 'number') return value === tolerance;
  const t = tolerance as { type?: unknown; range?: unknown } | null;
  if (t && t.type === 'range' && Array.isArray(t.range) && t.range.length === 2) {
    const [lo, hi] = t.range as [unknown, unknown];
    if (typeof lo === 'number' && typeof hi === 'number') return value >= lo && value <= hi;
  }
  return undefined;
}

/** What recovery asks the run's providers: the built-in activity a probe runs. */
export interface RecoveryProviders {
  get(type: string): Pick<ProviderRunner<any>, 'builtinOf'> | undefined;
}

/**
 * The hypothesis's probes whose built-in activity reads a number from the
 * traffic (`windowMetric`: faultline.load's success_ratio, error_rate, latency),
 * with a number or a number range as tolerance, as tests of one slot; the
 * others are left to the checks.
 */
export function slotJudges(experiment: Experiment, providers: RecoveryProviders): SlotJudge[] {
  const judges: SlotJudge[] = [];
  for (const item of experiment['steady-state-hypothesis']?.probes ?? []) {
    const p = item as { tolerance?: unknown; provider?: Provider };
    const prov = p.provider;
    if (typeof prov?.type !== 'string') continue;
    const activity = providers.get(prov.type)?.builtinOf?.(prov);
    const pick = activity?.windowMetric?.((prov.arguments ?? {}) as Record<string, unknown>);
    if (!pick || inRange(0, p.tolerance) === undefined) continue;
    judges.push((m) => inRange(pick(m), p.tolerance) === true);
  }
  return judges;
}

/** The traffic recovery is read from, when the run has `load:` and its hypothesis judges it. */
export function recoveryTraffic(
  experiment: Experiment,
  configuration: Configuration,
  /** The run's providers, whose `builtinOf` finds each probe's activity. */
  providers: RecoveryProviders,
): RecoveryTraffic | undefined {
  const traffic = trafficOf(configuration);
  if (!traffic) return undefined;
  const judges = slotJudges(experiment, providers);
  if (judges.length === 0) return undefined;
  const { series } = traffic;
  return {
    elapsed: () => series.elapsed(),
    slots: (from, to) => series.slots(from, to),
    stopped: traffic.stopped,
    judges,
  };
}

/**
 * The end of the last slot from `fromMs` to `toMs` (load clock) that a judge
 * rejects, or `fromMs` when none does; slots in which nothing completed say nothing.
 */
export function recoveredFromSlots(
  slots: readonly (WindowMetrics & { start_ms: number })[],
  judges: readonly SlotJudge[],
  fromMs: number,
): number {
  let at = fromMs;
  for (const s of slots) {
    if (s.requests === 0) continue;
    if (!judges.every((j) => j(s))) at = Math.max(at, s.start_ms + SLOT_MS);
  }
  return at;
}

export async function measureRecovery(
  settings: RecoverySettings,
  faults: readonly FaultRecord[],
  check: (signal: AbortSignal) => Promise<SteadyState>,
  signal: AbortSignal,
  /** The traffic to read recovery from, or the run it is found in (recoveryTraffic()). */
  source?:
    | RecoveryTraffic
    | { experiment: Experiment; configuration: Configuration; providers: RecoveryProviders },
): Promise<RecoveryRecord> {
  const traffic =
    source && 'judges' in source
      ? source
      : source && recoveryTraffic(source.experiment, source.configuration, source.providers);
  const deadlineMs = parseDuration(settings.deadline) ?? 0;
  const intervalMs = parseDuration(settings.interval ?? 1) ?? 1000;
  const last = Math.max(0, ...faults.map((f) => (f.reverted_at ? parseIso(f.reverted_at) : 0)));
  const from = Number.isFinite(last) && last > 0 ? last : Date.now();
  const base = {
    faults_reverted_at: isoNow(new Date(from)),
    deadline: deadlineMs / 1000,
    method: traffic ? ('traffic' as const) : ('checks' as const),
    resolution: (traffic ? SLOT_MS : intervalMs) / 1000,
  };
  let checks = 0;
  let recoveredAt: number | undefined;
  while (!signal.aborted) {
    const stopped = traffic?.stopped();
    if (stopped) return { ...base, recovered_at: null, checks, skipped: stopped };
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
    // Not node:timers/promises: an interval past 2^31-1 ms (24.8 days) fired there after 1 ms, a busy loop of checks.
    await sleepUntilAborted(intervalMs, signal);
  }
  if (recoveredAt === undefined) return { ...base, recovered_at: null, mttr: null, checks };
  if (!traffic)
    return {
      ...base,
      recovered_at: isoNow(new Date(recoveredAt)),
      mttr: (recoveredAt - from) / 1000,
      checks,
    };
  // Back from the confirming check to the traffic: epoch ms <-> the load's clock.
  const offset = Date.now() - traffic.elapsed();
  const fromLoad = from - offset;
  const atLoad = recoveredFromSlots(traffic.slots(fromLoad, recoveredAt - offset), traffic.judges, fromLoad);
  const at = Math.min(atLoad + offset, recoveredAt);
  return {
    ...base,
    recovered_at: isoNow(new Date(at)),
    mttr: Math.round(Math.max(0, at - from)) / 1000,
    checks,
    confirmed_at: isoNow(new Date(recoveredAt)),
  };
}
