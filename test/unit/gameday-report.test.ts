/**
 * The game-day report (HTML and Markdown): every section, the timeline with timestamps and who, the runs'
 * measurements from a recorded journal, follow-ups, and hostile text (in the plan, notes, judgements, run
 * links) rendered as text: no markup, no script, no terminal escapes, no broken Markdown table.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Journal } from '../../src/core/journal.js';
import { parsePlan } from '../../src/gameday/plan.js';
import { describeEvent, planFollowUps, renderGameDayReport } from '../../src/gameday/report.js';
import { GameDaySession, type GameDayState, TIMELINE_EVENT_TYPES } from '../../src/gameday/session.js';
import { parseJournal } from '../../src/report/index.js';

const journal = (): Journal => {
  const r = parseJournal(
    JSON.parse(readFileSync(new URL('../fixtures/report/recovered.json', import.meta.url), 'utf8')),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.journal;
};

const EVIL = '<script>alert(1)</script> | **bold** [x](javascript:alert(2)) \x1b[31mred\n# heading';

async function hostileState(): Promise<GameDayState> {
  const r = parsePlan(
    JSON.stringify({
      name: 'evil-day',
      title: `Title ${EVIL}`,
      objective: `Objective ${EVIL}`,
      hypothesis: `Hypothesis ${EVIL}`,
      participants: [
        { name: '<img src=x onerror=alert(3)>', role: 'incident-commander', contact: EVIL },
        { name: 'bob', role: 'scribe' },
      ],
      steps: [
        { id: 'check', kind: 'manual', title: EVIL, owner: 'scribe' },
        { id: 'run-it', kind: 'experiment', experiment: 'x.yaml', owner: 'bob' },
      ],
      success_criteria: [
        {
          id: 'fast',
          description: `Fast ${EVIL}`,
          measure: { kind: 'recovery_time', step: 'run-it', max: '2s' },
        },
        {
          id: 'errors',
          description: 'Errors under 1%',
          measure: { kind: 'error_rate', step: 'run-it', max: 0.01 },
        },
        { id: 'comms', description: 'Comms', measure: { kind: 'manual' } },
      ],
      rollback: { description: `Rollback ${EVIL}`, steps: [{ id: 'undo', kind: 'manual' }] },
      follow_ups: [EVIL, { text: 'Alert sooner', owner: 'bob' }],
    }),
    'evil.json',
  );
  if (!r.ok) assert.fail(JSON.stringify(r.issues));
  let t = Date.parse('2026-12-07T10:00:00Z');
  const session = new GameDaySession(
    r.plan,
    {
      confirm: async () => ({ by: 'bob', ok: true, note: `confirmed ${EVIL}` }),
      decide: async () => ({ by: 'x', choice: 'x' }),
      runExperiment: async (_step, _signal, started) => {
        started('run-1');
        return { step: 'run-it', runId: 'run-1', journal: journal(), link: 'javascript:alert(4)' };
      },
    },
    {
      now: () => {
        t += 1500;
        return new Date(t);
      },
    },
  );
  session.note('bob', `note ${EVIL}`);
  const state = await session.run();
  session.judge('bob', 'comms', false, `judged ${EVIL}`);
  return { ...session.state(), status: state.status };
}

test('HTML: every section, self-contained, hostile text escaped, no script and no javascript: link', async () => {
  const state = await hostileState();
  const html = renderGameDayReport('html', state);
  for (const h of [
    'Participants',
    'Success criteria',
    'Timeline',
    'Notes',
    'Runs and measurements',
    'Rollback',
    'Follow-up actions',
  ])
    assert.ok(html.includes(`<h2>${h}</h2>`), h);
  assert.match(html, /<dt>Objective<\/dt><dd>Objective &lt;script&gt;/);
  assert.match(
    html,
    /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">/,
  );
  assert.doesNotMatch(html, /<script|<img|javascript:alert\(4\)"|href="javascript/i);
  assert.doesNotMatch(html, /\x1b/);
  assert.ok(html.includes('\\x1b[31mred'), 'control characters are shown as escapes');
  assert.ok(html.includes('&lt;img src=x onerror=alert(3)&gt;'));
  // The timeline: UTC time, offset from the start, who, what.
  assert.match(
    html,
    /<tr class="ev-note"><td><time datetime="2026-12-07T10:00:0\d\.\d{3}Z">10:00:0\d<\/time><\/td><td>\+[\d.]+ m?s<\/td><td>bob<\/td><td class="text">note by bob: note &lt;script&gt;/,
  );
  // Criteria verdicts, from the recorded run and the judgement.
  assert.match(html, /data-criterion="fast" data-verdict="met">✓ met<\/td><td>1\.02 s<\/td>/);
  assert.match(html, /data-criterion="errors" data-verdict="not-met">✗ not met<\/td><td>25\.74%<\/td>/);
  assert.match(html, /data-criterion="comms" data-verdict="not-met"/);
  // The run: its id (not linked: the link was not http(s) or a path), verdict, recovery, error rate.
  assert.match(html, /<td>run-it<\/td><td><code>run-1<\/code><\/td><td class="text">passed<\/td>/);
  assert.match(html, /25\.74% of 610 requests/);
  assert.match(html, /<li class="open">&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(html, /<li class="open">Alert sooner \(owner bob\)<\/li>/);
});

test('HTML: run links to journals and http(s) pages; closed follow-ups say who closed them', async () => {
  const state = await hostileState();
  state.runs = [
    { ...state.runs[0]!, link: '/tmp/journals/run-it.json' },
    { ...state.runs[0]!, link: 'https://faultline.example/runs/1' },
  ];
  const html = renderGameDayReport('html', state, [
    { id: 'f1', text: 'Alert sooner', state: 'closed', closedBy: 'alice', closedAt: '2026-12-08T09:00:00Z' },
  ]);
  assert.ok(html.includes('<a href="/tmp/journals/run-it.json"><code>run-1</code></a>'));
  assert.ok(html.includes('<a href="https://faultline.example/runs/1"><code>run-1</code></a>'));
  assert.match(html, /<li class="closed">Alert sooner — closed by alice 2026-12-08T09:00:00Z<\/li>/);
});

test('Markdown: the same sections; hostile text cannot add markup, rows or lines', async () => {
  const state = await hostileState();
  const md = renderGameDayReport('markdown', state);
  assert.ok(md.startsWith('# Game day: Title &lt;script&gt;'));
  for (const h of [
    '## Participants',
    '## Success criteria',
    '## Timeline',
    '## Notes',
    '## Runs and measurements',
    '## Rollback',
    '## Follow-up actions',
  ])
    assert.ok(md.includes(`\n${h}\n`), h);
  assert.doesNotMatch(md, /<script|<img/);
  assert.doesNotMatch(md, /\x1b/);
  assert.doesNotMatch(md, /^# heading/m, 'a newline in a note does not start a heading');
  // Every table row has as many cells as its header: a `|` in a note is escaped.
  const lines = md.split('\n');
  let cells = 0;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      cells = 0;
      continue;
    }
    const n = line.split(/(?<!\\)\|/).length;
    if (cells === 0) cells = n;
    else assert.equal(n, cells, line);
  }
  assert.match(md, /\| fast: Fast .* \| ✅ met \| 1\.02 s \|/);
  assert.match(md, /- \[ \] &lt;script&gt;/);
  assert.match(md, /- \[ \] Alert sooner \(owner bob\)/);
  assert.match(md, /\| run-it \| run-1 \(javascript:alert\(4\)\) \| passed \|/);
});

test('every timeline event type has a sentence; the plan follow-ups start open', async () => {
  for (const type of TIMELINE_EVENT_TYPES) {
    const s = describeEvent({
      seq: 1,
      at: '2026-12-07T10:00:00.000Z',
      type,
      step: 's',
      by: 'bob',
      text: 't',
      data: {},
    });
    assert.ok(s.length > 3 && !s.includes('undefined'), `${type}: ${s}`);
  }
  const state = await hostileState();
  assert.deepEqual(
    planFollowUps(state).map((f) => [f.id, f.state, f.owner ?? null]),
    [
      ['plan-1', 'open', null],
      ['plan-2', 'open', 'bob'],
    ],
  );
});
