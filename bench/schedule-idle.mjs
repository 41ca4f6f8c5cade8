#!/usr/bin/env node
// The cost of many active schedules at idle (issue #18): a real server in this process (SQLite by
// default), first with no schedule, then with N active schedules (daily crons at random times in a few
// time zones, none due during the measurement), each measured over S seconds: the process's CPU (user +
// system over wall time, as a percentage of one core) and its RSS (the largest seen, sampled each
// second), side by side. The scheduler holds the next fire times in a heap and polls one revision
// number every 2 s, so idle should cost about the same with 10,000 schedules as with none; what grows
// is the memory for the schedules held. Also: how long GET /api/schedules takes with N (first, then again).
// Usage: node bench/schedule-idle.mjs [schedules=10000] [seconds=60] [--database=URL]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const { register } = await import('tsx/esm/api');
register();
const { openStore } = await import('../src/server/db/index.ts');
const { startServer } = await import('../src/server/server.ts');
const { ScheduleSpecSchema } = await import('../src/server/schedules/model.ts');

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const N = Number(positional[0] ?? 10_000);
const SECONDS = Number(positional[1] ?? 60);
const database = flags.find((f) => f.startsWith('--database='))?.slice('--database='.length);

const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-schedule-idle-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
const home = join(dir, 'home');
const store = await openStore({ home, database: database ?? join(dir, 'faultline.db') });
const server = await startServer({ store, home, port: 0, pollMs: 1000 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure() {
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  let rss = process.memoryUsage().rss;
  for (let i = 0; i < SECONDS; i++) {
    await sleep(1000);
    rss = Math.max(rss, process.memoryUsage().rss);
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - wall0;
  return {
    cpuPercent: Number((((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(2)),
    rssMiB: Number((rss / 2 ** 20).toFixed(1)),
    heapUsedMiB: Number((process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)),
  };
}

await store.putExperiment({
  name: 'bench-idle',
  format: 'yaml',
  title: 'idle',
  tags: [],
  source: 'title: idle\ndescription: never runs here\nmethod: []\n',
  createdBy: 'bench',
});
await sleep(3000);
const empty = await measure();

// Daily at a random minute of an hour at least two hours away in its zone's clock, so none fires.
const zones = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Tokyo'];
const t0 = Date.now();
for (let i = 0; i < N; i++) {
  const timezone = zones[i % zones.length];
  const hourNow = Number(
    new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', hour12: false }).format(
      new Date(),
    ),
  );
  const hour = (hourNow + 2 + (i % 20)) % 24;
  await store.schedules.create(
    ScheduleSpecSchema.parse({
      name: `idle-${i}`,
      experiment: 'bench-idle',
      timing: { cron: `${i % 60} ${hour} * * *`, timezone },
    }),
    'bench',
  );
}
const createMs = Date.now() - t0;
// The scheduler reads them at its next poll (2 s): let it, and settle, before measuring.
await sleep(6000);
const held = await measure();
// The list computes each schedule's next five fire times once, then keeps them while they stand.
const list = async () => {
  const l0 = performance.now();
  const res = await fetch(`${server.url}/api/schedules`);
  const n = (await res.json()).schedules.length;
  return { ms: Math.round(performance.now() - l0), n };
};
const first = await list();
const again = await list();

console.log(
  JSON.stringify(
    {
      bench: 'schedule-idle',
      database: database ? 'postgres' : 'sqlite',
      seconds: SECONDS,
      none: empty,
      [`${N} schedules`]: held,
      createMs,
      listFirstMs: first.ms,
      listAgainMs: again.ms,
      listed: again.n,
      machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    },
    null,
    2,
  ),
);
await server.close();
await store.close();
process.exit(0);
