#!/usr/bin/env node
// The dashboard's first load with a long history (issue #17: "dashboard first load in Chromium, target
// 1 s to usable" with 100,000 runs): fills a SQLite store with N runs (straight into the tables the
// store's migrations made, as bench/server-store.mjs does), starts `faultline serve`'s server on it
// (loopback, no users: no sign-in), and loads the Runs page in Chromium LOADS times, each in a new
// browser context (nothing cached, no cookies): from navigation until the table shows its rows and its
// first run link is enabled. Then the same for the Trends page (until its first chart is drawn), whose
// API aggregates the whole 30 days. Prints median, p95 and max per page and the bundle's sizes.
// Usage: node bench/dashboard-load.mjs [runs=100000] [loads=25]   (needs `npm run build` and /usr/bin/chromium)
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { register } from 'tsx/esm/api';

register();
const { openStore } = await import('../src/server/db/index.ts');
const { startServer } = await import('../src/server/server.ts');
const { default: BetterSqlite3 } = await import('better-sqlite3');
const { chromium } = await import('playwright-core');

const N = Number(process.argv[2] ?? 100_000);
const LOADS = Math.max(20, Number(process.argv[3] ?? 25));
const CHROMIUM = '/usr/bin/chromium';
const DIST = fileURLToPath(new URL('../dist/dashboard/', import.meta.url));
const EXPERIMENTS = Array.from({ length: 50 }, (_, i) => `experiment-${String(i).padStart(2, '0')}`);
const TAGS = Array.from({ length: 20 }, (_, i) => `tag${i}`);
const HOSTS = Array.from({ length: 200 }, (_, i) => `web-${String(i).padStart(3, '0')}`);
const DAYS = 90;

if (!existsSync(join(DIST, 'index.html'))) {
  process.stderr.write('dashboard-load: run `npm run build` first (dist/dashboard/ is missing)\n');
  process.exit(1);
}
if (!existsSync(CHROMIUM)) {
  process.stderr.write(`dashboard-load: ${CHROMIUM} is missing\n`);
  process.exit(1);
}

let seed = 7;
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = (xs) => xs[Math.floor(rand() * xs.length)];

function uuidv7(ms, seq) {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | ((seq >> 8) & 0x0f);
  b[7] = seq & 0xff;
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function fill(file) {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  const cols =
    'id, experiment, experiment_version, title, tags, origin, status, verdict, reason, requested_at, started_at, finished_at, requested_by, claimed_by, duration, journal, faults, targets, recovery_ms, safeguard_breached, unreverted';
  const run = db.prepare(`insert into runs (${cols}) values (${Array(21).fill('?').join(', ')})`);
  const tag = db.prepare('insert into run_tags (run_id, tag, requested_at) values (?, ?, ?)');
  const target = db.prepare('insert into run_targets (run_id, target, requested_at) values (?, ?, ?)');
  const end = Date.now() - 60_000;
  const start = end - DAYS * 86_400_000;
  const step = (end - start) / N;
  const insert = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      const ms = Math.floor(start + i * step);
      const x = rand();
      const verdict = x < 0.7 ? 'passed' : x < 0.85 ? 'deviated' : x < 0.95 ? 'failed' : 'aborted';
      const experiment = pick(EXPERIMENTS);
      const tags = [...new Set([pick(TAGS), ...(rand() < 0.5 ? [pick(TAGS)] : [])])];
      const hosts = [...new Set([pick(HOSTS), ...(rand() < 0.4 ? [pick(HOSTS)] : [])])];
      const duration = 30 + rand() * 300;
      const id = uuidv7(ms, i & 0xfff);
      const at = new Date(ms).toISOString();
      run.run(
        id,
        experiment,
        1 + Math.floor(rand() * 5),
        `${experiment} under load`,
        JSON.stringify(tags),
        rand() < 0.8 ? 'server' : 'push',
        'finished',
        verdict,
        verdict === 'passed' ? null : 'p99 latency 412 ms over the 250 ms tolerance',
        at,
        new Date(ms + 100).toISOString(),
        new Date(ms + 100 + duration * 1000).toISOString(),
        `user${i % 10}`,
        'server-1',
        duration,
        JSON.stringify({ status: 'completed', deviated: verdict !== 'passed', run: [] }),
        hosts.length,
        hosts.length,
        rand() < 0.6 ? Math.round(500 + rand() * 60_000) : null,
        0,
        0,
      );
      for (const t of tags) tag.run(id, t, at);
      for (const h of hosts) target.run(id, h, at);
    }
  });
  for (let i = 0; i < N; i += 1000) insert(i, Math.min(N, i + 1000));
  db.close();
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

const dir = mkdtempSync(join(tmpdir(), 'faultline-dashboard-bench-'));
const home = join(dir, 'home');
const database = join(dir, 'faultline.db');
let server;
let browser;
try {
  // The store's migrations make the tables; the history goes straight in.
  await (await openStore({ home, database })).close();
  const t0 = performance.now();
  fill(database);
  process.stdout.write(`filled ${N} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  const store = await openStore({ home, database });
  server = await startServer({ store, home, port: 0, pollMs: 1_000 });
  server.store = store;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });

  const measure = async (name, hash, ready) => {
    const xs = [];
    // One load first, not counted: Chromium's own start-up (its first context, its caches on disk).
    for (let i = -1; i < LOADS; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const started = performance.now();
      await page.goto(`${server.url}/${hash}`, { waitUntil: 'commit' });
      await ready(page);
      const ms = performance.now() - started;
      if (i >= 0) xs.push(ms);
      await context.close();
    }
    return { name, p50: pct(xs, 50), p95: pct(xs, 95), max: Math.max(...xs) };
  };

  const results = [
    await measure('runs page (25 newest of all)', '#/runs', async (page) => {
      const link = page.locator('table.runs tbody tr a').first();
      await link.waitFor({ state: 'visible', timeout: 30_000 });
      // Usable: the rows are there and the page answers input (the link can be clicked).
      if (!(await link.isEnabled())) throw new Error('the first run link is not enabled');
    }),
    await measure(
      'runs page filtered (experiment + verdict)',
      '#/runs?experiment=experiment-07&verdict=failed',
      async (page) => {
        await page.locator('table.runs tbody tr a').first().waitFor({ state: 'visible', timeout: 30_000 });
      },
    ),
    await measure('trends page (30 days by day, all experiments)', '#/trends', async (page) => {
      await page.locator('figure.chart canvas').first().waitFor({ state: 'visible', timeout: 30_000 });
      await page.locator('table.trend-table tbody tr').first().waitFor({ state: 'visible', timeout: 30_000 });
    }),
  ];

  let raw = 0;
  let gz = 0;
  for (const f of ['index.html', ...readdirSync(join(DIST, 'assets')).map((n) => join('assets', n))]) {
    const body = readFileSync(join(DIST, f));
    raw += body.length;
    gz += gzipSync(body, { level: 9 }).length;
  }
  process.stdout.write(
    `\nChromium cold loads (a new context each, ${LOADS} loads), ${N} runs in SQLite, ${cpus().length} cores:\n`,
  );
  for (const r of results)
    process.stdout.write(
      `  ${r.name.padEnd(48)} median ${r.p50.toFixed(0).padStart(5)} ms  p95 ${r.p95.toFixed(0).padStart(5)} ms  max ${r.max.toFixed(0).padStart(5)} ms\n`,
    );
  process.stdout.write(`dashboard bundle: ${raw} B, ${gz} B gzipped (index.html, JS, CSS, icon)\n`);
} finally {
  await browser?.close();
  await server?.close();
  await server?.store?.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
