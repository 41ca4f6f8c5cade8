/** What every report is built from: journal checks, the verdict, the hypothesis rows, the timeline. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Journal } from '../../src/core/journal.js';
import { exitCodeFor } from '../../src/engine/run.js';
import { formatForPath, parseJournal, renderReport } from '../../src/report/index.js';
import {
  duringState,
  duringText,
  formatTolerance,
  type HypothesisRow,
  hypothesisRows,
  methodChecks,
  recoveryText,
  timelineOf,
  trafficByFault,
  trendOf,
  verdictOf,
} from '../../src/report/model.js';

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
  // Misses during the method count in the verdict (issue #12 item 1); core/verdict.ts's table tests the rule.
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
  // 6 checks during the method: 3 made while the fault was active, 3 with none active (issue #12 item 4).
  assert.equal(rows[0]?.during.length, 3);
  assert.equal(rows[0]?.outside.length, 3);
  assert.equal(methodChecks(rows[0] as HypothesisRow).length, 6);
  assert.equal(rows[0]?.before?.met, true);
  assert.equal(methodChecks(rows[0] as HypothesisRow).filter((c) => c.met === false).length, 3);
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

// ------------------------------------------------------------ issue #12 item 4: reports tell the truth

test('timeline: a fault window never starts after its effect shows (load placed by its own start, points at the end of their second)', () => {
  const j = structuredClone(load('safeguard-trip.json'));
  const t0 = Date.parse(j.start.replace(/(\.\d{3})\d+/, '$1'));
  // The load started 0.6 s after the run (resources start after configuration), and the fault took
  // effect 3.2 s in: the load's second 2 (3.2 s .. 3.6 s of it under the fault) already shows it.
  const load_ = j.faultline.load as {
    started_at?: string;
    series: { second: number; requests: number; successes: number }[];
  };
  load_.started_at = new Date(t0 + 600).toISOString();
  const f = j.faultline.faults[0];
  assert.ok(f);
  f.injected_at = new Date(t0 + 3200).toISOString();
  f.reverted_at = new Date(t0 + 4300).toISOString();
  for (const s of load_.series)
    s.successes = s.second === 2 || s.second === 3 ? Math.floor(s.requests / 2) : s.requests;
  const tl = timelineOf(j);
  const w = tl.windows[0];
  assert.ok(w);
  const affected = tl.series.filter((p) => (p.errorRate ?? 0) > 0.2);
  assert.ok(affected.length >= 2, JSON.stringify(tl.series));
  for (const p of affected) assert.ok(p.t >= w.from, `effect at ${p.t} s before the window from ${w.from} s`);
  assert.deepEqual(
    tl.series.map((p) => p.t),
    load_.series.map((s) => 0.6 + s.second + 1),
  );
});

test('hypothesis: a check made before the fault is not counted among the "during" values', () => {
  const j = load('during-deviation.json');
  const f = j.faultline.faults[0];
  const from = Date.parse(String(f?.injected_at).replace(/(\.\d{3})\d+/, '$1'));
  const to = Date.parse(String(f?.reverted_at).replace(/(\.\d{3})\d+/, '$1'));
  for (const r of hypothesisRows(j)) {
    for (const c of r.during) {
      const t = Date.parse(String(c.start).replace(/(\.\d{3})\d+/, '$1'));
      assert.ok(t >= from && t <= to, `${r.probe}: a "during" check at ${c.start} outside the fault window`);
    }
    for (const c of r.outside) {
      const t = Date.parse(String(c.start).replace(/(\.\d{3})\d+/, '$1'));
      assert.ok(t < from || t > to, `${r.probe}: a check at ${c.start} under the fault counted outside it`);
    }
  }
  const row = hypothesisRows(j)[0] as HypothesisRow;
  assert.equal(duringText(j, row), '1/3 met, 0.457 .. 1; 2/3 met with no fault active');
});

test('hypothesis: a run stopped by a safeguard never shows a green "during" cell', () => {
  const j = load('safeguard-trip.json');
  const rows = hypothesisRows(j);
  assert.ok(rows.length > 0);
  for (const r of rows) {
    // Every check the run made held (they were all made before the fault), yet the safeguard stopped it.
    assert.ok([...r.during, ...r.outside].every((c) => c.met === true));
    assert.equal(duringState(j, r), 'unmet', r.probe);
    assert.match(duringText(j, r), /run stopped by safeguard 'error-rate-guard' at 0\.409/);
  }
  const html = renderReport('html', [j]);
  assert.doesNotMatch(html, /<td class="met">[^<]*run stopped by safeguard/);
  assert.match(html, /<td class="unmet">[^<]*run stopped by safeguard/);
});

test('traffic while a fault was active includes the value that tripped the safeguard', () => {
  const j = load('safeguard-trip.json');
  const t = trafficByFault(j);
  // The per-second series peaks at a 35.9% error rate; the safeguard tripped on 40.9% over its own window.
  assert.ok(t.during && t.during.maxErrorRate >= 0.409, JSON.stringify(t));
  assert.ok(t.during && t.during.minSuccessRatio <= 1 - 0.409 + 1e-9, JSON.stringify(t));
  assert.equal(t.before?.successRatio, 1);
  assert.ok((t.before?.seconds ?? 0) >= 1);
});

test('recovery reads the same in every format: measured from the traffic, from the checks, skipped, not recovered', () => {
  const base = { faults_reverted_at: 'x', recovered_at: 'y', deadline: 15, checks: 3 };
  assert.equal(
    recoveryText({ ...base, mttr: 1.534, method: 'traffic', resolution: 0.1 }).text,
    'Recovered 1.53 s after the faults were reverted (read from the traffic in 100 ms slots, confirmed by 3 check(s); deadline 15 s).',
  );
  assert.match(
    recoveryText({ ...base, mttr: 0.03, method: 'traffic', resolution: 0.1 }).text,
    /^Recovered within 100 ms/,
  );
  assert.match(
    recoveryText({ ...base, mttr: 1.01 }).text,
    /^Recovered 1\.01 s .*\(first of 3 check\(s\) to hold; deadline 15 s\)/,
  );
  const skipped = recoveryText({ ...base, recovered_at: null, skipped: 'the load stopped sending' });
  assert.deepEqual(skipped, { state: 'skipped', text: 'Not measured: the load stopped sending.' });
  assert.equal(recoveryText({ ...base, recovered_at: null, mttr: null }).state, 'not-recovered');
  // JUnit: a recovery not measured is not a failure, and says why (Ant's schema has no <skipped>).
  const j = structuredClone(load('recovered.json'));
  j.faultline.recovery = {
    ...base,
    recovered_at: null,
    method: 'traffic',
    resolution: 0.1,
    skipped: 'no traffic',
  };
  const xml = renderReport('junit', [j]);
  assert.match(
    xml,
    /<testcase name="time to recover \(Not measured: no traffic\)" classname="recovery" time="0"\/>/,
  );
  assert.match(renderReport('markdown', [j]), /Not measured: no traffic\./);
});
