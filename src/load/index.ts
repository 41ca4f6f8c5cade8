/**
 * `faultline/load`: the built-in HTTP load generator (open model, HDR latency
 * histograms, per-second series, window metrics; docs/load.md), curated: the
 * option schemas and the histogram stay internal. The CLI's `load` command
 * imports it too; the `load:` run resource imports the modules themselves.
 *
 * @example
 * import { runLoad } from 'faultline/load';
 * const summary = await runLoad({ rate: 200, durationMs: 10_000, requests: [{ url: 'http://127.0.0.1:8080/health' }] });
 * console.log(summary.achieved_rate, summary.latency.p99);
 */
export {
  explainDrops,
  LoadGenerator,
  type LoadRunOptions,
  type LoadSummary,
  runLoad,
} from './generator.js';
export type { LatencySummary } from './histogram.js';
export type { LoadOptions, LoadOptionsInput, RequestTemplate } from './schema.js';
export type { Counts, LoadSeries, Outcome, SecondStats, WindowMetrics } from './series.js';
