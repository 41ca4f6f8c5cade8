/**
 * The control API as a third-party Toxiproxy client sees it: the npm package
 * `toxiproxy-node-client` (4.x, global fetch; POST for every update) against
 * our server on port 0 in front of the real ProxyManager, with real traffic
 * through the proxies it creates.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Toxiproxy, ToxiproxyError } from 'toxiproxy-node-client';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { echoRoundTrip, echoServer } from '../helpers/http-raw.js';
import { refused } from '../helpers/refused.js';

let manager: ProxyManager;
let api: ControlServer;
let upstream: Awaited<ReturnType<typeof echoServer>>;
let toxiproxy: Toxiproxy;
let UP: string;

const portOf = (listen: string) => Number(listen.slice(listen.lastIndexOf(':') + 1));

before(async () => {
  upstream = await echoServer();
  UP = `127.0.0.1:${upstream.port}`;
  manager = new ProxyManager();
  api = await startControlServer({ control: manager, port: 0 });
  toxiproxy = new Toxiproxy(api.url);
});

after(async () => {
  await api.close();
  await manager.close();
  await upstream.close();
});

test('getVersion returns the Toxiproxy-compatible version document', async () => {
  assert.equal(await toxiproxy.getVersion(), '{"version": "2.12.0"}\n');
});

test('create, get, getAll, update (disable/enable), remove', async () => {
  const proxy = await toxiproxy.createProxy({ name: 'redis', listen: 'localhost:0', upstream: UP });
  assert.equal(proxy.name, 'redis');
  assert.equal(proxy.upstream, UP);
  assert.equal(proxy.enabled, true);
  assert.match(proxy.listen, /^127\.0\.0\.1:\d+$/);
  const port = portOf(proxy.listen);
  assert.equal((await echoRoundTrip(port, 'hi')).reply, 'hi');

  const got = await toxiproxy.get('redis');
  assert.deepEqual(got.toJson(), proxy.toJson());
  const all = await toxiproxy.getAll();
  assert.deepEqual(Object.keys(all), ['redis']);
  assert.equal(all.redis?.listen, proxy.listen);

  const disabled = await proxy.update({ enabled: false, listen: proxy.listen, upstream: UP });
  assert.equal(disabled.enabled, false);
  assert.ok(await refused(port), 'a disabled proxy refuses connections');
  const enabled = await disabled.update({ enabled: true, listen: proxy.listen, upstream: UP });
  assert.equal(enabled.listen, proxy.listen, 'same port after re-enabling');
  assert.equal((await echoRoundTrip(port, 'again')).reply, 'again');

  await assert.rejects(
    toxiproxy.createProxy({ name: 'redis', listen: 'localhost:0', upstream: UP }),
    (err: Error) => err instanceof ToxiproxyError && /status code 409/.test(err.message),
  );
  await enabled.remove();
  await assert.rejects(toxiproxy.get('redis'), /status code 404/);
  assert.ok(await refused(port), 'a removed proxy no longer listens');
});

test('addToxic adds latency seen on real traffic; update changes it; getToxic; Toxic.remove', async () => {
  const proxy = await toxiproxy.createProxy({ name: 'db', listen: 'localhost:0', upstream: UP });
  const port = portOf(proxy.listen);
  const base = await echoRoundTrip(port);
  assert.ok(base.ms < 100, `baseline ${base.ms} ms`);

  const toxic = await proxy.addToxic({
    name: 'slow',
    type: 'latency',
    stream: 'downstream',
    toxicity: 1,
    attributes: { latency: 250, jitter: 0 },
  });
  assert.deepEqual(toxic.toJson(), {
    attributes: { latency: 250, jitter: 0 },
    name: 'slow',
    stream: 'downstream',
    toxicity: 1,
    type: 'latency',
  });
  const slow = await echoRoundTrip(port);
  assert.ok(slow.ms >= 240, `with latency 250: ${slow.ms} ms`);

  const updated = await toxic.update({ ...toxic.toJson(), attributes: { latency: 80, jitter: 0 } });
  assert.equal(updated.attributes.latency, 80);
  const fetched = await proxy.getToxic('slow');
  assert.deepEqual(fetched.toJson(), updated.toJson());
  const faster = await echoRoundTrip(port);
  assert.ok(faster.ms >= 70 && faster.ms < 240, `with latency 80: ${faster.ms} ms`);

  // A toxic created from the helper's minimal body: defaults filled in by the server.
  const bw = await proxy.addToxic({ type: 'bandwidth', attributes: { rate: 1000 } } as never);
  assert.equal(bw.name, 'bandwidth_downstream');
  assert.equal(bw.stream, 'downstream');
  assert.equal(bw.toxicity, 1);
  await bw.remove();

  await updated.remove();
  await assert.rejects(proxy.getToxic('slow'), /status code 404/);
  const after = await echoRoundTrip(port);
  assert.ok(after.ms < 100, `after removal: ${after.ms} ms`);
  await proxy.remove();
});

test("the client's own 'should add a slicer toxic': average_size = size_variation = 1000", async () => {
  const proxy = await toxiproxy.createProxy({ name: 'sliced', listen: 'localhost:0', upstream: UP });
  const attributes = { average_size: 1000, size_variation: 1000, delay: 0 };
  const toxic = await proxy.addToxic({
    type: 'slicer',
    stream: 'downstream',
    toxicity: 1,
    attributes,
  } as never);
  assert.deepEqual(toxic.toJson().attributes, attributes);
  const payload = 'x'.repeat(50_000);
  assert.equal((await echoRoundTrip(portOf(proxy.listen), payload)).reply, payload);
  await proxy.remove();
});

test('populate creates proxies; reset re-enables them and removes toxics', async () => {
  const proxies = await toxiproxy.populate([
    { name: 'one', listen: 'localhost:0', upstream: UP },
    { name: 'two', listen: 'localhost:0', upstream: UP, enabled: false },
  ]);
  assert.deepEqual(Object.keys(proxies).sort(), ['one', 'two']);
  assert.equal(proxies.two?.enabled, false);
  const one = proxies.one!;
  await one.addToxic({
    type: 'latency',
    name: 'lag',
    stream: 'upstream',
    toxicity: 1,
    attributes: { latency: 100, jitter: 0 },
  });

  await toxiproxy.reset();
  const all = await toxiproxy.getAll();
  assert.equal(all.two?.enabled, true, 'reset enables every proxy');
  await assert.rejects(all.one!.getToxic('lag'), /status code 404/, 'reset removes every toxic');
  assert.equal((await echoRoundTrip(portOf(all.two!.listen), 'up')).reply, 'up');
  for (const p of Object.values(all)) await p.remove();
  assert.deepEqual(await toxiproxy.getAll(), {});
});
