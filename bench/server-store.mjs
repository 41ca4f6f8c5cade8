#!/usr/bin/env node
// The control plane's store with a long history (issue #17: list and filter p99 under 50 ms with
// 100,000 runs): inserts N runs (batched, straight into the tables the store's migrations made) into a
// SQLite file and into the PostgreSQL at 127.0.0.1:5432 (database `test`, a schema of its own, dropped
// at the end), then times Store.listRuns, one call at a time, per query kind: the first page with no
// filter, experiment + verdict, one tag, two tags that rarely meet, a date range, and a page deep in the
// cursor chain, a target (one host) alone and with a tag. Then the trends (GET /api/trends' work:
// Store.trendAggregates + buildTrends) over 30 days by day, one experiment, 90 days by week and 7 days
// by hour, and the /metrics text uncached. Prints p50/p99/max per kind and database.
// Usage: node bench/server-store.mjs [runs=100000] [calls=300]   (PostgreSQL skipped when unreachable)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { register } from 'tsx/esm/api';

register();
const { openStore } = await import('../src/server/db/index.ts');
const { buildTrends, trendQuery } = await import('../src/server/trends.ts');
const { renderMetrics } = await import('../src/server/trend-routes.ts');
const { default: pg } = await import('pg');
const { default: BetterSqlite3 } = await import('better-sqlite3');

const N = Number(process.argv[2] ?? 100_000);
const CALLS = Number(process.argv[3] ?? 300);
const EXPERIMENTS = Array.from({ length: 50 }, (_, i) => `experiment-${String(i).padStart(2, '0')}`);
const TAGS = Array.from({ length: 20 }, (_, i) => `tag${i}`);
const USERS = Array.from({ length: 10 }, (_, i) => `user${i}`);
const HOSTS = Array.from({ length: 200 }, (_, i) => `web-${String(i).padStart(3, '0')}`);
const SERVICES = ['nginx', 'api', 'worker', 'postgres', 'redis'];
const DAYS = 90;
const BATCH = 1000;

// A deterministic generator, so both databases hold the same history.
let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const verdictOf = (x) => (x < 0.7 ? 'passed' : x < 0.85 ? 'deviated' : x < 0.95 ? 'failed' : 'aborted');

function uuidv7(ms, seq) {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | ((seq >> 8) & 0x0f);
  b[7] = seq & 0xff;
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** N runs spread over the last DAYS days, oldest first, each with a small journal (about 1.5 KB). */
function* history() {
  const end = Date.now() - 60_000;
  const start = end - DAYS * 86_400_000;
  const step = (end - start) / N;
  for (let i = 0; i < N; i++) {
    const ms = Math.floor(start + i * step);
    const verdict = verdictOf(rand());
    const tags = [
      ...new Set([pick(TAGS), ...(rand() < 0.5 ? [pick(TAGS)] : []), ...(rand() < 0.2 ? [pick(TAGS)] : [])]),
    ];
    const experiment = pick(EXPERIMENTS);
    const duration = 30 + rand() * 300;
    // What db/facts.ts would find in the journal: 1-3 faults on 1-3 (host, service) targets, a
    // recovery measured by 60% of runs, a few safeguard stops and faults left behind.
    const faults = 1 + Math.floor(rand() * 3);
    const touched = [...new Set(Array.from({ length: faults }, () => `${pick(HOSTS)}|${pick(SERVICES)}`))];
    const labels = [
      ...new Set(
        touched.flatMap((t) => {
          const [host, svc] = t.split('|');
          return [svc, `process-stop:${svc}`, `process:${svc}`, host, `app=${svc}`];
        }),
      ),
    ];
    yield {
      labels,
      faults,
      targets: touched.length,
      recovery_ms: rand() < 0.6 ? Math.round(500 + rand() * 60_000) : null,
      safeguard_breached: rand() < 0.03 ? 1 : 0,
      unreverted: rand() < 0.01 ? 1 : 0,
      id: uuidv7(ms, i & 0xfff),
      experiment,
      experiment_version: 1 + Math.floor(rand() * 5),
      title: `${experiment} under load`,
      tags,
      origin: rand() < 0.8 ? 'server' : 'push',
      status: 'finished',
      verdict,
      reason: verdict === 'passed' ? null : 'p99 latency 412 ms over the 250 ms tolerance',
      requested_at: new Date(ms).toISOString(),
      started_at: new Date(ms + 100).toISOString(),
      finished_at: new Date(ms + 100 + duration * 1000).toISOString(),
      requested_by: pick(USERS),
      claimed_by: 'server-1',
      duration,
      journal: JSON.stringify({
        status: 'completed',
        deviated: verdict !== 'passed',
        run: Array.from({ length: 6 }, (_, k) => ({
          activity: {
            type: 'action',
            name: `step-${k}`,
            provider: { type: 'http', url: 'http://svc:8080/api' },
          },
          status: 'succeeded',
          start: new Date(ms).toISOString(),
          end: new Date(ms + 1000).toISOString(),
          duration: 1,
          output: { status: 200, body: 'ok'.repeat(40) },
        })),
      }),
    };
  }
}

function runRow(r) {
  return [
    r.id,
    r.experiment,
    r.experiment_version,
    r.title,
    JSON.stringify(r.tags),
    r.origin,
    r.status,
    r.verdict,
    r.reason,
    r.requested_at,
    r.started_at,
    r.finished_at,
    r.requested_by,
    r.claimed_by,
    r.duration,
    r.journal,
    r.faults,
    r.targets,
    r.recovery_ms,
    r.safeguard_breached,
    r.unreverted,
  ];
}
const RUN_COLS =
  'id, experiment, experiment_version, title, tags, origin, status, verdict, reason, requested_at, started_at, finished_at, requested_by, claimed_by, duration, journal, faults, targets, recovery_ms, safeguard_breached, unreverted';
const RUN_PARAMS = 21;

function insertSqlite(file) {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  const run = db.prepare(`insert into runs (${RUN_COLS}) values (${Array(RUN_PARAMS).fill('?').join(', ')})`);
  const tag = db.prepare('insert into run_tags (run_id, tag, requested_at) values (?, ?, ?)');
  const target = db.prepare('insert into run_targets (run_id, target, requested_at) values (?, ?, ?)');
  const batch = db.transaction((rows) => {
    for (const r of rows) {
      run.run(...runRow(r));
      for (const t of r.tags) tag.run(r.id, t, r.requested_at);
      for (const l of r.labels) target.run(r.id, l, r.requested_at);
    }
  });
  let rows = [];
  for (const r of history()) {
    rows.push(r);
    if (rows.length === BATCH) {
      batch(rows);
      rows = [];
    }
  }
  if (rows.length) batch(rows);
  db.close();
}

async function insertPostgres(client) {
  const flush = async (rows) => {
    const params = [];
    const values = rows.map((r) => {
      const row = runRow(r);
      const base = params.length;
      params.push(...row);
      return `(${row.map((_, k) => `$${base + k + 1}`).join(', ')})`;
    });
    await client.query('begin');
    await client.query(`insert into runs (${RUN_COLS}) values ${values.join(', ')}`, params);
    const tagRows = rows.flatMap((r) => r.tags.map((t) => [r.id, t, r.requested_at]));
    await client.query(
      'insert into run_tags (run_id, tag, requested_at) select * from unnest($1::text[], $2::text[], $3::text[])',
      [tagRows.map(([id]) => id), tagRows.map(([, t]) => t), tagRows.map(([, , at]) => at)],
    );
    const targetRows = rows.flatMap((r) => r.labels.map((l) => [r.id, l, r.requested_at]));
    await client.query(
      'insert into run_targets (run_id, target, requested_at) select * from unnest($1::text[], $2::text[], $3::text[])',
      [targetRows.map(([id]) => id), targetRows.map(([, t]) => t), targetRows.map(([, , at]) => at)],
    );
    await client.query('commit');
  };
  // 21 parameters a row: 1,000 rows stays under PostgreSQL's 65,535 parameters a statement.
  let rows = [];
  for (const r of history()) {
    rows.push(r);
    if (rows.length === BATCH) {
      await flush(rows);
      rows = [];
    }
  }
  if (rows.length) await flush(rows);
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function timeKind(store, name, filterFor) {
  const xs = [];
  let rows = 0;
  for (let i = 0; i < 20; i++) await store.listRuns(filterFor(i)); // warm-up
  for (let i = 0; i < CALLS; i++) {
    const f = filterFor(i);
    const t0 = performance.now();
    const page = await store.listRuns(f);
    xs.push(performance.now() - t0);
    rows += page.runs.length;
  }
  return { name, p50: pct(xs, 50), p99: pct(xs, 99), max: Math.max(...xs), rowsPerCall: rows / CALLS };
}

async function measure(label, store) {
  // A cursor 1,000 pages of 50 deep (50,000 runs back), found by walking the chain once.
  let cursor;
  const walk0 = performance.now();
  for (let p = 0; p < 1000; p++) {
    const page = await store.listRuns({ limit: 50, ...(cursor ? { cursor } : {}) });
    cursor = page.next;
    if (!cursor) break;
  }
  const walkMs = performance.now() - walk0;
  const now = Date.now();
  const kinds = [
    ['no filter, first page', () => ({ limit: 50 })],
    ['experiment + verdict', (i) => ({ experiment: EXPERIMENTS[i % 50], verdict: 'failed', limit: 50 })],
    ['one tag', (i) => ({ tags: [TAGS[i % 20]], limit: 50 })],
    ['two tags', (i) => ({ tags: [TAGS[i % 20], TAGS[(i + 7) % 20]], limit: 50 })],
    [
      'experiment + tag + verdict',
      (i) => ({ experiment: EXPERIMENTS[i % 50], tags: [TAGS[i % 20]], verdict: 'aborted', limit: 50 }),
    ],
    [
      'date range (one day, 30 days ago)',
      () => ({
        from: new Date(now - 31 * 86_400_000).toISOString(),
        to: new Date(now - 30 * 86_400_000).toISOString(),
        limit: 50,
      }),
    ],
    ['page 1,000 deep (cursor)', () => ({ limit: 50, cursor })],
    ['target (one host)', (i) => ({ target: HOSTS[i % 200], limit: 50 })],
    ['target + tag', (i) => ({ target: HOSTS[i % 200], tags: [TAGS[i % 20]], limit: 50 })],
  ];
  const results = [];
  for (const [name, f] of kinds) results.push(await timeKind(store, name, f));
  console.log(`\n${label}: ${N.toLocaleString('en')} runs; listRuns, ${CALLS} calls per kind, one at a time`);
  for (const r of results) {
    console.log(
      `  ${r.name.padEnd(36)} p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  max ${r.max.toFixed(1).padStart(6)} ms  (${r.rowsPerCall.toFixed(0)} rows)`,
    );
  }
  console.log(
    `  walking 1,000 pages of 50 by cursor: ${walkMs.toFixed(0)} ms (${(walkMs / 1000).toFixed(2)} ms a page)`,
  );
  const worst = Math.max(...results.map((r) => r.p99));
  console.log(`RESULT ${label}_list_p99_ms=${worst.toFixed(1)} target<50`);

  // Trends: what GET /api/trends does (the store's aggregates, then the buckets, means and scores).
  const trendKinds = [
    [
      'last 30 days by day (the default)',
      () => ({ from: new Date(now - 30 * 86_400_000), to: new Date(now), bucket: 'day' }),
    ],
    [
      'one experiment, 30 days by day',
      (i) => ({
        from: new Date(now - 30 * 86_400_000),
        to: new Date(now),
        bucket: 'day',
        experiment: EXPERIMENTS[i % 50],
      }),
    ],
    ['90 days by week', () => ({ from: new Date(now - 90 * 86_400_000), to: new Date(now), bucket: 'week' })],
    ['7 days by hour', () => ({ from: new Date(now - 7 * 86_400_000), to: new Date(now), bucket: 'hour' })],
  ];
  const trendCalls = Math.max(20, Math.floor(CALLS / 5));
  const trendResults = [];
  for (const [name, wFor] of trendKinds) {
    const xs = [];
    let runs = 0;
    for (let i = 0; i < 3; i++) buildTrends(wFor(i), await store.trendAggregates(trendQuery(wFor(i))));
    for (let i = 0; i < trendCalls; i++) {
      const w = wFor(i);
      const t0 = performance.now();
      const trends = buildTrends(w, await store.trendAggregates(trendQuery(w)));
      xs.push(performance.now() - t0);
      runs += trends.overall.runs;
    }
    trendResults.push({
      name,
      p50: pct(xs, 50),
      p99: pct(xs, 99),
      max: Math.max(...xs),
      runs: runs / trendCalls,
    });
  }
  {
    const xs = [];
    for (let i = 0; i < trendCalls; i++) {
      const t0 = performance.now();
      await renderMetrics(store, 0);
      xs.push(performance.now() - t0);
    }
    trendResults.push({
      name: '/metrics text, uncached',
      p50: pct(xs, 50),
      p99: pct(xs, 99),
      max: Math.max(...xs),
      runs: NaN,
    });
  }
  console.log(`${label}: trends, ${trendCalls} calls per kind, one at a time`);
  for (const r of trendResults) {
    console.log(
      `  ${r.name.padEnd(36)} p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  max ${r.max.toFixed(1).padStart(6)} ms${Number.isNaN(r.runs) ? '' : `  (${r.runs.toFixed(0)} runs counted)`}`,
    );
  }
  const worstTrend = Math.max(...trendResults.map((r) => r.p99));
  console.log(`RESULT ${label}_trends_p99_ms=${worstTrend.toFixed(1)}`);
}

async function benchSqlite() {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-store-'));
  try {
    const file = join(dir, 'faultline.db');
    const setup = await openStore({ home: dir, database: file });
    await setup.close();
    const t0 = performance.now();
    insertSqlite(file);
    console.log(
      `sqlite: inserted ${N.toLocaleString('en')} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const store = await openStore({ home: dir, database: file });
    try {
      await measure('sqlite', store);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPostgres() {
  const admin = new pg.Client({
    host: '127.0.0.1',
    port: 5432,
    user: 'postgres',
    database: 'test',
    connectionTimeoutMillis: 3000,
  });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
  } catch (err) {
    console.log(`\npostgres: skipped, 127.0.0.1:5432 not reachable (${err.message})`);
    return;
  }
  const schema = `faultline_bench_${process.pid}`;
  const url = `postgres://postgres@127.0.0.1:5432/test?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  try {
    await admin.query(`create schema ${schema}`);
    const setup = await openStore({ home: tmpdir(), database: url });
    await setup.close();
    await admin.query(`set search_path = ${schema}`);
    const t0 = performance.now();
    await insertPostgres(admin);
    // What autovacuum would have done by the time a team has 100,000 runs.
    await admin.query('vacuum analyze runs');
    await admin.query('vacuum analyze run_tags');
    console.log(
      `\npostgres: inserted ${N.toLocaleString('en')} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const store = await openStore({ home: tmpdir(), database: url });
    try {
      await measure('postgres', store);
    } finally {
      await store.close();
    }
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await admin.end();
  }
}

await benchSqlite();
await benchPostgres();
