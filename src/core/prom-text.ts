/**
 * Prometheus text exposition (format 0.0.4), shared by the proxy's /metrics
 * and a run's `--metrics-port`. Only what both need: families of samples with
 * escaped labels, and cumulative histograms.
 */

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function labels(pairs: Record<string, string>): string {
  const entries = Object.entries(pairs);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Collects families and renders them; a family with no rows still declares HELP and TYPE. */
export class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: MetricType, help: string, rows: readonly [string, number][]): this {
    this.#lines.push(
      `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`,
      `# TYPE ${name} ${type}`,
    );
    for (const [l, v] of rows) this.#lines.push(`${name}${l} ${formatValue(v)}`);
    return this;
  }

  histogram(
    name: string,
    help: string,
    series: readonly { labels: Record<string, string>; h: Histogram }[],
  ): this {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (const { labels: l, h } of series) {
      h.buckets.forEach((le, i) => {
        this.#lines.push(`${name}_bucket${labels({ ...l, le: String(le) })} ${h.counts[i]}`);
      });
      this.#lines.push(`${name}_bucket${labels({ ...l, le: '+Inf' })} ${h.count}`);
      this.#lines.push(`${name}_sum${labels(l)} ${formatValue(h.sum)}`);
      this.#lines.push(`${name}_count${labels(l)} ${h.count}`);
    }
    return this;
  }

  toString(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/** A cumulative Prometheus histogram with fixed upper bounds. */
export class Histogram {
  readonly counts: number[];
  count = 0;
  sum = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.count += 1;
    this.sum += v;
    this.buckets.forEach((le, i) => {
      if (v <= le) this.counts[i]! += 1;
    });
  }
}
