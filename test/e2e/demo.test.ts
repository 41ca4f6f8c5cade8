/**
 * End to end: `faultline demo` with the built CLI (run `npm run build` first).
 * The demo starts its system in-process, runs examples/demo/experiment.yaml
 * on it, and writes the journal and the HTML report to --out. The normal demo
 * deviates under the 503 fault and recovers; `--breach` trips the safeguard.
 * Either way it exits with the experiment's exit code (what the report's
 * banner says: 1) and leaves nothing in the ledger. Nothing here depends on
 * how busy the machine is: the verdict judges orders served, not latency
 * (issue #12 item 12); this file must pass with `stress-ng --cpu 2` running.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Journal } from '../../src/core/journal.js';
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
  const reportPath = join(out, 'report.html');
  const journalPath = join(out, 'journal.json');
  assert.ok(existsSync(reportPath), `no report at ${reportPath}\n${detail}`);
  assert.ok(existsSync(journalPath), `no journal at ${journalPath}\n${detail}`);
  assert.match(r.stderr, new RegExp(`report: ${reportPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as Journal;
  const html = await readFile(reportPath, 'utf8');
  // One story: the exit code is the one the report's banner and the summary state.
  const banner = /exit code (\d)/.exec(html)?.[1];
  assert.equal(String(r.code), banner, `exit ${r.code} vs banner "exit code ${banner}"\n${detail}`);
  assert.match(r.stderr, new RegExp(`verdict: [A-Z]+, exit code ${r.code}`), detail);
  assert.match(
    r.stderr,
    new RegExp(`demo done in [\\d.]+ s; exit code ${r.code}: the experiment's verdict`),
    detail,
  );
  assert.equal(
    (r.stderr.match(/waiting for the steady state to recover/g) ?? []).length,
    1,
    `the recovery phase is announced once\n${detail}`,
  );
  return { r, journal, html, seconds, detail };
}

function checkCommon(r: { stderr: string }, journal: Journal, detail: string) {
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
  assert.ok(load.totals.requests > 250, `requests: ${load.totals.requests}`);
  assert.ok(load.series.length >= 8, `series: ${load.series.length} seconds`);
  // The latency fault shows in the latency series.
  assert.ok(
    load.series.some((s) => s.p99 >= 200),
    `a second with p99 >= 200 ms: ${load.series.map((s) => s.p99).join(', ')}`,
  );
  // Recovery read from the traffic that still flows after the faults were reverted.
  const rec = fl.recovery as { mttr?: number | null; method?: string; skipped?: string } | undefined;
  assert.ok(rec, 'recovery in the journal');
  assert.equal(rec.skipped, undefined, JSON.stringify(rec));
  assert.equal(rec.method, 'traffic', JSON.stringify(rec));
  assert.equal(typeof rec.mttr, 'number', JSON.stringify(rec));
  assert.ok((rec.mttr as number) < 15);
  // The steady state held before the faults.
  assert.equal(journal.steady_states.before?.steady_state_met, true, detail);
  // The CLI's load line is the journal's totals.
  assert.match(
    r.stderr,
    new RegExp(`load: ${load.totals.requests} requests completed, ${load.totals.successes} succeeded`),
    detail,
  );
}

test('faultline demo: a real experiment on the in-process system; report, journal, summary', async () => {
  const out = join(work, 'demo');
  const { r, journal, html, seconds, detail } = await demo([], out);
  checkCommon(r, journal, detail);
  assert.equal(r.code, 1, `DEVIATED: exit 1\n${detail}`);
  assert.ok(
    journal.steady_states.during.some((s) => !s.steady_state_met),
    'a deviation during the method',
  );
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
  assert.match(html, /<svg/);
  // The summary.
  assert.match(r.stderr, /verdict: DEVIATED, exit code 1/);
  assert.match(
    r.stderr,
    /steady state \(orders served\): before met; while a fault was active NOT met \(\d+\/\d+ met, [^)]*\); after NOT met/,
  );
  assert.match(r.stderr, /faults: 2 injected .*, 2 reverted and verified/);
  assert.match(
    r.stderr,
    /recovery: Recovered (within )?[\d.]+ m?s after the faults were reverted \(read from the traffic in 100 ms slots/,
  );
  assert.match(r.stderr, /p99 latency \d+ ms before, up to \d+ ms \(charted, not judged\)/);
  assert.ok(seconds < 60, `the demo took ${seconds} s`);
});

test('faultline demo --breach: the safeguard stops the run, every fault is reverted', async () => {
  const out = join(work, 'breach');
  const { r, journal, html, detail } = await demo(['--breach'], out);
  checkCommon(r, journal, detail);
  assert.equal(journal.status, 'interrupted', detail);
  assert.equal(r.code, 1, `INTERRUPTED: exit 1\n${detail}`);
  const guard = journal.faultline.safeguard as { name: string; reverted_at?: string } | undefined;
  assert.equal(guard?.name, 'error-rate-below-50-percent');
  assert.ok(guard?.reverted_at, 'faults reverted at the breach');
  assert.match(html, /INTERRUPTED/);
  assert.match(r.stderr, /verdict: INTERRUPTED, exit code 1/);
  assert.match(r.stderr, /safeguard 'error-rate-below-50-percent' tripped at (0\.\d+)/);
  // The "during" figures include what tripped the safeguard (never "as low as 100.0%" beside a trip).
  const trip = Number(/tripped at (0\.\d+)/.exec(r.stderr)?.[1]);
  const low = Number(/as low as ([\d.]+)% while one was active/.exec(r.stderr)?.[1]);
  assert.ok(
    // Both figures are printed rounded (the trip to 3 decimals: 0.5625 shows as 0.563, the served
    // share to 1: 43.75% shows as 43.8%): half a unit of each.
    low <= (1 - trip) * 100 + 0.05 + 0.05 + 1e-9,
    `as low as ${low}% beside a trip at an error rate of ${trip}\n${detail}`,
  );
  // Stopped by a safeguard: the hypothesis row is not green.
  assert.doesNotMatch(html, /<td class="met">[^<]*run stopped by safeguard/);
  assert.match(r.stderr, /while a fault was active NOT met/);
});
