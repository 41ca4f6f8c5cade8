/**
 * The dead-man switch (src/faults/watchdog.ts), with real runners killed with
 * SIGKILL and NO command typed afterwards: the watchdog the runner's session
 * spawned reverts every fault family it left (marker, process pause, stress,
 * PostgreSQL, Redis, a network partition in a namespace), empties the ledger
 * and exits by itself; it also reverts a fault whose TTL passed while its
 * runner hangs. Waits are bounded by `eventually` with generous deadlines.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import pg from 'pg';
import { Ledger } from '../../src/faults/index.js';
import { listProcs, readProc } from '../../src/faults/process/select.js';
import { RespClient } from '../../src/faults/redis/resp.js';
import { watchdogEnabled, watchdogGraceMs } from '../../src/faults/watchdog.js';
import { type Fixture, ledgerFiles, repoRoot } from '../helpers/faults.js';
import { eventually, faultHomePerTest, spawnRunner } from '../helpers/live-faults.js';
import {
  createPeer,
  destroyPeer,
  faultlineLeftovers,
  networkSkipReason,
  type Peer,
} from '../helpers/netns.js';

// The runners inherit this: the watchdog acts 300 ms after the death instead of 10 s.
process.env.FAULTLINE_WATCHDOG_GRACE_MS = '300';
delete process.env.FAULTLINE_WATCHDOG;

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
// A Redis server of this file's own: faults-redis.test.ts counts every `faultline-*` client of
// the shared server and may run at the same time as this file.
const REDIS = { host: '127.0.0.1', port: 0 };
let redisServer: ChildProcess | undefined;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}
const TABLE = 'faultline_watchdog_test';
const TICKER = join(repoRoot, 'test', 'fixtures', 'process', 'ticker.mjs');
/** Generous: a loaded machine is slow, and the assertion is on the outcome, not the time. */
const DEADLINE_MS = 60_000;

const home = faultHomePerTest('watchdog-run');
let runners: Fixture[] = [];
let others: ChildProcess[] = [];
let pgSkip: string | undefined;
let redisSkip: string | undefined;

async function pgQuery<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const c = new pg.Client({ ...PG, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

async function redisFaultClients(): Promise<number> {
  const c = await RespClient.connect({ ...REDIS, connectTimeoutMs: 3000, commandTimeoutMs: 5000 });
  try {
    const list = String(await c.command(['CLIENT', 'LIST']));
    return list.split('\n').filter((l) => / name=faultline-/.test(l)).length;
  } finally {
    c.destroy();
  }
}

/** Watchdog processes watching `dir` (their config names the home). */
async function watchdogs(dir: string): Promise<number[]> {
  return (await listProcs())
    .filter((p) => p.cmdline.includes('watchdog-main') && p.cmdline.includes(dir))
    .map((p) => p.pid);
}

/** A runner (see spawnRunner) that injects `injects` and idles; killed after the test. */
async function run(injects: string): Promise<Fixture> {
  const r = await spawnRunner(home.home, injects);
  runners.push(r);
  await r.waitFor('READY', DEADLINE_MS);
  return r;
}

async function ticker(): Promise<number> {
  const child = spawn(process.execPath, [TICKER, `fl-wd-${process.pid % 10000}`], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  others.push(child);
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return child.pid!;
}

/** Kills the runner with SIGKILL: from here on nobody types anything. */
async function kill(r: Fixture): Promise<void> {
  r.child.kill('SIGKILL');
  assert.equal((await r.exited).signal, 'SIGKILL');
}

/** The watchdog has emptied the ledger (the dead run's file included) and exited. */
async function allCleanedUp(): Promise<void> {
  const dir = home.home;
  await eventually('the ledger is empty', async () => (await ledgerFiles(dir)).length === 0, DEADLINE_MS);
  await eventually('the watchdog exited', async () => (await watchdogs(dir)).length === 0, DEADLINE_MS);
  await home.done();
}

before(async () => {
  assert.equal(watchdogEnabled(), true);
  assert.equal(watchdogGraceMs(), 300);
  try {
    await pgQuery(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int)`);
  } catch (err) {
    pgSkip = `PostgreSQL is not reachable: ${(err as Error).message}`;
  }
  try {
    REDIS.port = await freePort();
    redisServer = spawn(
      'redis-server',
      ['--port', String(REDIS.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    redisServer.on('error', () => undefined);
    await eventually(
      'own redis-server answers',
      async () => {
        try {
          await redisFaultClients();
          return true;
        } catch {
          return false;
        }
      },
      10_000,
    );
  } catch (err) {
    redisSkip = `could not start a redis-server of this test's own (Debian package redis-server): ${(err as Error).message}`;
  }
});

after(() => {
  redisServer?.kill('SIGKILL');
});

afterEach(async () => {
  for (const r of runners) r.child.kill('SIGKILL');
  for (const c of others) c.kill('SIGKILL');
  await Promise.all(runners.map((r) => r.exited));
  runners = [];
  others = [];
});

test('a SIGKILLed runner: marker, process pause, stress, postgres and redis faults are reverted with no command typed', async (t) => {
  const marker = join(home.home, 'marker');
  const paused = await ticker();
  const inject = (kind: string, args: object) =>
    `await s.inject(${JSON.stringify(kind)}, ${JSON.stringify(args)}, { ttlMs: 600_000 });\n`;
  let injects =
    inject('marker-file', { path: marker }) +
    inject('process-pause', { pid: paused }) +
    inject('stress-cpu', { workers: 1, load: 5 });
  if (pgSkip) t.diagnostic(`postgres part skipped: ${pgSkip}`);
  else injects += inject('postgres-lock-table', { ...PG, table: TABLE });
  if (redisSkip) t.diagnostic(`redis part skipped: ${redisSkip}`);
  else injects += inject('redis-exhaust-connections', { ...REDIS, connections: 3 });
  const runner = await run(injects);

  const dir = home.home;
  const [watchdog] = await watchdogs(dir);
  assert.ok(watchdog, 'the session started a watchdog with its first fault');
  assert.equal(existsSync(marker), true);
  assert.equal((await readProc(paused))?.state, 'T');
  const entries = await new Ledger({ home: dir }).list();
  const ours = new Set(entries.entries.map((e) => e.kind));
  assert.ok(ours.has('stress-cpu') && ours.has('process-pause') && ours.has('marker-file'));

  await kill(runner);
  // Nothing typed from here on: only the watchdog can revert.
  await eventually('the marker is removed', async () => !existsSync(marker), DEADLINE_MS);
  await eventually(
    'the process runs again',
    async () => (await readProc(paused))?.state !== 'T',
    DEADLINE_MS,
  );
  await eventually(
    'no stress worker is left',
    async () => (await listProcs()).every((p) => !p.cmdline.includes('faultline-stress=')),
    DEADLINE_MS,
  );
  if (!pgSkip) {
    await eventually(
      'no faultline backend holds a lock',
      async () =>
        (await pgQuery("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'faultline-%'")).length ===
        0,
      DEADLINE_MS,
    );
  }
  if (!redisSkip) {
    await eventually('no faultline redis client', async () => (await redisFaultClients()) === 0, DEADLINE_MS);
  }
  await allCleanedUp();
});

test('a SIGKILLed runner: a network partition in a namespace is reverted with no command typed', async (t) => {
  const why = networkSkipReason(['ip', 'nft']);
  if (why) return t.skip(why);
  let peer: Peer | undefined;
  try {
    peer = await createPeer();
    const runner = await run(
      `await s.inject('network-partition', ${JSON.stringify({ namespace: peer.ns, interface: peer.nsIf })}, { ttlMs: 600_000 });\n`,
    );
    assert.notDeepEqual(faultlineLeftovers(peer.ns), [], 'the partition is in place');
    await kill(runner);
    const ns = peer.ns;
    await eventually('the partition is gone', async () => faultlineLeftovers(ns).length === 0, DEADLINE_MS);
    await allCleanedUp();
  } finally {
    if (peer) await destroyPeer(peer);
  }
});

test("a hung runner's fault is reverted by the watchdog once its TTL has passed", async () => {
  const marker = join(home.home, 'ttl-marker');
  const runner = await run(
    `await s.inject('marker-file', { path: ${JSON.stringify(marker)} }, { ttlMs: 1000 });\n`,
  );
  // Frozen: alive, but its own TTL timer cannot fire.
  runner.child.kill('SIGSTOP');
  await eventually('the marker is removed past its TTL', async () => !existsSync(marker), DEADLINE_MS);
  assert.equal((await readProc(runner.child.pid!))?.state, 'T', 'the runner is still alive (and hung)');
  await kill(runner);
  await allCleanedUp();
});

test('FAULTLINE_WATCHDOG=0 starts no watchdog', async () => {
  process.env.FAULTLINE_WATCHDOG = '0';
  try {
    const runner = await run(
      `await s.inject('marker-file', { path: ${JSON.stringify(join(home.home, 'm'))} }, { ttlMs: 600_000 });\n`,
    );
    assert.deepEqual(await watchdogs(home.home), []);
    await kill(runner);
  } finally {
    delete process.env.FAULTLINE_WATCHDOG;
  }
  // Left for the next command, as before the switch existed.
  assert.equal(existsSync(join(home.home, 'm')), true);
  const { recoverOrphans } = await import('../../src/faults/index.js');
  await recoverOrphans({ home: home.home });
  await home.done();
});
