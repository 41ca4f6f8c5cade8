/**
 * PostgreSQL faults against the server on this machine (127.0.0.1:5432, trust
 * auth, database `test`): each test proves the effect and its removal, through
 * a FaultSession with a temp FAULTLINE_HOME, and the suite ends with no
 * faultline-* backend and an empty ledger. Skips with the reason when the
 * server is not reachable.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import pg from 'pg';
import type { FaultlineError } from '../../src/core/errors.js';
import { FaultSession, haltAll, Ledger, markerKind, recoverOrphans } from '../../src/faults/index.js';
import { exhaustConnectionsKind } from '../../src/faults/postgres/exhaust-connections.js';
import { lockTableKind } from '../../src/faults/postgres/lock-table.js';
import { slowQueriesKind } from '../../src/faults/postgres/slow-queries.js';
import { terminateBackendsKind } from '../../src/faults/postgres/terminate-backends.js';
import {
  assertExhaustsExactly,
  eventually,
  faultHomePerTest,
  spawnRunner,
  whileRunnerFrozen,
} from '../helpers/live-faults.js';

const CONN = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const TABLE = 'faultline_lock_test';
const APP_ROLE = 'faultline_test_app';

let skip: string | undefined;
const home = faultHomePerTest('pg-run');
const { session, done } = home;

async function client(opts: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ ...CONN, connectionTimeoutMillis: 3000, ...opts });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values?: unknown[],
): Promise<T[]> {
  const c = await client();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

async function faultlineBackends(): Promise<number> {
  const [row] = await sql<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'faultline-%' AND pid <> pg_backend_pid()",
  );
  return row!.n;
}

const ready = (t: TestContext) => {
  if (skip) t.skip(skip);
  return !skip;
};

before(async () => {
  try {
    await sql('SELECT 1');
  } catch (err) {
    skip = `PostgreSQL is not reachable at 127.0.0.1:5432 as postgres/test: ${(err as Error).message}`;
    console.log(`# skipping PostgreSQL fault tests: ${skip}`);
    return;
  }
  await sql(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int)`);
  await sql(`DO $$ BEGIN CREATE ROLE ${APP_ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
});

after(async () => {
  if (!skip) {
    await eventually('no faultline-* backend is left', async () => (await faultlineBackends()) === 0);
    await sql(`DROP TABLE IF EXISTS ${TABLE}`);
    await sql(`DROP ROLE IF EXISTS ${APP_ROLE}`);
  }
});

describe('postgres.lock_table', () => {
  test('writers wait while the table is locked, and go through after revert', async (t) => {
    if (!ready(t)) return;
    const s = session();
    const h = await s.inject(lockTableKind, { ...CONN, table: TABLE }, { ttlMs: 60_000 });
    assert.match(h.target, /table faultline_lock_test \(EXCLUSIVE\)/);
    const app = await client();
    const writer = await client();
    try {
      await app.query("SET lock_timeout = '300ms'");
      await assert.rejects(app.query(`INSERT INTO ${TABLE} VALUES (1)`), (err: { code?: string }) => {
        assert.equal(err.code, '55P03', 'lock_not_available: the insert waited for the lock');
        return true;
      });
      await app.query(`SELECT count(*) FROM ${TABLE}`); // EXCLUSIVE lets readers through
      // A writer without a timeout waits until the revert, then completes.
      let finished = 0;
      const pending = writer.query(`INSERT INTO ${TABLE} VALUES (2)`).then(() => {
        finished = Date.now();
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(finished, 0, 'the writer is blocked');
      const revertedAt = Date.now();
      const rec = await h.revert();
      assert.equal(rec.verified, true, rec.error);
      await pending;
      assert.ok(finished - revertedAt < 2000, `writer finished ${finished - revertedAt} ms after revert`);
    } finally {
      await app.end();
      await writer.end();
      await s.revertAll();
    }
    assert.equal(await faultlineBackends(), 0);
    await done();
  });

  test('a table name is quoted, never interpolated; bad arguments name the field', async (t) => {
    if (!ready(t)) return;
    const s = session();
    await assert.rejects(
      s.inject(lockTableKind, { ...CONN, table: `${TABLE}"; DROP TABLE ${TABLE}; --` }),
      (err: FaultlineError) => {
        assert.equal(err.code, 'FAULTLINE_ERR_FAULT');
        assert.match(err.message, /does not exist/);
        return true;
      },
    );
    assert.equal((await sql(`SELECT to_regclass('${TABLE}') AS t`))[0]?.t, TABLE, 'the table is still there');
    await assert.rejects(
      s.inject(lockTableKind, { ...CONN, table: TABLE, mode: 'bogus' }),
      (err: FaultlineError) => {
        assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
        assert.equal(err.issues[0]?.path, 'mode');
        return true;
      },
    );
    await assert.rejects(
      s.inject(lockTableKind, { ...CONN, table: TABLE, duration: 5 }),
      /VALIDATION|duration/,
    );
    // Lower-case and underscores are accepted for the mode.
    const h = await s.inject(lockTableKind, { ...CONN, table: TABLE, mode: 'access_exclusive' });
    assert.match(h.target, /ACCESS EXCLUSIVE/);
    await s.revertAll();
    await done();
  });

  test('a password in the url is used but never reaches the ledger', async (t) => {
    if (!ready(t)) return;
    const s = session();
    const h = await s.inject(lockTableKind, {
      url: 'postgres://postgres:s3cr3t-pw@127.0.0.1:5432/test',
      table: TABLE,
    });
    const { readdir, readFile } = await import('node:fs/promises');
    const dir = join(home.home, 'ledger');
    const text = (await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f), 'utf8')))).join(
      '\n',
    );
    assert.ok(text.includes('127.0.0.1'), 'the ledger entry was read');
    assert.equal(text.includes('s3cr3t-pw'), false, 'no password in the ledger');
    assert.equal(h.target.includes('s3cr3t-pw'), false);
    await s.revertAll();
    await done();
  });

  test('revertAll reverts what is active without waiting on a lock wait, and cancels the wait (issue 12 item 13)', {
    timeout: 120_000,
  }, async (t) => {
    if (!ready(t)) return;
    const s = session();
    const marker = join(home.home, 'marker');
    // Another connection holds the table: the lock_table injection can only wait.
    const holder = await client();
    try {
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE ${TABLE} IN ACCESS EXCLUSIVE MODE`);
      await s.inject(markerKind, { path: marker });
      const pending = s.inject(lockTableKind, { ...CONN, table: TABLE, lock_timeout_ms: 600_000 });
      pending.catch(() => undefined);
      await eventually(
        'the injection waits on the lock',
        async () =>
          (
            await sql(
              "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'faultline-%' AND wait_event_type = 'Lock'",
            )
          ).length === 1,
        20_000,
      );

      // The other transaction still holds its lock all along: revertAll cannot be waiting for it.
      const records = await s.revertAll();
      assert.equal(existsSync(marker), false, 'the marker is reverted');
      await assert.rejects(pending, (err: FaultlineError) => {
        assert.equal(err.code, 'FAULTLINE_ERR_INTERRUPTED');
        return true;
      });
      const lock = records.find((r) => r.kind === 'postgres-lock-table');
      assert.equal(lock?.verified, true);
      assert.match(
        lock?.injection_error ?? '',
        /interrupted while injecting: .*cancelled while injecting: the session is reverting/,
      );
      assert.equal(await faultlineBackends(), 0, 'no faultline backend waits on or holds the lock');
      const locks = await sql(
        `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
          WHERE a.application_name LIKE 'faultline-%' AND l.relation = $1::regclass`,
        [TABLE],
      );
      assert.deepEqual(locks, [], 'no lock of ours is held or awaited');
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
    // The lock came free: nothing of ours takes it later.
    const [row] = await sql<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'faultline-%'",
    );
    assert.equal(row?.n, 0);
    await done();
  });
});

describe('postgres.exhaust_connections', () => {
  test('an application cannot connect while the slots are held, and can after revert', async (t) => {
    if (!ready(t)) return;
    const s = session();
    const appConfig = { ...CONN, user: APP_ROLE, connectionTimeoutMillis: 3000 };
    const h = await s.inject(exhaustConnectionsKind, CONN, { ttlMs: 60_000 });
    try {
      const pool = new pg.Pool({ ...appConfig, max: 2 });
      pool.on('error', () => undefined);
      await assert.rejects(pool.query('SELECT 1'), (err: { code?: string; message: string }) => {
        assert.equal(err.code, '53300');
        assert.match(err.message, /too many clients|remaining connection slots are reserved/);
        return true;
      });
      await pool.end();
      // Superuser slots stay free: that is how a revert from anywhere gets in.
      assert.ok((await faultlineBackends()) > 10);
      const rec = await h.revert();
      assert.equal(rec.verified, true, rec.error);
      const again = new pg.Pool({ ...appConfig, max: 2 });
      assert.deepEqual((await again.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
      await again.end();
    } finally {
      await s.revertAll();
    }
    assert.equal(await faultlineBackends(), 0);
    await done();
  });

  test('`connections` holds exactly that many; `leave` with `connections` is refused', async (t) => {
    if (!ready(t)) return;
    await assertExhaustsExactly(session(), exhaustConnectionsKind, CONN, 3, faultlineBackends);
    await done();
  });
});

describe('postgres.slow_queries', () => {
  test('N backends run pg_sleep while active, none after revert', async (t) => {
    if (!ready(t)) return;
    const s = session();
    await s.inject(slowQueriesKind, { ...CONN, connections: 3, sleep_ms: 500 }, { ttlMs: 60_000 });
    const sleeping = async () =>
      (
        await sql<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE application_name LIKE 'faultline-%' AND state = 'active' AND query LIKE '%pg_sleep%'`,
        )
      )[0]!.n;
    await eventually('3 backends run pg_sleep', async () => (await sleeping()) === 3);
    // Still running after several statements: the loop goes on.
    await new Promise((r) => setTimeout(r, 1200));
    await eventually('3 backends still run pg_sleep', async () => (await sleeping()) === 3);
    const [rec] = await s.revertAll();
    assert.equal(rec?.verified, true, rec?.error);
    assert.equal(await sleeping(), 0);
    assert.equal(await faultlineBackends(), 0);
    await done();
  });

  test('the TTL reverts it', async (t) => {
    if (!ready(t)) return;
    const s = session();
    await s.inject(slowQueriesKind, { ...CONN, connections: 2, sleep_ms: 5000 }, { ttlMs: 400 });
    assert.equal(await faultlineBackends(), 2);
    await eventually('the TTL reverted it', async () => s.active() === 0);
    assert.equal(await faultlineBackends(), 0);
    await s.revertAll(); // ends the run (its run file)
    await done();
  });
});

describe('postgres.terminate_backends', () => {
  test("kills the matching application's backend; irreversible and recorded as such", async (t) => {
    if (!ready(t)) return;
    const name = `victim-${process.pid}`;
    const victim = await client({ application_name: name });
    const bystander = await client({ application_name: `bystander-${process.pid}` });
    const s = session();
    try {
      const h = await s.inject(terminateBackendsKind, { ...CONN, application_name: name }, { ttlMs: 60_000 });
      const [fault] = s.records();
      assert.equal(fault?.irreversible, true);
      assert.equal(fault?.targets?.length, 1);
      assert.equal(fault?.targets?.[0]?.type, 'postgres');
      assert.equal(fault?.targets?.[0]?.name, `test/${name}`);
      assert.equal(typeof fault?.targets?.[0]?.pid, 'number');
      const { entries } = await new Ledger({ home: home.home }).list();
      assert.equal(entries[0]?.irreversible, true);
      await assert.rejects(victim.query('SELECT 1'), /terminat|connection/i);
      assert.deepEqual((await bystander.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'others untouched');
      assert.equal((await h.revert()).verified, true);
    } finally {
      await victim.end().catch(() => undefined);
      await bystander.end();
      await s.revertAll();
    }
    await done();
  });

  test('needs a selector; matching nothing is an error; blast radius counts the matches', async (t) => {
    if (!ready(t)) return;
    const s = session();
    await assert.rejects(s.inject(terminateBackendsKind, CONN), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
      return true;
    });
    await assert.rejects(
      s.inject(terminateBackendsKind, { ...CONN, application_name: `nobody-${process.pid}` }),
      /no backend matches/,
    );
    const name = `many-${process.pid}`;
    const victims = [await client({ application_name: name }), await client({ application_name: name })];
    try {
      const limited = new FaultSession({
        runId: 'pg-blast',
        ledger: new Ledger({ home: home.home }),
        blastRadius: [{ source: 'test', policy: { max_targets: 1 } }],
      });
      await assert.rejects(
        limited.inject(terminateBackendsKind, { ...CONN, application_name: name }),
        (err: FaultlineError) => err.code === 'FAULTLINE_ERR_POLICY',
      );
      for (const v of victims) assert.deepEqual((await v.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
      // `count` picks the oldest: one of two.
      await limited.inject(terminateBackendsKind, { ...CONN, application_name: name, count: 1 });
      await assert.rejects(victims[0]!.query('SELECT 1'));
      assert.deepEqual((await victims[1]!.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
      await limited.revertAll();
    } finally {
      for (const v of victims) await v.end().catch(() => undefined);
      await s.revertAll();
    }
    await done();
  });
});

describe('revert from another process', () => {
  test('a hung runner holds a lock, connections and sleepers; `halt` releases every one', async (t) => {
    if (!ready(t)) return;
    const injects = `const conn = ${JSON.stringify(CONN)};
await s.inject('postgres-lock-table', { ...conn, table: ${JSON.stringify(TABLE)} }, { ttlMs: 120_000 });
await s.inject('postgres-exhaust-connections', { ...conn, connections: 4 }, { ttlMs: 120_000 });
await s.inject('postgres-slow-queries', { ...conn, connections: 2, sleep_ms: 60_000 }, { ttlMs: 120_000 });`;
    await whileRunnerFrozen(home.home, injects, async () => {
      assert.equal(await faultlineBackends(), 7);
      const app = await client();
      try {
        await app.query("SET lock_timeout = '200ms'");
        await assert.rejects(app.query(`INSERT INTO ${TABLE} VALUES (3)`), /lock timeout/);

        const report = await haltAll({ home: home.home, reason: 'test' });
        assert.equal(report.reverted.length, 3, JSON.stringify(report));
        assert.deepEqual(report.failed, []);
        assert.equal(await faultlineBackends(), 0);
        await app.query(`INSERT INTO ${TABLE} VALUES (3)`);
      } finally {
        await app.end();
      }
    });
    await done();
  });

  test('a killed runner: `recover` reverts its entries and finds nothing left', async (t) => {
    if (!ready(t)) return;
    const child = await spawnRunner(
      home.home,
      `await s.inject('postgres-lock-table', { ...${JSON.stringify(CONN)}, table: ${JSON.stringify(TABLE)} }, { ttlMs: 120_000 });`,
    );
    await child.waitFor('READY');
    child.child.kill('SIGKILL');
    await child.exited;
    const report = await recoverOrphans({ home: home.home });
    assert.equal(report.reverted.length, 1, JSON.stringify(report));
    assert.equal(await faultlineBackends(), 0);
    await sql(`INSERT INTO ${TABLE} VALUES (4)`);
    await done();
  });
});
