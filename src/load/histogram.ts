/**
 * Latency histograms: HdrHistogram (hdr-histogram-js) recording microseconds,
 * read back in milliseconds. Values above the trackable maximum are clamped
 * to it (and still counted) rather than thrown away.
 */
import { createRequire } from 'node:module';
import type { Histogram } from 'hdr-histogram-js';

// Loaded on the first histogram: a run without load traffic does not pay for loading it (its WASM
// and formatters) at startup (issue #14 item 3).
let hdr: typeof import('hdr-histogram-js') | undefined;
function build(...args: Parameters<typeof import('hdr-histogram-js').build>): Histogram {
  hdr ??= createRequire(import.meta.url)('hdr-histogram-js') as typeof import('hdr-histogram-js');
  return hdr.build(...args);
}

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/** The highest latency tracked: 10 minutes, in microseconds. */
const HIGHEST_US = 600_000_000;

export class LatencyHistogram {
  readonly #h: Histogram;

  /** `digits`: significant decimal digits kept (3 = 0.1% resolution; 2 for the many small window slots). */
  constructor(digits: 2 | 3 = 3) {
    this.#h = build({
      bitBucketSize: 32,
      autoResize: false,
      lowestDiscernibleValue: 1,
      highestTrackableValue: HIGHEST_US,
      numberOfSignificantValueDigits: digits,
    });
  }

  /** Records one latency given in milliseconds (fractions kept to the microsecond). */
  recordMs(ms: number): void {
    const us = Math.round(ms * 1000);
    this.#h.recordValue(Math.max(1, Math.min(us, HIGHEST_US)));
  }

  get count(): number {
    return this.#h.totalCount;
  }

  /** The latency at a percentile (0-100), in milliseconds; 0 when empty. */
  percentileMs(p: number): number {
    return this.#h.totalCount === 0 ? 0 : this.#h.getValueAtPercentile(p) / 1000;
  }

  get maxMs(): number {
    return this.#h.totalCount === 0 ? 0 : this.#h.maxValue / 1000;
  }

  get meanMs(): number {
    return this.#h.totalCount === 0 ? 0 : this.#h.mean / 1000;
  }

  add(other: LatencyHistogram): void {
    if (other.count > 0) this.#h.add(other.#h);
  }

  reset(): void {
    this.#h.reset();
  }

  summary(): LatencySummary {
    return {
      p50: round3(this.percentileMs(50)),
      p90: round3(this.percentileMs(90)),
      p95: round3(this.percentileMs(95)),
      p99: round3(this.percentileMs(99)),
      max: round3(this.maxMs),
    };
  }
}

/** Rounds to the microsecond (3 decimals of a millisecond). */
export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
