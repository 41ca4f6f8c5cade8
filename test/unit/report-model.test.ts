/** What every report is built from: journal checks, the verdict, the hypothesis rows, the timeline. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Journal } from '../../src/engine/journal.js';
import { exitCodeFor } from '../../src/engine/run.js';
import { formatForPath, parseJournal, renderReport } from '../../src/report/index.js';
import { formatTolerance, hypothesisRows, timelineOf, trendOf, verdictOf } from '../../src/report/model.js';

const load = (name: string): Journal => {
  const r = parseJournal(
    JSON.parse(readFileSync(new URL(`../fixtures/report/${name}`, import.meta.url), 'utf8')),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.journal;
};
const NAMES = ['quickstart.json', 'recovered.json', 'during-deviation.json', 'safeguard-trip.json'];

test('parseJournal: a journal passes, anything else is refused with the paths at fault', () => {
  assert.equal(
    parseJournal(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))).ok,
    false,
  );
  const r = parseJournal({
    experiment: { title: 't' },
    start: 'x',
    status: 'done',
    deviated: false,
    run: [],
  });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.issues.some((i) => i.path === 'status'));
  assert.equal(parseJournal([]).ok, false);
  assert.equal(parseJournal(null).ok, false);
});

test('parseJournal: a Chaos Toolkit journal without `faultline` is accepted and filled in', () => {
  const r = parseJournal({
    experiment: { title: 'ctk' },
    start: '2024-01-01T00:00:00.000000+00:00',
    status: 'completed',
    deviated: false,
    steady_states: { before: null, after: null, during: [] },
    run: [],
  });
  assert.ok(r.ok);
  assert.deepEqual(r.journal.faultline.faults, []);
  assert.deepEqual(r.journal.rollbacks, []);
  for (const f of ['html', 'markdown', 'junit', 'json']) assert.ok(renderReport(f, [r.journal]).length > 0);
});

test('verdictOf agrees with the exit code of `faultline run`', () => {
  for (const name of NAMES) {
    const j = load(name);
    const variants: Journal[] = [j];
    const dev = structuredClone(j);
    dev.deviated = true;
    variants.push(dev);
    const unrev = structuredClone(j);
    unrev.faultline.unreverted = j.faultline.faults;
    variants.push(unrev);
    const refused = structuredClone(j);
    refused.faultline.blast_radius = { policies: [], violation: 'too many targets' };
    refused.status = 'aborted';
    variants.push(refused);
    for (const v of variants) assert.equal(verdictOf(v).exitCode, exitCodeFor(v), `${name}`);
  }
  assert.equal(verdictOf(load('quickstart.json')).kind, 'passed');
  assert.equal(verdictOf(load('safeguard-trip.json')).kind, 'interrupted');
  // Misses during the method count in the verdict (issue #12 item 1); engine/verdict.ts's table tests the rule.
  const during = verdictOf(load('during-deviation.json'));
  assert.equal(during.kind, 'deviated');
  assert.match(
    during.reasons[0] ?? '',
    /not met in 3 of 6 checks during the method \(tolerated: at most 0\)/,
  );
});

test('hypothesis rows: one per probe with before, during and after', () => {
  const rows = hypothesisRows(load('during-deviation.json'));
  assert.deepEqual(
    rows.map((r) => r.probe),
    ['success-ratio', 'p99-latency-ms'],
  );
  assert.equal(rows[0]?.during.length, 6);
  assert.equal(rows[0]?.before?.met, true);
  assert.equal(rows[0]?.during.filter((c) => c.met === false).length, 3);
  assert.equal(formatTolerance({ type: 'range', range: [0.9, 1] }), 'range [0.9, 1]');
  assert.equal(formatTolerance(200), '200');
});

test('timeline: fault windows, markers and the load series in seconds from the start', () => {
  const tl = timelineOf(load('safeguard-trip.json'));
  assert.equal(tl.windows.length, 1);
  const w = tl.windows[0];
  assert.ok(w && w.from > 2 && w.to > w.from && w.to < 4, JSON.stringify(w));
  assert.deepEqual(tl.markers.map((m) => m.kind).sort(), ['recovered', 'rollback', 'safeguard']);
  assert.ok(tl.series.length >= 4);
  assert.ok(
    tl.series.some((p) => (p.errorRate ?? 0) > 0.2),
    'the fault shows in the error rate',
  );
  assert.ok(tl.span >= 4);
});

test('trend: pass rate and mean recovery time over runs, oldest first', () => {
  const t = trendOf(NAMES.map(load).reverse());
  assert.equal(t.runs.length, 4);
  assert.equal(t.passed, 2, 'during-deviation.json deviated during the method');
  assert.equal(t.passRate, 0.5);
  assert.ok(t.meanMttr !== null && t.meanMttr > 0.9 && t.meanMttr < 1.1);
  assert.equal(t.runs[0]?.title, load('quickstart.json').experiment.title);
});

test('formatForPath picks the format from the extension', () => {
  assert.equal(formatForPath('out/report.HTML'), 'html');
  assert.equal(formatForPath('junit.xml'), 'junit');
  assert.equal(formatForPath('summary.md'), 'markdown');
  assert.equal(formatForPath('r.json'), 'json');
  assert.equal(formatForPath('r.pdf'), undefined);
  assert.throws(() => renderReport('pdf', []), /unknown report format 'pdf'/);
});
