/**
 * ProxyManager's management semantics, compared with Toxiproxy 2.12's word
 * for word (shared reference notes, sections 1.1 to 1.5): creation, listen
 * resolution, update, populate, reset, toxics, error texts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { ProxyManager } from '../../src/proxy/manager.js';
import { ProxyApiError, type ProxyView } from '../../src/proxy/model.js';
import {
  client,
  freePort,
  portOf,
  roundTrip,
  startEcho,
  tryConnect,
  type Upstream,
} from '../helpers/proxy-net.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function manager(options: ConstructorParameters<typeof ProxyManager>[0] = {}): ProxyManager {
  const m = new ProxyManager(options);
  cleanups.push(() => m.close());
  return m;
}

async function echo(): Promise<Upstream> {
  const up = await startEcho();
  cleanups.push(() => up.close());
  return up;
}

async function occupy(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { server, port: (server.address() as { port: number }).port };
}

/** Asserts a ProxyApiError with this status and exact message. */
async function rejects(
  p: Promise<unknown> | (() => unknown),
  status: number,
  message: string,
): Promise<ProxyApiError> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ProxyApiError, `expected a ProxyApiError, got ${String(caught)}`);
  assert.equal(caught.message, message);
  assert.equal(caught.status, status);
  return caught;
}

describe('create', { timeout: 30_000 }, () => {
  test('returns the proxy with the bound address; enabled missing or null means true', async () => {
    const m = manager();
    const up = await echo();
    const a = await m.create({ name: 'a', listen: '127.0.0.1:0', upstream: up.address });
    assert.deepEqual(Object.keys(a), ['name', 'listen', 'upstream', 'enabled', 'toxics']);
    assert.match(a.listen, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(portOf(a.listen), 0);
    assert.equal(a.enabled, true);
    assert.deepEqual(a.toxics, []);
    const b = await m.create({ name: 'b', listen: '127.0.0.1:0', upstream: up.address, enabled: null });
    assert.equal(b.enabled, true);
    const c = await client(portOf(b.listen));
    cleanups.push(() => void c.socket.destroy());
    await roundTrip(c);
  });

  test('checks the name before the upstream', async () => {
    const m = manager();
    await rejects(m.create({}), 400, 'missing required field: name');
    await rejects(m.create({ name: '', upstream: 'x:1' }), 400, 'missing required field: name');
    await rejects(m.create({ name: 'x' }), 400, 'missing required field: upstream');
  });

  test('a duplicate name is a 409, checked before binding', async () => {
    const m = manager();
    const busy = await occupy();
    await m.create({ name: 'dup', listen: '127.0.0.1:0', upstream: 'localhost:1' });
    await rejects(
      m.create({ name: 'dup', listen: `127.0.0.1:${busy.port}`, upstream: 'localhost:1' }),
      409,
      'proxy already exists',
    );
  });

  test("a bind failure is a 500 with Go's text and creates nothing", async () => {
    const m = manager();
    const busy = await occupy();
    await rejects(
      m.create({ name: 'busy', listen: `127.0.0.1:${busy.port}`, upstream: 'localhost:1' }),
      500,
      `listen tcp 127.0.0.1:${busy.port}: bind: address already in use`,
    );
    await rejects(
      m.create({ name: 'noport', listen: 'local373', upstream: 'localhost:1' }),
      500,
      'listen tcp: address local373: missing port in address',
    );
    assert.deepEqual(m.list(), []);
  });

  test('a proxy created disabled is not bound and echoes its listen unresolved', async () => {
    const m = manager();
    const port = await freePort();
    const p = await m.create({
      name: 'off',
      listen: `localhost:${port}`,
      upstream: 'localhost:1',
      enabled: false,
    });
    assert.equal(p.listen, `localhost:${port}`);
    assert.equal(p.enabled, false);
    assert.equal(await tryConnect(port), 'ECONNREFUSED');
  });

  test('mistyped fields are 400s with Go decoder messages', async () => {
    const m = manager();
    await rejects(
      m.create({ name: 5, upstream: 'x:1' }),
      400,
      'bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type string',
    );
    await rejects(
      m.create({ name: 'x', upstream: 'x:1', enabled: 'yes' }),
      400,
      'bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool',
    );
  });
});

describe('listen resolution', { timeout: 30_000 }, () => {
  test('127.0.0.1:0 and localhost:0 resolve to 127.0.0.1:<port>', async () => {
    const m = manager();
    for (const [name, listen] of [
      ['ip', '127.0.0.1:0'],
      ['host', 'localhost:0'],
    ]) {
      const p = await m.create({ name, listen, upstream: 'localhost:1' });
      assert.match(p.listen, /^127\.0\.0\.1:[1-9]\d*$/, listen);
    }
  });

  test('localhost:<port> resolves to 127.0.0.1:<port>', async () => {
    const m = manager();
    const port = await freePort();
    const p = await m.create({ name: 'lh', listen: `localhost:${port}`, upstream: 'localhost:1' });
    assert.equal(p.listen, `127.0.0.1:${port}`);
  });

  test('"" listens on all interfaces, shown as [::]:<port>', async () => {
    const m = manager({ allowPublicListen: true });
    const p = await m.create({ name: 'any', listen: '', upstream: 'localhost:1' });
    assert.match(p.listen, /^(\[::\]|0\.0\.0\.0):[1-9]\d*$/);
    assert.equal(await tryConnect(portOf(p.listen)), 'connected');
  });

  test('the concrete port is kept across disable/enable and reset', async () => {
    const m = manager();
    const p = await m.create({ name: 'keep', listen: 'localhost:0', upstream: 'localhost:1' });
    await m.update('keep', { enabled: false });
    assert.equal(m.get('keep').listen, p.listen);
    const again = await m.update('keep', { enabled: true });
    assert.equal(again.listen, p.listen);
    await m.update('keep', { enabled: false });
    await m.reset();
    assert.equal(m.get('keep').listen, p.listen);
    assert.equal(m.get('keep').enabled, true);
  });
});

describe('update', { timeout: 30_000 }, () => {
  test('fields left out keep their values; name in the body is ignored', async () => {
    const m = manager();
    const up = await echo();
    const p = await m.create({ name: 'u', listen: '127.0.0.1:0', upstream: up.address });
    const same = await m.update('u', { name: 'other' });
    assert.deepEqual(same, p);
    await rejects(m.update('nope', {}), 404, 'proxy not found');
  });

  test('a listen that resolves to the same address does not restart (connections survive)', async () => {
    const m = manager();
    const up = await echo();
    const p = await m.create({ name: 'u', listen: '127.0.0.1:0', upstream: up.address });
    const c = await client(portOf(p.listen));
    cleanups.push(() => void c.socket.destroy());
    await roundTrip(c);
    const same = await m.update('u', { listen: `localhost:${portOf(p.listen)}` });
    assert.equal(same.listen, p.listen);
    await roundTrip(c);
  });

  test('changing the upstream restarts the proxy: connections are dropped, new ones go to the new upstream', async () => {
    const m = manager();
    const a = await echo();
    const b = await echo();
    const p = await m.create({ name: 'u', listen: '127.0.0.1:0', upstream: a.address });
    const c = await client(portOf(p.listen));
    cleanups.push(() => void c.socket.destroy());
    await roundTrip(c);
    const moved = await m.update('u', { upstream: b.address });
    assert.equal(moved.upstream, b.address);
    assert.equal(moved.listen, p.listen);
    await c.outcome;
    const d = await client(portOf(p.listen));
    cleanups.push(() => void d.socket.destroy());
    await roundTrip(d);
    assert.equal(b.sockets.size, 1);
  });

  test('changing listen rebinds; enabled:false applies after the change', async () => {
    const m = manager();
    const p = await m.create({ name: 'u', listen: '127.0.0.1:0', upstream: 'localhost:1' });
    const port = await freePort();
    const moved = await m.update('u', { listen: `127.0.0.1:${port}` });
    assert.equal(moved.listen, `127.0.0.1:${port}`);
    assert.equal(await tryConnect(portOf(p.listen)), 'ECONNREFUSED');
    const off = await m.update('u', { listen: '127.0.0.1:0', enabled: false });
    assert.equal(off.enabled, false);
    assert.equal(off.listen, '127.0.0.1:0');
  });
});

describe('populate', { timeout: 30_000 }, () => {
  test('validates every item before creating anything', async () => {
    const m = manager();
    await rejects(
      m.populate([
        { name: 'ok', upstream: 'localhost:1', listen: '127.0.0.1:0' },
        { upstream: 'localhost:1' },
      ]),
      400,
      'missing required field: name at proxy 2',
    );
    await rejects(
      m.populate([{ name: 'ok', listen: '127.0.0.1:0' }]),
      400,
      'missing required field: upstream at proxy 1',
    );
    assert.deepEqual(m.list(), []);
    assert.deepEqual(await m.populate([]), []);
    await rejects(
      m.populate({}),
      400,
      'bad request body: json: cannot unmarshal object into Go value of type []toxiproxy.Proxy',
    );
  });

  test('keeps matching proxies untouched (toxics stay), replaces differing ones, returns them in input order', async () => {
    const m = manager();
    const [first] = await m.populate([{ name: 'same', listen: '127.0.0.1:0', upstream: 'localhost:1' }]);
    m.addToxic('same', { type: 'latency' });
    const changing = await m.create({ name: 'changing', listen: '127.0.0.1:0', upstream: 'localhost:1' });
    m.addToxic('changing', { type: 'latency' });
    const out = await m.populate([
      { name: 'same', listen: first!.listen, upstream: 'localhost:1', enabled: false },
      { name: 'changing', listen: changing.listen, upstream: 'localhost:2' },
      { name: 'new', listen: '127.0.0.1:0', upstream: 'localhost:3', enabled: null },
    ]);
    assert.deepEqual(
      out.map((p) => p.name),
      ['same', 'changing', 'new'],
    );
    assert.equal(out[0]!.enabled, true, 'enabled is not changed on a kept proxy');
    assert.equal(out[0]!.toxics.length, 1);
    assert.equal(out[1]!.upstream, 'localhost:2');
    assert.equal(out[1]!.toxics.length, 0);
    assert.equal(out[2]!.enabled, true);
  });

  test('stops at the first failure, with the proxies already done; no rollback', async () => {
    const m = manager();
    const busy = await occupy();
    const err = await rejects(
      m.populate([
        { name: 'one', listen: '127.0.0.1:0', upstream: 'localhost:1' },
        { name: 'two', listen: `127.0.0.1:${busy.port}`, upstream: 'localhost:1' },
        { name: 'three', listen: '127.0.0.1:0', upstream: 'localhost:1' },
      ]),
      500,
      `listen tcp 127.0.0.1:${busy.port}: bind: address already in use`,
    );
    assert.deepEqual(
      err.proxies?.map((p: ProxyView) => p.name),
      ['one'],
    );
    assert.deepEqual(
      m.list().map((p) => p.name),
      ['one'],
    );
  });
});

describe('reset and remove', { timeout: 30_000 }, () => {
  test('reset re-enables every proxy and removes all toxics; nothing is deleted', async () => {
    const m = manager();
    await m.create({ name: 'a', listen: '127.0.0.1:0', upstream: 'localhost:1' });
    await m.create({ name: 'b', listen: '127.0.0.1:0', upstream: 'localhost:1', enabled: false });
    m.addToxic('a', { type: 'latency', stream: 'upstream' });
    m.addToxic('a', { type: 'timeout' });
    await m.reset();
    assert.deepEqual(
      m.list().map((p) => [p.name, p.enabled, p.toxics.length]),
      [
        ['a', true, 0],
        ['b', true, 0],
      ],
    );
  });

  test('remove stops the listener; later lookups are 404s', async () => {
    const m = manager();
    const p = await m.create({ name: 'gone', listen: '127.0.0.1:0', upstream: 'localhost:1' });
    await m.remove('gone');
    assert.equal(await tryConnect(portOf(p.listen)), 'ECONNREFUSED');
    await rejects(() => m.get('gone'), 404, 'proxy not found');
    await rejects(m.remove('gone'), 404, 'proxy not found');
    await rejects(() => m.listToxics('gone'), 404, 'proxy not found');
  });
});

describe('toxics', { timeout: 30_000 }, () => {
  async function withProxy() {
    const m = manager();
    await m.create({ name: 'p', listen: '127.0.0.1:0', upstream: 'localhost:1' });
    return m;
  }

  test('defaults: stream downstream, toxicity 1, name <type>_<stream>, every attribute', async () => {
    const m = await withProxy();
    const t = m.addToxic('p', { type: 'latency' });
    assert.deepEqual(t, {
      attributes: { latency: 0, jitter: 0 },
      name: 'latency_downstream',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
    });
    assert.deepEqual(Object.keys(t), ['attributes', 'name', 'type', 'stream', 'toxicity']);
    assert.deepEqual(m.addToxic('p', { type: 'noop' }).attributes, {});
    assert.equal(m.addToxic('p', { type: 'bandwidth', attributes: { rate: 0 } }).attributes.rate, 0);
  });

  test('the stream is matched case-insensitively and kept as sent, default name included', async () => {
    const m = await withProxy();
    const t = m.addToxic('p', { type: 'latency', stream: 'UPSTREAM' });
    assert.equal(t.name, 'latency_UPSTREAM');
    assert.equal(t.stream, 'UPSTREAM');
  });

  test('order of checks: stream, then type, then uniqueness, then attributes', async () => {
    const m = await withProxy();
    await rejects(
      () => m.addToxic('p', { type: 'nope', stream: 'sideways' }),
      400,
      'stream was invalid, can be either upstream or downstream',
    );
    await rejects(() => m.addToxic('p', { type: 'down' }), 400, 'invalid toxic type');
    await rejects(() => m.addToxic('p', { type: '' }), 400, 'invalid toxic type');
    m.addToxic('p', { name: 'foobar', type: 'latency', stream: 'upstream' });
    await rejects(
      () =>
        m.addToxic('p', {
          name: 'foobar',
          type: 'latency',
          stream: 'downstream',
          attributes: { latency: 'x' },
        }),
      409,
      'toxic already exists',
    );
    await rejects(
      () => m.addToxic('p', { type: 'latency', attributes: { latency: 'x' } }),
      400,
      'bad request body: json: cannot unmarshal string into Go struct field LatencyToxic.attributes.latency of type int64',
    );
    await rejects(
      () => m.addToxic('p', { type: 'latency', toxicity: 'high' }),
      400,
      'bad request body: json: cannot unmarshal string into Go struct field ToxicWrapper.toxicity of type float32',
    );
    await rejects(() => m.addToxic('nope', { type: 'latency' }), 404, 'proxy not found');
  });

  test('latency_upstream and latency_downstream coexist; the list gives upstream first, in insertion order', async () => {
    const m = await withProxy();
    m.addToxic('p', { name: 'd1', type: 'noop' });
    m.addToxic('p', { name: 'u1', type: 'noop', stream: 'upstream' });
    m.addToxic('p', { name: 'd2', type: 'noop' });
    m.addToxic('p', { name: 'u2', type: 'noop', stream: 'upstream' });
    assert.deepEqual(
      m.listToxics('p').map((t) => t.name),
      ['u1', 'u2', 'd1', 'd2'],
    );
    assert.deepEqual(
      m.get('p').toxics.map((t) => t.name),
      ['u1', 'u2', 'd1', 'd2'],
    );
  });

  test('update merges attributes field by field; toxicity kept when missing, explicit 0 kept; name/type/stream ignored', async () => {
    const m = await withProxy();
    m.addToxic('p', { type: 'latency', toxicity: 0.2, attributes: { latency: 100, jitter: 10 } });
    const a = m.updateToxic('p', 'latency_downstream', {
      attributes: { latency: 1000 },
      name: 'renamed',
      type: 'timeout',
      stream: 'upstream',
    } as never);
    assert.deepEqual(a, {
      attributes: { latency: 1000, jitter: 10 },
      name: 'latency_downstream',
      type: 'latency',
      stream: 'downstream',
      toxicity: 0.2,
    });
    assert.equal(m.updateToxic('p', 'latency_downstream', { toxicity: 0 }).toxicity, 0);
    assert.equal(m.getToxic('p', 'latency_downstream').toxicity, 0);
    await rejects(() => m.updateToxic('p', 'nope', {}), 404, 'toxic not found');
    await rejects(() => m.getToxic('p', 'nope'), 404, 'toxic not found');
  });

  test('values that would crash or stall Toxiproxy are 400s naming the attribute', async () => {
    const m = await withProxy();
    const bad = (input: object, field: string) => {
      assert.throws(
        () => m.addToxic('p', input),
        (err: unknown) => err instanceof ProxyApiError && err.status === 400 && err.message.includes(field),
      );
    };
    bad({ type: 'slicer' }, 'average_size');
    bad({ type: 'slicer', attributes: { average_size: 0 } }, 'average_size');
    bad({ type: 'slicer', attributes: { average_size: 4, size_variation: 5 } }, 'size_variation');
    // Go slices p.Data[:rate*100] with a negative rate: a panic.
    bad({ type: 'bandwidth', attributes: { rate: -1 } }, 'rate');
    m.addToxic('p', { type: 'latency', attributes: { latency: 10 } });
    assert.throws(
      () => m.updateToxic('p', 'latency_downstream', { attributes: { latency: 1.5 } }),
      (err: unknown) => err instanceof ProxyApiError && err.status === 400 && err.message.includes('latency'),
    );
    assert.equal(
      m.getToxic('p', 'latency_downstream').attributes.latency,
      10,
      'a refused update changes nothing',
    );
  });

  test('edge values Toxiproxy accepts are accepted (and echoed) as it does', async () => {
    const m = await withProxy();
    const ok = (input: { type: string; attributes: Record<string, number> }) => {
      const t = m.addToxic('p', { ...input, name: `${input.type}_edge` });
      for (const [k, v] of Object.entries(input.attributes))
        assert.equal(t.attributes[k], v, `${input.type}.${k}`);
      m.removeToxic('p', t.name);
    };
    ok({ type: 'slicer', attributes: { average_size: 1000, size_variation: 1000, delay: 0 } });
    ok({ type: 'slicer', attributes: { average_size: 1, size_variation: 1, delay: -1 } });
    ok({ type: 'latency', attributes: { latency: -5, jitter: -1 } });
    ok({ type: 'limit_data', attributes: { bytes: -1 } });
    ok({ type: 'timeout', attributes: { timeout: -1 } });
    ok({ type: 'slow_close', attributes: { delay: -1 } });
    ok({ type: 'reset_peer', attributes: { timeout: -1 } });
    ok({ type: 'limit_time', attributes: { time: -1 } });
    ok({ type: 'bandwidth', attributes: { rate: 0 } });
  });

  test('ttl is shown as the time left and can be cleared with 0', async () => {
    const m = await withProxy();
    const t = m.addToxic('p', { type: 'noop', ttl: 60_000 });
    assert.ok(t.ttl !== undefined && t.ttl > 59_000 && t.ttl <= 60_000);
    const cleared = m.updateToxic('p', 'noop_downstream', { ttl: 0 });
    assert.equal(cleared.ttl, undefined);
    await rejects(
      () => m.addToxic('p', { type: 'latency', ttl: -1 }),
      400,
      'invalid ttl: must be at least 0 (ms), got -1',
    );
  });

  test('remove deletes a toxic; removing it again is a 404', async () => {
    const m = await withProxy();
    m.addToxic('p', { type: 'noop' });
    m.removeToxic('p', 'noop_downstream');
    assert.deepEqual(m.listToxics('p'), []);
    await rejects(() => m.removeToxic('p', 'noop_downstream'), 404, 'toxic not found');
  });
});

describe('metrics', { timeout: 30_000 }, () => {
  test("Toxiproxy's byte counters plus Faultline's connection and toxic gauges", async () => {
    const m = manager();
    const up = await echo();
    const p = await m.create({ name: 'm', listen: '127.0.0.1:0', upstream: up.address });
    m.addToxic('m', { type: 'noop' });
    const c = await client(portOf(p.listen));
    cleanups.push(() => void c.socket.destroy());
    await roundTrip(c, 'hello');
    const text = m.metrics();
    const labels = `listener="${p.listen}",proxy="m",upstream="${up.address}"`;
    assert.ok(
      text.includes(`toxiproxy_proxy_received_bytes_total{direction="upstream",${labels}} 5\n`),
      text,
    );
    assert.ok(text.includes(`toxiproxy_proxy_sent_bytes_total{direction="downstream",${labels}} 5\n`), text);
    assert.ok(text.includes('# TYPE toxiproxy_proxy_received_bytes_total counter\n'));
    assert.ok(text.includes('faultline_proxy_connections_open{proxy="m"} 1\n'));
    assert.ok(text.includes('faultline_proxy_connections_total{proxy="m"} 1\n'));
    assert.ok(text.includes('faultline_proxy_toxics_active{proxy="m"} 1\n'));
    assert.ok(
      text.includes('faultline_proxy_toxic_applied_total{proxy="m",toxic="noop_downstream",type="noop"} 1\n'),
    );
  });
});
