/** End to end: `faultline load` from the built CLI (run `npm run build` first). */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';
import { startServer, type TestServer } from '../helpers/server.js';

let home: Awaited<ReturnType<typeof tempHome>>;
let server: TestServer;
let env: NodeJS.ProcessEnv;
before(async () => {
  home = await tempHome();
  env = { FAULTLINE_HOME: home.home };
  server = await startServer((req, res) => {
    res.writeHead(req.headers['x-fail'] ? 503 : 200);
    if (req.url === '/slow') setTimeout(() => res.end('ok'), 400);
    else res.end('ok');
  });
});
after(async () => {
  await server.close();
  await home.cleanup();
});

test('--json prints the summary with totals, status classes, percentiles and the series', async () => {
  const r = await runCli(['load', `${server.url}/x`, '--rate', '100', '--duration', '1500ms', '--json'], {
    env,
  });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.url, `${server.url}/x`);
  assert.equal(s.target_rate, 100);
  assert.equal(s.sent, 150);
  assert.ok(Math.abs(s.achieved_rate - 100) < 5, `achieved ${s.achieved_rate}`);
  assert.equal(s.totals.status['2xx'], 150);
  for (const k of ['p50', 'p90', 'p95', 'p99', 'max']) assert.equal(typeof s.latency[k], 'number', k);
  assert.ok(Array.isArray(s.series) && s.series.length >= 1);
  assert.equal(typeof s.series[0].p99, 'number');
  assert.equal(r.stdout.trim().startsWith('{'), true, 'stdout holds only the JSON');
});

test('requests dropped at the in-flight cap are counted and explained, naming the options that change it', async () => {
  const r = await runCli(
    ['load', `${server.url}/slow`, '--rate', '50', '--duration', '1s', '--concurrency', '2', '--json'],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.ok(s.totals.dropped > 30, `dropped ${s.totals.dropped}`);
  assert.equal(s.sent + s.totals.dropped, 50);
  assert.match(r.stderr, new RegExp(`${s.totals.dropped} requests \\([\\d.]+%\\) were dropped`));
  assert.match(r.stderr, /while 2 were in flight; raise --concurrency, or use --overflow queue/);

  const queued = await runCli(
    [
      'load',
      `${server.url}/slow`,
      '--rate',
      '10',
      '--duration',
      '500ms',
      '--concurrency',
      '2',
      '--overflow',
      'queue',
      '--json',
    ],
    { env },
  );
  assert.equal(queued.code, 0, queued.stderr);
  assert.equal(JSON.parse(queued.stdout).totals.dropped, 0);
  assert.doesNotMatch(queued.stderr, /dropped/);
});

test('method, headers and body reach the server; the text summary names the status classes', async () => {
  const before = server.requests.length;
  const r = await runCli(
    [
      'load',
      server.url,
      '--rate',
      '20',
      '--duration',
      '500ms',
      '--method',
      'put',
      '--header',
      'X-Fail: 1',
      '--body',
      'hi',
    ],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /5xx 10/);
  assert.match(r.stderr, /p99/);
  const sent = server.requests.slice(before);
  assert.equal(sent.length, 10);
  assert.equal(sent[0]?.method, 'PUT');
  assert.equal(sent[0]?.body, 'hi');
});

test('bad input exits 2 with a message naming the option', async () => {
  const cases: [string[], RegExp][] = [
    [['load', server.url, '--rate', 'fast'], /--rate: expected a positive number/],
    [['load', server.url], /--rate: required/],
    [['load', server.url, '--rate', '10', '--duration', '10 minutes'], /--duration: expected a duration/],
    [['load', server.url, '--rate', '10', '--timeout', '0s'], /--timeout: expected a duration/],
    [
      ['load', server.url, '--rate', '10', '--concurrency', '1.5'],
      /--concurrency: expected a positive integer/,
    ],
    [['load', server.url, '--rate', '10', '--header', 'nocolon'], /--header: expected 'Name: value'/],
    [['load', 'ftp://example.com/', '--rate', '10'], /URL: expected an http\(s\) URL/],
  ];
  await Promise.all(
    cases.map(async ([args, message]) => {
      const r = await runCli(args, { env });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
    }),
  );
});
