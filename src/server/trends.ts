/**
 * History's answers (issue #17): trends per experiment and overall, and the
 * side-by-side comparison of two runs. The shapes are the API's (and the
 * dashboard's, type-only); docs/server.md states the resilience score's
 * formula. The store counts (in SQL, over an index: db/kysely-store.ts
 * trendAggregates); what is computed here is pure: buckets, means, the score.
 */
import { z } from 'zod';
import {
  emptyTrendCounts,
  type RecoveryFigures,
  type Run,
  RunSchema,
  type RunWithJournal,
  type TrendAggregates,
  type TrendCounts,
  type TrendQuery,
  VERDICTS,
  VerdictKindSchema,
} from './store.js';

/** What a set of finished runs says about resilience. Runs refused before they started are not counted. */
export const TrendStatsSchema = z.object({
  /** Finished runs counted (started here or pushed). */
  runs: z.number().int().nonnegative(),
  passed: z.number().int().nonnegative(),
  /** passed / runs, 0-1; null when there are no runs. */
  successRate: z.number().nullable(),
  /** Time from a fault's revert to the steady state holding again, over the runs that measured it. */
  recoveryMs: z
    .object({ median: z.number(), p90: z.number(), samples: z.number().int().positive() })
    .nullable(),
  /** Faults per run and distinct targets per run (mean), and the most targets any one run touched. */
  blastRadius: z.object({ faults: z.number(), targets: z.number(), maxTargets: z.number().int() }),
  /** 0-100, docs/server.md "Resilience score"; null when there are no runs. */
  resilienceScore: z.number().nullable(),
  /** Runs by verdict, refused ones included (they are not in `runs`). */
  verdicts: z.record(VerdictKindSchema, z.number().int().nonnegative()),
  /** Runs that left at least one fault unreverted (its revert failed or could not be verified). */
  leftFaults: z.number().int().nonnegative(),
  /** Runs a safeguard stopped. */
  safeguardBreaches: z.number().int().nonnegative(),
});
export type TrendStats = z.infer<typeof TrendStatsSchema>;

export const TREND_BUCKETS = ['hour', 'day', 'week'] as const;
export type TrendBucket = (typeof TREND_BUCKETS)[number];

export const TrendsSchema = z.object({
  from: z.string(),
  to: z.string(),
  bucket: z.enum(TREND_BUCKETS),
  overall: TrendStatsSchema,
  /** One entry per bucket in [from, to), oldest first (empty buckets included, with runs 0). */
  series: z.array(TrendStatsSchema.extend({ start: z.string() })),
  /** Per experiment (pushed runs without a stored experiment go by their title). */
  experiments: z.array(TrendStatsSchema.extend({ experiment: z.string() })),
});
export type Trends = z.infer<typeof TrendsSchema>;

const Side = z.object({ met: z.boolean().optional(), status: z.string(), output: z.string().optional() });

/** Two runs side by side: each probe by phase and name, the faults, the load, the verdicts. */
export const ComparisonSchema = z.object({
  a: RunSchema,
  b: RunSchema,
  probes: z.array(z.object({ phase: z.string(), name: z.string(), a: Side.optional(), b: Side.optional() })),
  faults: z.object({
    a: z.array(z.object({ kind: z.string(), target: z.string(), durationMs: z.number().optional() })),
    b: z.array(z.object({ kind: z.string(), target: z.string(), durationMs: z.number().optional() })),
  }),
  /** The load's totals when both (or either) ran one. */
  load: z.object({
    a: z.object({ requests: z.number(), errorRate: z.number(), p99: z.number() }).optional(),
    b: z.object({ requests: z.number(), errorRate: z.number(), p99: z.number() }).optional(),
  }),
  recoveryMs: z.object({ a: z.number().optional(), b: z.number().optional() }),
});
export type Comparison = z.infer<typeof ComparisonSchema>;

// ---------------------------------------------------------------- computing them

/** Seconds of a bucket. */
export const BUCKET_SECONDS: Record<(typeof TREND_BUCKETS)[number], number> = {
  hour: 3600,
  day: 86_400,
  week: 7 * 86_400,
};

/** The resilience score's constants (docs/server.md "Resilience score" states the formula with them). */
export const SCORE = {
  /** Weights of the pass rate, the recovery and the containment. */
  weights: { passed: 0.6, recovery: 0.25, contained: 0.15 },
  /** A p90 recovery of this many seconds scores half of the recovery part. */
  recoveryHalfSeconds: 60,
} as const;

/**
 * The resilience score, 0-100 (one decimal), or null when no run counts:
 *
 *   score = 100 x (1 - L) x (0.6 S + 0.25 R + 0.15 C) / (0.6 + 0.25 + 0.15)
 *
 * S = passed / runs; R = 60 / (60 + p90 recovery in seconds), and when no run measured its recovery R is
 * left out with its weight (the sum divides by 0.75 instead); C = 1 / sqrt(max(1, mean distinct targets
 * per run)); L = share of runs that left a fault unreverted.
 *
 * @example
 * // 10 runs, 7 passed, p90 recovery 30 s, 2 targets a run, 1 run left a fault behind:
 * // 100 x 0.9 x (0.6 x 0.7 + 0.25 x 0.6667 + 0.15 x 0.7071) = 62.3
 */
export function resilienceScore(input: {
  runs: number;
  passed: number;
  recoveryP90Ms?: number;
  meanTargets: number;
  leftFaults: number;
}): number | null {
  if (input.runs <= 0) return null;
  const w = SCORE.weights;
  const s = input.passed / input.runs;
  const c = 1 / Math.sqrt(Math.max(1, input.meanTargets));
  const l = Math.min(1, input.leftFaults / input.runs);
  const base =
    input.recoveryP90Ms === undefined
      ? (w.passed * s + w.contained * c) / (w.passed + w.contained)
      : (w.passed * s +
          w.recovery *
            (SCORE.recoveryHalfSeconds / (SCORE.recoveryHalfSeconds + input.recoveryP90Ms / 1000)) +
          w.contained * c) /
        (w.passed + w.recovery + w.contained);
  return Math.round(1000 * (1 - l) * base) / 10;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function addCounts(into: TrendCounts, c: TrendCounts): void {
  into.runs += c.runs;
  into.passed += c.passed;
  for (const v of VERDICTS) into.verdicts[v] += c.verdicts[v];
  into.withFacts += c.withFacts;
  into.faults += c.faults;
  into.targets += c.targets;
  into.maxTargets = Math.max(into.maxTargets, c.maxTargets);
  into.leftFaults += c.leftFaults;
  into.safeguardBreaches += c.safeguardBreaches;
}

/** One set of runs' figures from its counts and recovery. */
export function trendStats(c: TrendCounts, recovery: RecoveryFigures | undefined): TrendStats {
  const meanTargets = c.withFacts > 0 ? c.targets / c.withFacts : 0;
  return {
    runs: c.runs,
    passed: c.passed,
    successRate: c.runs > 0 ? c.passed / c.runs : null,
    recoveryMs: recovery
      ? { median: round3(recovery.median), p90: round3(recovery.p90), samples: recovery.samples }
      : null,
    blastRadius: {
      faults: c.withFacts > 0 ? round3(c.faults / c.withFacts) : 0,
      targets: round3(meanTargets),
      maxTargets: c.maxTargets,
    },
    resilienceScore: resilienceScore({
      runs: c.runs,
      passed: c.passed,
      ...(recovery ? { recoveryP90Ms: recovery.p90 } : {}),
      meanTargets,
      leftFaults: c.leftFaults,
    }),
    verdicts: { ...c.verdicts },
    leftFaults: c.leftFaults,
    safeguardBreaches: c.safeguardBreaches,
  };
}

/** The start of the bucket holding `instant`: the UTC hour, the UTC day, or the week from Monday 00:00 UTC. */
export function bucketStart(instant: Date, bucket: TrendBucket): Date {
  const d = new Date(instant.getTime());
  d.setUTCMinutes(0, 0, 0);
  if (bucket === 'hour') return d;
  d.setUTCHours(0);
  if (bucket === 'day') return d;
  // getUTCDay: Sunday 0; Monday starts ISO 8601 weeks.
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d;
}

/** More buckets than this in one answer is a mistake (a year of hours is 8,760): refused with a reason. */
export const MAX_BUCKETS = 2000;

export interface TrendWindow {
  from: Date;
  to: Date;
  bucket: TrendBucket;
  experiment?: string;
}

/** The store's question for a window (its buckets aligned with bucketStart). */
export function trendQuery(w: TrendWindow): TrendQuery {
  return {
    from: w.from.toISOString(),
    to: w.to.toISOString(),
    origin: bucketStart(w.from, w.bucket).toISOString(),
    bucketSeconds: BUCKET_SECONDS[w.bucket],
    ...(w.experiment !== undefined ? { experiment: w.experiment } : {}),
  };
}

/** The number of buckets a window spans. */
export function bucketCount(w: TrendWindow): number {
  const origin = bucketStart(w.from, w.bucket).getTime();
  return Math.max(0, Math.ceil((w.to.getTime() - origin) / (BUCKET_SECONDS[w.bucket] * 1000)));
}

/** Overall and per experiment (by name), whatever the buckets: what /metrics exports. */
export function summarizeTrends(agg: TrendAggregates): Pick<Trends, 'overall' | 'experiments'> {
  const overall = emptyTrendCounts();
  const experiments = new Map<string, TrendCounts>();
  for (const cell of agg.cells) {
    addCounts(overall, cell.counts);
    const e = experiments.get(cell.experiment) ?? emptyTrendCounts();
    addCounts(e, cell.counts);
    experiments.set(cell.experiment, e);
  }
  return {
    overall: trendStats(overall, agg.recovery.overall),
    experiments: [...experiments]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([experiment, c]) => ({ experiment, ...trendStats(c, agg.recovery.experiments.get(experiment)) })),
  };
}

/** The answer of GET /api/trends from the store's aggregates: per bucket (empty ones too), per experiment, overall. */
export function buildTrends(w: TrendWindow, agg: TrendAggregates): Trends {
  const origin = bucketStart(w.from, w.bucket).getTime();
  const size = BUCKET_SECONDS[w.bucket] * 1000;
  const buckets = Array.from({ length: bucketCount(w) }, emptyTrendCounts);
  for (const cell of agg.cells) {
    const b = buckets[cell.bucket];
    if (b) addCounts(b, cell.counts);
  }
  const { overall, experiments } = summarizeTrends(agg);
  return {
    from: w.from.toISOString(),
    to: w.to.toISOString(),
    bucket: w.bucket,
    overall,
    series: buckets.map((c, i) => ({
      start: new Date(origin + i * size).toISOString(),
      ...trendStats(c, agg.recovery.buckets.get(i)),
    })),
    experiments,
  };
}

// ---------------------------------------------------------------- comparison

const isRecord = (v: unknown): v is Record<string, any> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const PHASES = ['before', 'during', 'method', 'after'] as const;
const MAX_OUTPUT = 200;

/** A timestamp in the journal's format (`+00:00`, microseconds) or ISO; NaN when neither. */
function instant(text: unknown): number {
  if (typeof text !== 'string') return Number.NaN;
  const t = Date.parse(text);
  return Number.isNaN(t) ? Date.parse(text.replace(/(\.\d{3})\d*\+00:00$/, '$1Z')) : t;
}

function outputText(output: unknown): string | undefined {
  if (output === undefined) return undefined;
  const text = typeof output === 'string' ? output : JSON.stringify(output);
  if (text === undefined) return undefined;
  return text.length > MAX_OUTPUT ? `${text.slice(0, MAX_OUTPUT - 1)}…` : text;
}

type Side = NonNullable<Comparison['probes'][number]['a']>;

/** Each probe of a journal by phase and name (a name seen twice in a phase keeps its occurrence). */
function probesOf(journal: unknown): Map<string, { phase: string; name: string; side: Side }> {
  const out = new Map<string, { phase: string; name: string; side: Side }>();
  if (!isRecord(journal)) return out;
  const seen = new Map<string, number>();
  const add = (phase: string, name: string, side: Side) => {
    const k = `${phase}\u0000${name}`;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    out.set(`${k}\u0000${n}`, { phase, name, side });
  };
  const probe = (r: any): [string, Side] | undefined => {
    if (!isRecord(r) || !isRecord(r.activity)) return undefined;
    const output = outputText(r.output);
    return [
      String(r.activity.name ?? ''),
      {
        ...(typeof r.tolerance_met === 'boolean' ? { met: r.tolerance_met } : {}),
        status: String(r.status ?? 'unknown'),
        ...(output !== undefined ? { output } : {}),
      },
    ];
  };
  const ss = isRecord(journal.steady_states) ? journal.steady_states : {};
  for (const phase of PHASES) {
    if (phase === 'during') {
      // Every check of the method repeats the probes: one line each, how many of its checks held.
      const checks = new Map<string, { checks: number; met: number; failed: boolean }>();
      for (const s of Array.isArray(ss.during) ? ss.during : []) {
        for (const r of isRecord(s) && Array.isArray(s.probes) ? s.probes : []) {
          const p = probe(r);
          if (!p) continue;
          const c = checks.get(p[0]) ?? { checks: 0, met: 0, failed: false };
          c.checks++;
          if (p[1].met === true) c.met++;
          if (p[1].status !== 'succeeded') c.failed = true;
          checks.set(p[0], c);
        }
      }
      for (const [name, c] of checks)
        add(phase, name, {
          met: c.met === c.checks,
          status: c.failed ? 'failed' : 'succeeded',
          output: `${c.met} of ${c.checks} checks met`,
        });
    } else if (phase === 'method') {
      for (const r of Array.isArray(journal.run) ? journal.run : []) {
        if (!isRecord(r) || !isRecord(r.activity) || r.activity.type !== 'probe') continue;
        const p = probe(r);
        if (p) add(phase, ...p);
      }
    } else {
      const state = ss[phase];
      for (const r of isRecord(state) && Array.isArray(state.probes) ? state.probes : []) {
        const p = probe(r);
        if (p) add(phase, ...p);
      }
    }
  }
  return out;
}

function faultsOf(journal: unknown): Comparison['faults']['a'] {
  const fl = isRecord(journal) && isRecord(journal.faultline) ? journal.faultline : {};
  return (Array.isArray(fl.faults) ? fl.faults : []).filter(isRecord).map((f) => {
    const ms = instant(f.reverted_at) - instant(f.injected_at);
    return {
      kind: String(f.kind ?? ''),
      target: String(f.target ?? ''),
      ...(Number.isFinite(ms) && ms >= 0 ? { durationMs: ms } : {}),
    };
  });
}

function loadOf(journal: unknown): Comparison['load']['a'] {
  const fl = isRecord(journal) && isRecord(journal.faultline) ? journal.faultline : {};
  const load = isRecord(fl.load) ? fl.load : undefined;
  const totals = isRecord(load?.totals) ? load.totals : undefined;
  if (!totals || typeof totals.requests !== 'number') return undefined;
  const requests = totals.requests;
  const successes = typeof totals.successes === 'number' ? totals.successes : requests;
  const p99 = isRecord(load?.latency) && typeof load.latency.p99 === 'number' ? load.latency.p99 : 0;
  return { requests, errorRate: requests > 0 ? round3((requests - successes) / requests) : 0, p99 };
}

/** The runs' experiment as history groups them: its stored name, else (a push) its title. */
export const experimentKey = (run: Run): string => run.experiment ?? run.title;

/** Two stored runs side by side, from their journals (a run without one compares as empty). */
export function compareRuns(a: RunWithJournal, b: RunWithJournal): Comparison {
  const pa = probesOf(a.journal);
  const pb = probesOf(b.journal);
  const probes: Comparison['probes'] = [];
  // a's order, then what only b has; both sorted by phase.
  const keys = [...pa.keys(), ...[...pb.keys()].filter((k) => !pa.has(k))];
  for (const phase of PHASES) {
    for (const k of keys) {
      const x = pa.get(k);
      const y = pb.get(k);
      const p = x ?? y;
      if (!p || p.phase !== phase) continue;
      probes.push({ phase, name: p.name, ...(x ? { a: x.side } : {}), ...(y ? { b: y.side } : {}) });
    }
  }
  const { journal: _a, ...runA } = a;
  const { journal: _b, ...runB } = b;
  const la = loadOf(a.journal);
  const lb = loadOf(b.journal);
  return {
    a: runA,
    b: runB,
    probes,
    faults: { a: faultsOf(a.journal), b: faultsOf(b.journal) },
    load: { ...(la ? { a: la } : {}), ...(lb ? { b: lb } : {}) },
    recoveryMs: {
      ...(a.recoveryMs !== undefined ? { a: a.recoveryMs } : {}),
      ...(b.recoveryMs !== undefined ? { b: b.recoveryMs } : {}),
    },
  };
}
