/**
 * History's answers (issue #17): trends per experiment and overall, and the
 * side-by-side comparison of two runs. The shapes are the API's (and the
 * dashboard's, type-only); docs/server.md states the resilience score's
 * formula.
 */
import { z } from 'zod';
import { RunSchema } from './store.js';

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
});
export type TrendStats = z.infer<typeof TrendStatsSchema>;

export const TREND_BUCKETS = ['hour', 'day', 'week'] as const;

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
