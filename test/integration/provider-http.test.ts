import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ActivityFailed } from '../../src/core/errors.js';
import type { HttpProvider } from '../../src/core/schema.js';
import { encodeForm, httpProvider, isConnectError, planHttpRequest } from '../../src/providers/http.js';
import { activityContext } from '../helpers/activity-context.js';
import { startServer, type TestServer } from '../helpers/server.js';

const run = (provider: Omit<HttpProvider, 'type'>, signal?: AbortSignal) =>
  httpProvider.run(
    { type: 'http', ...provider } as HttpProvider,
    activityContext(signal ? { signal } : {}),
  ) as Promise<{
    status: number;
    headers: Record<string, string>;
    body: unknown;
  }>;

describe('request planning (pure)', () => {
  test('form and query encoding follows Python requests', () => {
    assert.equal(
      encodeForm({ a: 1, b: 'x y', c: [1, 2], d: null, e: true, f: "!'()*~._-" }),
      'a=1&b=x+y&c=1&c=2&e=True&f=%21%27%28%29%2A~._-',
    );
    assert.equal(encodeForm({ k: 'é&=' }), 'k=%C3%A9%26%3D');
    assert.equal(encodeForm('raw=string'), 'raw=string');
    assert.equal(
      encodeForm([
        ['a', 1],
        ['a', 2],
      ]),
      'a=1&a=2',
    );
    assert.throws(() => encodeForm(5), ActivityFailed);
  });

  test('method defaults to GET and is upper-cased; headers and query are planned', () => {
    const p = planHttpRequest({
      type: 'http',
      url: 'http://h/p?x=1#frag',
      arguments: { q: 'a b' },
      headers: { 'X-A': 3, 'X-Null': null },
    });
    assert.equal(p.method, 'GET');
    assert.equal(p.url, 'http://h/p?x=1&q=a+b#frag');
    assert.equal(p.headers['X-A'], '3');
    assert.ok(!('X-Null' in p.headers), 'a null header is dropped, as requests does');
    assert.equal(p.body, undefined);
    assert.equal(planHttpRequest({ type: 'http', url: 'http://h/', method: 'delete' }).method, 'DELETE');
    assert.equal(planHttpRequest({ type: 'http', url: 'http://h/', arguments: {} }).url, 'http://h/');
  });

  test('JSON body only for the exact key Content-Type with the exact value application/json', () => {
    const json = planHttpRequest({
      type: 'http',
      url: 'http://h/',
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      arguments: { a: [1] },
    });
    assert.equal(json.body, '{"a":[1]}');
    const lower = planHttpRequest({
      type: 'http',
      url: 'http://h/',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      arguments: { a: 1 },
    });
    assert.equal(lower.body, 'a=1', 'a lower-case key sends a form, as Chaos Toolkit does');
    const charset = planHttpRequest({
      type: 'http',
      url: 'http://h/',
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      arguments: { a: 1 },
    });
    assert.equal(charset.body, 'a=1');
    const form = planHttpRequest({ type: 'http', url: 'http://h/', method: 'POST', arguments: { a: 1 } });
    assert.equal(form.headers['content-type'], 'application/x-www-form-urlencoded');
    const none = planHttpRequest({
      type: 'http',
      url: 'http://h/',
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(none.body, undefined, 'no arguments, no JSON body');
  });

  test('only pre-connection errors are retried', () => {
    assert.ok(isConnectError({ code: 'ECONNREFUSED' }));
    assert.ok(isConnectError({ code: 'UND_ERR_CONNECT_TIMEOUT' }));
    assert.ok(!isConnectError({ code: 'UND_ERR_HEADERS_TIMEOUT' }));
    assert.ok(!isConnectError({ code: 'ECONNRESET' }));
  });
});

describe('http provider against a real server', () => {
  let server: TestServer;
  let hung: (() => void) | undefined;
  let requestArrived: (() => void) | undefined;

  before(async () => {
    server = await startServer((req, res, body) => {
      const url = new URL(req.url ?? '/', 'http://x');
      switch (url.pathname) {
        case '/json':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ status: 'up', n: [1, 2] }));
        case '/json-charset':
          res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
          return res.end('{"status":"up"}');
        case '/bad-json':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end('not json');
        case '/status':
          res.writeHead(Number(url.searchParams.get('code')), { 'content-type': 'text/plain' });
          return res.end(`status ${url.searchParams.get('code')}`);
        case '/multi':
          res.setHeader('x-multi', ['a', 'b']);
          res.setHeader('content-type', 'text/plain; charset=latin1');
          return res.end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
        case '/redirect':
          res.writeHead(Number(url.searchParams.get('code') ?? 302), { location: '/echo?redirected=1' });
          return res.end();
        case '/loop':
          res.writeHead(302, { location: '/loop' });
          return res.end();
        case '/hang':
          requestArrived?.();
          hung = () => res.end();
          return; // never answers
        default:
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
      }
    });
  });
  after(async () => {
    hung?.();
    await server.close();
  });

  const last = () => server.requests.at(-1)!;

  test('GET sends arguments as the query string', async () => {
    const out = await run({
      url: `${server.url}/echo?x=1`,
      arguments: { q: 'a b', tag: ['x', 'y'], skip: null },
    });
    assert.equal(out.status, 200);
    assert.equal(last().method, 'GET');
    assert.equal(last().url, '/echo?x=1&q=a+b&tag=x&tag=y');
    assert.equal(last().body, '');
  });

  test('POST with Content-Type: application/json sends a JSON body', async () => {
    await run({
      url: `${server.url}/echo`,
      method: 'post',
      headers: { 'Content-Type': 'application/json' },
      arguments: { a: 1, b: [true] },
    });
    assert.equal(last().method, 'POST');
    assert.equal(last().headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(last().body), { a: 1, b: [true] });
  });

  test('other verbs send a form body otherwise', async () => {
    await run({ url: `${server.url}/echo`, method: 'PUT', arguments: { a: 'x y', l: [1, 2] } });
    assert.equal(last().method, 'PUT');
    assert.equal(last().headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(last().body, 'a=x+y&l=1&l=2');
    await run({
      url: `${server.url}/echo`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      arguments: { a: 1 },
    });
    assert.equal(last().body, 'a=1');
  });

  test('headers are sent', async () => {
    await run({ url: `${server.url}/echo`, headers: { Authorization: 'Bearer t', 'X-Count': 2 } });
    assert.equal(last().headers.authorization, 'Bearer t');
    assert.equal(last().headers['x-count'], '2');
  });

  test('the body is parsed only for exactly application/json', async () => {
    const json = await run({ url: `${server.url}/json` });
    assert.deepEqual(json.body, { status: 'up', n: [1, 2] });
    assert.equal(json.headers['content-type'], 'application/json');
    const text = await run({ url: `${server.url}/json-charset` });
    assert.equal(text.body, '{"status":"up"}');
    await assert.rejects(run({ url: `${server.url}/bad-json` }), /not valid JSON/);
  });

  test('headers come back as a plain object; repeated ones joined; the charset decodes the text', async () => {
    const out = await run({ url: `${server.url}/multi` });
    assert.equal(out.headers['x-multi'], 'a, b');
    assert.equal(Object.getPrototypeOf(out.headers), Object.prototype);
    assert.equal(out.body, 'café');
  });

  test('404 and 503 do not fail the activity', async () => {
    for (const code of [404, 503]) {
      const out = await run({ url: `${server.url}/status?code=${code}` });
      assert.equal(out.status, code);
      assert.equal(out.body, `status ${code}`);
    }
  });

  test('redirects are followed: 302 turns POST into GET, 307 keeps the method and body', async () => {
    const moved = await run({ url: `${server.url}/redirect?code=302`, method: 'POST', arguments: { a: 1 } });
    assert.equal(moved.status, 200);
    assert.equal((moved.body as { method: string }).method, 'GET');
    assert.equal((moved.body as { url: string }).url, '/echo?redirected=1');
    const kept = await run({ url: `${server.url}/redirect?code=307`, method: 'POST', arguments: { a: 1 } });
    assert.equal((kept.body as { method: string }).method, 'POST');
    assert.equal((kept.body as { body: string }).body, 'a=1');
    await assert.rejects(run({ url: `${server.url}/loop` }), /exceeded 30 redirects/);
  });

  test('a read timeout fails with "activity took too long to complete"', async () => {
    const started = Date.now();
    await assert.rejects(run({ url: `${server.url}/hang`, timeout: 0.2 }), (err: unknown) => {
      assert.ok(err instanceof ActivityFailed);
      assert.equal(err.message, 'activity took too long to complete');
      return true;
    });
    await assert.rejects(
      run({ url: `${server.url}/hang`, timeout: [5, 0.2] }),
      /activity took too long to complete/,
    );
    assert.ok(Date.now() - started < 5000);
  });

  test('an abort signal ends a request that would otherwise hang', async () => {
    const ac = new AbortController();
    const arrived = new Promise<void>((resolve) => {
      requestArrived = resolve;
    });
    const pending = run({ url: `${server.url}/hang` }, ac.signal);
    await arrived;
    ac.abort(new Error('stop now'));
    await assert.rejects(pending, /http activity was interrupted: stop now/);
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(run({ url: `${server.url}/echo` }, pre.signal), /interrupted/);
  });
});

test('connection refused fails with "failed to connect to <url>: ..."', async () => {
  const s = await startServer(() => {});
  const url = `${s.url}/health`;
  await s.close();
  await assert.rejects(run({ url }), (err: unknown) => {
    assert.ok(err instanceof ActivityFailed);
    assert.match(
      err.message,
      new RegExp(`^failed to connect to ${url.replace(/[.?]/g, '\\$&')}: .*ECONNREFUSED`),
    );
    return true;
  });
  await assert.rejects(run({ url, max_retries: 2 }), /failed to connect to .*ECONNREFUSED/);
});

test('an unresolvable host fails with "failed to connect"', async () => {
  await assert.rejects(
    run({ url: 'http://faultline-test.invalid/' }),
    /failed to connect to http:\/\/faultline-test\.invalid\//,
  );
});

test('https with a self-signed certificate: verify_tls false accepts it, the default refuses it', async (t) => {
  let openssl = true;
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    openssl = false;
  }
  if (!openssl) {
    t.skip('openssl is not installed: cannot generate a self-signed certificate');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'faultline-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const server = createHttpsServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('secure');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const out = await run({ url, verify_tls: false });
      assert.equal(out.status, 200);
      assert.equal(out.body, 'secure');
      await assert.rejects(
        run({ url }),
        /failed to connect to https:\/\/127\.0\.0\.1:\d+\/: .*(self[- ]signed|certificate)/i,
      );
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reference §6 D: tolerance [200, 301, 302] against a real server (200 met, 404 not met)', async () => {
  const { checkTolerance } = await import('../../src/engine/tolerances/index.js');
  const s = await startServer((req, res) => {
    res.writeHead(req.url === '/ok' ? 200 : 404, { 'content-type': 'text/html' });
    res.end('<html></html>');
  });
  const tctx = { vars: {}, runProbe: async () => undefined };
  try {
    assert.equal(
      (await checkTolerance([200, 301, 302], await run({ url: `${s.url}/ok`, timeout: 30 }), tctx)).met,
      true,
    );
    assert.equal(
      (await checkTolerance([200, 301, 302], await run({ url: `${s.url}/missing`, timeout: 30 }), tctx)).met,
      false,
    );
    assert.equal((await checkTolerance(200, await run({ url: `${s.url}/missing` }), tctx)).met, false);
  } finally {
    await s.close();
  }
});
