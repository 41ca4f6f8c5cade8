/**
 * Run metrics (Prometheus text, checked with promtool), the metrics server,
 * and webhook notifications, against real runs, real sockets and a real
 * webhook receiver.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadBuiltinActivities } from '../../src/compose.js';
import { FaultlineError } from '../../src/core/errors.js';
import type { Experiment } from '../../src/core/schema.js';
import { runExperiment } from '../../src/lib/run.js';
import { startMetricsServer } from '../../src/observe/metrics-server.js';
import { Notifier } from '../../src/observe/notify.js';
import { RunMetrics } from '../../src/observe/run-metrics.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { ROOT } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';
import { PROMETHEUS_SKIP, startPrometheus } from '../helpers/prometheus.js';
import { startServer, type TestServer } from '../helpers/server.js';

await loadBuiltinActivities();

const PROMTOOL = spawnSync('promtool', ['--version']).error
  ? 'promtool (Debian package prometheus) is not installed; .ci/run installs it'
  : undefined;

/** `promtool check metrics` on the text: its complaints, or [] when clean. */
function promtool(text: string): string[] {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .concat(r.status === 0 ? [] : [`exit ${r.status}`]);
}

/** The value of the sample `name{labels}` (labels exactly as rendered), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

let home: Awaited<ReturnType<typeof tempHome>>;
let service: TestServer;
before(async () => {
  home = await tempHome();
  service = await startServer((_req, res) => res.end('ok'));
});
after(async () => {
  await service.close();
  assert.deepEqual(await home.activeFaults(), []);
  await home.cleanup();
});

function experiment(title: string, flag: string, extra: Partial<Experiment> = {}): Experiment {
  return {
    title,
    description: 'a fault, a pause, a probe',
    'steady-state-hypothesis': {
      title: 'up',
      probes: [{ type: 'probe', name: 'up', tolerance: 200, provider: { type: 'http', url: service.url } }],
    },
    method: [
      {
        type: 'action',
        name: 'flag',
        provider: {
          type: 'faultline',
          module: 'faultline.marker',
          func: 'create',
          arguments: { path: flag },
        },
        pauses: { after: 0.6 },
      },
    ],
    ...extra,
  } as Experiment;
}

describe('run metrics', () => {
  test('a scrape during the run sees it and its fault; after the run, outcomes, durations and blast radius', async () => {
    const metrics = new RunMetrics();
    const server = await startMetricsServer({ port: 0, render: () => metrics.render() });
    try {
      let during = '';
      const run = runExperiment(experiment('Checkout "survives"\nlatency', join(home.home, 'f1')), {
        home: home.home,
        onEvent: (e) => {
          metrics.listener(e);
          if (e.type === 'fault' && e.action === 'injected') {
            void fetch(server.url)
              .then((r) => r.text())
              .then((t) => (during = t));
          }
        },
      });
      const journal = await run;
      assert.equal(journal.status, 'completed');
      await new Promise((r) => setTimeout(r, 50));
      assert.match(
        during,
        /^faultline_experiment_running\{experiment="Checkout \\"survives\\"\\nlatency",phase="method",run_id="[^"]+"\} 1$/m,
      );
      assert.equal(sample(during, 'faultline_faults_active'), 1);
      assert.equal(sample(during, 'faultline_blast_radius_targets'), 1);

      // A second run stopped by a safeguard. It trips on a file an action after the fault creates, so the
      // fault is in place (and counted) first however slow the machine: watching the fault's own file
      // could trip while its injection was still being recorded, and the run would revert it uncounted.
      const guarded = experiment('guarded', join(home.home, 'f2'), {
        safeguards: [
          {
            type: 'probe',
            name: 'no-flag',
            frequency: 0.1,
            tolerance: false,
            provider: {
              type: 'faultline',
              module: 'faultline.marker',
              func: 'exists',
              arguments: { path: join(home.home, 'trip') },
            },
          },
        ],
      } as Partial<Experiment>);
      guarded.method.push({
        type: 'action',
        name: 'trip',
        provider: { type: 'process', path: 'touch', arguments: [join(home.home, 'trip')] },
        // Ended by the safeguard's interruption, not waited out.
        pauses: { after: 60 },
      });
      await runExperiment(guarded, { home: home.home, onEvent: metrics.listener });

      const res = await fetch(server.url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      assert.equal(sample(text, 'faultline_runs_total', '{outcome="completed"}'), 1);
      assert.equal(sample(text, 'faultline_runs_total', '{outcome="interrupted"}'), 1);
      assert.equal(sample(text, 'faultline_safeguard_trips_total', '{safeguard="no-flag"}'), 1);
      assert.equal(sample(text, 'faultline_run_duration_seconds_count'), 2);
      assert.equal(sample(text, 'faultline_faults_injected_total', '{kind="marker-file"}'), 2);
      assert.equal(sample(text, 'faultline_faults_active'), 0);
      assert.equal(sample(text, 'faultline_last_run_success', '{experiment="guarded"}'), 0);
      assert.equal(sample(text, 'faultline_last_run_blast_radius_targets', '{experiment="guarded"}'), 1);
      assert.doesNotMatch(text, /faultline_experiment_running\{/, 'no run in progress');
    } finally {
      await server.close();
    }
  });

  test('the exposition passes promtool, with and without data', async (t) => {
    if (PROMTOOL) return t.skip(PROMTOOL);
    const metrics = new RunMetrics();
    assert.deepEqual(promtool(metrics.render()), []);
    await runExperiment(experiment('promtool', join(home.home, 'f3')), {
      home: home.home,
      onEvent: metrics.listener,
    });
    assert.deepEqual(promtool(metrics.render()), []);
  });

  test("the proxy's /metrics passes promtool", async (t) => {
    if (PROMTOOL) return t.skip(PROMTOOL);
    const manager = new ProxyManager();
    try {
      await manager.create({ name: 'db', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' });
      manager.addToxic('db', { type: 'latency', attributes: { latency: 10 } });
      assert.deepEqual(promtool(manager.metrics()), []);
    } finally {
      await manager.close();
    }
  });
});

describe('the Grafana dashboard', () => {
  test("every query in docs/grafana-dashboard.json runs on a real Prometheus scraping a run's metrics", async (t) => {
    if (PROMETHEUS_SKIP) return t.skip(PROMETHEUS_SKIP);
    const dashboard = JSON.parse(await readFile(join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const metrics = new RunMetrics();
    await runExperiment(experiment('dashboard', join(home.home, 'f5')), {
      home: home.home,
      onEvent: metrics.listener,
    });
    const exported = metrics.render();
    const server = await startMetricsServer({ port: 0, render: () => metrics.render() });
    const prom = await startPrometheus([`127.0.0.1:${server.port}`]);
    try {
      const query = async (expr: string) =>
        (await fetch(`${prom.base}/api/v1/query?query=${encodeURIComponent(expr)}`)).json() as Promise<{
          status: string;
          error?: string;
          data?: { result: unknown[] };
        }>;
      await prom.waitFor(
        'the first scrape',
        async () => ((await query('faultline_runs_total')).data?.result.length ?? 0) > 0,
      );
      for (const panel of dashboard.panels) {
        for (const { expr } of panel.targets) {
          for (const name of expr.match(/faultline_[a-z_]+/g) ?? []) {
            const family = name.replace(/_(bucket|sum|count)$/, '');
            assert.match(
              exported,
              new RegExp(`^# TYPE (${name}|${family}) `, 'm'),
              `${panel.title}: ${name} is exported`,
            );
          }
          const r = await query(expr.replaceAll('$__range', '1h').replaceAll('$__rate_interval', '1m'));
          assert.equal(r.status, 'success', `${panel.title}: ${expr}: ${r.error}`);
        }
      }
    } finally {
      await prom.stop();
      await server.close();
    }
  });
});

describe('metrics server', () => {
  test('only GET /metrics; errors are JSON; garbage gets a 400, never a crash', async () => {
    const server = await startMetricsServer({ port: 0, render: () => '# HELP x y\n# TYPE x gauge\nx 1\n' });
    try {
      const base = server.url.replace('/metrics', '');
      const notFound = await fetch(`${base}/nope`);
      assert.equal(notFound.status, 404);
      assert.match(((await notFound.json()) as { error: string }).error, /metrics are at \/metrics/);
      const post = await fetch(server.url, { method: 'POST', body: 'x' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      for (const garbage of [
        '\x00\x01\x02\r\n\r\n',
        'GET /metrics HTTP/9.9\r\n\r\n',
        'NOT HTTP AT ALL\r\n\r\n',
      ]) {
        const reply = await new Promise<string>((resolve) => {
          const s = connect(server.port, '127.0.0.1', () => s.end(garbage));
          let data = '';
          s.on('data', (d) => (data += d));
          s.on('close', () => resolve(data));
          s.on('error', () => resolve(data));
        });
        assert.match(reply, /^HTTP\/1\.1 (400|505)/, JSON.stringify(garbage));
      }
      assert.equal((await fetch(server.url)).status, 200, 'still serving');
    } finally {
      await server.close();
    }
  });

  test('a non-loopback address needs a token, and then every scrape must send it', async () => {
    await assert.rejects(
      startMetricsServer({ port: 0, host: '0.0.0.0', render: () => '' }),
      (err: unknown) => err instanceof FaultlineError && /FAULTLINE_METRICS_TOKEN/.test(err.message),
    );
    const server = await startMetricsServer({
      port: 0,
      host: '0.0.0.0',
      token: 's3cret',
      render: () => 'x 1\n',
    });
    try {
      const url = `http://127.0.0.1:${server.port}/metrics`;
      const denied = await fetch(url);
      assert.equal(denied.status, 401);
      assert.match(((await denied.json()) as { error: string }).error, /token/);
      assert.equal((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      assert.equal((await fetch(url, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe('notifications', () => {
  test('started and the outcome reach the webhook, Slack-compatible, with the report path', async () => {
    const received: { body: Record<string, unknown>; auth?: string }[] = [];
    let failFirst = true;
    const hook = createServer((req: IncomingMessage, res) => {
      let data = '';
      req.on('data', (d) => (data += d));
      req.on('end', () => {
        // One 503 first: the notifier retries once.
        if (failFirst) {
          failFirst = false;
          res.writeHead(503).end();
          return;
        }
        received.push({ body: JSON.parse(data), auth: req.headers.authorization });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/services/T000/B000/SECRETPATH`;
    const warnings: string[] = [];
    const notifier = new Notifier([{ url, headers: { authorization: 'Bearer hook-token' } }], (m) =>
      warnings.push(m),
    );
    try {
      const journal = await runExperiment(experiment('notified', join(home.home, 'f4')), {
        home: home.home,
        onEvent: (e) => {
          if (e.type === 'run-start') notifier.started({ title: e.title, runId: e.runId });
        },
      });
      await notifier.finished(journal, { exitCode: 0, journalPath: '/tmp/j.json', reports: ['/tmp/r.html'] });
      assert.deepEqual(warnings, []);
      assert.equal(received.length, 2);
      const [started, done] = received.map(
        (r) => r.body as { text: string; faultline: Record<string, unknown> },
      );
      assert.match(started!.text, /\*notified\*: started/);
      assert.equal(started!.faultline.event, 'started');
      assert.equal(done!.faultline.event, 'completed');
      assert.equal(done!.faultline.run_id, journal.faultline.run_id);
      assert.equal(done!.faultline.faults, 1);
      assert.deepEqual(done!.faultline.reports, ['/tmp/r.html']);
      assert.match(done!.text, /report: \/tmp\/r\.html/);
      assert.ok(received.every((r) => r.auth === 'Bearer hook-token'));
    } finally {
      await new Promise((r) => hook.close(r));
    }
  });

  test('an unreachable webhook is a warning naming its host only, and events can be filtered', async () => {
    const warnings: string[] = [];
    const notifier = new Notifier(
      [
        { url: 'http://127.0.0.1:9/hooks/SECRETPATH' },
        { url: 'http://127.0.0.1:9/only-deviations', events: ['deviated'] },
      ],
      (m) => warnings.push(m),
    );
    notifier.started({ title: 't', runId: 'r' });
    await notifier.flush();
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /could not notify 127\.0\.0\.1:9/);
    assert.doesNotMatch(warnings[0]!, /SECRETPATH/);
  });
});
