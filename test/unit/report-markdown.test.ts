/** The Markdown report: verdict first, the tables, escaping, several journals as a trend. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Journal } from '../../src/core/journal.js';
import { parseJournal, renderReport } from '../../src/report/index.js';

const load = (name: string): Journal => {
  const r = parseJournal(
    JSON.parse(readFileSync(new URL(`../fixtures/report/${name}`, import.meta.url), 'utf8')),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.journal;
};

test('one run: the verdict heads the report, then hypothesis, faults, safeguard, recovery, load', () => {
  const md = renderReport('markdown', [load('safeguard-trip.json')]);
  const lines = md.split('\n');
  assert.equal(lines[0], '## ⚠️ INTERRUPTED: Checkout under a degraded backend, guarded');
  assert.match(md, /- \*\*safeguard 'error-rate-guard' triggered the end of the experiment\*\*/);
  assert.match(md, /\| Probe \| Tolerance \| Before \| During \| After \|/);
  // The 3 checks were made before the fault; the safeguard stopped the run: no green "during" (issue #12 item 4).
  assert.match(
    md,
    /\| success-ratio \| range \\\[0\.9, 1\\\] \| ✅ 1 \| no check while a fault was active; 3\/3 met with no fault active; run stopped by safeguard 'error-rate-guard' at 0\.409 \| - \|/,
  );
  assert.match(md, /\| marker-file \| \/tmp\/rich\/degraded \| \+2\.31 s \| \+3\.29 s \| 980 ms \| ✅ \|/);
  assert.match(md, /### Safeguard tripped\n\n`error-rate-guard` at \+3\.22 s: value 0\.409/);
  // An older journal (no `method`): the first check that held; the sentence says so.
  assert.match(
    md,
    /Recovered 1\.01 s after the faults were reverted \(first of \d+ check\(s\) to hold; deadline \d+ s\)/,
  );
  assert.match(md, /\| rollback \| remove-flag \| no marker fault of this run/);
  assert.match(
    md,
    /\| 415 \| 90\.602% \| 100 \/ 100\.1 req\/s \| 0 \| 0 \| 0 \| 7\.499 ms \| 178\.6 ms \| 218\.3 ms \|/,
  );
  const order = [
    'INTERRUPTED',
    '### Hypothesis',
    '### Faults',
    '### Safeguard',
    '### Recovery',
    '### Load',
  ].map((s) => md.indexOf(s));
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );
  assert.ok(!order.includes(-1));
});

test('deviations during the method set the verdict; within the tolerance they are a warning', () => {
  const md = renderReport('markdown', [load('during-deviation.json')]);
  assert.match(md.split('\n')[0] ?? '', /^## ❌ DEVIATED: /);
  assert.match(
    md,
    /\*\*the steady state was not met in 3 of 6 checks during the method \(tolerated: at most 0\)\*\*/,
  );
  assert.match(md, /\| success-ratio \| .* \| 1\/3 met, 0\.457 \.\. 1; 2\/3 met with no fault active \|/);
  const tolerant = structuredClone(load('during-deviation.json'));
  tolerant.faultline.during_tolerance = { max_misses: 3, max_miss_ratio: 0 };
  const ok = renderReport('markdown', [tolerant]);
  assert.match(ok.split('\n')[0] ?? '', /^## ✅ PASSED: /);
  assert.match(
    ok,
    /⚠️ the steady state was not met in 3 of 6 checks during the method \(within the tolerance: at most 3\)/,
  );
});

test('journal strings cannot break the table or inject HTML', () => {
  const j = structuredClone(load('quickstart.json'));
  j.experiment.title = 'a | b <script>alert(1)</script> *bold* [link](http://x)';
  const p = j.steady_states.before?.probes[0];
  assert.ok(p);
  p.activity.name = 'probe|with\nnewline <img src=x>';
  const md = renderReport('markdown', [j]);
  assert.ok(!md.includes('<script>'));
  assert.ok(!md.includes('<img'));
  assert.match(
    md,
    /a \\\| b &lt;script&gt;alert\(1\)&lt;\/script&gt; \\\*bold\\\* \\\[link\\\]\(http:\/\/x\)/,
  );
  const row = md.split('\n').find((l) => l.startsWith('| probe'));
  assert.ok(row, md);
  // Five cells: the pipe in the name is escaped, the newline folded.
  assert.equal(row.split(/(?<!\\)\|/).length - 2, 5, row);
});

test('several journals: a trend table first, then each run', () => {
  const md = renderReport(
    'markdown',
    ['safeguard-trip.json', 'quickstart.json', 'recovered.json'].map(load),
    { title: 'Nightly chaos' },
  );
  assert.match(md, /^## Nightly chaos\n\n\*\*2\/3 passed\*\* \(66\.667%\), mean recovery time 1\.02 s/);
  const rows = md.split('\n').filter((l) => /^\| \d \|/.test(l));
  assert.equal(rows.length, 3);
  // Oldest first: the quickstart ran first.
  assert.match(rows[0] ?? '', /The demo service recovers/);
  assert.match(rows[2] ?? '', /⚠️ interrupted .* tripped: error-rate-guard \| 1\.01 s \| 178\.6 ms \|/);
  assert.equal(md.match(/<details>/g)?.length, 3);
});
