/**
 * node:http / node:https outgoing requests with installHttp(): every fault
 * type against a real server on port 0, matching, named ESM imports, https
 * without any upstream, the undo.
 */
import assert from 'node:assert/strict';
import http, { get as namedGet, request as namedRequest } from 'node:http';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { FaultRegistry } from '../../src/sdk/core.js';
import { InjectedFault } from '../../src/sdk/errors.js';
import { installHttp, uninstallHttp } from '../../src/sdk/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const core = new FaultRegistry({ env: {} }).enable({ otel: false });
before(async () => {
  server = await startServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`upstream ${req.method} ${req.url}`);
  });
  installHttp(core);
});
after(async () => {
  uninstallHttp();
  await server.close();
});

interface Result {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: string;
  error?: Error;
  ms: number;
}

function send(
  fn: typeof http.request,
  url: string,
  options: http.RequestOptions = {},
  body?: string,
): Promise<Result> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = fn(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          ms: performance.now() - t0,
        }),
      );
    });
    req.on('error', (error) => resolve({ error, ms: performance.now() - t0 }));
    if (body) req.write(body);
    req.end();
  });
}

test('no rule: requests go to the upstream untouched', async () => {
  const r = await send(http.request, `${server.url}/a?b=1`);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'upstream GET /a?b=1');
});

test('http_error: a real IncomingMessage, upstream not called; matched by host, path, method', async () => {
  core.addRule({
    id: 'h500',
    type: 'http_error',
    status: 500,
    body: 'injected',
    headers: { 'x-why': 'chaos' },
    match: { host: '127.0.0.1', path: '/orders*', method: 'POST' },
  });
  try {
    const n = server.requests.length;
    const r = await send(http.request, `${server.url}/orders/1`, { method: 'POST' }, '{"a":1}');
    assert.equal(r.status, 500);
    assert.equal(r.body, 'injected');
    assert.equal(r.headers?.['x-why'], 'chaos');
    assert.equal(r.headers?.['x-faultline-fault'], 'h500');
    assert.equal(server.requests.length, n, 'upstream not called');
    assert.equal((await send(http.request, `${server.url}/orders/1`)).status, 200, 'GET does not match');
    assert.equal((await send(http.request, `${server.url}/users`, { method: 'POST' })).status, 200, 'path');
    // http.get and the named ESM imports are patched too
    const g = await new Promise<number | undefined>((resolve) =>
      namedGet(`${server.url}/orders/2`, { method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }),
    );
    assert.equal(g, 500);
    assert.equal((await send(namedRequest, `${server.url}/orders/3`, { method: 'POST' })).status, 500);
  } finally {
    core.clearRules();
  }
});

test('https: faults apply without any connection (the host does not even resolve)', async () => {
  core.addRule({ type: 'http_error', status: 503, body: 'down', match: { host: 'payments.invalid' } });
  try {
    const r = await send(https.request, 'https://payments.invalid/v1/charge');
    assert.equal(r.status, 503);
    assert.equal(r.body, 'down');
  } finally {
    core.clearRules();
  }
});

test('latency delays the response; reset, exception and timeout emit error', async () => {
  core.addRule({ type: 'latency', latency_ms: 80, match: { path: '/slow' } });
  let r = await send(http.request, `${server.url}/slow`);
  assert.equal(r.status, 200);
  assert.ok(r.ms >= 75, `latency ${r.ms}`);
  core.clearRules();

  core.addRule({ type: 'reset' });
  r = await send(http.request, `${server.url}/x`);
  assert.ok(r.error instanceof InjectedFault && (r.error as InjectedFault).code === 'ECONNRESET');
  core.clearRules();

  core.addRule({ type: 'exception', message: 'bang' });
  r = await send(http.request, `${server.url}/x`);
  assert.equal(r.error?.message, 'bang');
  core.clearRules();

  core.addRule({ type: 'timeout', latency_ms: 60 });
  r = await send(http.request, `${server.url}/x`);
  assert.equal((r.error as InjectedFault).code, 'ETIMEDOUT');
  assert.ok(r.ms >= 55);
  core.clearRules();
});

test("a client's own timeout fires while a timeout fault hangs", async () => {
  core.addRule({ type: 'timeout', latency_ms: 2000 });
  try {
    const t0 = performance.now();
    const fired = await new Promise<number>((resolve) => {
      const req = http.request(`${server.url}/x`, { timeout: 100 });
      req.on('timeout', () => {
        resolve(performance.now() - t0);
        req.destroy();
      });
      req.on('error', () => {});
      req.end();
    });
    assert.ok(fired >= 90 && fired < 1000, `client timeout after ${fired} ms`);
  } finally {
    core.clearRules();
  }
});

test('uninstallHttp restores the originals', async () => {
  core.addRule({ type: 'http_error', status: 500 });
  uninstallHttp();
  try {
    assert.equal((await send(http.request, `${server.url}/x`)).status, 200);
    assert.equal((await send(namedRequest, `${server.url}/x`)).status, 200);
  } finally {
    core.clearRules();
    installHttp(core);
  }
});
