/**
 * `html`: one self-contained page (inline CSS and SVG, no script, no fonts or
 * files fetched; a Content-Security-Policy forbids both), so it can be kept as
 * a CI artifact and opened anywhere. The verdict first; then the hypothesis
 * table, the timeline (fault windows shaded over the load series, safeguard
 * trips, rollbacks and recovery marked), faults, recovery, activities, load
 * and environment. Several journals add trends (pass rate, recovery time).
 * Every journal string is escaped: a probe named `<script>` is text.
 */
import type { Journal } from '../core/journal.js';
import { activityLane, runsChart, timeChart } from './charts.js';
import { escapeHtml as h } from './escape.js';
import {
  duringState,
  duringText,
  errorOf,
  formatNumber,
  formatSeconds,
  formatTolerance,
  formatValue,
  hypothesisRows,
  loadOf,
  type ProbeCheck,
  parseTime,
  recoveryOf,
  recoveryText,
  safeguardOf,
  timelineOf,
  trendOf,
  verdictOf,
} from './model.js';
import type { Reporter } from './types.js';

/** The run report's stylesheet, inline in the page; the game-day report (gameday/report.ts) shares it. */
export const REPORT_CSS = `
:root{--fg:#1b1f24;--muted:#5b6570;--bg:#fff;--card:#f6f8fa;--line:#d0d7de;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--info:#0969da;--fault:rgba(207,34,46,.13)}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1000px;margin:0 auto;padding:24px}h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:20px 0 6px}
.verdict{border-radius:8px;padding:16px 20px;margin:8px 0 16px;color:#fff}.verdict .label{font-size:26px;font-weight:700;letter-spacing:.04em}
.verdict p{margin:4px 0 0}.v-passed{background:var(--ok)}.v-deviated,.v-failed{background:var(--bad)}.v-aborted{background:#82071e}.v-interrupted{background:var(--warn)}.v-refused{background:#8250df}
.facts{color:var(--muted);margin:0 0 8px}.warn{color:var(--warn)}
table{border-collapse:collapse;width:100%;margin:6px 0;font-size:13px}th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}th{background:var(--card)}
td.num{text-align:right;font-variant-numeric:tabular-nums}.met{color:var(--ok)}.unmet{color:var(--bad);font-weight:600}.raised{color:var(--warn);font-weight:600}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--card);padding:1px 4px;border-radius:4px;word-break:break-all}
.legend{display:flex;gap:14px;color:var(--muted);font-size:12px;margin:10px 0 2px;flex-wrap:wrap}.legend i{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}
.legend i.box{height:10px}
svg.chart{width:100%;height:auto;display:block}
.chart text{font-size:11px;fill:var(--muted)}.axis,.tick{stroke:var(--muted)}.grid{stroke:var(--line);stroke-dasharray:2 3}
.series path{fill:none;stroke-width:2}.series circle{stroke:none}
.s-throughput path{stroke:var(--info)}.s-throughput circle,.k-throughput{fill:var(--info);background:var(--info)}
.s-errors path{stroke:var(--bad)}.s-errors circle,.k-errors{fill:var(--bad);background:var(--bad)}
.s-p50 path{stroke:#2da44e}.s-p50 circle,.k-p50{fill:#2da44e;background:#2da44e}
.s-p99 path{stroke:#bf8700}.s-p99 circle,.k-p99{fill:#bf8700;background:#bf8700}
.s-mttr path{stroke:var(--info)}.s-mttr circle{fill:var(--info)}.s-rate path{stroke:#6e7781;stroke-dasharray:4 3}.s-rate circle{fill:#6e7781}
.fault-window,.k-fault{fill:var(--fault);background:var(--fault)}.fault-window.open{fill:rgba(207,34,46,.25)}
.marker line{stroke-width:2;stroke-dasharray:4 2}.marker-safeguard line{stroke:#8250df}.marker-safeguard path,.k-safeguard{fill:#8250df;background:#8250df}
.marker-rollback line{stroke:#57606a}.marker-rollback path,.k-rollback{fill:#57606a;background:#57606a}.marker-recovered line{stroke:var(--ok)}.marker-recovered path,.k-recovered{fill:var(--ok);background:var(--ok)}
.activity.ok{fill:#8c959f}.activity.failed{fill:var(--bad)}.activity.rollbacks.ok{fill:#57606a}
.bar.passed,.k-passed{fill:var(--ok);background:var(--ok)}.k-failed{background:var(--bad)}.k-rate{background:#6e7781}.bar.deviated,.bar.failed{fill:var(--bad)}.bar.aborted{fill:#82071e}.bar.interrupted{fill:var(--warn)}.bar.refused{fill:#8250df}.missing{stroke:var(--bad);stroke-width:2}
dl.env{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:6px 0}dl.env dt{color:var(--muted)}dl.env dd{margin:0}
details.run{border:1px solid var(--line);border-radius:8px;padding:4px 16px;margin:12px 0}details.run>summary{cursor:pointer;font-weight:600;padding:6px 0}
footer{color:var(--muted);font-size:12px;margin-top:32px}
`;

const DURING_CLASS = { met: 'met', unmet: 'unmet', none: '' } as const;

function check(c: ProbeCheck | undefined): string {
  if (!c) return '<td>-</td>';
  const cls = c.met === true ? 'met' : c.met === false ? 'unmet' : 'raised';
  const mark = c.met === true ? '✓' : c.met === false ? '✗' : '!';
  const body = c.error ? `error: ${c.error}` : formatValue(c.value);
  return `<td class="${cls}" title="${h(c.met === true ? 'tolerance met' : c.met === false ? 'tolerance not met' : 'the probe raised')}">${mark} ${h(body)}</td>`;
}

function offset(j: Journal, iso: string | undefined): string {
  const t0 = parseTime(j.start);
  const t = parseTime(iso);
  return t0 === undefined || t === undefined ? '-' : `+${formatSeconds((t - t0) / 1000)}`;
}

function legend(items: [string, string, boolean?][]): string {
  return `<div class="legend">${items.map(([k, label, box]) => `<span><i class="k-${k}${box ? ' box' : ''}"></i>${h(label)}</span>`).join('')}</div>`;
}

function timeline(j: Journal, idx: number): string {
  const tl = timelineOf(j);
  const out: string[] = ['<h3>Timeline</h3>'];
  const keys: [string, string, boolean?][] = [];
  if (tl.windows.length) keys.push(['fault', 'fault active', true]);
  if (tl.markers.some((m) => m.kind === 'safeguard')) keys.push(['safeguard', 'safeguard tripped']);
  if (tl.markers.some((m) => m.kind === 'rollback')) keys.push(['rollback', 'rollback']);
  if (tl.markers.some((m) => m.kind === 'recovered')) keys.push(['recovered', 'recovered']);
  if (tl.series.length > 0) {
    const pts = (k: 'throughput' | 'errorRate' | 'p50' | 'p99', scale = 1) =>
      tl.series.map((p) => ({ x: p.t, y: p[k] === null ? null : (p[k] as number) * scale }));
    out.push(legend([['throughput', 'throughput (completed req/s)'], ...keys]));
    out.push(
      timeChart({
        id: `throughput-${idx}`,
        title: 'Throughput',
        unit: '/s',
        timeline: tl,
        series: [{ name: 'throughput', cls: 's-throughput', points: pts('throughput') }],
      }),
    );
    out.push(legend([['errors', 'error rate (non-2xx/3xx, timeouts, connection errors)']]));
    out.push(
      timeChart({
        id: `errors-${idx}`,
        title: 'Error rate',
        unit: '%',
        timeline: tl,
        yMax: Math.max(5, ...tl.series.map((p) => (p.errorRate ?? 0) * 100)) > 50 ? 100 : undefined,
        series: [{ name: 'error rate', cls: 's-errors', points: pts('errorRate', 100) }],
      }),
    );
    out.push(
      legend([
        ['p50', 'p50 latency'],
        ['p99', 'p99 latency'],
      ]),
    );
    out.push(
      timeChart({
        id: `latency-${idx}`,
        title: 'Latency',
        unit: ' ms',
        timeline: tl,
        series: [
          { name: 'p50', cls: 's-p50', points: pts('p50') },
          { name: 'p99', cls: 's-p99', points: pts('p99') },
        ],
      }),
    );
  } else {
    out.push(legend(keys));
  }
  out.push(activityLane(tl));
  return out.join('\n');
}

function renderRun(j: Journal, idx: number, heading: 'h1' | 'h2'): string {
  const v = verdictOf(j);
  const fl = j.faultline;
  const out: string[] = [];
  out.push(`<section class="run" id="run-${idx}">`);
  out.push(`<${heading} class="title">${h(j.experiment.title)}</${heading}>`);
  out.push(
    `<div class="verdict v-${v.kind}" data-verdict="${v.kind}"><div class="label">${h(v.label)}</div>` +
      `<p>status ${h(j.status)}${j.deviated ? ', deviated' : ''} · exit code ${v.exitCode} · ${h(formatSeconds(j.duration))}</p>` +
      v.reasons.map((r) => `<p>${h(r)}</p>`).join('') +
      '</div>',
  );
  for (const w of v.warnings) out.push(`<p class="warn">⚠ ${h(w)}</p>`);
  out.push(
    `<p class="facts">started ${h(j.start)} · run <code>${h(fl.run_id || '-')}</code> · ${fl.faults.length} fault(s), ${fl.unreverted.length} unreverted</p>`,
  );

  const rows = hypothesisRows(j);
  if (rows.length > 0) {
    const title = (j.experiment as { 'steady-state-hypothesis'?: { title?: unknown } })[
      'steady-state-hypothesis'
    ]?.title;
    out.push(`<h3>Hypothesis${typeof title === 'string' ? `: ${h(title)}` : ''}</h3>`);
    out.push(
      '<table class="hypothesis"><thead><tr><th>Probe</th><th>Tolerance</th><th>Before</th><th>During</th><th>After</th></tr></thead><tbody>',
    );
    for (const r of rows)
      out.push(
        `<tr><td><code>${h(r.probe)}</code></td><td>${h(formatTolerance(r.tolerance))}</td>${check(r.before)}` +
          `<td class="${DURING_CLASS[duringState(j, r)]}">${h(duringText(j, r))}</td>${check(r.after)}</tr>`,
      );
    out.push('</tbody></table>');
  }

  out.push(timeline(j, idx));

  const trip = safeguardOf(j);
  if (trip) {
    out.push('<h3>Safeguard tripped</h3>');
    out.push(
      `<p class="safeguard"><code>${h(trip.name)}</code> at ${h(offset(j, trip.breached_at))}: value ${h(formatValue(trip.value))} vs tolerance ${h(formatTolerance(trip.tolerance))}${trip.reason ? ` (${h(trip.reason)})` : ''}${trip.reverted_at ? `; every fault reverted at ${h(offset(j, trip.reverted_at))}` : ''}.</p>`,
    );
  }

  const rec = recoveryOf(j);
  out.push('<h3>Recovery</h3>');
  const recovery = recoveryText(rec);
  out.push(
    `<p class="recovery${recovery.state === 'not-recovered' ? ' unmet' : ''}">${h(recovery.text)}</p>`,
  );

  if (fl.faults.length > 0) {
    out.push(
      '<h3>Faults</h3><table class="faults"><thead><tr><th>Fault</th><th>Target</th><th>Injected</th><th>Reverted</th><th>Window</th><th>Verified</th></tr></thead><tbody>',
    );
    for (const fr of fl.faults) {
      const a = parseTime(fr.injected_at);
      const b = parseTime(fr.reverted_at);
      const verified = fr.irreversible
        ? '<td>irreversible</td>'
        : fr.error
          ? `<td class="unmet">${h(fr.error)}</td>`
          : fr.verified === true
            ? '<td class="met">✓ verified</td>'
            : fr.verified === false
              ? '<td class="unmet">✗ not verified</td>'
              : '<td>-</td>';
      out.push(
        `<tr><td>${h(fr.kind)}</td><td><code>${h(fr.target)}</code></td><td class="num">${h(offset(j, fr.injected_at))}</td>` +
          `<td class="num">${fr.reverted_at ? h(offset(j, fr.reverted_at)) : '<span class="unmet">not reverted</span>'}</td>` +
          `<td class="num">${a !== undefined && b !== undefined ? h(formatSeconds((b - a) / 1000)) : '-'}</td>${verified}</tr>`,
      );
    }
    out.push('</tbody></table>');
  }

  const acts = [
    ...j.run.map((r) => ['method', r] as const),
    ...j.rollbacks.map((r) => ['rollback', r] as const),
  ];
  if (acts.length > 0) {
    out.push(
      '<h3>Method and rollbacks</h3><table class="activities"><thead><tr><th>Phase</th><th>Activity</th><th>Type</th><th>Start</th><th>Duration</th><th>Result</th></tr></thead><tbody>',
    );
    for (const [phase, r] of acts)
      out.push(
        `<tr><td>${phase}</td><td><code>${h(r.activity.name)}</code></td><td>${h(String(r.activity.type ?? ''))}</td><td class="num">${h(offset(j, r.start))}</td>` +
          `<td class="num">${h(formatSeconds(r.duration))}</td>` +
          (r.status === 'failed'
            ? `<td class="unmet">failed: ${h(errorOf(r) ?? '')}</td>`
            : `<td>${h(formatValue(r.output))}</td>`) +
          '</tr>',
      );
    out.push('</tbody></table>');
  }

  const load = loadOf(j);
  if (load) {
    const t = load.totals;
    const classes = Object.entries(t.status)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
    out.push('<h3>Load</h3><table class="load"><tbody>');
    const row = (k: string, val: string) => `<tr><th>${h(k)}</th><td class="num">${h(val)}</td></tr>`;
    out.push(
      row('requests completed', String(t.requests)),
      row('success', `${formatNumber(t.requests ? (t.successes / t.requests) * 100 : 0)}%`),
      row(
        'rate (target / achieved)',
        `${formatNumber(load.target_rate)} / ${formatNumber(load.achieved_rate)} req/s`,
      ),
      row('status classes', classes || '-'),
      row('timeouts / connection errors / dropped', `${t.timeouts} / ${t.connection_errors} / ${t.dropped}`),
      row(
        'latency p50 / p90 / p99 / max',
        [load.latency.p50, load.latency.p90, load.latency.p99, load.latency.max]
          .map((x) => `${formatNumber(x)} ms`)
          .join(' / '),
      ),
    );
    const errs = Object.entries(load.errors);
    if (errs.length)
      out.push(row('connection errors by code', errs.map(([k, n]) => `${k}: ${n}`).join(', ')));
    out.push('</tbody></table>');
  }

  const env: [string, string][] = [
    ['host', fl.host],
    ['platform', j.platform],
    ['node (host name)', j.node],
    ['faultline', fl.version],
    ['chaoslib-version', j['chaoslib-version']],
    ['run id', fl.run_id],
    ['pid', fl.pid ? String(fl.pid) : ''],
    [
      'strategies',
      fl.strategies ? `hypothesis ${fl.strategies.hypothesis}, rollbacks ${fl.strategies.rollbacks}` : '',
    ],
    ['dry', j.experiment.dry ?? ''],
    ['tags', Array.isArray(j.experiment.tags) ? j.experiment.tags.join(', ') : ''],
    ['start / end', `${j.start} / ${j.end}`],
  ];
  out.push('<h3>Environment</h3><dl class="env">');
  for (const [k, val] of env) if (val) out.push(`<dt>${h(k)}</dt><dd>${h(String(val))}</dd>`);
  out.push('</dl></section>');
  return out.join('\n');
}

function trends(journals: readonly Journal[], title: string): string {
  const trend = trendOf(journals);
  const labels = trend.runs.map((_, i) => `#${i + 1}`);
  let passed = 0;
  const cumulative = trend.runs.map((r, i) => {
    if (r.verdict === 'passed') passed++;
    return (passed / (i + 1)) * 100;
  });
  const out: string[] = [
    `<h1>${h(title)}</h1>`,
    `<div class="verdict v-${trend.passed === trend.runs.length ? 'passed' : 'failed'}" data-verdict="trend"><div class="label">${trend.passed}/${trend.runs.length} PASSED</div>` +
      `<p>pass rate ${h(formatNumber(trend.passRate * 100))}%${trend.meanMttr === null ? '' : ` · mean recovery time ${h(formatSeconds(trend.meanMttr))}`}</p></div>`,
    '<h2>Trends</h2>',
    legend([
      ['throughput', 'verdict per run (bar)'],
      ['rollback', 'cumulative pass rate'],
    ]),
    runsChart({
      id: 'pass-rate',
      title: 'Pass rate',
      unit: '%',
      labels,
      yMax: 100,
      bars: trend.runs.map((r, i) => ({
        value: 100,
        cls: r.verdict,
        title: `#${i + 1} ${r.title}: ${r.verdict}`,
      })),
      line: { name: 'pass rate', cls: 's-rate', values: cumulative },
    }),
    legend([['throughput', 'recovery time (s); ✗ did not recover; no point: not measured']]),
    runsChart({
      id: 'recovery-time',
      title: 'Recovery time',
      unit: ' s',
      labels,
      line: {
        name: 'recovery time',
        cls: 's-mttr',
        values: trend.runs.map((r) => r.mttr),
        missing: 'did not recover',
      },
    }),
    '<table class="runs"><thead><tr><th>#</th><th>Started</th><th>Experiment</th><th>Verdict</th><th>Duration</th><th>Faults</th><th>Safeguard</th><th>Recovery</th><th>p99</th></tr></thead><tbody>',
    ...trend.runs.map(
      (r, i) =>
        `<tr><td><a href="#run-${i}">#${i + 1}</a></td><td>${h(r.start)}</td><td>${h(r.title)}</td><td class="${r.verdict === 'passed' ? 'met' : 'unmet'}">${h(r.verdict)}</td>` +
        `<td class="num">${h(formatSeconds(r.duration))}</td><td class="num">${r.faults}${r.unreverted ? ` (${r.unreverted} unreverted)` : ''}</td>` +
        `<td>${r.safeguard ? `tripped: ${h(r.safeguard)}` : '-'}</td><td class="num">${r.mttr === undefined ? '-' : r.mttr === null ? 'did not recover' : h(formatSeconds(r.mttr))}</td>` +
        `<td class="num">${r.load ? `${h(formatNumber(r.load.p99))} ms` : '-'}</td></tr>`,
    ),
    '</tbody></table>',
    '<h2>Runs</h2>',
  ];
  journals.forEach((j, i) => {
    const v = verdictOf(j);
    out.push(
      `<details class="run"${i === journals.length - 1 ? ' open' : ''}><summary>#${i + 1} ${h(v.label)}: ${h(j.experiment.title)} (${h(j.start)})</summary>`,
      renderRun(j, i, 'h2'),
      '</details>',
    );
  });
  return out.join('\n');
}

export const htmlReporter: Reporter = {
  name: 'html',
  extensions: ['.html', '.htm'],
  description: 'one self-contained page: verdict, hypothesis, timeline charts, recovery, environment, trends',
  render(journals, opts) {
    const single = journals.length === 1 ? journals[0] : undefined;
    const title =
      opts.title ?? (single ? `${verdictOf(single).label}: ${single.experiment.title}` : 'Faultline runs');
    const body = single ? renderRun(single, 0, 'h1') : trends(journals, title);
    return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${h(title)} · Faultline report</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<main>
${body}
<footer>Generated by Faultline at ${h((opts.now ?? new Date()).toISOString())} from ${journals.length} journal(s).</footer>
</main>
</body>
</html>
`;
  },
};
