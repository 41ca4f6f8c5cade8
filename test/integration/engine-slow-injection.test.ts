/**
 * Issue 12 item 13 end to end through the engine: a safeguard breach while a
 * `postgres.lock_table` injection waits on a lock another connection holds.
 * The run must stop, revert the marker fault already in place and cancel the
 * lock injection without waiting for the lock (the other connection keeps it
 * for the whole run), leave no faultline backend behind, and journal the
 * cancelled fault with why (not dated as if it had taken effect).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Experiment } from '../../src/core/schema.js';
import { runExperiment } from '../../src/lib/run.js';
import { tempHome } from '../helpers/home.js';
import { eventually } from '../helpers/live-faults.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/engine/', import.meta.url));
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const TABLE = 'faultline_slow_injection_test';
let home: Awaited<ReturnType<typeof tempHome>>;
let skip: string | undefined;

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ ...PG, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function sql(text: string): Promise<unknown[]> {
  const c = await client();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

before(async () => {
  home = await tempHome();
  try {
    await sql(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int)`);
  } catch (err) {
    skip = `PostgreSQL is not reachable at 127.0.0.1:5432: ${(err as Error).message}`;
  }
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
  if (!skip) await sql(`DROP TABLE IF EXISTS ${TABLE}`);
});

test('a breach during a lock wait reverts the active fault and cancels the wait, without waiting for the lock', {
  timeout: 180_000,
}, async (t) => {
  if (skip) return t.skip(skip);
  const marker = join(home.home, 'marker');
  const alarm = join(home.home, 'alarm');
  const experiment: Experiment = {
    title: 'slow injection',
    description: 'a lock_table injection waits on a lock held elsewhere when the safeguard trips',
    method: [
      {
        type: 'action',
        name: 'marker',
        provider: {
          type: 'faultline',
          module: 'faultline.marker',
          func: 'create',
          arguments: { path: marker },
        },
      },
      {
        type: 'action',
        name: 'lock',
        provider: {
          type: 'faultline',
          module: 'faultline.postgres',
          func: 'lock_table',
          arguments: { ...PG, table: TABLE, lock_timeout_ms: 600_000, duration: 60 },
        },
      },
    ],
    safeguards: [
      {
        type: 'probe',
        name: 'no-alarm',
        tolerance: true,
        frequency: 0.1,
        provider: { type: 'node', module: './probes.mjs', func: 'fileAbsent', arguments: { path: alarm } },
      },
    ],
  } as Experiment;
  const holder = await client();
  try {
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE ${TABLE} IN ACCESS EXCLUSIVE MODE`);
    const running = runExperiment(experiment, { baseDir: FIXTURES, home: home.home });
    await eventually(
      'the lock injection waits on the lock',
      async () =>
        (
          await sql(
            "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'faultline-%' AND wait_event_type = 'Lock'",
          )
        ).length === 1,
      60_000,
    );
    assert.equal(existsSync(marker), true);
    await writeFile(alarm, 'x');
    // The other transaction still holds the lock: the run can only end by not waiting for it.
    const j = await running;
    assert.equal(j.status, 'interrupted');
    assert.match(j.faultline.reason ?? '', /safeguard 'no-alarm'/);
    assert.equal(existsSync(marker), false, 'the marker was reverted');
    assert.deepEqual(
      await sql("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'faultline-%'"),
      [],
      'no faultline backend holds or waits on the lock',
    );
    const lock = j.faultline.faults.find((f) => f.kind === 'postgres-lock-table');
    assert.ok(lock, 'the cancelled lock fault is in the journal');
    assert.equal(lock.verified, true);
    assert.match(lock.injection_error ?? '', /interrupted while injecting/);
    assert.deepEqual(j.faultline.unreverted, []);
    const breach = j.faultline.safeguard as { breached_at: string };
    const at = (s: string) => Date.parse(s.replace(/(\.\d{3})\d*/, '$1'));
    const markerFault = j.faultline.faults.find((f) => f.kind === 'marker-file');
    assert.ok(at(markerFault?.reverted_at ?? '') >= at(breach.breached_at), 'reverted after the breach');
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
  }
  assert.deepEqual(
    await sql(
      "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'faultline-%'",
    ),
    [],
    'nothing of ours takes the lock once it is free',
  );
});
