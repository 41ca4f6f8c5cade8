/**
 * The game day's report, in HTML (one self-contained page: inline CSS, no script, a Content-Security-Policy
 * that forbids both) and Markdown: objective, hypothesis, participants, each success criterion's verdict,
 * the timeline with timestamps and who, the notes, the runs and their measurements, the rollback and the
 * follow-up actions. Every string from the plan, the timeline or a journal goes through the run report's
 * escaping (report/escape.ts): a note written as `<script>` is text.
 */
import { escapeHtml as h, escapeMarkdown as md } from '../report/escape.js';
import { REPORT_CSS } from '../report/html.js';
import { markdownTable } from '../report/markdown.js';
import { formatSeconds, loadOf, recoveryOf, recoveryText } from '../report/model.js';
import { runVerdict } from './criteria.js';
import type { CriterionResult, GameDayState, StepRun, TimelineEvent } from './session.js';

/** A follow-up action; open ones stay in the dashboard until someone closes them. */
export interface FollowUp {
  id: string;
  text: string;
  owner?: string;
  state: 'open' | 'closed';
  closedBy?: string;
  closedAt?: string;
}

/** The plan's follow-ups as FollowUp records (ids `plan-1`, `plan-2`, ...), for callers that store none. */
export function planFollowUps(state: GameDayState): FollowUp[] {
  return state.plan.follow_ups.map((f, i) => ({
    id: `plan-${i + 1}`,
    ...(typeof f === 'string' ? { text: f } : { text: f.text, ...(f.owner ? { owner: f.owner } : {}) }),
    state: 'open',
  }));
}

const VERDICT_MARK: Record<CriterionResult['verdict'], string> = {
  met: '✅ met',
  'not-met': '❌ not met',
  unknown: '❔ unknown',
  manual: '✋ to be judged',
};
/** In HTML, marks every font has (as the run report's hypothesis table uses), not emoji. */
const HTML_MARK: Record<CriterionResult['verdict'], string> = {
  met: '✓ met',
  'not-met': '✗ not met',
  unknown: '? unknown',
  manual: '… to be judged',
};

/** One timeline event as a sentence (the CLI prints the same words). */
export function describeEvent(e: TimelineEvent): string {
  const d = e.data ?? {};
  const step = e.step ? `${e.step}: ` : '';
  switch (e.type) {
    case 'gameday.started':
      return `game day started${e.text ? `: ${e.text}` : ''}`;
    case 'step.started':
      return `${step}started (${String(d.kind ?? 'step')})${e.text ? ` ${e.text}` : ''}${e.by ? `, owner ${e.by}${d.owner && d.owner !== e.by ? ` (${String(d.owner)})` : ''}` : ''}`;
    case 'step.finished':
      return `${step}${String(d.outcome ?? 'finished')}${typeof d.seconds === 'number' ? ` after ${formatSeconds(d.seconds)}` : ''}${e.text ? `: ${e.text}` : ''}`;
    case 'step.confirmed':
      return `${step}${d.ok ? 'confirmed' : 'answered no'} by ${e.by ?? '?'}${d.auto ? ' (--yes)' : ''}${e.text ? `: ${e.text}` : ''}`;
    case 'decision':
      return `${step}${e.by ?? '?'} chose "${e.text ?? ''}"${d.next ? ` → ${String(d.next)}` : ''}${d.auto ? ' (automatic)' : ''}`;
    case 'note':
      return `note by ${e.by ?? '?'}: ${e.text ?? ''}`;
    case 'run.started':
      return `${step}run started${d.runId ? ` (${String(d.runId)})` : ''}`;
    case 'run.ended':
      return `${step}run ended: ${String(d.verdict ?? '?')}${e.text ? ` (${e.text})` : ''}`;
    case 'stop.requested':
      return `stop requested by ${e.by ?? '?'}${e.text ? `: ${e.text}` : ''}${d.rollback === 'skipped' ? ' (rest of the rollback skipped)' : ''}`;
    case 'rollback.started':
      return `rollback plan started${e.text ? ` (${e.text})` : ''}`;
    case 'rollback.finished':
      return `rollback plan finished: ${String(d.outcome ?? 'done')}${e.text ? ` (${e.text})` : ''}`;
    case 'criterion':
      return d.source === 'judged'
        ? `criterion ${String(d.id ?? '?')} judged ${String(d.verdict ?? '?')} by ${e.by ?? '?'}${e.text ? `: ${e.text}` : ''}`
        : `criterion ${String(d.id ?? '?')}: ${String(d.verdict ?? '?')}${d.measured ? ` (${String(d.measured)})` : ''}`;
    case 'gameday.ended':
      return `game day ended: ${String(d.status ?? '')}${e.text ? ` (${e.text})` : ''}`;
  }
}

/** `HH:MM:SS` of an ISO time (UTC) and its offset from the start. */
function clock(iso: string, startedAt: string | undefined): { time: string; offset: string } {
  const t = Date.parse(iso);
  const t0 = startedAt ? Date.parse(startedAt) : Number.NaN;
  const time = Number.isNaN(t) ? iso : new Date(t).toISOString().slice(11, 19);
  const offset = Number.isNaN(t) || Number.isNaN(t0) ? '' : `+${formatSeconds(Math.max(0, (t - t0) / 1000))}`;
  return { time, offset };
}

interface RunRow {
  step: string;
  runId: string;
  link?: string;
  verdict: string;
  reason?: string;
  duration: string;
  recovery: string;
  errorRate: string;
}

function runRows(runs: readonly StepRun[]): RunRow[] {
  return runs.map((r) => {
    const v = runVerdict(r.journal);
    const load = loadOf(r.journal);
    const t = load?.totals;
    return {
      step: r.step,
      runId: r.runId ?? r.journal.faultline.run_id,
      ...(r.link ? { link: r.link } : {}),
      verdict: v.kind,
      ...(v.reason ? { reason: v.reason } : {}),
      duration: formatSeconds(r.journal.duration),
      recovery: recoveryText(recoveryOf(r.journal)).text,
      errorRate:
        t && t.requests > 0
          ? `${(((t.requests - t.successes) / t.requests) * 100).toFixed(2)}% of ${t.requests} requests`
          : 'no load',
    };
  });
}

/** Links only to http(s) pages and paths (a journal's file, the run's page): never `javascript:` or `data:`. */
function safeHref(link: string | undefined): boolean {
  return link !== undefined && (/^https?:\/\//i.test(link) || !/^\s*[a-z][a-z0-9+.-]*:/i.test(link));
}

function rollbackEvents(state: GameDayState): TimelineEvent[] {
  const start = state.timeline.findIndex((e) => e.type === 'rollback.started');
  if (start < 0) return [];
  const end = state.timeline.findIndex((e, i) => i > start && e.type === 'rollback.finished');
  return state.timeline.slice(start, end < 0 ? undefined : end + 1);
}

function duration(state: GameDayState): string {
  if (!state.startedAt || !state.endedAt) return '-';
  return formatSeconds((Date.parse(state.endedAt) - Date.parse(state.startedAt)) / 1000);
}

// The run report's look (report/html.ts), plus what a game day adds: its status banner (failed is the run
// report's red), the plan's facts, long text, notes and
// stops picked out in the timeline, closed follow-ups.
const CSS = `${REPORT_CSS}
.v-finished{background:var(--ok)}.v-stopped{background:var(--warn)}.v-pending,.v-running,.v-stopping,.v-rolling-back{background:var(--info)}
dl.plan{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}dl.plan dt{color:var(--muted)}dl.plan dd{margin:0;white-space:pre-wrap}
td.text,p.text{white-space:pre-wrap;word-break:break-word}.not-met{color:var(--bad);font-weight:600}.unknown,.manual{color:var(--warn);font-weight:600}.met{font-weight:600}
tr.ev-note td{background:#fff8c5}tr.ev-stop-requested td,tr.ev-rollback-started td{background:#ffebe9}
.closed{color:var(--muted);text-decoration:line-through}
`;

function htmlTable(head: string[], rows: string[][], cls = '', rowClass?: (i: number) => string): string {
  if (rows.length === 0) return '<p class="facts">None.</p>';
  const tr = (i: number) => (rowClass ? `<tr class="${rowClass(i)}">` : '<tr>');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((x) => `<th>${h(x)}</th>`).join('')}</tr></thead><tbody>${rows.map((r, i) => `${tr(i)}${r.join('')}</tr>`).join('')}</tbody></table>`;
}

function renderHtml(state: GameDayState, followUps: readonly FollowUp[]): string {
  const p = state.plan;
  const out: string[] = [];
  out.push(`<h1>${h(p.title)}</h1>`);
  out.push(
    `<div class="verdict v-${h(state.status)}" data-status="${h(state.status)}"><div class="label">${h(state.status.toUpperCase())}</div>` +
      `<p>game day ${h(p.name)} · started ${h(state.startedAt ?? '-')} · ended ${h(state.endedAt ?? '-')} · ${h(duration(state))}</p>` +
      `${(() => {
        const end = state.timeline.findLast((e) => e.type === 'gameday.ended');
        return end?.text ? `<p>${h(end.text)}</p>` : '';
      })()}</div>`,
  );
  out.push(
    `<dl class="plan"><dt>Objective</dt><dd>${h(p.objective)}</dd><dt>Hypothesis</dt><dd>${h(p.hypothesis)}</dd></dl>`,
  );
  out.push('<h2>Participants</h2>');
  out.push(
    htmlTable(
      ['Name', 'Role', 'Contact'],
      p.participants.map((x) => [
        `<td>${h(x.name)}</td>`,
        `<td>${h(x.role)}</td>`,
        `<td>${h(x.contact ?? '')}</td>`,
      ]),
    ),
  );
  out.push('<h2>Success criteria</h2>');
  out.push(
    htmlTable(
      ['Criterion', 'Verdict', 'Measured', 'Detail'],
      state.criteria.map((c) => [
        `<td><code>${h(c.id)}</code> ${h(c.description)}</td>`,
        `<td class="${c.verdict}" data-criterion="${h(c.id)}" data-verdict="${c.verdict}">${h(HTML_MARK[c.verdict])}</td>`,
        `<td>${h(c.measured ?? '-')}</td>`,
        `<td class="text">${h(c.detail ?? '')}</td>`,
      ]),
      'criteria',
    ),
  );
  out.push('<h2>Timeline</h2>');
  out.push(
    htmlTable(
      ['Time (UTC)', 'From start', 'Who', 'What'],
      state.timeline.map((e) => {
        const c = clock(e.at, state.startedAt);
        return [
          `<td><time datetime="${h(e.at)}">${h(c.time)}</time></td>`,
          `<td>${h(c.offset)}</td>`,
          `<td>${h(e.by ?? '')}</td>`,
          `<td class="text">${h(describeEvent(e))}</td>`,
        ];
      }),
      'timeline',
      // Notes, stops and the rollback stand out in a long timeline.
      (i) => `ev-${state.timeline[i]?.type.replace('.', '-') ?? ''}`,
    ),
  );
  const notes = state.timeline.filter((e) => e.type === 'note' || (e.type === 'step.confirmed' && e.text));
  out.push('<h2>Notes</h2>');
  out.push(
    htmlTable(
      ['Time (UTC)', 'Who', 'Step', 'Note'],
      notes.map((e) => [
        `<td><time datetime="${h(e.at)}">${h(clock(e.at, state.startedAt).time)}</time></td>`,
        `<td>${h(e.by ?? '')}</td>`,
        `<td>${h(e.step ?? '')}</td>`,
        `<td class="text">${h(e.text ?? '')}</td>`,
      ]),
      'notes',
    ),
  );
  out.push('<h2>Runs and measurements</h2>');
  out.push(
    htmlTable(
      ['Step', 'Run', 'Verdict', 'Duration', 'Recovery', 'Error rate'],
      runRows(state.runs).map((r) => [
        `<td>${h(r.step)}</td>`,
        `<td>${safeHref(r.link) ? `<a href="${h(r.link ?? '')}"><code>${h(r.runId)}</code></a>` : `<code>${h(r.runId)}</code>`}</td>`,
        `<td class="text">${h(r.verdict)}${r.reason ? `: ${h(r.reason)}` : ''}</td>`,
        `<td>${h(r.duration)}</td>`,
        `<td class="text">${h(r.recovery)}</td>`,
        `<td>${h(r.errorRate)}</td>`,
      ]),
      'runs',
    ),
  );
  out.push('<h2>Rollback</h2>');
  if (p.rollback?.description) out.push(`<p class="text">${h(p.rollback.description)}</p>`);
  const rb = rollbackEvents(state);
  out.push(
    rb.length === 0
      ? '<p class="facts">The rollback plan did not run.</p>'
      : htmlTable(
          ['Time (UTC)', 'Who', 'What'],
          rb.map((e) => [
            `<td><time datetime="${h(e.at)}">${h(clock(e.at, state.startedAt).time)}</time></td>`,
            `<td>${h(e.by ?? '')}</td>`,
            `<td class="text">${h(describeEvent(e))}</td>`,
          ]),
          'rollback',
        ),
  );
  out.push('<h2>Follow-up actions</h2>');
  out.push(
    followUps.length === 0
      ? '<p class="facts">None.</p>'
      : `<ul class="follow-ups">${followUps
          .map(
            (f) =>
              `<li class="${f.state}">${h(f.text)}${f.owner ? ` (owner ${h(f.owner)})` : ''}${f.state === 'closed' ? ` — closed${f.closedBy ? ` by ${h(f.closedBy)}` : ''}${f.closedAt ? ` ${h(f.closedAt)}` : ''}` : ''}</li>`,
          )
          .join('')}</ul>`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${h(`Game day: ${p.title}`)}</title>
<style>${CSS}</style>
</head>
<body><main>
${out.join('\n')}
<footer>Faultline game-day report</footer>
</main></body>
</html>
`;
}

function mdTable(head: string[], rows: string[][]): string[] {
  return rows.length === 0 ? ['None.'] : markdownTable(head, rows);
}

function renderMarkdown(state: GameDayState, followUps: readonly FollowUp[]): string {
  const p = state.plan;
  const out: string[] = [];
  const end = state.timeline.findLast((e) => e.type === 'gameday.ended');
  out.push(`# Game day: ${md(p.title)}`, '');
  out.push(
    `**${md(state.status.toUpperCase())}**${end?.text ? ` (${md(end.text)})` : ''} · \`${md(p.name)}\` · started ${md(state.startedAt ?? '-')} · ended ${md(state.endedAt ?? '-')} · ${md(duration(state))}`,
    '',
  );
  out.push(`**Objective:** ${md(p.objective)}`, '', `**Hypothesis:** ${md(p.hypothesis)}`, '');
  out.push('## Participants', '');
  out.push(
    ...mdTable(
      ['Name', 'Role', 'Contact'],
      p.participants.map((x) => [md(x.name), md(x.role), md(x.contact ?? '')]),
    ),
    '',
  );
  out.push('## Success criteria', '');
  out.push(
    ...mdTable(
      ['Criterion', 'Verdict', 'Measured', 'Detail'],
      state.criteria.map((c) => [
        `${md(c.id)}: ${md(c.description)}`,
        VERDICT_MARK[c.verdict],
        md(c.measured ?? '-'),
        md(c.detail ?? ''),
      ]),
    ),
    '',
  );
  out.push('## Timeline', '');
  out.push(
    ...mdTable(
      ['Time (UTC)', 'From start', 'Who', 'What'],
      state.timeline.map((e) => {
        const c = clock(e.at, state.startedAt);
        return [md(c.time), md(c.offset), md(e.by ?? ''), md(describeEvent(e))];
      }),
    ),
    '',
  );
  const notes = state.timeline.filter((e) => e.type === 'note' || (e.type === 'step.confirmed' && e.text));
  out.push('## Notes', '');
  out.push(
    ...mdTable(
      ['Time (UTC)', 'Who', 'Step', 'Note'],
      notes.map((e) => [
        md(clock(e.at, state.startedAt).time),
        md(e.by ?? ''),
        md(e.step ?? ''),
        md(e.text ?? ''),
      ]),
    ),
    '',
  );
  out.push('## Runs and measurements', '');
  out.push(
    ...mdTable(
      ['Step', 'Run', 'Verdict', 'Duration', 'Recovery', 'Error rate'],
      runRows(state.runs).map((r) => [
        md(r.step),
        `${md(r.runId)}${r.link ? ` (${md(r.link)})` : ''}`,
        md(`${r.verdict}${r.reason ? `: ${r.reason}` : ''}`),
        md(r.duration),
        md(r.recovery),
        md(r.errorRate),
      ]),
    ),
    '',
  );
  out.push('## Rollback', '');
  if (p.rollback?.description) out.push(md(p.rollback.description), '');
  const rb = rollbackEvents(state);
  if (rb.length === 0) out.push('The rollback plan did not run.', '');
  else
    out.push(
      ...mdTable(
        ['Time (UTC)', 'Who', 'What'],
        rb.map((e) => [md(clock(e.at, state.startedAt).time), md(e.by ?? ''), md(describeEvent(e))]),
      ),
      '',
    );
  out.push('## Follow-up actions', '');
  if (followUps.length === 0) out.push('None.');
  for (const f of followUps)
    out.push(
      `- [${f.state === 'closed' ? 'x' : ' '}] ${md(f.text)}${f.owner ? ` (owner ${md(f.owner)})` : ''}${f.state === 'closed' && f.closedBy ? ` (closed by ${md(f.closedBy)}${f.closedAt ? ` ${md(f.closedAt)}` : ''})` : ''}`,
    );
  return `${out.join('\n')}\n`;
}

/**
 * Renders the report. Without `followUps`, the plan's own follow-up actions are listed (all open).
 *
 * @example
 * writeFileSync('gameday.html', renderGameDayReport('html', session.state()));
 */
export function renderGameDayReport(
  format: 'html' | 'markdown',
  state: GameDayState,
  followUps?: readonly FollowUp[],
): string {
  const fu = followUps ?? planFollowUps(state);
  return format === 'html' ? renderHtml(state, fu) : renderMarkdown(state, fu);
}
