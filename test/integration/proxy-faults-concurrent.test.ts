/**
 * Concurrent runs never undo each other's proxy faults: two FaultSessions (two
 * runs) sharing one ledger, against a real control API and proxy, with real
 * traffic. A toxic name already taken is refused and left alone; a proxy held
 * down by two faults comes back only when the last one ends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FaultlineError } from '../../src/core/errors.js';
import { haltAll, releaseHalt } from '../../src/faults/index.js';
import { proxyDownKind, proxyToxicKind } from '../../src/faults/proxy.js';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { echoRoundTrip, echoServer } from '../helpers/http-raw.js';
import { faultHomePerTest } from '../helpers/live-faults.js';
import { refused } from '../helpers/refused.js';

let manager: ProxyManager;
let api: ControlServer;
let upstream: Awaited<ReturnType<typeof echoServer>>;
let port: number;
const home = faultHomePerTest('proxy-a');

before(async () => {
  upstream = await echoServer();
  manager = new ProxyManager();
  api = await startControlServer({ control: manager, port: 0 });
  const p = await manager.create({
    name: 'db',
    listen: '127.0.0.1:0',
    upstream: `127.0.0.1:${upstream.port}`,
  });
  port = Number(p.listen.split(':').at(-1));
});

after(async () => {
  await api.close();
  await manager.close();
  await upstream.close();
});

const toxicArgs = (latency: number) => ({
  api_url: api.url,
  proxy: 'db',
  toxic: { type: 'latency', attributes: { latency } },
});

describe('proxy faults of two runs on one proxy', () => {
  test("run B's toxic on a taken name is refused; its cleanup leaves run A's toxic in place", async () => {
    const a = home.session('run-a');
    const b = home.session('run-b');
    try {
      await a.inject(proxyToxicKind, toxicArgs(300), { ttlMs: 60_000 });
      await assert.rejects(
        b.inject(proxyToxicKind, toxicArgs(5), { ttlMs: 60_000 }),
        (err: FaultlineError) =>
          /already has a toxic named 'latency_downstream'/.test(err.message) &&
          /left in place/.test(err.message),
      );
      assert.equal(b.active(), 0);
      await b.revertAll();
      // A's toxic is still there, unchanged, and still slows real traffic.
      assert.equal(manager.getToxic('db', 'latency_downstream').attributes.latency, 300);
      const slow = await echoRoundTrip(port);
      assert.ok(slow.ms >= 290, `round trip ${slow.ms} ms under A's 300 ms toxic`);
      // A named toxic of B's layers on top, and each run removes only its own.
      const named = {
        ...toxicArgs(100),
        toxic: { name: 'b_latency', type: 'latency', attributes: { latency: 100 } },
      };
      const hb = await b.inject(proxyToxicKind, named, { ttlMs: 60_000 });
      assert.equal((await hb.revert()).verified, true);
      assert.deepEqual(
        manager.listToxics('db').map((t) => t.name),
        ['latency_downstream'],
      );
    } finally {
      await b.revertAll();
      await a.revertAll();
    }
    assert.deepEqual(manager.listToxics('db'), []);
    await home.done();
  });

  test('a toxic added by hand is never removed by a fault that wanted its name', async () => {
    const a = home.session('run-a');
    manager.addToxic('db', { type: 'latency', attributes: { latency: 50 } });
    try {
      await assert.rejects(a.inject(proxyToxicKind, toxicArgs(5), { ttlMs: 60_000 }), /added by hand/);
      await a.revertAll();
      assert.equal(manager.getToxic('db', 'latency_downstream').attributes.latency, 50);
    } finally {
      manager.removeToxic('db', 'latency_downstream');
    }
    await home.done();
  });

  test('two proxy-down faults: the proxy comes back only when the last one ends (either order)', async () => {
    for (const firstToEnd of ['a', 'b'] as const) {
      const a = home.session('run-a');
      const b = home.session('run-b');
      const args = { api_url: api.url, proxy: 'db', ledger_home: home.home };
      try {
        const ha = await a.inject(proxyDownKind, args, { ttlMs: 60_000 });
        const hb = await b.inject(proxyDownKind, args, { ttlMs: 60_000 });
        assert.ok(await refused(port));
        const [first, second] = firstToEnd === 'a' ? [ha, hb] : [hb, ha];
        assert.equal((await first.revert()).verified, true);
        assert.equal(manager.get('db').enabled, false, `still down after ${firstToEnd} ended`);
        assert.ok(await refused(port), 'connections still refused');
        assert.equal((await second.revert()).verified, true);
        assert.equal(manager.get('db').enabled, true);
        assert.equal((await echoRoundTrip(port, 'back')).reply, 'back');
      } finally {
        await a.revertAll();
        await b.revertAll();
      }
    }
    await home.done();
  });

  test('halt with two proxy-down faults re-enables the proxy', async () => {
    const a = home.session('run-a');
    const b = home.session('run-b');
    const args = { api_url: api.url, proxy: 'db', ledger_home: home.home };
    try {
      await a.inject(proxyDownKind, args, { ttlMs: 60_000 });
      await b.inject(proxyDownKind, args, { ttlMs: 60_000 });
      const report = await haltAll({ home: home.home });
      assert.equal(report.failed.length, 0, JSON.stringify(report.failed));
      assert.equal(manager.get('db').enabled, true);
    } finally {
      await releaseHalt({ home: home.home });
      await a.revertAll();
      await b.revertAll();
    }
    await home.done();
  });

  test('a proxy disabled by hand: a proxy-down fault is refused and does not re-enable it', async () => {
    const a = home.session('run-a');
    await manager.update('db', { enabled: false });
    try {
      await assert.rejects(
        a.inject(proxyDownKind, { api_url: api.url, proxy: 'db', ledger_home: home.home }, { ttlMs: 60_000 }),
        /already disabled, and not by a Faultline fault/,
      );
      await a.revertAll();
      assert.equal(manager.get('db').enabled, false);
    } finally {
      await manager.update('db', { enabled: true });
    }
    await home.done();
  });
});
