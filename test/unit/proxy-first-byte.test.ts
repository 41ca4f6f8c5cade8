/**
 * The two fixes for slow first bytes on fresh connections: busy polling stops
 * (and stays off a while) once the process is seen descheduled, and a named
 * upstream is resolved once and dialled at the address that last connected.
 * Real timers, real DNS (`localhost`), real sockets; no timing bounds beyond
 * what a blocked event loop guarantees.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { describe, test } from 'node:test';
import { BusyPoller, CONTENDED_GAP_MS } from '../../src/proxy/busy-poll.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { UpstreamLookup } from '../../src/proxy/upstream-lookup.js';
import { echoRoundTrip, echoServer } from '../helpers/http-raw.js';

const immediate = () => new Promise((r) => setImmediate(r));

function blockFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {}
}

describe('busy polling under contention', () => {
  test('a gap between spins (the process was descheduled) stops polling and backs off', async () => {
    const poller = new BusyPoller(50_000); // a 50 ms window: it would still be spinning
    poller.poke();
    assert.equal(poller.spinning, true);
    await immediate(); // one spin
    blockFor(CONTENDED_GAP_MS * 5); // what another task holding the core looks like from here
    await immediate();
    await immediate();
    assert.equal(poller.spinning, false, 'stopped on the gap');
    assert.equal(poller.backingOff, true);
    poller.poke();
    assert.equal(poller.spinning, false, 'a poke during the back-off does not spin');
  });

  test('without a gap it keeps spinning through its window, then stops by itself', async () => {
    const poller = new BusyPoller(2_000);
    poller.poke();
    const deadline = performance.now() + 5_000;
    while (poller.spinning && performance.now() < deadline) await immediate();
    assert.equal(poller.spinning, false);
  });
});

describe('named upstreams', () => {
  test('localhost is looked up once; the address that connected comes first', async () => {
    const cache = new UpstreamLookup();
    const all = () =>
      new Promise<LookupAddress[]>((resolve, reject) =>
        cache.lookup('localhost', { all: true }, (err, addresses) =>
          err ? reject(err) : resolve(addresses as LookupAddress[]),
        ),
      );
    const first = await all();
    assert.ok(
      first.some((a) => a.address === '127.0.0.1'),
      JSON.stringify(first),
    );
    let sync = false;
    cache.lookup('localhost', { all: true }, () => {
      sync = true;
    });
    assert.equal(sync, true, 'the second lookup is answered from the cache, synchronously');
    cache.connected('127.0.0.1');
    assert.equal((await all())[0]!.address, '127.0.0.1');
  });

  test('a proxy to localhost:<port> of a server on 127.0.0.1 only serves every connection', async () => {
    const upstream = await echoServer();
    const manager = new ProxyManager();
    try {
      const p = await manager.create({
        name: 'named',
        listen: '127.0.0.1:0',
        upstream: `localhost:${upstream.port}`,
      });
      const port = Number(p.listen.split(':').at(-1));
      for (let i = 0; i < 20; i++) assert.equal((await echoRoundTrip(port, `m${i}`)).reply, `m${i}`);
    } finally {
      await manager.close();
      await upstream.close();
    }
  });
});
