/**
 * End to end: `faultline demo` with the built CLI (run `npm run build` first).
 * The demo starts its system in-process, runs examples/demo/experiment.yaml
 * on it, and writes the journal and the HTML report to --out. The normal demo
 * deviates under the 503 fault and recovers; `--breach` trips the safeguard.
 * Either way it exits 0 (it ran as designed) and leaves nothing in the ledger.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Journal } from '../../src/engine/journal.js';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;

before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-e2e-demo-'));
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left in the ledger');
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

interface LoadResult {
  totals: { requests: number; successes: number; status: Record<string, number> };
  series: { second: number; requests: number; p99: number; status: Record<string, number> }[];
}

async function demo(args: string[], out: string) {
  const started = Date.now();
  const r = await runCli(['demo', '--out', out, ...args], {
    env: { FAULTLINE_HOME: home.home },
    cwd: work,
  });
  const seconds = (Date.now() - started) / 1000;
  const detail = `exit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`;
  assert.equal(r.code, 0, detail);
  const reportPath = join(out, 'report.html');
  const journalPath = join(out, 'journal.json');
  assert.ok(existsSync(reportPath), `no report at ${reportPath}\n${detail}`);
  assert.ok(existsSync(journalPath), `no journal at ${journalPath}\n${detail}`);
  assert.match(r.stderr, new RegExp(`report: ${reportPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as Journal;
  const html = await readFile(reportPath, 'utf8');
  return { r, journal, html, seconds, detail };
}

function checkCommon(journal: Journal, detail: string) {
  const fl = journal.faultline;
  // Faults: both toxics injected, each reverted and verified.
  const targets = fl.faults.map((f) => f.target.split(' @ ')[0]);
  assert.deepEqual(targets, ['datastore/latency_downstream', 'datastore/http_abort_upstream'], detail);
  for (const f of fl.faults) {
    assert.equal(f.kind, 'proxy-toxic');
    assert.ok(f.reverted_at, `${f.target} reverted`);
    assert.equal(f.verified, true, `${f.target} verified`);
  }
  assert.deepEqual(fl.unreverted, []);
  // Load: traffic for the whole run, with its per-second series.
  const load = fl.load as LoadResult | undefined;
  assert.ok(load, 'load in the journal');
  assert.ok(load.totals.requests > 500, `requests: ${load.totals.requests}`);
  assert.ok(load.series.length >= 8, `series: ${load.series.length} seconds`);
  // The latency fault shows in the latency series.
  assert.ok(
    load.series.some((s) => s.p99 >= 200),
    `a second with p99 >= 200 ms: ${load.series.map((s) => s.p99).join(', ')}`,
  );
  // Recovery measured after the faults were reverted.
  const rec = fl.recovery as { mttr: number | null; checks: number } | undefined;
  assert.ok(rec, 'recovery in the journal');
  assert.equal(typeof rec.mttr, 'number', JSON.stringify(rec));
  assert.ok((rec.mttr as number) < 15);
  // The steady state held before and deviated during the faults.
  assert.equal(journal.steady_states.before?.steady_state_met, true, detail);
  assert.ok(
    journal.steady_states.during.some((s) => !s.steady_state_met),
    'a deviation during the method',
  );
}

test('faultline demo: a real experiment on the in-process system; report, journal, summary', async () => {
  const out = join(work, 'demo');
  const { r, journal, html, seconds, detail } = await demo([], out);
  checkCommon(journal, detail);
  // The 503 fault is still in place at the after-check: the verdict is DEVIATED, by design.
  assert.equal(journal.status, 'completed', detail);
  assert.equal(journal.deviated, true, detail);
  assert.equal(journal.steady_states.after?.steady_state_met, false);
  assert.equal(journal.faultline.safeguard, undefined, 'the safeguard did not trip');
  const load = journal.faultline.load as LoadResult;
  assert.ok((load.totals.status['5xx'] ?? 0) > 0, 'the 503 fault shows as 5xx answers');
  assert.deepEqual(
    journal.rollbacks.map((x) => [x.activity.name, x.status]),
    [['remove-every-toxic', 'succeeded']],
  );
  // The report: verdict first, the hypothesis table, charts.
  assert.match(html, /DEVIATED/);
  assert.match(html, /orders-served/);
  assert.match(html, /p99-latency-ms/);
  assert.match(html, /<svg/);
  // The summary.
  assert.match(r.stderr, /verdict: DEVIATED/);
  assert.match(r.stderr, /steady state: before met, during \d+\/\d+ checks met, after NOT met/);
  assert.match(r.stderr, /faults: 2 injected .*, 2 reverted and verified/);
  assert.match(
    r.stderr,
    /recovery: the steady state held again [\d.]+ ?m?s after the last fault was reverted/,
  );
  assert.match(r.stderr, /p99 latency: \d+ ms before the faults, up to \d+ ms during/);
  assert.ok(seconds < 30, `the demo took ${seconds} s`);
});

test('faultline demo --breach: the safeguard stops the run, every fault is reverted', async () => {
  const out = join(work, 'breach');
  const { r, journal, html, detail } = await demo(['--breach'], out);
  checkCommon(journal, detail);
  assert.equal(journal.status, 'interrupted', detail);
  const guard = journal.faultline.safeguard as { name: string; reverted_at?: string } | undefined;
  assert.equal(guard?.name, 'error-rate-below-50-percent');
  assert.ok(guard?.reverted_at, 'faults reverted at the breach');
  assert.match(html, /INTERRUPTED/);
  assert.match(r.stderr, /verdict: INTERRUPTED/);
  assert.match(r.stderr, /safeguard 'error-rate-below-50-percent' tripped/);
});
