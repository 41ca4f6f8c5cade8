/**
 * `faultline.load`: probes over the metrics of the run's `load:` traffic, in a
 * window of the last N seconds. The convenience functions return plain numbers,
 * so Chaos Toolkit tolerances (a range, a number) apply to them directly:
 *
 *   provider: {type: faultline, module: faultline.load, func: success_ratio, arguments: {window: 5}}
 *   tolerance: {type: range, range: [0.99, 1.0]}
 */
import { z } from 'zod';
import { ActivityFailed } from '../core/errors.js';
import type { ActivityContext, BuiltinActivity } from '../engine/context.js';
import { loadFor } from '../load/resource.js';
import type { WindowMetrics } from '../load/series.js';

const MODULE = 'faultline.load';

const window = z
  .number({ error: 'expected a number of seconds' })
  .positive('expected a positive number of seconds')
  .max(60, 'expected at most 60 seconds')
  .default(5)
  .describe('seconds of traffic to look at (default 5)');

const WindowArgs = z.strictObject({ window });
const LatencyArgs = z.strictObject({
  percentile: z.literal([50, 90, 95, 99, 'max'], { error: "expected 50, 90, 95, 99 or 'max'" }).default(99),
  window,
});

function metrics(ctx: ActivityContext, windowS: number): WindowMetrics {
  const gen = loadFor(ctx.configuration);
  if (!gen) throw new ActivityFailed('no load is running: declare `load:` in the experiment');
  return gen.metrics(windowS * 1000);
}

function windowProbe(
  func: string,
  doc: string,
  pick: (m: WindowMetrics) => number,
  /** Whether recovery time may judge 100 ms slots by it (not throughput: it means little over 100 ms). */
  perSlot: boolean,
): BuiltinActivity<typeof WindowArgs> {
  return {
    module: MODULE,
    func,
    kind: 'probe',
    doc,
    arguments: WindowArgs,
    async run(args, ctx) {
      return pick(metrics(ctx, args.window));
    },
    ...(perSlot ? { windowMetric: () => pick } : {}),
  };
}

const all: BuiltinActivity<typeof WindowArgs> = {
  module: MODULE,
  func: 'metrics',
  kind: 'probe',
  doc: 'The load metrics over the last `window` seconds: requests, success_ratio, error_rate, throughput, p50/p90/p95/p99/max (ms).',
  arguments: WindowArgs,
  async run(args, ctx) {
    return metrics(ctx, args.window);
  },
};

const latency: BuiltinActivity<typeof LatencyArgs> = {
  module: MODULE,
  func: 'latency',
  kind: 'probe',
  doc: 'A latency percentile (50, 90, 95, 99 or max; default 99) in ms over the last `window` seconds, from intended send times.',
  arguments: LatencyArgs,
  async run(args, ctx) {
    const m = metrics(ctx, args.window);
    return args.percentile === 'max' ? m.max : m[`p${args.percentile}`];
  },
  // The raw argument (a slot is judged before any validation): an unknown percentile reads p99.
  windowMetric(args) {
    const pc = args.percentile ?? 99;
    return (m) => (pc === 'max' ? m.max : (m[`p${pc}` as 'p99'] ?? m.p99));
  },
};

export const loadActivities = [
  all,
  windowProbe(
    'success_ratio',
    'Share of completed requests answered 2xx/3xx over the last `window` seconds (0 when none completed).',
    (m) => m.success_ratio,
    true,
  ),
  windowProbe(
    'error_rate',
    'Share of completed requests that failed (4xx, 5xx, timeout, connection error) over the last `window` seconds.',
    (m) => m.error_rate,
    true,
  ),
  windowProbe(
    'throughput',
    'Completed requests per second over the last `window` seconds.',
    (m) => m.throughput,
    false,
  ),
  latency,
] as BuiltinActivity[];
