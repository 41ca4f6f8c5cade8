/** The JSON report: a summary document per run and over runs. */
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

test('one run: verdict, exit code, hypothesis, safeguard, recovery, load totals', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const doc = JSON.parse(renderReport('json', [load('safeguard-trip.json')], { now }));
  assert.equal(doc.faultline_report, 1);
  assert.equal(doc.generated_at, '2026-01-01T00:00:00.000Z');
  assert.deepEqual(doc.summary, { runs: 1, passed: 0, pass_rate: 0, mean_mttr: 1.012 });
  const run = doc.runs[0];
  assert.equal(run.verdict, 'interrupted');
  assert.equal(run.verdict_label, 'INTERRUPTED');
  assert.equal(run.exit_code, 1);
  assert.equal(run.safeguard.name, 'error-rate-guard');
  assert.equal(run.recovery.mttr, 1.012);
  assert.equal(run.load.requests, 415);
  assert.deepEqual(run.hypothesis[0].before, { value: 1, met: true });
  assert.equal(run.hypothesis[0].after, null);
  assert.equal(run.faults.length, 1);
  // A summary, not a copy: the per-second series stays in the journal.
  assert.ok(!JSON.stringify(doc).includes('"series"'));
});

test('several runs: pass rate and mean recovery time, oldest first', () => {
  const names = ['safeguard-trip.json', 'recovered.json', 'quickstart.json', 'during-deviation.json'];
  const doc = JSON.parse(renderReport('json', names.map(load)));
  assert.equal(doc.summary.runs, 4);
  // during-deviation.json missed 3 of 6 checks during the method with no tolerance: deviated (issue #12 item 1).
  assert.equal(doc.summary.passed, 2);
  assert.equal(doc.summary.pass_rate, 0.5);
  assert.deepEqual(
    doc.runs.map((r: { verdict: string }) => r.verdict),
    ['passed', 'passed', 'interrupted', 'deviated'],
  );
  assert.equal(doc.runs[0].mttr, undefined);
});
