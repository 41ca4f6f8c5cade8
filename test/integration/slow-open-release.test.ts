/**
 * Removing a `slow_open` toxic releases the connections its delay holds
 * (issue #13: a removed toxic left a scheduled dial delay in force). Real
 * sockets: a client connects through the proxy while a one-hour slow_open is
 * in place, then the toxic goes (DELETE through the control API, /reset, a
 * halt) and the client's bytes reach the echo upstream and come back. Before
 * the fix each of these waited the full hour (the test's timeout).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { http } from '../helpers/http-raw.js';
import {
  type Client,
  client,
  delay,
  portOf,
  startEcho,
  type Upstream,
  waitUntil,
} from '../helpers/proxy-net.js';

const HOUR = 3_600_000;

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup() {
  const upstream = await startEcho();
  const manager = new ProxyManager();
  const api = await startControlServer({ control: manager, port: 0 });
  cleanups.push(
    () => upstream.close(),
    () => manager.close(),
    () => api.close(),
  );
  const proxy = await manager.create({ name: 'p', listen: '127.0.0.1:0', upstream: upstream.address });
  return { upstream, manager, api, port: portOf(proxy.listen) };
}

/** How many connection directions toxics were applied to: the proxy has run the connection's hooks. */
function applied(manager: ProxyManager): number {
  let n = 0;
  for (const m of manager.metrics().matchAll(/^faultline_proxy_toxic_applied_total\{[^}]*\} (\d+)$/gm)) {
    n += Number(m[1]);
  }
  return n;
}

/** A client whose connection the proxy accepted and holds (its toxics applied), with `ping` sent. */
async function held(manager: ProxyManager, port: number, upstream: Upstream, toxics = 1): Promise<Client> {
  const before = applied(manager);
  const c = await client(port);
  cleanups.push(() => c.socket.destroy());
  c.socket.write('ping');
  await waitUntil(() => applied(manager) >= before + toxics, 10_000, 'the proxy to accept the connection');
  assert.equal(upstream.sockets.size, 0, 'the upstream is not dialled while slow_open holds the connection');
  return c;
}

describe('removing slow_open releases the connections it holds', { timeout: 60_000 }, () => {
  test('DELETE of the toxic: the held connection dials at once and its bytes go through', async () => {
    const { upstream, manager, api, port } = await setup();
    manager.addToxic('p', { type: 'slow_open', attributes: { delay: HOUR } });
    const c = await held(manager, port, upstream);
    const r = await http(api.url, 'DELETE', '/proxies/p/toxics/slow_open_downstream');
    assert.equal(r.status, 204, r.body);
    assert.equal((await c.waitFor(4)).toString(), 'ping');
    assert.equal(upstream.sockets.size, 1);
  });

  test('two slow_open toxics: removing one keeps the other delay, /reset releases it', async () => {
    const { upstream, manager, api, port } = await setup();
    manager.addToxic('p', { name: 'a', type: 'slow_open', attributes: { delay: HOUR } });
    manager.addToxic('p', { name: 'b', type: 'slow_open', stream: 'upstream', attributes: { delay: HOUR } });
    const c = await held(manager, port, upstream, 2);
    assert.equal((await http(api.url, 'DELETE', '/proxies/p/toxics/a')).status, 204);
    // An event-loop turn or two is all a wrongly released dial would need.
    await delay(200);
    assert.equal(upstream.sockets.size, 0, 'still held by toxic b');
    assert.equal(c.received().length, 0);
    assert.equal((await http(api.url, 'POST', '/reset')).status, 204);
    assert.equal((await c.waitFor(4)).toString(), 'ping');
  });

  test('a halt releases held connections; a client gone meanwhile is never dialled', async () => {
    const { upstream, manager, port } = await setup();
    manager.addToxic('p', { type: 'slow_open', attributes: { delay: HOUR } });
    const gone = await held(manager, port, upstream);
    gone.socket.destroy();
    await gone.outcome;
    const c = await held(manager, port, upstream);
    const reverted = await manager.halt('halted by a test');
    cleanups.push(() => manager.release());
    assert.deepEqual(
      reverted.map((f) => f.toxic),
      ['slow_open_downstream'],
    );
    assert.equal((await c.waitFor(4)).toString(), 'ping');
    // Only the connection still open reached the upstream.
    await waitUntil(() => manager.metrics().includes('faultline_proxy_connections_open{proxy="p"} 1'));
    assert.equal(upstream.sockets.size, 1);
  });
});
