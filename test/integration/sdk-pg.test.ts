/**
 * A wrapped `pg` query against the real PostgreSQL on this machine
 * (127.0.0.1:5432, user postgres, database test), through the public
 * `faultline/sdk` entry point: latency and an exception injected into
 * `client.query`, labels, and the pass-through when no rule matches.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import * as faultline from '../../src/sdk/index.js';

const CONN = {
  host: '127.0.0.1',
  port: 5432,
  user: 'postgres',
  database: 'test',
  connectionTimeoutMillis: 3000,
};
let client: pg.Client;
let query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>;

before(async () => {
  client = new pg.Client(CONN);
  await client.connect();
  faultline.enable({ otel: false, labels: { service: 'orders-api' } });
  query = faultline.wrap('db.query', (sql: string, params?: unknown[]) => client.query(sql, params), {
    db: 'test',
  });
});
after(async () => {
  faultline.clearRules();
  await client.end();
});

test('no rule: the wrapped query runs against PostgreSQL', async () => {
  const r = await query('select $1::int + 1 as n', [41]);
  assert.equal(r.rows[0].n, 42);
});

test('latency injected into client.query', async () => {
  const events: faultline.FaultEvent[] = [];
  const off = faultline.on('fault', (e) => events.push(e));
  faultline.addRule({
    id: 'pg-slow',
    type: 'latency',
    latency_ms: 150,
    match: { point: 'db.*', labels: { db: 'test' } },
  });
  try {
    const t0 = performance.now();
    const r = await query('select pg_backend_pid() as pid');
    assert.ok(r.rows[0].pid > 0);
    assert.ok(performance.now() - t0 >= 145);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.ruleId, 'pg-slow');
    assert.deepEqual(events[0]?.labels, { service: 'orders-api', db: 'test' });
  } finally {
    off();
    faultline.clearRules();
  }
});

test('an exception injected into client.query; the database is not touched', async () => {
  await query('create temp table if not exists sdk_hits (n int)');
  faultline.addRule({
    type: 'exception',
    message: 'connection terminated unexpectedly',
    match: { point: 'db.query' },
  });
  try {
    await assert.rejects(
      query('insert into sdk_hits values (1)'),
      (e: unknown) =>
        e instanceof faultline.InjectedFault && e.message === 'connection terminated unexpectedly',
    );
  } finally {
    faultline.clearRules();
  }
  const r = await query('select count(*)::int as c from sdk_hits');
  assert.equal(r.rows[0].c, 0, 'the injected failure happened before the query');
  // A rule for another database leaves this one alone.
  faultline.addRule({ type: 'exception', match: { point: 'db.query', labels: { db: 'other' } } });
  try {
    assert.equal((await query('select 1 as one')).rows[0].one, 1);
  } finally {
    faultline.clearRules();
  }
});

test('a real database error passes through unchanged', async () => {
  await assert.rejects(
    query('select * from no_such_table'),
    (e: unknown) => (e as { code?: string }).code === '42P01',
  );
});
