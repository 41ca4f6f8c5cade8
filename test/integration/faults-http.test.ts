/**
 * http.fault against a real Faultline proxy (control API + data plane, in
 * process) in front of a real HTTP service on port 0: real requests through
 * the proxy while the fault holds, shares counted in wide bands (the suite runs
 * under CPU stress), the toxic gone and verified after the revert, and nothing
 * left in the ledger.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { httpFaultKind } from '../../src/faults/http/fault.js';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { faultHomePerTest } from '../helpers/live-faults.js';

let manager: ProxyManager;
let api: ControlServer;
let service: Server;
let hits = 0;
let port: number;
const home = faultHomePerTest('http-a');

before(async () => {
  service = createServer((req, res) => {
    hits++;
    res.setHeader('content-type', 'text/plain');
    res.end(`ok ${req.method} ${req.url}`);
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
  manager = new ProxyManager();
  api = await startControlServer({ control: manager, port: 0 });
  const p = await manager.create({
    name: 'front',
    listen: '127.0.0.1:0',
    upstream: `127.0.0.1:${(service.address() as AddressInfo).port}`,
  });
  port = Number(p.listen.split(':').at(-1));
});

after(async () => {
  await api.close();
  await manager.close();
  await new Promise((r) => service.close(r));
});

afterEach(async () => {
  assert.deepEqual(manager.listToxics('front'), [], 'no toxic left on the proxy');
  await home.done();
});

interface Answer {
  status?: number;
  ms: number;
  error?: string;
  fault?: string;
}

/** One request through the proxy on a fresh connection (a reset acts per connection). */
function get(path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, agent: false, headers },
      (res: IncomingMessage) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            ms: performance.now() - t0,
            ...(typeof res.headers['x-faultline-fault'] === 'string'
              ? { fault: res.headers['x-faultline-fault'] }
              : {}),
          }),
        );
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('hang guard: no answer in 30 s')));
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ ms: performance.now() - t0, error: err.code ?? err.message }),
    );
    req.end();
  });
}

async function many(n: number, path: string, parallel = 10): Promise<Answer[]> {
  const out: Answer[] = [];
  for (let i = 0; i < n; i += parallel) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, () => get(path)))));
  }
  return out;
}

const share = (xs: Answer[], f: (a: Answer) => boolean) => xs.filter(f).length / xs.length;

describe('http.fault on a real proxy', () => {
  test('http_error 503 for 40% of requests: 503s in a wide band, the rest reach the service; reverted', async () => {
    const s = home.session();
    const h = await s.inject(
      httpFaultKind,
      { api_url: api.url, proxy: 'front', type: 'http_error', status: 503, body: 'injected', percentage: 40 },
      { ttlMs: 60_000 },
    );
    try {
      const toxics = manager.listToxics('front');
      assert.equal(toxics.length, 1);
      assert.equal(toxics[0]!.type, 'http_abort');
      assert.equal(toxics[0]!.stream, 'upstream');
      const before = hits;
      const answers = await many(200, '/api/orders');
      const aborted = share(answers, (a) => a.status === 503 && a.fault === 'http_abort');
      assert.ok(aborted >= 0.2 && aborted <= 0.6, `503s: ${(aborted * 100).toFixed(1)}% of 200 (asked 40%)`);
      assert.ok(
        answers.every((a) => a.status === 503 || a.status === 200),
        'only 200s and 503s',
      );
      // An aborted request never reaches the service.
      assert.equal(hits - before, answers.filter((a) => a.status === 200).length);
    } finally {
      const r = await h.revert();
      assert.equal(r.verified, true);
      await s.revertAll();
    }
    const afterRevert = await many(20, '/api/orders');
    assert.ok(afterRevert.every((a) => a.status === 200));
  });

  test('latency 1 s on half of the requests under /slow: about half delayed, /fast untouched', async () => {
    const s = home.session();
    const h = await s.inject(
      httpFaultKind,
      {
        api_url: api.url,
        proxy: 'front',
        type: 'latency',
        latency_ms: 1000,
        percentage: 50,
        match: { path: '/slow*', method: 'GET' },
      },
      { ttlMs: 60_000 },
    );
    try {
      const slow = await many(60, '/slow/x', 30);
      const delayed = share(slow, (a) => a.ms >= 1000);
      assert.ok(slow.every((a) => a.status === 200));
      assert.ok(
        delayed >= 0.25 && delayed <= 0.8,
        `delayed: ${(delayed * 100).toFixed(1)}% of 60 (asked 50%)`,
      );
      // No request outside the match is held: at most a stray slow one under load, never most.
      const fast = await many(30, '/fast', 30);
      assert.ok(share(fast, (a) => a.ms >= 1000) < 0.2, 'requests outside the match are not delayed');
    } finally {
      assert.equal((await h.revert()).verified, true);
      await s.revertAll();
    }
  });

  test('reset: every connection reset while it holds, answered again after the revert', async () => {
    const s = home.session();
    const h = await s.inject(
      httpFaultKind,
      { api_url: api.url, proxy: 'front', type: 'reset' },
      { ttlMs: 60_000 },
    );
    try {
      assert.equal(manager.listToxics('front')[0]!.type, 'reset_peer');
      const answers = await many(5, '/');
      assert.ok(
        answers.every((a) => a.error !== undefined),
        `every request failed: ${JSON.stringify(answers)}`,
      );
    } finally {
      assert.equal((await h.revert()).verified, true);
      await s.revertAll();
    }
    assert.equal((await get('/')).status, 200);
  });

  test('two faults of one type on one proxy each get their own toxic; each revert removes only its own', async () => {
    const s = home.session();
    const args = { api_url: api.url, proxy: 'front', type: 'http_error' as const, status: 500 };
    const a = await s.inject(httpFaultKind, { ...args, match: { path_prefix: '/a' } }, { ttlMs: 60_000 });
    const b = await s.inject(httpFaultKind, { ...args, match: { path_prefix: '/b' } }, { ttlMs: 60_000 });
    try {
      assert.equal(manager.listToxics('front').length, 2);
      assert.equal((await get('/a/1')).status, 500);
      assert.equal((await get('/b/1')).status, 500);
      assert.equal((await get('/c/1')).status, 200);
      assert.equal((await a.revert()).verified, true);
      assert.equal((await get('/a/1')).status, 200);
      assert.equal((await get('/b/1')).status, 500);
    } finally {
      await s.revertAll();
    }
    assert.equal((await get('/b/1')).status, 200, `${b.id} reverted with the run`);
  });

  test('an unknown proxy fails the injection with the server error and leaves nothing', async () => {
    const s = home.session();
    await assert.rejects(
      s.inject(httpFaultKind, { api_url: api.url, proxy: 'nope', type: 'http_error' }, { ttlMs: 60_000 }),
      /nope/,
    );
    await s.revertAll();
  });
});
