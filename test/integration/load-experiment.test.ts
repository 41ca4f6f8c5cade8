/**
 * `load:` in an experiment: traffic for the whole run, read by `faultline.load`
 * probes with ordinary tolerances, against a service made to fail on command.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import type { Experiment } from '../../src/core/schema.js';
import { runExperiment } from '../../src/lib/run.js';
import { validateExperiment } from '../../src/lib/validate.js';
import { loadResource } from '../../src/load/resource.js';
import type { WindowMetrics } from '../../src/load/series.js';
import { tempHome } from '../helpers/home.js';
import { startServer } from '../helpers/server.js';

let home: Awaited<ReturnType<typeof tempHome>>;
before(async () => {
  home = await tempHome();
});
after(() => home.cleanup());

const loadProbe = (name: string, func: string, args: Record<string, unknown>, tolerance: unknown) => ({
  type: 'probe' as const,
  name,
  tolerance,
  provider: { type: 'faultline' as const, module: 'faultline.load', func, arguments: args },
});

test('load runs for the whole run; a success_ratio probe sees the service degrade', async () => {
  let failing = false;
  const s = await startServer((req, res) => {
    if (req.url === '/break') {
      failing = true;
      res.end('broken');
      return;
    }
    res.writeHead(failing ? 500 : 200);
    res.end();
  });
  try {
    const experiment = {
      title: 'the service keeps answering',
      description: 'load + success ratio',
      configuration: { service_url: s.url },
      load: { rate: 100, timeout: '2s', requests: [{ url: '${service_url}/' }] },
      'steady-state-hypothesis': {
        title: 'most requests succeed',
        probes: [loadProbe('success', 'success_ratio', { window: 1 }, { type: 'range', range: [0.95, 1.0] })],
      },
      method: [
        {
          type: 'action' as const,
          name: 'break the service',
          provider: { type: 'http' as const, url: '${service_url}/break' },
          pauses: { after: 1.5 },
        },
        loadProbe('window', 'metrics', { window: 1 }, undefined),
        loadProbe('p99', 'latency', { percentile: 99, window: 2 }, undefined),
        loadProbe('rate', 'throughput', { window: 1 }, undefined),
        loadProbe('errors', 'error_rate', { window: 1 }, undefined),
      ],
    } as unknown as Experiment;
    const { issues } = await validateExperiment(experiment);
    assert.deepEqual(issues, []);
    const journal = await runExperiment(experiment, { home: home.home });
    assert.equal(journal.deviated, true);
    const before = journal.steady_states.before?.probes[0];
    const afterProbe = journal.steady_states.after?.probes[0];
    assert.equal(before?.status, 'succeeded');
    assert.ok((before?.output as number) >= 0.95, `before: ${before?.output}`);
    assert.ok((afterProbe?.output as number) < 0.5, `after: ${afterProbe?.output}`);
    const outputs = Object.fromEntries(journal.run.map((r) => [r.activity.name, r.output]));
    const window = outputs.window as WindowMetrics;
    assert.ok(window.requests > 50, `window requests ${window.requests}`);
    assert.ok(window.error_rate > 0.9, `error rate ${window.error_rate}`);
    for (const k of ['success_ratio', 'throughput', 'p50', 'p90', 'p95', 'p99', 'max'] as const)
      assert.equal(typeof window[k], 'number', k);
    assert.equal(typeof outputs.p99, 'number');
    assert.ok((outputs.rate as number) > 50, `throughput ${outputs.rate}`);
    assert.ok((outputs.errors as number) > 0.9);
    // The load ran from before the first check to the end: about 100 req/s fell due for the
    // run's length. How many were sent rather than dropped at the in-flight cap depends on the
    // CPU the generator got (59 answered with both cores loaded), so the bound is on the schedule.
    const measured = journal.faultline.load as {
      scheduled: number;
      sent: number;
      totals: { requests: number };
      series: unknown[];
    };
    assert.ok(measured.scheduled > 150, `${measured.scheduled} requests fell due`);
    assert.ok(s.requests.length > 0 && measured.totals.requests > 0, JSON.stringify(measured.totals));
    // Its summary and per-second series are in the journal.
    assert.ok(measured.series.length >= 1);
    // No traffic after the run: the schedule stopped with it. A request sent just before the
    // stop (and cancelled by it) may still reach a server on a loaded machine, so the bound is
    // what the generator had sent when it stopped, not what the server had seen by then.
    await new Promise((r) => setTimeout(r, 300));
    const loadRequests = () => s.requests.filter((r) => r.url === '/').length;
    assert.ok(loadRequests() <= measured.sent, `server saw ${loadRequests()} of ${measured.sent} sent`);
  } finally {
    await s.close();
  }
});

test('requests dropped at the in-flight cap are in the journal and explained in a warning naming the keys', async () => {
  const s = await startServer((_req, res) => {
    setTimeout(() => res.end('ok'), 300);
  });
  try {
    const warnings: string[] = [];
    const journal = await runExperiment(
      {
        title: 'a tight cap',
        description: 'drops explained',
        load: { rate: 50, concurrency: 2, requests: [{ url: `${s.url}/` }] },
        // 50 req/s against 300 ms answers needs 15 in flight: with 2 allowed, most are dropped.
        method: [{ ...loadProbe('window', 'metrics', { window: 1 }, undefined), pauses: { after: 0.5 } }],
      } as Experiment,
      {
        home: home.home,
        onEvent: (e) => {
          if (e.type === 'log' && e.level === 'warn') warnings.push(e.message);
        },
      },
    );
    const load = journal.faultline.load as { totals: { dropped: number } };
    assert.ok(load.totals.dropped > 0, `dropped ${load.totals.dropped}`);
    const warning = warnings.find((w) => w.includes('were dropped'));
    assert.ok(warning, `warnings: ${warnings.join(' | ')}`);
    assert.match(warning, /while 2 were in flight; raise load\.concurrency, or use load\.overflow: queue/);
  } finally {
    await s.close();
  }
});

test('a faultline.load probe without a load declared fails the activity', async () => {
  const journal = await runExperiment(
    {
      title: 't',
      description: 'd',
      method: [loadProbe('p', 'success_ratio', {}, undefined)],
    } as unknown as Experiment,
    { home: home.home },
  );
  assert.equal(journal.run[0]?.status, 'failed');
  assert.match(String(journal.run[0]?.exception ?? ''), /no load is running/);
});

test('load declarations: schema issues at validation, substituted values checked at start', async () => {
  const { issues } = await validateExperiment({
    title: 't',
    description: 'd',
    method: [],
    load: { rate: -1, requests: [], bogus: 1 },
  });
  const { issues: probeIssues } = await validateExperiment({
    title: 't',
    description: 'd',
    method: [loadProbe('p', 'latency', { percentile: 42, window: 120 }, undefined)],
  });
  assert.equal(probeIssues.length, 2, JSON.stringify(probeIssues));
  assert.match(
    probeIssues.map((i) => `${i.path}: ${i.message}`).join('\n'),
    /percentile: expected 50, 90, 95, 99 or 'max'/,
  );
  const paths = issues.map((i) => i.path).sort();
  assert.ok(paths.includes('load.rate'), JSON.stringify(issues));
  assert.ok(paths.includes('load.requests'), JSON.stringify(issues));

  await assert.rejects(
    loadResource.start(
      { rate: 10, duration: 'soon', requests: [{ url: 'not a url' }] },
      { experiment: {} as Experiment, configuration: {}, log: () => {} },
    ),
    (err: unknown) => {
      assert.ok(err instanceof FaultlineError);
      assert.equal(err.exitCode, 2);
      assert.deepEqual(err.issues.map((i) => i.path).sort(), ['load.duration', 'load.requests[0].url']);
      return true;
    },
  );
});
