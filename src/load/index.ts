/** The built-in HTTP load generator: open model, HDR latency histograms, per-second series, window metrics. */
export { explainDrops, LoadGenerator, type LoadRunOptions, type LoadSummary, runLoad } from './generator.js';
export { LatencyHistogram, type LatencySummary } from './histogram.js';
export {
  type LoadOptions,
  type LoadOptionsInput,
  LoadOptionsSchema,
  parseDuration,
  type RequestTemplate,
  RequestTemplateSchema,
} from './schema.js';
export { type Counts, LoadSeries, type Outcome, type SecondStats, type WindowMetrics } from './series.js';
