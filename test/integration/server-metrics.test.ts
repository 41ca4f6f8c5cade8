/**
 * The control plane's /metrics (issue #17 item 4) scraped by a real Prometheus (Debian package; the
 * tests skip, saying why, without it): the series and values the stored runs imply, label values
 * escaped, the emergency stop seen, every expression of docs/grafana-server-dashboard.json naming
 * exported metrics and running; and a server with users, which Prometheus scrapes with an API token as
 * its bearer while the same URL without one is refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../src/server/db/index.js';
import { METRICS_CACHE_MS, renderMetrics } from '../../src/server/trend-routes.js';
import { PROMETHEUS_SKIP, type RunningPrometheus, startPrometheus } from '../helpers/prometheus.js';
import { startTestServer, type TestServer } from '../helpers/serve.js';
import { startAuthServer } from '../helpers/serve-auth.js';
import { journalWith } from '../helpers/trend-journals.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
if (PROMETHEUS_SKIP) console.log(`# skipping the server metrics tests: ${PROMETHEUS_SKIP}`);

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(prom: RunningPrometheus, expr: string) {
  const r = await fetch(`${prom.base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await r.json()) as { status: string; error?: string; data?: { result: Sample[] } };
}

/** The value of the one series `expr` selects, once Prometheus has scraped it (and it equals `expected`). */
async function scrapedValue(prom: RunningPrometheus, expr: string, expected: number): Promise<void> {
  let last: string | undefined;
  try {
    await prom.waitFor(
      `${expr} = ${expected}`,
      async () => {
        const result = (await query(prom, expr)).data?.result ?? [];
        last = JSON.stringify(result);
        return result.length === 1 && Math.abs(Number(result[0]?.value[1]) - expected) < 1e-9;
      },
      60_000,
    );
  } catch (err) {
    throw new Error(`${expr}: expected ${expected}, Prometheus has ${last}\n${(err as Error).message}`);
  }
}

describe('server /metrics', { skip: PROMETHEUS_SKIP }, () => {
  let t: TestServer;
  let prom: RunningPrometheus;
  const weird = 'say "hi"\\ to\nthem';
  before(async () => {
    t = await startTestServer();
    const push = async (journal: unknown, experiment?: string) => {
      const r = await t.api('POST', '/api/runs/import', { journal, ...(experiment ? { experiment } : {}) });
      assert.equal(r.status, 201, r.text);
    };
    // metrics-a: two passed (recovered in 1 and 3 s), one deviated (did not recover); one pushed run
    // whose title needs escaping in a label.
    await push(journalWith({ mttr: 1 }), 'metrics-a');
    await push(journalWith({ mttr: 3 }), 'metrics-a');
    await push(journalWith({ mttr: null }), 'metrics-a');
    await push(journalWith({ title: weird }));
    prom = await startPrometheus([new URL(t.url).host]);
  });
  after(async () => {
    await prom?.stop();
    await t?.close();
  });

  test('the text: Prometheus 0.0.4, every family declared, label values escaped', async () => {
    const r = await fetch(`${t.url}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await r.text();
    assert.match(text, /^faultline_server_success_ratio\{experiment="metrics-a"\} 0\.6666666666666666$/m);
    assert.ok(
      text.includes('faultline_server_runs{experiment="say \\"hi\\"\\\\ to\\nthem",verdict="passed"} 1'),
      text,
    );
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#')))
      assert.match(line, /^faultline_server_[a-z_]+(\{.*\})? [0-9.e+-]+$/, line);
  });

  test('Prometheus scrapes it: the values the runs imply', async () => {
    await scrapedValue(prom, 'faultline_server_database_up', 1);
    await scrapedValue(prom, 'faultline_server_halted', 0);
    await scrapedValue(prom, 'faultline_server_trend_window_seconds', 30 * 86_400);
    await scrapedValue(prom, 'faultline_server_runs{experiment="", verdict="passed"}', 3);
    await scrapedValue(prom, 'faultline_server_runs{experiment="", verdict="deviated"}', 1);
    await scrapedValue(prom, 'faultline_server_runs{experiment="metrics-a", verdict="passed"}', 2);
    await scrapedValue(
      prom,
      `faultline_server_runs{experiment=${JSON.stringify(weird)}, verdict="passed"}`,
      1,
    );
    await scrapedValue(prom, 'faultline_server_success_ratio{experiment=""}', 0.75);
    await scrapedValue(prom, 'faultline_server_success_ratio{experiment="metrics-a"}', 2 / 3);
    // Recoveries 1 and 3 s: median 2, p90 at 0.9 of the way, 2.8.
    await scrapedValue(prom, 'faultline_server_recovery_seconds{experiment="metrics-a", quantile="0.5"}', 2);
    await scrapedValue(
      prom,
      'faultline_server_recovery_seconds{experiment="metrics-a", quantile="0.9"}',
      2.8,
    );
    await scrapedValue(prom, 'faultline_server_recovery_samples{experiment="metrics-a"}', 2);
    await scrapedValue(prom, 'faultline_server_blast_radius_targets{experiment=""}', 1);
    await scrapedValue(prom, 'faultline_server_runs_left_faults{experiment=""}', 0);
    // 100 x (0.6 x 2/3 + 0.25 x 60/62.8 + 0.15 x 1) = 78.9
    await scrapedValue(prom, 'faultline_server_resilience_score{experiment="metrics-a"}', 78.9);
    const none = await query(prom, 'faultline_server_recovery_seconds{experiment=~"say.*"}');
    assert.deepEqual(none.data?.result, [], 'no recovery series where none was measured');
  });

  test('the emergency stop shows as halted 1, then 0 once released', async () => {
    await t.store.raiseHalt({ by: 'metrics-test', reason: 'checking the gauge' });
    try {
      await scrapedValue(prom, 'faultline_server_halted', 1);
    } finally {
      await t.store.releaseHalt();
    }
    await scrapedValue(prom, 'faultline_server_halted', 0);
    assert.ok(METRICS_CACHE_MS <= 10_000, 'a scrape sees a change within the cache time');
  });

  test('every expression of docs/grafana-server-dashboard.json names exported metrics and runs', async () => {
    const dashboard = JSON.parse(
      await readFile(join(ROOT, 'docs', 'grafana-server-dashboard.json'), 'utf8'),
    ) as {
      panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { query?: unknown }[] };
    };
    const exported = await (await fetch(`${t.url}/metrics`)).text();
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((x) => [p.title, x.expr] as const));
    for (const v of dashboard.templating.list)
      if (typeof v.query === 'object' && v.query !== null)
        exprs.push(['variable', (v.query as { query: string }).query]);
    assert.ok(exprs.length >= 10);
    for (const [title, expr] of exprs) {
      const names = expr.match(/faultline_[a-z_]+/g) ?? [];
      assert.ok(names.length > 0, `${title}: ${expr} reads a faultline metric`);
      for (const name of names)
        assert.match(exported, new RegExp(`^# TYPE ${name} `, 'm'), `${title}: ${name} is exported`);
      if (expr.startsWith('label_values')) continue;
      const r = await query(prom, expr.replaceAll('$experiment', '.+'));
      assert.equal(r.status, 'success', `${title}: ${expr}: ${r.error}`);
      assert.ok((r.data?.result.length ?? 0) > 0, `${title}: ${expr} returns series`);
    }
  });
});

describe('server /metrics without its database', () => {
  test('database_up 0 and nothing the database would have said; back to 1 when it returns', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'faultline-metrics-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'faultline.db');
    const store = await openStore({ home: dir, database: file });
    t.after(() => store.close());
    assert.match(await renderMetrics(store, 0), /^faultline_server_database_up 1$/m);
    // The store notices a database file that went away (connect.ts check): a scrape says so.
    await rename(file, `${file}.away`);
    try {
      const down = await renderMetrics(store, 1);
      assert.match(down, /^faultline_server_database_up 0$/m);
      assert.match(down, /^faultline_server_runs_running_here 1$/m);
      assert.doesNotMatch(down, /faultline_server_(halted|success_ratio|runs) /);
    } finally {
      await rename(`${file}.away`, file);
    }
    assert.match(await renderMetrics(store, 0), /^faultline_server_database_up 1$/m);
  });
});

describe('server /metrics with users', { skip: PROMETHEUS_SKIP }, () => {
  test('refused without credentials; Prometheus scrapes it with an API token as its bearer', async (t) => {
    const s = await startAuthServer();
    t.after(() => s.close());
    await s.addUser('admin', 'admin', 'correct horse battery staple');
    const token = await s.addToken('prometheus', 'viewer');
    const refused = await s.anonymous.call('GET', '/metrics');
    assert.equal(refused.status, 401, refused.body);
    assert.equal(refused.json.error.code, 'unauthorized');
    const ok = await s.bearer(token).call('GET', '/metrics');
    assert.equal(ok.status, 200, ok.body);

    const prom = await startPrometheus([new URL(s.url).host], { bearer: token });
    t.after(() => prom.stop());
    await scrapedValue(prom, 'up{job="faultline-test"}', 1);
    await scrapedValue(prom, 'faultline_server_database_up', 1);
    assert.ok(!s.problems.some((p) => p.includes(token)), 'the token is never logged');
  });
});
