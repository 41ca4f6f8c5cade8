/**
 * Time-series charts, drawn by uPlot (a small, well-kept canvas chart library: about 20 KB gzipped with
 * its stylesheet, bundled, nothing fetched). One component for the live view's load charts and the
 * trends: a title, axes with units, a legend under the plot that wraps at phone width, and a width that
 * follows its container. New data is drawn into the same chart (setData), so a second of load arriving
 * every second costs a redraw, not a rebuild.
 *
 * A canvas is not read by a screen reader: every chart has a text summary (`summary`) beside it, and the
 * figures it draws are in the page's tables too.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** A CSS colour; the palette below keeps them apart for the common kinds of colour blindness. */
  color: string;
  /** Bars rather than a line (counts per bucket). */
  bars?: boolean;
  dash?: number[];
}

/** Okabe-Ito, the usual colour-blind-safe palette, darkened a little for a white background. */
export const COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9'] as const;

export interface ChartProps {
  title: string;
  /** The y axis's unit, shown on the axis and after every legend value (`req/s`, `%`, `ms`). */
  unit: string;
  series: readonly ChartSeries[];
  /** x (seconds since the epoch), then one array per series; null is a gap. */
  data: readonly (readonly (number | null)[])[];
  /** A fixed y range (a share from 0 to 100 %); otherwise from 0 to what the data needs. */
  yMax?: number;
  height?: number;
  /** What the chart shows, in words (for screen readers, and when there is nothing to draw). */
  summary: string;
  /** How x values read in the legend: a clock time for live seconds, a date for trend buckets. */
  xFormat?: 'time' | 'date';
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
const DAY = 86_400;
const DATE_STEPS = [
  3600,
  3 * 3600,
  6 * 3600,
  12 * 3600,
  DAY,
  2 * DAY,
  7 * DAY,
  14 * DAY,
  30 * DAY,
  91 * DAY,
  365 * DAY,
];

/** The legend shows the latest values while the pointer is elsewhere, rather than dashes. */
function showLatest(u: uPlot): void {
  const n = u.data[0]?.length ?? 0;
  const away = u.cursor.left === undefined || u.cursor.left < 0;
  if (n > 0 && away) u.setLegend({ idx: n - 1 });
}

function fmt(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  const s = abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${s} ${unit}`;
}

export function Chart({
  title,
  unit,
  series,
  data,
  yMax,
  height = 200,
  summary,
  xFormat = 'time',
}: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  // Rebuilt only when what is drawn changes shape (other series, another unit), not on every sample.
  const shape = `${unit}|${yMax ?? ''}|${height}|${xFormat}|${series.map((s) => `${s.label}${s.bars ? '#' : ''}`).join(',')}`;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const bars = uPlot.paths.bars?.({ size: [0.6, 40] });
    const dateOnly = xFormat === 'date';
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height,
      title,
      scales: {
        x: { time: true },
        y: { range: (_u, _min, max) => [0, yMax ?? (max > 0 ? max * 1.1 : 1)] },
      },
      axes: [
        // Whole seconds (live) or whole hours and days (trends): never ticks at half seconds.
        {
          stroke: '#57606a',
          grid: { stroke: '#eaeef2' },
          space: 60,
          incrs: dateOnly ? DATE_STEPS : TIME_STEPS,
        },
        {
          stroke: '#57606a',
          grid: { stroke: '#eaeef2' },
          label: unit,
          size: 56,
          values: (_u, splits) =>
            splits.map((v) => (Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)}k` : `${+v.toFixed(2)}`)),
        },
      ],
      series: [
        {
          label: dateOnly ? 'Period' : 'Time',
          value: (_u, v) =>
            v === null || v === undefined
              ? '—'
              : dateOnly
                ? new Date(v * 1000).toLocaleDateString()
                : new Date(v * 1000).toLocaleTimeString(),
        },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          ...(s.dash ? { dash: s.dash } : {}),
          ...(s.bars && bars
            ? { paths: bars, fill: `${s.color}99`, points: { show: false } }
            : // A bucket between empty ones is a lone point: drawn as a dot, or it would not show at all.
              dateOnly
              ? { points: { show: true, size: 7, fill: s.color } }
              : {}),
          value: (_u: uPlot, v: number | null) => fmt(v, unit),
          spanGaps: false,
        })),
      ],
      legend: { live: true },
      // After each draw: uPlot empties the legend when the pointer is not over the plot.
      hooks: { ready: [showLatest], draw: [showLatest], setCursor: [showLatest] },
      cursor: { drag: { x: false, y: false } },
    };
    const u = new uPlot(opts, data as uPlot.AlignedData, el);
    plot.current = u;
    const resize = new ResizeObserver(() => {
      const w = Math.max(240, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = undefined;
    };
    // `data` is drawn by the effect below; `title` changes with the shape.
  }, [shape]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(data as uPlot.AlignedData);
  }, [data]);

  return (
    <figure class="chart">
      <div ref={box} class="chart-plot" role="img" aria-label={`${title}: ${summary}`} />
      <figcaption class="visually-hidden">{summary}</figcaption>
    </figure>
  );
}
