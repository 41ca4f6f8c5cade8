/**
 * Inline SVG charts for the HTML report, drawn as strings (no script, no
 * library, nothing fetched). Every label passes through escapeHtml.
 * Elements carry classes the browser test looks for: `series`, `fault-window`,
 * `marker-<kind>`, `activity`.
 */
import { escapeHtml as h } from './escape.js';
import type { Timeline } from './model.js';

export const WIDTH = 960;
const LEFT = 64;
const RIGHT = 16;
const TOP = 10;
const BOTTOM = 22;

const f = (n: number) => (Math.round(n * 10) / 10).toString();

/** A round upper bound for an axis: 1, 2, 2.5, 5 x 10^n. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function tickLabel(v: number): string {
  if (v >= 1000) return `${Math.round(v / 100) / 10}k`;
  return String(Math.round(v * 100) / 100);
}

export interface LineSeries {
  name: string;
  cls: string;
  points: { x: number; y: number | null }[];
}

interface Frame {
  height: number;
  span: number;
  yMax: number;
  x(t: number): number;
  y(v: number): number;
  bottom: number;
}

function frame(height: number, span: number, yMax: number): Frame {
  const innerW = WIDTH - LEFT - RIGHT;
  const bottom = height - BOTTOM;
  return {
    height,
    span,
    yMax,
    bottom,
    x: (t) => LEFT + (Math.min(Math.max(t, 0), span) / span) * innerW,
    y: (v) => bottom - (Math.min(Math.max(v, 0), yMax) / yMax) * (bottom - TOP),
  };
}

/** Time ticks every 1, 2, 5, 10... seconds: about eight of them. */
function xAxis(fr: Frame): string {
  const step = niceMax(fr.span / 8);
  const out: string[] = [
    `<line class="axis" x1="${LEFT}" y1="${fr.bottom}" x2="${WIDTH - RIGHT}" y2="${fr.bottom}"/>`,
  ];
  for (let t = 0; t <= fr.span + 1e-9; t += step) {
    const x = f(fr.x(t));
    out.push(
      `<line class="tick" x1="${x}" y1="${fr.bottom}" x2="${x}" y2="${fr.bottom + 4}"/>`,
      `<text class="tick-label" x="${x}" y="${fr.bottom + 15}" text-anchor="middle">${tickLabel(t)} s</text>`,
    );
  }
  return out.join('');
}

function yAxis(fr: Frame, unit: string): string {
  const out: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (fr.yMax * i) / 4;
    const y = f(fr.y(v));
    out.push(
      `<line class="grid" x1="${LEFT}" y1="${y}" x2="${WIDTH - RIGHT}" y2="${y}"/>`,
      `<text class="tick-label" x="${LEFT - 6}" y="${y}" dy="0.32em" text-anchor="end">${tickLabel(v)}${h(unit)}</text>`,
    );
  }
  return out.join('');
}

function windows(fr: Frame, tl: Timeline): string {
  return tl.windows
    .map((w) => {
      const x0 = fr.x(w.from);
      const width = Math.max(fr.x(w.to) - x0, 2);
      const label = `${w.label}: ${w.from.toFixed(2)} s - ${w.to.toFixed(2)} s${w.open ? ' (never reverted)' : ''}`;
      return `<rect class="fault-window${w.open ? ' open' : ''}" x="${f(x0)}" y="${TOP}" width="${f(width)}" height="${f(fr.bottom - TOP)}"><title>${h(label)}</title></rect>`;
    })
    .join('');
}

function markers(fr: Frame, tl: Timeline): string {
  return tl.markers
    .map((m) => {
      const x = f(fr.x(m.at));
      return `<g class="marker marker-${m.kind}"><line x1="${x}" y1="${TOP}" x2="${x}" y2="${fr.bottom}"/><path d="M${x} ${TOP} l-5 -7 h10 z" transform="translate(0 7)"/><title>${h(`${m.label} at ${m.at.toFixed(2)} s`)}</title></g>`;
    })
    .join('');
}

function path(fr: Frame, s: LineSeries): string {
  let d = '';
  let pen = false;
  for (const p of s.points) {
    if (p.y === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${f(fr.x(p.x))} ${f(fr.y(p.y))}`;
    pen = true;
  }
  const dots =
    s.points.length <= 120
      ? s.points
          .filter((p) => p.y !== null)
          .map(
            (p) =>
              `<circle cx="${f(fr.x(p.x))}" cy="${f(fr.y(p.y as number))}" r="2"><title>${h(`${s.name} at ${p.x.toFixed(1)} s: ${tickLabel(p.y as number)}`)}</title></circle>`,
          )
          .join('')
      : '';
  return `<g class="series ${s.cls}" data-series="${h(s.name)}"><path d="${d}"/>${dots}</g>`;
}

/** A time-series chart: load series over the run's timeline, fault windows shaded, markers drawn. */
export function timeChart(opts: {
  id: string;
  title: string;
  unit: string;
  series: LineSeries[];
  timeline: Timeline;
  height?: number;
  yMax?: number;
}): string {
  const values = opts.series.flatMap((s) => s.points.map((p) => p.y ?? 0));
  const fr = frame(opts.height ?? 150, opts.timeline.span, opts.yMax ?? niceMax(Math.max(0, ...values)));
  return `<svg class="chart" data-chart="${h(opts.id)}" viewBox="0 0 ${WIDTH} ${fr.height}" role="img" aria-label="${h(opts.title)}"><title>${h(opts.title)}</title>${windows(fr, opts.timeline)}${yAxis(fr, opts.unit)}${xAxis(fr)}${opts.series.map((s) => path(fr, s)).join('')}${markers(fr, opts.timeline)}</svg>`;
}

/** The method and rollback activities as bars on the same time axis (drawn with or without load). */
export function activityLane(tl: Timeline): string {
  const height = 30 + 20 * 2 + BOTTOM;
  const fr = frame(height, tl.span, 1);
  const rows: Record<string, number> = { method: TOP + 4, rollbacks: TOP + 28 };
  const bars = tl.activities
    .map((a) => {
      const x0 = fr.x(a.from);
      const width = Math.max(fr.x(a.to) - x0, 3);
      return `<rect class="activity ${a.phase} ${a.status === 'failed' ? 'failed' : 'ok'}" x="${f(x0)}" y="${rows[a.phase]}" width="${f(width)}" height="16" rx="2"><title>${h(`${a.phase}: ${a.name} (${a.status}) ${a.from.toFixed(2)} s - ${a.to.toFixed(2)} s`)}</title></rect>`;
    })
    .join('');
  const labels = `<text class="tick-label" x="${LEFT - 6}" y="${(rows.method ?? 0) + 12}" text-anchor="end">method</text><text class="tick-label" x="${LEFT - 6}" y="${(rows.rollbacks ?? 0) + 12}" text-anchor="end">rollbacks</text>`;
  const fr2 = { ...fr, bottom: height - BOTTOM };
  return `<svg class="chart" data-chart="activities" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="activities"><title>Activities</title>${windows(fr2, tl)}${labels}${xAxis(fr2)}${bars}${markers(fr2, tl)}</svg>`;
}

/** A chart over runs (x: run index): bars and/or a line; `null` values are drawn as a cross at the top. */
export function runsChart(opts: {
  id: string;
  title: string;
  unit: string;
  labels: string[];
  bars?: { value: number; cls: string; title: string }[];
  /** null: drawn as a cross (e.g. did not recover); undefined: a gap (not measured). */
  line?: { name: string; cls: string; values: (number | null | undefined)[]; missing?: string };
  yMax?: number;
}): string {
  const n = opts.labels.length;
  const height = 160;
  const bottom = height - BOTTOM;
  const innerW = WIDTH - LEFT - RIGHT;
  const slot = innerW / Math.max(n, 1);
  const cx = (i: number) => LEFT + slot * (i + 0.5);
  const all = [...(opts.bars ?? []).map((b) => b.value), ...(opts.line?.values ?? []).map((v) => v ?? 0)];
  const yMax = opts.yMax ?? niceMax(Math.max(0, ...all));
  const y = (v: number) => bottom - (Math.min(Math.max(v, 0), yMax) / yMax) * (bottom - TOP);
  const fr: Frame = { height, span: 1, yMax, bottom, x: () => 0, y };
  const bars = (opts.bars ?? [])
    .map((b, i) => {
      const w = Math.min(slot * 0.6, 48);
      const top = y(b.value);
      return `<rect class="bar ${h(b.cls)}" x="${f(cx(i) - w / 2)}" y="${f(top)}" width="${f(w)}" height="${f(Math.max(bottom - top, 1))}"><title>${h(b.title)}</title></rect>`;
    })
    .join('');
  let line = '';
  if (opts.line) {
    const l = opts.line;
    let d = '';
    let pen = false;
    const marks: string[] = [];
    l.values.forEach((v, i) => {
      if (v === undefined) {
        pen = false;
        return;
      }
      if (v === null) {
        pen = false;
        marks.push(
          `<path class="missing" d="M${f(cx(i) - 5)} ${TOP} l10 10 m0 -10 l-10 10"><title>${h(`${opts.labels[i] ?? ''}: ${l.missing ?? 'none'}`)}</title></path>`,
        );
        return;
      }
      d += `${pen ? 'L' : 'M'}${f(cx(i))} ${f(y(v))}`;
      pen = true;
      marks.push(
        `<circle cx="${f(cx(i))}" cy="${f(y(v))}" r="3.5"><title>${h(`${opts.labels[i] ?? ''}: ${tickLabel(v)}${opts.unit}`)}</title></circle>`,
      );
    });
    // A single run still gets a visible segment, so the line has a size.
    if (l.values.filter((v) => typeof v === 'number').length === 1) d += 'h0.01';
    line = `<g class="series ${h(l.cls)}" data-series="${h(l.name)}"><path d="${d}"/>${marks.join('')}</g>`;
  }
  const xl = opts.labels
    .map(
      (label, i) =>
        `<text class="tick-label" x="${f(cx(i))}" y="${bottom + 15}" text-anchor="middle">${h(label)}</text>`,
    )
    .join('');
  return `<svg class="chart" data-chart="${h(opts.id)}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${h(opts.title)}"><title>${h(opts.title)}</title>${yAxis(fr, opts.unit)}<line class="axis" x1="${LEFT}" y1="${bottom}" x2="${WIDTH - RIGHT}" y2="${bottom}"/>${xl}${bars}${line}</svg>`;
}
