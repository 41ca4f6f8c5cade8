/**
 * `markdown`: for pull-request comments and CI job summaries (GitHub
 * flavour). The verdict first, then the hypothesis table, faults, safeguard,
 * recovery and load; several journals add a trend table on top.
 */
import type { Journal } from '../core/journal.js';
import { escapeMarkdown as md } from './escape.js';
import {
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
  trendOf,
  type VerdictKind,
  verdictOf,
} from './model.js';
import type { Reporter } from './types.js';

const ICON: Record<VerdictKind, string> = {
  passed: '✅',
  deviated: '❌',
  failed: '❌',
  aborted: '⛔',
  interrupted: '⚠️',
  refused: '🚫',
};

function check(c: ProbeCheck | undefined): string {
  if (!c) return '-';
  const mark = c.met === true ? '✅' : c.met === false ? '❌' : '⚠️';
  return `${mark} ${md(c.error ? `error: ${c.error}` : formatValue(c.value, 40))}`;
}

/** A Markdown table's lines (cells already escaped); the game-day report (gameday/report.ts) uses it too. */
export function markdownTable(head: string[], rows: string[][]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => ' --- ').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

/** Offset of a timestamp from the run's start: `+1.2 s`. */
function at(j: Journal, iso: string | undefined): string {
  const t0 = parseTime(j.start);
  const t = parseTime(iso);
  return t0 === undefined || t === undefined ? '-' : `+${formatSeconds((t - t0) / 1000)}`;
}

function renderRun(j: Journal, level: string): string[] {
  const v = verdictOf(j);
  const fl = j.faultline;
  const out: string[] = [];
  out.push(`${level} ${ICON[v.kind]} ${v.label}: ${md(j.experiment.title)}`, '');
  out.push(
    `Status \`${j.status}\`${j.deviated ? ', deviated' : ''}, exit code ${v.exitCode}, ${formatSeconds(j.duration)}` +
      (fl.run_id ? `, run \`${md(fl.run_id)}\`` : '') +
      `, started ${md(j.start)}`,
    '',
  );
  for (const r of v.reasons) out.push(`- **${md(r)}**`);
  for (const w of v.warnings) out.push(`- ⚠️ ${md(w)}`);
  if (v.reasons.length + v.warnings.length > 0) out.push('');

  const rows = hypothesisRows(j);
  const sub = `${level}#`;
  if (rows.length > 0) {
    out.push(`${sub} Hypothesis`, '');
    out.push(
      ...markdownTable(
        ['Probe', 'Tolerance', 'Before', 'During', 'After'],
        rows.map((r) => [
          md(r.probe),
          md(formatTolerance(r.tolerance)),
          check(r.before),
          md(duringText(j, r)),
          check(r.after),
        ]),
      ),
      '',
    );
  }

  if (fl.faults.length > 0) {
    out.push(`${sub} Faults`, '');
    out.push(
      ...markdownTable(
        ['Fault', 'Target', 'Injected', 'Reverted', 'Window', 'Verified'],
        fl.faults.map((f) => {
          const from = parseTime(f.injected_at);
          const to = parseTime(f.reverted_at);
          const verified = f.irreversible
            ? 'irreversible'
            : f.error
              ? `❌ ${md(f.error)}`
              : f.verified === true
                ? '✅'
                : f.verified === false
                  ? '❌ not verified'
                  : '-';
          return [
            md(f.kind),
            md(f.target),
            at(j, f.injected_at),
            f.reverted_at ? at(j, f.reverted_at) : '**not reverted**',
            from !== undefined && to !== undefined ? formatSeconds((to - from) / 1000) : '-',
            verified,
          ];
        }),
      ),
      '',
    );
  }

  const trip = safeguardOf(j);
  if (trip) {
    out.push(`${sub} Safeguard tripped`, '');
    out.push(
      `\`${md(trip.name)}\` at ${at(j, trip.breached_at)}: value ${md(formatValue(trip.value))} vs tolerance ${md(formatTolerance(trip.tolerance))}` +
        (trip.reason ? ` (${md(trip.reason)})` : '') +
        (trip.reverted_at ? `; faults reverted at ${at(j, trip.reverted_at)}` : ''),
      '',
    );
  }

  const rec = recoveryOf(j);
  if (rec) {
    out.push(`${sub} Recovery`, '');
    const { state, text } = recoveryText(rec);
    out.push(state === 'not-recovered' ? `❌ ${text}` : text, '');
  }

  const actions = [
    ...j.run.map((r) => ['method', r] as const),
    ...j.rollbacks.map((r) => ['rollback', r] as const),
  ];
  const failed = actions.filter(([, r]) => r.status === 'failed');
  if (actions.length > 0) {
    out.push(
      `${sub} Activities`,
      '',
      `${j.run.length} in the method, ${j.rollbacks.length} rollbacks, ${failed.length} failed.`,
      '',
    );
    if (failed.length > 0)
      out.push(
        ...markdownTable(
          ['Phase', 'Activity', 'Error'],
          failed.map(([phase, r]) => [phase, md(r.activity.name), md(errorOf(r) ?? 'failed')]),
        ),
        '',
      );
  }

  const load = loadOf(j);
  if (load) {
    const t = load.totals;
    const ok = t.requests > 0 ? (t.successes / t.requests) * 100 : 0;
    out.push(`${sub} Load`, '');
    out.push(
      ...markdownTable(
        [
          'Requests',
          'Success',
          'Rate (target / achieved)',
          'Timeouts',
          'Conn. errors',
          'Dropped',
          'p50',
          'p99',
          'max',
        ],
        [
          [
            String(t.requests),
            `${formatNumber(ok)}%`,
            `${formatNumber(load.target_rate)} / ${formatNumber(load.achieved_rate)} req/s`,
            String(t.timeouts),
            String(t.connection_errors),
            String(t.dropped),
            `${formatNumber(load.latency.p50)} ms`,
            `${formatNumber(load.latency.p99)} ms`,
            `${formatNumber(load.latency.max)} ms`,
          ],
        ],
      ),
      '',
    );
  }
  return out;
}

export const markdownReporter: Reporter = {
  name: 'markdown',
  extensions: ['.md', '.markdown'],
  description: 'for pull-request comments and CI summaries',
  render(journals, opts) {
    const out: string[] = [];
    if (journals.length === 1 && journals[0]) {
      out.push(...renderRun(journals[0], '##'));
    } else {
      const trend = trendOf(journals);
      out.push(`## ${md(opts.title ?? 'Faultline runs')}`, '');
      out.push(
        `**${trend.passed}/${trend.runs.length} passed** (${formatNumber(trend.passRate * 100)}%)` +
          (trend.meanMttr === null ? '' : `, mean recovery time ${formatSeconds(trend.meanMttr)}`),
        '',
      );
      out.push(
        ...markdownTable(
          ['#', 'Started', 'Experiment', 'Verdict', 'Duration', 'Faults', 'Safeguard', 'Recovery', 'p99'],
          trend.runs.map((r, i) => [
            String(i + 1),
            md(r.start),
            md(r.title),
            `${ICON[r.verdict]} ${r.verdict}`,
            formatSeconds(r.duration),
            String(r.faults) + (r.unreverted > 0 ? ` (${r.unreverted} unreverted)` : ''),
            r.safeguard ? `tripped: ${md(r.safeguard)}` : '-',
            r.mttr === undefined ? '-' : r.mttr === null ? 'did not recover' : formatSeconds(r.mttr),
            r.load ? `${formatNumber(r.load.p99)} ms` : '-',
          ]),
        ),
        '',
      );
      journals.forEach((j, i) => {
        out.push(
          '<details>',
          `<summary>Run ${i + 1}: ${md(verdictOf(j).label)} ${md(j.experiment.title)}</summary>`,
          '',
        );
        out.push(...renderRun(j, '###'));
        out.push('</details>', '');
      });
    }
    return `${out.join('\n').trimEnd()}\n`;
  },
};
