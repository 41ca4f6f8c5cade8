/**
 * Prometheus as a steady-state source, against a real Prometheus (the Debian
 * package) started here on a free port, scraping a metrics endpoint this test
 * serves every second. Skipped, with the reason printed, when `prometheus` is
 * not installed.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { loadBuiltinActivities } from '../../src/compose.js';
import type { Experiment } from '../../src/core/schema.js';
import { findBuiltin } from '../../src/engine/builtins.js';
import { exitCodeFor } from '../../src/engine/run.js';
import { runExperiment } from '../../src/lib/run.js';
import { PrometheusClient, PrometheusError, toNumber } from '../../src/prometheus/client.js';
import { runBuiltin } from '../../src/providers/builtin.js';
import { activityContext } from '../helpers/activity-context.js';
import { tempHome } from '../helpers/home.js';
import {
  freePort,
  listen,
  PROMETHEUS_SKIP,
  type RunningPrometheus,
  startPrometheus,
} from '../helpers/prometheus.js';

await loadBuiltinActivities();

const SKIP = PROMETHEUS_SKIP;
const gauge = { value: 42 };
let metrics: Server | undefined;
let prom: RunningPrometheus | undefined;
let base = '';
let home: Awaited<ReturnType<typeof tempHome>> | undefined;

before(async () => {
  if (SKIP) return;
  metrics = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      [
        '# TYPE faultline_test_gauge gauge',
        `faultline_test_gauge ${gauge.value}`,
        '# TYPE faultline_test_requests_total counter',
        'faultline_test_requests_total{code="200"} 990',
        'faultline_test_requests_total{code="500"} 10',
        '',
      ].join('\n'),
    );
  });
  const metricsPort = await listen(metrics);
  prom = await startPrometheus([`127.0.0.1:${metricsPort}`]);
  base = prom.base;
  const client = new PrometheusClient({ baseUrl: base });
  await prom.waitFor('the first scrape', async () => {
    const res = await client.query('faultline_test_gauge');
    return res.data.resultType === 'vector' && res.data.result.length === 1;
  });
  home = await tempHome();
});

after(async () => {
  await prom?.stop();
  await new Promise((resolve) => (metrics ? metrics.close(resolve) : resolve(undefined)));
  await home?.cleanup();
});

function run(module: string, func: string, args: Record<string, unknown>, configuration = {}) {
  const activity = findBuiltin(module, func);
  assert.ok(activity, `${module}:${func} is registered`);
  return runBuiltin(activity, args, activityContext({ configuration }));
}

test('the client: instant query, Prometheus error for bad PromQL, connection refused', async (t) => {
  if (SKIP) return t.skip(SKIP);
  const client = new PrometheusClient({ baseUrl: `${base}/` });
  assert.equal(toNumber((await client.query('faultline_test_gauge * 2')).data), 84);
  assert.equal(toNumber((await client.query('scalar(faultline_test_gauge)')).data), 42);
  await assert.rejects(client.query('sum(faultline_test_gauge'), (err: unknown) => {
    assert.ok(err instanceof PrometheusError);
    assert.equal(err.kind, 'query');
    assert.equal(err.status, 400);
    assert.equal(err.errorType, 'bad_data');
    assert.match(err.message, /^Prometheus rejected the query \(HTTP 400, bad_data\): .*parse error/);
    return true;
  });
  const down = new PrometheusClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
  await assert.rejects(down.query('up'), (err: unknown) => {
    assert.ok(err instanceof PrometheusError);
    assert.equal(err.kind, 'connection');
    assert.match(err.message, /^cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    return true;
  });
});

test('faultline.prometheus query: a number, a vector, raw', async (t) => {
  if (SKIP) return t.skip(SKIP);
  const config = { prometheus_base_url: base };
  assert.equal(await run('faultline.prometheus', 'query', { query: 'faultline_test_gauge' }, config), 42);
  assert.equal(
    await run('faultline.prometheus', 'query', { url: base, query: 'sum(faultline_test_requests_total)' }),
    1000,
  );
  const vector = (await run('faultline.prometheus', 'query', {
    query: 'faultline_test_requests_total',
    url: base,
  })) as { metric: Record<string, string>; value: number }[];
  assert.deepEqual(vector.map((s) => [s.metric.code, s.value]).sort(), [
    ['200', 990],
    ['500', 10],
  ]);
  assert.equal(vector[0]?.metric.job, 'faultline-test');
  const one = await run(
    'faultline.prometheus',
    'query',
    { query: 'faultline_test_gauge', as: 'vector' },
    config,
  );
  assert.equal((one as { value: number }[])[0]?.value, 42);
  const raw = (await run(
    'faultline.prometheus',
    'query',
    { query: 'faultline_test_gauge', as: 'raw' },
    config,
  )) as {
    resultType: string;
  };
  assert.equal(raw.resultType, 'vector');
  await assert.rejects(
    run('faultline.prometheus', 'query', { query: 'faultline_test_requests_total', as: 'number' }, config),
    /the query returned 2 series, not one number/,
  );
  await assert.rejects(
    run('faultline.prometheus', 'query', { query: 'nothing_is_called_this', as: 'number' }, config),
    /the query returned no samples/,
  );
  // `when` in the past, before the first scrape: nothing there.
  assert.deepEqual(
    await run('faultline.prometheus', 'query', { query: 'faultline_test_gauge', when: '1 hour ago' }, config),
    [],
  );
});

test('faultline.prometheus query_range: a matrix over the last seconds, or one reduced number', async (t) => {
  if (SKIP) return t.skip(SKIP);
  const config = { prometheus_base_url: base };
  const matrix = (await run(
    'faultline.prometheus',
    'query_range',
    { query: 'faultline_test_gauge', last: '30s', step: 1 },
    config,
  )) as { metric: Record<string, string>; values: [number, number][] }[];
  assert.equal(matrix.length, 1);
  assert.ok((matrix[0]?.values.length ?? 0) >= 1);
  for (const [time, value] of matrix[0]?.values ?? []) {
    assert.equal(typeof time, 'number');
    assert.equal(value, 42);
  }
  const max = await run(
    'faultline.prometheus',
    'query_range',
    { query: 'faultline_test_gauge', start: '1 minute ago', end: 'now', reduce: 'max' },
    config,
  );
  assert.equal(max, 42);
  await assert.rejects(
    run('faultline.prometheus', 'query_range', { query: 'up', start: 'now', end: '5 minutes ago' }, config),
    /start .* is after end/,
  );
});

test('chaosprometheus.probes query and query_interval return the response JSON as-is', async (t) => {
  if (SKIP) return t.skip(SKIP);
  const config = { prometheus_base_url: base };
  const res = (await run('chaosprometheus.probes', 'query', { query: 'faultline_test_gauge' }, config)) as {
    status: string;
    data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  assert.equal(res.status, 'success');
  assert.equal(res.data.resultType, 'vector');
  assert.equal(res.data.result[0]?.metric.__name__, 'faultline_test_gauge');
  assert.equal(typeof res.data.result[0]?.value[0], 'number');
  assert.equal(res.data.result[0]?.value[1], '42');

  const range = (await run(
    'chaosprometheus.probes',
    'query_interval',
    { query: 'faultline_test_gauge', start: '2 minutes ago', end: 'now', step: 5 },
    config,
  )) as { status: string; data: { resultType: string; result: { values: [number, string][] }[] } };
  assert.equal(range.status, 'success');
  assert.equal(range.data.resultType, 'matrix');
  assert.equal(range.data.result[0]?.values.at(-1)?.[1], '42');

  const withTimeout = (await run(
    'chaosprometheus.probes',
    'query',
    { query: 'faultline_test_gauge', when: 'now', timeout: 5 },
    config,
  )) as { data: { result: { value: [number, string] }[] } };
  assert.equal(withTimeout.data.result[0]?.value[1], '42');
  assert.equal(
    await run('faultline.prometheus', 'query', { query: 'faultline_test_gauge', timeout: '10s' }, config),
    42,
  );

  await assert.rejects(
    run('chaosprometheus.probes', 'query', { query: 'up', when: 'the day after tomorrow' }, config),
    /failed to parse when "the day after tomorrow"/,
  );
});

const jsonpathProbe = {
  type: 'probe' as const,
  name: 'gauge-is-42',
  tolerance: { type: 'jsonpath', path: '$.data.result[0].value[1]', expect: '42' },
  provider: {
    type: 'python' as const,
    module: 'chaosprometheus.probes',
    func: 'query',
    arguments: { query: 'faultline_test_gauge' },
  },
};

function experiment(range: [number, number], method: Experiment['method']): Experiment {
  return {
    title: 'prometheus steady state',
    description: 'a real Prometheus scraping the test',
    configuration: { prometheus_base_url: base },
    'steady-state-hypothesis': {
      title: 'the gauge holds',
      probes: [
        jsonpathProbe,
        {
          type: 'probe',
          name: 'error-ratio',
          tolerance: { type: 'range', range },
          provider: {
            type: 'faultline',
            module: 'faultline.prometheus',
            func: 'query',
            arguments: {
              query: 'sum(faultline_test_requests_total{code=~"5.."}) / sum(faultline_test_requests_total)',
            },
          },
        },
      ],
    },
    method,
  } as Experiment;
}

test('in a run: tolerances over Prometheus queries; bad PromQL and an unreachable URL fail the activity', async (t) => {
  if (SKIP) return t.skip(SKIP);
  const ok = await runExperiment(
    experiment(
      [0, 0.05],
      [
        {
          type: 'probe',
          name: 'over-the-last-30s',
          provider: {
            type: 'faultline',
            module: 'faultline.prometheus',
            func: 'query_range',
            arguments: { query: 'faultline_test_gauge', last: 30, reduce: 'min' },
          },
        },
      ],
    ),
    { home: home?.home ?? '' },
  );
  assert.equal(ok.status, 'completed', JSON.stringify(ok.run, null, 1));
  assert.equal(ok.deviated, false);
  assert.equal(ok.steady_states.before?.steady_state_met, true);
  assert.equal(ok.steady_states.before?.probes[1]?.output, 0.01);
  assert.equal(ok.run[0]?.output, 42);

  const deviated = await runExperiment(experiment([0, 0.005], []), { home: home?.home ?? '' });
  assert.equal(deviated.steady_states.before?.steady_state_met, false);
  // As in Chaos Toolkit: a hypothesis not met before the method is no error, but exits 1.
  assert.equal(deviated.status, 'completed');
  assert.equal(exitCodeFor(deviated), 1);

  const failing = await runExperiment(
    experiment(
      [0, 0.05],
      [
        {
          type: 'probe',
          name: 'bad-promql',
          provider: {
            type: 'faultline',
            module: 'faultline.prometheus',
            func: 'query',
            arguments: { query: 'rate(faultline_test_requests_total[1m]' },
          },
        },
      ],
    ),
    { home: home?.home ?? '' },
  );
  const [bad] = failing.run;
  assert.equal(bad?.status, 'failed');
  assert.match(
    bad?.exception?.join('') ?? '',
    /Prometheus rejected the query \(HTTP 400, bad_data\): .*parse error/,
  );

  const unreachable = `http://127.0.0.1:${await freePort()}`;
  const down = await runExperiment(
    {
      ...experiment([0, 1], []),
      'steady-state-hypothesis': { title: 'h', probes: [jsonpathProbe] },
      configuration: { prometheus_base_url: unreachable },
    } as Experiment,
    { home: home?.home ?? '' },
  );
  const [probeRun] = down.steady_states.before?.probes ?? [];
  assert.equal(probeRun?.status, 'failed');
  assert.match(
    probeRun?.exception?.join('') ?? '',
    new RegExp(`cannot reach Prometheus at ${unreachable.replace(/\./g, '\\.')}: .*ECONNREFUSED`),
  );
  assert.equal(await home?.activeFaults().then((f) => f.length), 0);
});
