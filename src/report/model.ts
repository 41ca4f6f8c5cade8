/**
 * What every reporter shows, derived once from a journal: the verdict (the
 * same rule as the run's exit code), the hypothesis table, faults, safeguard,
 * recovery, load, and a timeline in seconds from the run's start. Pure: no I/O,
 * nothing read from the environment.
 */
import { z } from 'zod';
import type { ActivityRun, Journal, SteadyState } from '../core/journal.js';
import { decideVerdict, type Verdict as EngineVerdict, type VerdictKind } from '../core/verdict.js';

// ------------------------------------------------------------------ verdict

export type { VerdictKind } from '../core/verdict.js';

/** The engine's verdict, plus `exitCode` (camelCase) for the reporters that read it so. */
export type Verdict = EngineVerdict & { exitCode: 0 | 1 | 2 };

/**
 * The verdict the run stored in its journal (`faultline.verdict`), else the one
 * engine/verdict.ts decides (journals older than it); one rule either way, and
 * verdict.ts imports only types, so a report does not load the engine.
 */
export function verdictOf(j: Journal): Verdict {
  const v = (j.faultline.verdict as EngineVerdict | undefined) ?? decideVerdict(j);
  return { ...v, exitCode: v.exit_code };
}

// ------------------------------------------------------------------ time

/** Milliseconds since the epoch of a journal timestamp (microseconds and `+00:00` included). */
export function parseTime(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const ms = Date.parse(iso.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isFinite(ms) ? ms : undefined;
}

// ------------------------------------------------------------------ formatting

const round = (n: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return String(round(n, Math.abs(n) >= 100 ? 1 : 3));
}

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return '-';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  return `${round(s, 2)} s`;
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A probe's output in a few characters: numbers, strings, an HTTP response's status. */
export function formatValue(v: unknown, max = 60): string {
  if (v === undefined) return '-';
  if (v === null) return 'null';
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'string') return clip(JSON.stringify(v), max);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'object' && !Array.isArray(v) && typeof (v as { status?: unknown }).status === 'number')
    return `status ${(v as { status: number }).status}`;
  try {
    return clip(JSON.stringify(v), max);
  } catch {
    return clip(String(v), max);
  }
}

/** A tolerance as a person reads it: `200`, `[0.9, 1]`, `/ok/`, `jsonpath $.a == 1`. */
export function formatTolerance(t: unknown): string {
  if (t === undefined) return '-';
  if (t === null || typeof t !== 'object') return typeof t === 'string' ? JSON.stringify(t) : String(t);
  if (Array.isArray(t)) return `[${t.map((x) => formatValue(x, 20)).join(', ')}]`;
  const o = t as Record<string, unknown>;
  switch (o.type) {
    case 'range':
      return Array.isArray(o.range)
        ? `range [${o.range.map((x) => formatValue(x, 20)).join(', ')}]`
        : 'range';
    case 'regex':
      return `regex /${String(o.pattern ?? '')}/`;
    case 'jsonpath':
      return `jsonpath ${String(o.path ?? '')}${o.expect !== undefined ? ` == ${formatValue(o.expect, 20)}` : ''}`;
    case 'probe':
      return `probe ${String(o.name ?? '')}`;
    default:
      return formatValue(t, 60);
  }
}

/** The last line of an activity's exception (Chaos Toolkit puts the message there). */
export function errorOf(run: Pick<ActivityRun, 'exception'>): string | undefined {
  const e = run.exception;
  if (!Array.isArray(e) || e.length === 0) return undefined;
  return String(e[e.length - 1])
    .trim()
    .replace(/^[\w.]*ActivityFailed: /, '');
}

// ------------------------------------------------------------------ hypothesis

export interface ProbeCheck {
  value: unknown;
  /** undefined: the probe raised (no value to judge). */
  met: boolean | undefined;
  status: string;
  error?: string;
  start?: string;
  duration?: number;
}

export interface HypothesisRow {
  probe: string;
  tolerance: unknown;
  before?: ProbeCheck;
  /**
   * Checks made while a fault was active (by their start time against the
   * fault windows); every check of the method when the run injected no fault.
   */
  during: ProbeCheck[];
  /** Checks made during the method while no fault was active (before the first, between, after the last). */
  outside: ProbeCheck[];
  after?: ProbeCheck;
}

function checkOf(run: ActivityRun): ProbeCheck {
  const err = errorOf(run);
  return {
    value: run.output,
    met: run.status === 'failed' ? undefined : run.tolerance_met,
    status: run.status,
    ...(err ? { error: err } : {}),
    start: run.start,
    duration: run.duration,
  };
}

/** When each fault was in place (epoch ms): from injected_at to reverted_at (or the run's end). */
export function faultWindows(j: Journal): { from: number; to: number }[] {
  const end = parseTime(j.end) ?? Number.POSITIVE_INFINITY;
  return j.faultline.faults.flatMap((f) => {
    const from = parseTime(f.injected_at);
    return from === undefined ? [] : [{ from, to: parseTime(f.reverted_at) ?? end }];
  });
}

/**
 * How the "during" cell reads: `unmet` when a check made while a fault was
 * active missed, or when a safeguard stopped the run (the steady state broke
 * so badly the run was cut short, whatever the checks caught); `met` when
 * every such check held; `none` when there were none.
 */
export function duringState(j: Journal, row: HypothesisRow): 'met' | 'unmet' | 'none' {
  if (row.during.some((c) => c.met !== true) || safeguardOf(j)) return 'unmet';
  return row.during.length > 0 ? 'met' : 'none';
}

/** One row per steady-state probe, in the experiment's order. */
export function hypothesisRows(j: Journal): HypothesisRow[] {
  const rows = new Map<string, HypothesisRow>();
  const row = (name: string, tolerance: unknown) => {
    let r = rows.get(name);
    if (!r) {
      r = { probe: name, tolerance, during: [], outside: [] };
      rows.set(name, r);
    }
    return r;
  };
  const declared = (j.experiment as { 'steady-state-hypothesis'?: { probes?: unknown } })[
    'steady-state-hypothesis'
  ]?.probes;
  if (Array.isArray(declared))
    for (const p of declared) {
      const probe = p as { name?: unknown; tolerance?: unknown };
      if (typeof probe.name === 'string') row(probe.name, probe.tolerance);
    }
  const each = (s: SteadyState | null | undefined, put: (r: HypothesisRow, c: ProbeCheck) => void) => {
    for (const run of s?.probes ?? []) put(row(run.activity.name, run.activity.tolerance), checkOf(run));
  };
  each(j.steady_states.before, (r, c) => {
    r.before = c;
  });
  const windows = faultWindows(j);
  const active = (c: ProbeCheck) => {
    if (windows.length === 0) return true;
    const t = parseTime(c.start);
    return t !== undefined && windows.some((w) => t >= w.from && t <= w.to);
  };
  for (const s of j.steady_states.during) each(s, (r, c) => (active(c) ? r.during : r.outside).push(c));
  each(j.steady_states.after, (r, c) => {
    r.after = c;
  });
  return [...rows.values()];
}

/** Every check made during the method, in order (what the verdict counts). */
export function methodChecks(row: HypothesisRow): ProbeCheck[] {
  return [...row.outside, ...row.during].sort(
    (a, b) => (parseTime(a.start) ?? 0) - (parseTime(b.start) ?? 0),
  );
}

/**
 * The "during" cell: the checks made while a fault was active, then those made
 * during the method with none active, then the safeguard that stopped the run.
 */
export function duringText(j: Journal, row: HypothesisRow): string {
  const parts = [summarizeDuring(row.during)];
  if (row.outside.length > 0)
    parts.push(
      `${row.outside.filter((c) => c.met === true).length}/${row.outside.length} met with no fault active`,
    );
  const trip = safeguardOf(j);
  if (trip) parts.push(`run stopped by safeguard '${trip.name}' at ${formatValue(trip.value)}`);
  return parts.join('; ');
}

/** "5/6 met, 0.41 .. 1" for the checks made during the method. */
export function summarizeDuring(checks: readonly ProbeCheck[]): string {
  if (checks.length === 0) return 'no check while a fault was active';
  const met = checks.filter((c) => c.met === true).length;
  const nums = checks.map((c) => c.value).filter((v): v is number => typeof v === 'number');
  let values = '';
  if (nums.length > 0) {
    const lo = Math.min(...nums);
    const hi = Math.max(...nums);
    values = lo === hi ? `, ${formatNumber(lo)}` : `, ${formatNumber(lo)} .. ${formatNumber(hi)}`;
  } else {
    const last = checks[checks.length - 1];
    if (last) values = `, last ${formatValue(last.value, 30)}`;
  }
  return `${met}/${checks.length} met${values}`;
}

// ------------------------------------------------------------------ faultline resources

const SafeguardSchema = z.looseObject({
  name: z.string(),
  value: z.unknown(),
  tolerance: z.unknown(),
  reason: z.string().optional(),
  breached_at: z.string(),
  reverted_at: z.string().optional(),
});
export type SafeguardTrip = z.infer<typeof SafeguardSchema>;

const RecoverySchema = z.looseObject({
  faults_reverted_at: z.string(),
  recovered_at: z.string().nullable(),
  /** null: did not recover; absent: skipped. */
  mttr: z.number().nullable().optional(),
  deadline: z.number(),
  checks: z.number(),
  method: z.enum(['traffic', 'checks']).optional(),
  resolution: z.number().optional(),
  skipped: z.string().optional(),
});
export type Recovery = z.infer<typeof RecoverySchema>;

/** How recovery reads in every format: whether it recovered, and one sentence (with how it was measured). */
export function recoveryText(rec: Recovery | undefined): {
  state: 'recovered' | 'not-recovered' | 'skipped' | 'not-measured';
  text: string;
} {
  if (!rec)
    return {
      state: 'not-measured',
      text: 'Not measured (set runtime.recovery.deadline in the experiment).',
    };
  if (rec.skipped !== undefined) return { state: 'skipped', text: `Not measured: ${rec.skipped}.` };
  if (rec.mttr === null || rec.mttr === undefined)
    return {
      state: 'not-recovered',
      text: `Did not recover within ${rec.deadline} s of the faults being reverted (${rec.checks} checks).`,
    };
  const how =
    rec.method === 'traffic'
      ? `read from the traffic in ${formatSeconds(rec.resolution ?? 0.1)} slots, confirmed by ${rec.checks} check(s)`
      : `first of ${rec.checks} check(s) to hold${rec.resolution ? `, every ${formatSeconds(rec.resolution)}` : ''}`;
  // Under one slot: as soon as the traffic can tell.
  const when =
    rec.method === 'traffic' && rec.mttr < (rec.resolution ?? 0.1)
      ? `within ${formatSeconds(rec.resolution ?? 0.1)}`
      : formatSeconds(rec.mttr);
  return {
    state: 'recovered',
    text: `Recovered ${when} after the faults were reverted (${how}; deadline ${rec.deadline} s).`,
  };
}

const num = z.number().catch(0);
const SecondSchema = z.looseObject({
  second: z.number(),
  requests: num,
  successes: num,
  timeouts: num,
  connection_errors: num,
  dropped: num,
  p50: num,
  p99: num,
});
const LoadSchema = z.looseObject({
  /** When the load's second 0 began (journals before it: the run's start). */
  started_at: z.string().optional(),
  target_rate: num,
  achieved_rate: num,
  throughput: num,
  sent: num,
  totals: z.looseObject({
    requests: num,
    successes: num,
    timeouts: num,
    connection_errors: num,
    dropped: num,
    status: z.record(z.string(), z.number()).catch({}),
  }),
  latency: z.looseObject({ p50: num, p90: num, p95: num, p99: num, max: num, mean: num }),
  errors: z.record(z.string(), z.number()).catch({}),
  series: z.array(SecondSchema).catch([]),
});
export type LoadResult = z.infer<typeof LoadSchema>;

export function safeguardOf(j: Journal): SafeguardTrip | undefined {
  const r = SafeguardSchema.safeParse(j.faultline.safeguard);
  return r.success ? r.data : undefined;
}

export function recoveryOf(j: Journal): Recovery | undefined {
  const r = RecoverySchema.safeParse(j.faultline.recovery);
  return r.success ? r.data : undefined;
}

export function loadOf(j: Journal): LoadResult | undefined {
  const r = LoadSchema.safeParse(j.faultline.load);
  return r.success ? r.data : undefined;
}

/** Every safeguard the experiment declares (names), the tripped one included. */
export function safeguardNames(j: Journal): string[] {
  const names = new Set<string>();
  const declared = (j.experiment as { safeguards?: unknown }).safeguards;
  if (Array.isArray(declared))
    for (const s of declared)
      if (typeof (s as { name?: unknown }).name === 'string') names.add((s as { name: string }).name);
  const trip = safeguardOf(j);
  if (trip) names.add(trip.name);
  return [...names];
}

// ------------------------------------------------------------------ timeline

export interface TimelineWindow {
  label: string;
  from: number;
  to: number;
  /** Never reverted before the journal was written. */
  open: boolean;
  verified: boolean | undefined;
}

export interface TimelineMarker {
  at: number;
  kind: 'safeguard' | 'rollback' | 'recovered' | 'reverted';
  label: string;
}

export interface TimelinePoint {
  /** Seconds from the run's start to the end of the load second. */
  t: number;
  throughput: number;
  /** 0..1; null when nothing completed that second. */
  errorRate: number | null;
  p50: number | null;
  p99: number | null;
}

export interface Timeline {
  /** Seconds the chart spans. */
  span: number;
  windows: TimelineWindow[];
  markers: TimelineMarker[];
  activities: { name: string; phase: 'method' | 'rollbacks'; from: number; to: number; status: string }[];
  /** Per-second load series, placed by the load's own start (`started_at`). */
  series: TimelinePoint[];
}

export function timelineOf(j: Journal): Timeline {
  const t0 = parseTime(j.start) ?? 0;
  const end = parseTime(j.end);
  const rel = (iso: string | undefined) => {
    const t = parseTime(iso);
    return t === undefined ? undefined : Math.max(0, (t - t0) / 1000);
  };
  const runEnd = end === undefined ? j.duration : (end - t0) / 1000;
  const windows: TimelineWindow[] = j.faultline.faults.map((f) => {
    const from = rel(f.injected_at) ?? 0;
    const to = rel(f.reverted_at);
    return {
      label: `${f.kind} ${f.target}`,
      from,
      to: to ?? runEnd,
      open: to === undefined && !f.irreversible,
      verified: f.verified,
    };
  });
  const markers: TimelineMarker[] = [];
  const trip = safeguardOf(j);
  if (trip) {
    const at = rel(trip.breached_at);
    if (at !== undefined) markers.push({ at, kind: 'safeguard', label: `safeguard ${trip.name} tripped` });
  }
  for (const r of j.rollbacks) {
    const at = rel(r.start);
    if (at !== undefined)
      markers.push({ at, kind: 'rollback', label: `rollback ${r.activity.name} (${r.status})` });
  }
  const rec = recoveryOf(j);
  if (rec?.recovered_at) {
    const at = rel(rec.recovered_at);
    if (at !== undefined)
      markers.push({
        at,
        kind: 'recovered',
        label: `recovered (${formatSeconds(rec.mttr)} after the revert)`,
      });
  }
  const activities = (['method', 'rollbacks'] as const).flatMap((phase) =>
    (phase === 'method' ? j.run : j.rollbacks).flatMap((r) => {
      const from = rel(r.start);
      if (from === undefined) return [];
      return [{ name: r.activity.name, phase, from, to: rel(r.end) ?? from, status: r.status }];
    }),
  );
  const load = loadOf(j);
  const loadStart = rel(load?.started_at) ?? 0;
  const series: TimelinePoint[] = (load?.series ?? []).map((s) => {
    const answered = s.requests - s.timeouts - s.connection_errors;
    return {
      // At the end of its second, on the run's clock: a second is known once it is over, so the effect
      // of a fault never shows before the fault's window (a mid-second point did, by up to half a second).
      t: loadStart + s.second + 1,
      throughput: s.requests,
      errorRate: s.requests > 0 ? (s.requests - s.successes) / s.requests : null,
      p50: answered > 0 ? s.p50 : null,
      p99: answered > 0 ? s.p99 : null,
    };
  });
  const span = Math.max(
    runEnd,
    ...windows.map((w) => w.to),
    ...markers.map((m) => m.at),
    ...series.map((p) => p.t),
    0.001,
  );
  return { span, windows, markers, activities, series };
}

/** The `faultline.load` function a declared safeguard calls, if it is one. */
function loadFuncOf(j: Journal, name: string): string | undefined {
  const declared = (j.experiment as { safeguards?: unknown }).safeguards;
  if (!Array.isArray(declared)) return undefined;
  const s = declared.find((x) => (x as { name?: unknown }).name === name) as
    | { provider?: { module?: unknown; func?: unknown } }
    | undefined;
  return s?.provider?.module === 'faultline.load' ? String(s.provider.func) : undefined;
}

/** What the traffic did (per second) before the first fault and while a fault was active. */
export interface TrafficByFault {
  before?: { successRatio: number; p99: number; seconds: number };
  during?: { minSuccessRatio: number; maxErrorRate: number; maxP99: number; seconds: number };
}

/**
 * The load's seconds before the first fault window, and those overlapping a
 * fault window: the values a "during" summary states, whatever the checks
 * happened to catch (a safeguard can stop a run between two checks).
 */
export function trafficByFault(j: Journal): TrafficByFault {
  const load = loadOf(j);
  const t0 = parseTime(j.start);
  if (!load || t0 === undefined) return {};
  const start = parseTime(load.started_at) ?? t0;
  const windows = faultWindows(j);
  const first = Math.min(...windows.map((w) => w.from));
  const out: TrafficByFault = {};
  const pre = { requests: 0, successes: 0, p99: 0, seconds: 0 };
  for (const s of load.series) {
    if (s.requests === 0) continue;
    const from = start + s.second * 1000;
    const to = from + 1000;
    if (to <= first) {
      pre.requests += s.requests;
      pre.successes += s.successes;
      pre.p99 = Math.max(pre.p99, s.p99);
      pre.seconds += 1;
    } else if (windows.some((w) => from < w.to && to > w.from)) {
      const ratio = s.successes / s.requests;
      const d = out.during ?? { minSuccessRatio: 1, maxErrorRate: 0, maxP99: 0, seconds: 0 };
      d.minSuccessRatio = Math.min(d.minSuccessRatio, ratio);
      d.maxErrorRate = Math.max(d.maxErrorRate, 1 - ratio);
      d.maxP99 = Math.max(d.maxP99, s.p99);
      d.seconds += 1;
      out.during = d;
    }
  }
  // The value that tripped a safeguard over the load is part of what the traffic did under the fault.
  const trip = safeguardOf(j);
  const func = trip ? loadFuncOf(j, trip.name) : undefined;
  if (trip && typeof trip.value === 'number' && (func === 'error_rate' || func === 'success_ratio')) {
    const errorRate = func === 'error_rate' ? trip.value : 1 - trip.value;
    const d = out.during ?? { minSuccessRatio: 1, maxErrorRate: 0, maxP99: 0, seconds: 0 };
    d.maxErrorRate = Math.max(d.maxErrorRate, errorRate);
    d.minSuccessRatio = Math.min(d.minSuccessRatio, 1 - errorRate);
    out.during = d;
  }
  if (pre.seconds > 0)
    out.before = { successRatio: pre.successes / pre.requests, p99: pre.p99, seconds: pre.seconds };
  return out;
}

// ------------------------------------------------------------------ summaries

export interface RunSummary {
  run_id: string;
  title: string;
  start: string;
  duration: number;
  status: string;
  deviated: boolean;
  verdict: VerdictKind;
  exit_code: number;
  reasons: string[];
  warnings: string[];
  faults: number;
  unreverted: number;
  safeguard: string | null;
  /** Seconds; null: did not recover; undefined: not measured. */
  mttr?: number | null;
  load?: { requests: number; success_ratio: number; p50: number; p99: number };
}

export function summarize(j: Journal): RunSummary {
  const v = verdictOf(j);
  const rec = recoveryOf(j);
  const load = loadOf(j);
  return {
    run_id: j.faultline.run_id,
    title: j.experiment.title,
    start: j.start,
    duration: j.duration,
    status: j.status,
    deviated: j.deviated,
    verdict: v.kind,
    exit_code: v.exitCode,
    reasons: v.reasons,
    warnings: v.warnings,
    faults: j.faultline.faults.length,
    unreverted: j.faultline.unreverted.length,
    safeguard: safeguardOf(j)?.name ?? null,
    ...(rec ? { mttr: rec.mttr } : {}),
    ...(load
      ? {
          load: {
            requests: load.totals.requests,
            success_ratio: load.totals.requests > 0 ? load.totals.successes / load.totals.requests : 0,
            p50: load.latency.p50,
            p99: load.latency.p99,
          },
        }
      : {}),
  };
}

export interface Trend {
  runs: RunSummary[];
  passed: number;
  passRate: number;
  /** Mean MTTR over the runs that measured and recovered. */
  meanMttr: number | null;
}

/** Runs oldest first, with pass rate and mean recovery time. */
export function trendOf(journals: readonly Journal[]): Trend {
  const runs = [...journals]
    .sort((a, b) => (parseTime(a.start) ?? 0) - (parseTime(b.start) ?? 0))
    .map(summarize);
  const passed = runs.filter((r) => r.verdict === 'passed').length;
  const mttrs = runs.map((r) => r.mttr).filter((m): m is number => typeof m === 'number');
  return {
    runs,
    passed,
    passRate: runs.length === 0 ? 0 : passed / runs.length,
    meanMttr: mttrs.length === 0 ? null : mttrs.reduce((a, b) => a + b, 0) / mttrs.length,
  };
}
