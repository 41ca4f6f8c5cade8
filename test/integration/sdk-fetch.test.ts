/**
 * Outgoing fetch / undici through the SDK's dispatcher against a real server
 * on port 0: every fault type, matching by host/path/method/labels, the
 * global dispatcher install and its undo, observation of outcomes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request as undiciRequest } from 'undici';
import { FaultRegistry } from '../../src/sdk/core.js';
import { InjectedFault } from '../../src/sdk/errors.js';
import { faultDispatcher, installGlobalDispatcher, uninstallGlobalDispatcher } from '../../src/sdk/undici.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
before(async () => {
  server = await startServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`upstream ${req.method} ${req.url}`);
  });
});
after(() => server.close());

const fresh = () => new FaultRegistry({ env: {} }).enable({ otel: false });
const causeOf = (e: unknown) => (e as { cause?: unknown }).cause;

test('fetch with faultline.dispatcher(): no rule, then every fault type', async () => {
  const core = fresh();
  const dispatcher = faultDispatcher(core);
  const url = `${server.url}/v1/charge?x=1`;
  const seen = server.requests.length;

  let res = await fetch(url, { dispatcher } as RequestInit);
  assert.equal(await res.text(), 'upstream GET /v1/charge?x=1');

  // http_error: a real Response, upstream never called
  core.addRule({
    id: 'e503',
    type: 'http_error',
    status: 503,
    body: '{"error":"injected"}',
    headers: { 'content-type': 'application/json', 'retry-after': '1' },
    match: { host: '127.0.0.1', path: '/v1/*', method: 'GET' },
  });
  const before503 = server.requests.length;
  res = await fetch(url, { dispatcher } as RequestInit);
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('retry-after'), '1');
  assert.equal(res.headers.get('x-faultline-fault'), 'e503');
  assert.deepEqual(await res.json(), { error: 'injected' });
  assert.equal(server.requests.length, before503, 'upstream not called');
  // method and path must match
  res = await fetch(url, { dispatcher, method: 'POST', body: 'x' } as RequestInit);
  assert.equal(res.status, 200);
  await res.text();
  res = await fetch(`${server.url}/v2/charge`, { dispatcher } as RequestInit);
  assert.equal(res.status, 200);
  await res.text();
  core.clearRules();

  // latency: upstream called after the delay
  core.addRule({ type: 'latency', latency_ms: 80, match: { host: '127.0.0.1:*' } });
  let t0 = performance.now();
  res = await fetch(url, { dispatcher } as RequestInit);
  assert.equal(res.status, 200);
  await res.text();
  assert.ok(performance.now() - t0 >= 75);
  core.clearRules();

  // reset, exception, timeout: fetch fails with the InjectedFault as cause
  core.addRule({ type: 'reset', match: { path: '/v1/charge' } });
  await assert.rejects(fetch(url, { dispatcher } as RequestInit), (e: unknown) => {
    const cause = causeOf(e);
    return e instanceof TypeError && cause instanceof InjectedFault && cause.code === 'ECONNRESET';
  });
  core.clearRules();
  core.addRule({ type: 'exception', message: 'kaboom' });
  await assert.rejects(
    fetch(url, { dispatcher } as RequestInit),
    (e: unknown) => (causeOf(e) as Error)?.message === 'kaboom',
  );
  core.clearRules();
  core.addRule({ type: 'timeout', latency_ms: 60 });
  t0 = performance.now();
  await assert.rejects(
    fetch(url, { dispatcher } as RequestInit),
    (e: unknown) => (causeOf(e) as InjectedFault)?.code === 'ETIMEDOUT',
  );
  assert.ok(performance.now() - t0 >= 55);
  core.clearRules();
  assert.ok(server.requests.length > seen);
});

test('a client-side abort during injected latency rejects at the abort', async () => {
  const core = fresh();
  core.addRule({ type: 'latency', latency_ms: 1000 });
  const t0 = performance.now();
  await assert.rejects(
    fetch(server.url, { dispatcher: faultDispatcher(core), signal: AbortSignal.timeout(100) } as RequestInit),
    (e: unknown) => (e as Error).name === 'TimeoutError',
  );
  assert.ok(performance.now() - t0 < 800);
});

test('undici.request with the dispatcher over an explicit base Agent; labels on the dispatcher', async () => {
  const core = fresh();
  const base = new Agent();
  const dispatcher = faultDispatcher(core, base, { dependency: 'payments' });
  core.addRule({
    type: 'http_error',
    status: 502,
    body: 'bad gateway',
    match: { labels: { dependency: 'payments' } },
  });
  const r = await undiciRequest(`${server.url}/x`, { dispatcher });
  assert.equal(r.statusCode, 502);
  assert.equal(await r.body.text(), 'bad gateway');
  const other = faultDispatcher(core, base, { dependency: 'ledger' });
  const r2 = await undiciRequest(`${server.url}/x`, { dispatcher: other });
  assert.equal(r2.statusCode, 200);
  assert.equal(await r2.body.text(), 'upstream GET /x');
  await base.close();
});

test('installGlobalDispatcher(): plain fetch is affected; the undo restores the previous dispatcher', async () => {
  const core = fresh();
  const undo = installGlobalDispatcher(core);
  try {
    core.addRule({ type: 'http_error', status: 418, match: { path: '/tea' } });
    const res = await fetch(`${server.url}/tea`);
    assert.equal(res.status, 418);
    const ok = await fetch(`${server.url}/coffee`);
    assert.equal(ok.status, 200);
    await ok.text();
    // undici's own request (no dispatcher given) uses the same global
    const r = await undiciRequest(`${server.url}/tea`);
    assert.equal(r.statusCode, 418);
    await r.body.text();
  } finally {
    undo();
  }
  const res = await fetch(`${server.url}/tea`);
  assert.equal(res.status, 200, 'uninstalled');
  await res.text();
  uninstallGlobalDispatcher(); // idempotent
});

test('fail open: a dispatcher that cannot decide passes the request through', async () => {
  const core = fresh();
  const errors: unknown[] = [];
  core.on('error', (e) => errors.push(e.error));
  core.addRule({ type: 'http_error', percentage: 50 });
  const random = Math.random;
  Math.random = () => {
    throw new Error('broken');
  };
  try {
    const res = await fetch(server.url, { dispatcher: faultDispatcher(core) } as RequestInit);
    assert.equal(res.status, 200);
    await res.text();
  } finally {
    Math.random = random;
  }
  assert.equal(errors.length, 1);
});

test('outcomes of calls not injected are observed (status >= 500 and errors are failures)', async () => {
  const core = fresh();
  const seen: { ok: boolean; host?: string }[] = [];
  const detach = core.addObserver({ observe: (call, ok) => seen.push({ ok, host: call.host }) });
  const bad = await startServer((_q, s) => {
    s.writeHead(500);
    s.end();
  });
  try {
    const d = faultDispatcher(core);
    await (await fetch(server.url, { dispatcher: d } as RequestInit)).text();
    await (await fetch(bad.url, { dispatcher: d } as RequestInit)).text();
    assert.deepEqual(
      seen.map((s) => s.ok),
      [true, false],
    );
  } finally {
    detach();
    await bad.close();
  }
});
