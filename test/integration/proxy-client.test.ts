/**
 * ProxyClient (what the CLI and experiment actions use) against the control
 * API on port 0 backed by the real ProxyManager: every method, and failures
 * as ProxyClientError with the HTTP status and Toxiproxy's message.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyClient, ProxyClientError } from '../../src/proxy/client.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { closedPort, echoRoundTrip, echoServer } from '../helpers/http-raw.js';

let manager: ProxyManager;
let api: ControlServer;
let upstream: Awaited<ReturnType<typeof echoServer>>;
let client: ProxyClient;
let UP: string;

before(async () => {
  upstream = await echoServer();
  UP = `127.0.0.1:${upstream.port}`;
  manager = new ProxyManager();
  api = await startControlServer({ control: manager, port: 0 });
  client = new ProxyClient({ url: `${api.url}/` });
});

after(async () => {
  await api.close();
  await manager.close();
  await upstream.close();
});

function isClientError(status: number | undefined, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ProxyClientError, String(err));
    assert.equal(err.status, status);
    assert.equal(err.code, 'FAULTLINE_ERR_PROXY');
    assert.equal(err.exitCode, 1);
    assert.match(err.message, message);
    return true;
  };
}

test('version, metrics', async () => {
  assert.equal(await client.version(), '2.12.0');
  assert.equal(typeof (await client.metrics()), 'string');
});

test('proxies: create, get, list, update, populate, delete', async () => {
  const p = await client.createProxy({ name: 'c1', listen: '127.0.0.1:0', upstream: UP });
  assert.match(p.listen, /^127\.0\.0\.1:\d+$/);
  assert.deepEqual(await client.getProxy('c1'), p);
  assert.deepEqual(await client.proxies(), { c1: p });
  const off = await client.updateProxy('c1', { enabled: false });
  assert.equal(off.enabled, false);
  assert.equal((await client.updateProxy('c1', { enabled: true })).listen, p.listen);
  const populated = await client.populate([
    { name: 'c2', listen: '127.0.0.1:0', upstream: UP },
    { name: 'c1', listen: p.listen, upstream: UP },
  ]);
  assert.deepEqual(
    populated.map((x) => x.name),
    ['c2', 'c1'],
  );
  assert.deepEqual(await client.populate([]), []);
  await client.deleteProxy('c2');
  await assert.rejects(
    client.getProxy('c2'),
    isClientError(404, /^get proxy "c2": HTTP 404: proxy not found$/),
  );
  await assert.rejects(
    client.createProxy({ name: 'c1', upstream: UP }),
    isClientError(409, /^create proxy "c1": HTTP 409: proxy already exists$/),
  );
  await assert.rejects(
    client.populate([{ name: 'bad' } as never]),
    (err: unknown) =>
      err instanceof ProxyClientError && err.apiMessage === 'missing required field: upstream at proxy 1',
  );
});

test('toxics: add (with ttl), list, get, update, remove, reset; real traffic slowed', async () => {
  const port = Number((await client.getProxy('c1')).listen.split(':')[1]);
  const t = await client.addToxic('c1', { type: 'latency', attributes: { latency: 120 } });
  assert.deepEqual(t, {
    attributes: { latency: 120, jitter: 0 },
    name: 'latency_downstream',
    type: 'latency',
    stream: 'downstream',
    toxicity: 1,
  });
  assert.ok((await echoRoundTrip(port)).ms >= 110);
  const timed = await client.addToxic('c1', { type: 'noop', name: 'ttl', stream: 'upstream', ttl: 60_000 });
  assert.ok(timed.ttl !== undefined && timed.ttl > 0 && timed.ttl <= 60_000);
  assert.deepEqual(
    (await client.toxics('c1')).map((x) => x.name),
    ['ttl', 'latency_downstream'],
  );
  assert.deepEqual(await client.getToxic('c1', 'latency_downstream'), t);
  const u = await client.updateToxic('c1', 'latency_downstream', {
    attributes: { jitter: 5 },
    toxicity: 0.5,
  });
  assert.deepEqual(u.attributes, { latency: 120, jitter: 5 });
  assert.equal(u.toxicity, 0.5);
  await client.removeToxic('c1', 'latency_downstream');
  await assert.rejects(
    client.removeToxic('c1', 'latency_downstream'),
    isClientError(404, /HTTP 404: toxic not found$/),
  );
  await assert.rejects(
    client.addToxic('c1', { type: 'nope' }),
    isClientError(400, /^add nope toxic to "c1": HTTP 400: invalid toxic type$/),
  );
  await client.reset();
  assert.deepEqual(await client.toxics('c1'), []);
  await client.deleteProxy('c1');
});

test('names are path-encoded', async () => {
  await client.createProxy({ name: 'a/b c?', listen: '127.0.0.1:0', upstream: UP });
  assert.equal((await client.getProxy('a/b c?')).name, 'a/b c?');
  await client.addToxic('a/b c?', { type: 'noop', name: 'x/y' });
  assert.equal((await client.getToxic('a/b c?', 'x/y')).name, 'x/y');
  await client.deleteProxy('a/b c?');
});

test('network failures, timeouts and cancellation are ProxyClientErrors without a status', async () => {
  const dead = await closedPort();
  await assert.rejects(
    new ProxyClient({ url: `http://127.0.0.1:${dead}` }).proxies(),
    isClientError(
      undefined,
      new RegExp(
        `^list proxies: cannot reach the proxy API at http://127\\.0\\.0\\.1:${dead}: .*ECONNREFUSED`,
      ),
    ),
  );
  const silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  try {
    await assert.rejects(
      new ProxyClient({ url, timeoutMs: 200 }).version(),
      isClientError(undefined, /no answer from .* within 200 ms/),
    );
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(
      new ProxyClient({ url }).version({ signal: controller.signal }),
      isClientError(undefined, /cancelled/),
    );
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});

test('token: sent as a bearer header; refused without it; fromEnv reads the environment', async () => {
  const secured = await startControlServer({ control: manager, port: 0, token: 'client-token' });
  try {
    await assert.rejects(
      new ProxyClient({ url: secured.url }).proxies(),
      isClientError(401, /HTTP 401: missing or invalid token/),
    );
    assert.deepEqual(await new ProxyClient({ url: secured.url, token: 'client-token' }).proxies(), {});
    const fromEnv = ProxyClient.fromEnv(
      {},
      { FAULTLINE_PROXY_URL: secured.url, FAULTLINE_PROXY_TOKEN: 'client-token' },
    );
    assert.equal(fromEnv.url, secured.url);
    assert.equal(await fromEnv.version(), '2.12.0');
  } finally {
    await secured.close();
  }
});
