/**
 * Redis faults against the server on this machine (127.0.0.1:6379): each test
 * proves the effect and its removal through a FaultSession with a temp
 * FAULTLINE_HOME; the suite ends with no faultline-* client and maxclients as
 * it was. Skips with the reason when the server is not reachable.
 */
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import type { FaultlineError } from '../../src/core/errors.js';
import { haltAll } from '../../src/faults/index.js';
import { clientPauseKind } from '../../src/faults/redis/client-pause.js';
import { parseClientList } from '../../src/faults/redis/conn.js';
import { redisExhaustConnectionsKind } from '../../src/faults/redis/exhaust-connections.js';
import { RespClient, RespError } from '../../src/faults/redis/resp.js';
import { slowCommandsKind } from '../../src/faults/redis/slow-commands.js';
import {
  assertExhaustsExactly,
  eventually,
  faultHomePerTest,
  whileRunnerFrozen,
} from '../helpers/live-faults.js';

const CONN = { host: '127.0.0.1', port: 6379 };
const KEY = `faultline:test:${process.pid}`;

let skip: string | undefined;
const home = faultHomePerTest('redis-run');
const { session, done } = home;

const connect = () => RespClient.connect({ ...CONN, connectTimeoutMs: 3000, commandTimeoutMs: 10_000 });

async function cmd(...args: string[]) {
  const c = await connect();
  try {
    return await c.command(args);
  } finally {
    c.destroy();
  }
}

async function faultlineClients(): Promise<number> {
  return parseClientList(String(await cmd('CLIENT', 'LIST'))).filter((c) => c.name.startsWith('faultline-'))
    .length;
}

/** Milliseconds a PING takes on a connection already open. */
async function ping(c: RespClient): Promise<number> {
  const start = performance.now();
  await c.command(['PING']);
  return performance.now() - start;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ready = (t: TestContext) => {
  if (skip) t.skip(skip);
  return !skip;
};

before(async () => {
  try {
    await cmd('PING');
  } catch (err) {
    skip = `Redis is not reachable at 127.0.0.1:6379: ${(err as Error).message}`;
    console.log(`# skipping Redis fault tests: ${skip}`);
  }
});

after(async () => {
  if (skip) return;
  await cmd('DEL', KEY);
  await eventually('no faultline-* client is left', async () => (await faultlineClients()) === 0);
});

describe('redis.client_pause', () => {
  test('WRITE: writes wait, reads pass, and revert releases the writes at once', async (t) => {
    if (!ready(t)) return;
    const s = session();
    const other = await connect();
    try {
      const h = await s.inject(clientPauseKind, { ...CONN, mode: 'write' }, { ttlMs: 60_000 });
      assert.match(h.target, /redis:\/\/127\.0\.0\.1:6379 \(pause WRITE\)/);
      assert.ok((await ping(other)) < 100, 'reads are not paused');
      let doneAt = 0;
      const write = other.command(['SET', KEY, 'v']).then(() => {
        doneAt = performance.now();
      });
      await sleep(1500); // longer than a slice: renewals keep it paused
      assert.equal(doneAt, 0, 'the write waits');
      const revertAt = performance.now();
      const rec = await h.revert();
      assert.equal(rec.verified, true, rec.error);
      await write;
      assert.ok(doneAt - revertAt < 300, `write done ${doneAt - revertAt} ms after the revert began`);
    } finally {
      other.destroy();
      await s.revertAll();
    }
    await done();
  });

  test('ALL: every command waits, past many slices; revert ends it within a slice', async (t) => {
    if (!ready(t)) return;
    const s = session();
    const other = await connect();
    try {
      const h = await s.inject(clientPauseKind, { ...CONN, slice_ms: 300 }, { ttlMs: 60_000 });
      let doneAt = 0;
      const sentAt = performance.now();
      const pending = other.command(['PING']).then(() => {
        doneAt = performance.now();
      });
      await sleep(1200); // four slices: the renewals leave no gap
      assert.equal(doneAt, 0, 'the PING waits');
      const revertAt = performance.now();
      const rec = await h.revert();
      assert.equal(rec.verified, true, rec.error);
      await pending;
      assert.ok(doneAt - sentAt >= 1150, `PING waited ${doneAt - sentAt} ms`);
      assert.ok(doneAt - revertAt < 300 + 200, `released ${doneAt - revertAt} ms after the revert began`);
      assert.ok((await ping(other)) < 100);
    } finally {
      other.destroy();
      await s.revertAll();
    }
    await done();
  });

  test('a second pause (another run) is refused up front; its failed injection does not lift the first', async (t) => {
    if (!ready(t)) return;
    const a = session();
    const b = session();
    const other = await connect();
    try {
      const h = await a.inject(clientPauseKind, { ...CONN, mode: 'write' }, { ttlMs: 60_000 });
      await assert.rejects(
        b.inject(clientPauseKind, { ...CONN, mode: 'write' }, { ttlMs: 60_000 }),
        (err: FaultlineError) => /already paused/.test(err.message) && /cannot be layered/.test(err.message),
      );
      // The refused fault left nothing in B's ledger and did not UNPAUSE: A's pause still holds writes.
      assert.equal(b.active(), 0);
      let doneAt = 0;
      const write = other.command(['SET', KEY, 'v2']).then(() => {
        doneAt = performance.now();
      });
      await sleep(700);
      assert.equal(doneAt, 0, "A's pause still holds the write after B's refusal");
      const rec = await h.revert();
      assert.equal(rec.verified, true, rec.error);
      await write;
      // Once A has ended, a new pause is accepted again.
      const again = await b.inject(clientPauseKind, { ...CONN, mode: 'write' }, { ttlMs: 60_000 });
      assert.equal((await again.revert()).verified, true);
    } finally {
      other.destroy();
      await b.revertAll();
      await a.revertAll();
    }
    await done();
  });

  test('bad arguments name the field', async (t) => {
    if (!ready(t)) return;
    await assert.rejects(
      session().inject(clientPauseKind, { ...CONN, mode: 'reads' }),
      (err: FaultlineError) => {
        assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
        assert.equal(err.issues[0]?.path, 'mode');
        return true;
      },
    );
    await assert.rejects(session().inject(clientPauseKind, { port: 'x' }), /port/);
    await done();
  });
});

describe('redis.exhaust_connections', () => {
  test('with maxclients reached a new client is refused; after revert it connects', async (t) => {
    if (!ready(t)) return;
    const [, original] = (await cmd('CONFIG', 'GET', 'maxclients')) as string[];
    const s = session();
    try {
      const info = String(await cmd('INFO', 'clients'));
      const connected = Number(/connected_clients:(\d+)/.exec(info)?.[1]);
      // Opened before the server fills up: the only way to look at it while it is full.
      const observer = await connect();
      await cmd('CONFIG', 'SET', 'maxclients', String(connected + 40));
      const h = await s.inject(redisExhaustConnectionsKind, CONN, { ttlMs: 60_000 });
      const list = parseClientList(String(await observer.command(['CLIENT', 'LIST'])));
      assert.ok(list.filter((c) => c.name.startsWith('faultline-')).length >= 35, `${list.length} clients`);
      await assert.rejects(connect(), (err: Error) => {
        assert.ok(err instanceof RespError, String(err));
        assert.match(err.message, /max number of clients reached/);
        return true;
      });
      observer.destroy();
      const rec = await h.revert();
      assert.equal(rec.verified, true, rec.error);
      assert.equal(await cmd('PING'), 'PONG');
    } finally {
      await s.revertAll();
      await cmd('CONFIG', 'SET', 'maxclients', original!);
    }
    assert.equal(await faultlineClients(), 0);
    await done();
  });

  test('`connections` opens exactly that many; with `leave` it is refused', async (t) => {
    if (!ready(t)) return;
    await assertExhaustsExactly(session(), redisExhaustConnectionsKind, CONN, 25, faultlineClients);
    await done();
  });
});

describe('redis.slow_commands', () => {
  test('PING latency rises while active and is normal after revert', async (t) => {
    if (!ready(t)) return;
    const s = session();
    const other = await connect();
    try {
      assert.ok((await ping(other)) < 50);
      const h = await s.inject(
        slowCommandsKind,
        { ...CONN, block_ms: 200, every_ms: 250 },
        { ttlMs: 60_000 },
      );
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        latencies.push(await ping(other));
        await sleep(20);
      }
      // Each PING that meets a busy period waits for it to end (up to 200 ms).
      assert.ok(latencies.filter((l) => l > 100).length >= 4, `latencies ${latencies.map(Math.round)}`);
      const rec = await h.revert();
      assert.equal(rec.verified, true, rec.error);
      const after: number[] = [];
      for (let i = 0; i < 10; i++) after.push(await ping(other));
      assert.ok(Math.max(...after) < 50, `after revert ${after.map(Math.round)}`);
    } finally {
      other.destroy();
      await s.revertAll();
    }
    await done();
  });

  test('every_ms below block_ms is refused, naming the field', async (t) => {
    if (!ready(t)) return;
    await assert.rejects(
      session().inject(slowCommandsKind, { ...CONN, block_ms: 300, every_ms: 100 }),
      (err: FaultlineError) => err.code === 'FAULTLINE_ERR_VALIDATION' && err.issues[0]?.path === 'every_ms',
    );
    await done();
  });
});

describe('revert from another process', () => {
  test('a hung runner pauses writes, holds connections and slows the server; `halt` releases all', async (t) => {
    if (!ready(t)) return;
    const injects = `await s.inject('redis-exhaust-connections', { connections: 5 }, { ttlMs: 120_000 });
await s.inject('redis-slow-commands', { block_ms: 150, every_ms: 300 }, { ttlMs: 120_000 });
await s.inject('redis-client-pause', { mode: 'WRITE', slice_ms: 500 }, { ttlMs: 120_000 });`;
    await whileRunnerFrozen(home.home, injects, async () => {
      assert.equal(await faultlineClients(), 7);
      const report = await haltAll({ home: home.home, reason: 'test' });
      assert.equal(report.reverted.length, 3, JSON.stringify(report));
      assert.deepEqual(report.failed, []);
      assert.equal(await faultlineClients(), 0);
      const c = await connect();
      try {
        assert.equal(await c.command(['SET', KEY, 'after-halt'], { timeoutMs: 500 }), 'OK');
        assert.ok((await ping(c)) < 50);
      } finally {
        c.destroy();
      }
    });
    await done();
  });
});
