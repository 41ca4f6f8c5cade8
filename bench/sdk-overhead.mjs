#!/usr/bin/env node
// The in-process SDK's cost when it is installed and enabled but no fault is
// active (the state a service runs in almost all the time):
//  1. added time per wrapped call: a tight loop of `wrap`ped async no-ops
//     against the bare function, side by side: batches of B awaited calls,
//     bare and wrapped alternating, R batches each; per-call time of a batch =
//     batch time / B; the figure is p50(wrapped) - p50(bare). Target <= 1 us.
//  2. throughput of a tight fetch loop (C concurrent loops, keep-alive)
//     against a local server in a separate process, with the SDK's dispatcher
//     installed as the global dispatcher vs absent, alternating runs of S
//     seconds; each round is a pair (order alternating), and the figure is
//     1 - median over pairs of installed/absent (pairing cancels the drift of a
//     shared machine); the medians of each side are printed too. Target < 2%.
// Usage: npm run build && node bench/sdk-overhead.mjs [rounds=20] [seconds=1] [concurrency=8]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import * as faultline from '../dist/sdk/index.js';

const rounds = Number(process.argv[2] ?? 20);
const seconds = Number(process.argv[3] ?? 1);
const concurrency = Number(process.argv[4] ?? 8);

faultline.enable({ otel: false });
faultline.installHttp();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

// --- 1. wrapped call overhead ------------------------------------------------
{
  const bare = async (x) => x;
  const wrapped = faultline.wrap('bench.noop', bare, { tier: 'bench' });
  const B = 10_000;
  const R = 300;
  async function batch(fn) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < B; i++) await fn(i);
    return Number(process.hrtime.bigint() - t0) / B;
  }
  for (let i = 0; i < 30; i++) {
    await batch(bare);
    await batch(wrapped);
  }
  const b = [];
  const w = [];
  for (let i = 0; i < R; i++) {
    if (i % 2) {
      b.push(await batch(bare));
      w.push(await batch(wrapped));
    } else {
      w.push(await batch(wrapped));
      b.push(await batch(bare));
    }
  }
  const added = median(w) - median(b);
  console.log(`wrapped async no-op (${R} batches of ${B} calls each, alternating):`);
  console.log(`  bare    p50 ${median(b).toFixed(1)} ns/call  p90 ${pct(b, 90).toFixed(1)} ns`);
  console.log(`  wrapped p50 ${median(w).toFixed(1)} ns/call  p90 ${pct(w, 90).toFixed(1)} ns`);
  console.log(
    `  added per wrapped call (p50): ${added.toFixed(1)} ns = ${(added / 1000).toFixed(3)} us (target <= 1 us): ${added <= 1000 ? 'OK' : 'OVER'}`,
  );
  const p = [];
  for (let i = 0; i < 100; i++) {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < B; j++) await faultline.point('bench.point');
    p.push(Number(process.hrtime.bigint() - t0) / B);
  }
  console.log(`  await faultline.point() with no rule: p50 ${median(p).toFixed(1)} ns/call`);
}

// --- 2. fetch throughput ---------------------------------------------------------
{
  const TARGET = `
const http = require('node:http');
const s = http.createServer((req, res) => { res.writeHead(200, {'content-type': 'text/plain', 'content-length': '2'}); res.end('ok'); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`;
  const target = spawn(process.execPath, ['-e', TARGET], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [portLine] = await once(target.stdout, 'data');
  const url = `http://127.0.0.1:${String(portLine).trim()}/`;

  const cpu = { absent: [], installed: [] };
  let mode = 'absent';
  async function run(ms) {
    const end = performance.now() + ms;
    const c0 = process.cpuUsage();
    let n = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const res = await fetch(url);
          await res.arrayBuffer();
          n += 1;
        }
      }),
    );
    const c = process.cpuUsage(c0);
    cpu[mode].push((c.user + c.system) / n);
    return n / (ms / 1000);
  }
  // warm-up, both ways
  await run(1000);
  const undo = faultline.installGlobalDispatcher();
  await run(1000);
  undo();
  cpu.absent.length = 0;
  cpu.installed.length = 0;
  const absent = [];
  const installed = [];
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 ? ['installed', 'absent'] : ['absent', 'installed'];
    for (const m of order) {
      mode = m;
      if (mode === 'installed') {
        const u = faultline.installGlobalDispatcher();
        installed.push(await run(seconds * 1000));
        u();
      } else absent.push(await run(seconds * 1000));
    }
  }
  const ratios = installed.map((r, i) => r / absent[i]);
  const loss = 1 - median(ratios);
  console.log(
    `fetch loop against ${url} (separate process), ${concurrency} concurrent, ${rounds} x ${seconds} s each way, alternating:`,
  );
  console.log(
    `  absent    ${absent.map((r) => r.toFixed(0)).join(' ')} req/s (median ${median(absent).toFixed(0)})`,
  );
  console.log(
    `  installed ${installed.map((r) => r.toFixed(0)).join(' ')} req/s (median ${median(installed).toFixed(0)})`,
  );
  console.log(
    `  installed/absent per pair: ${ratios.map((r) => r.toFixed(3)).join(' ')}; medians' ratio ${(median(installed) / median(absent)).toFixed(3)}`,
  );
  console.log(
    `  throughput loss (median of pairs): ${(loss * 100).toFixed(2)}% (target < 2%): ${loss < 0.02 ? 'OK' : 'OVER'}; load average ${loadavg()[0].toFixed(1)}`,
  );
  const cpuA = median(cpu.absent);
  const cpuI = median(cpu.installed);
  console.log(
    `  client CPU per request (less sensitive to a shared machine): absent ${cpuA.toFixed(1)} us, installed ${cpuI.toFixed(1)} us (${(((cpuI - cpuA) / cpuA) * 100).toFixed(2)}%)`,
  );
  target.kill();

  // The dispatcher's own cost per request, isolated: a stub base dispatcher that does nothing.
  const stub = { dispatch: () => true };
  const wrappedStub = faultline.dispatcher(stub);
  const opts = { origin: url, path: '/', method: 'GET' };
  const handler = {};
  const N = 1_000_000;
  const time = (d) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) d.dispatch(opts, handler);
    return Number(process.hrtime.bigint() - t0) / N;
  };
  const a = [];
  const b = [];
  for (let i = 0; i < 15; i++) {
    a.push(time(stub));
    b.push(time(wrappedStub));
  }
  const added = median(b) - median(a);
  const perRequestUs = 1e6 / median(absent);
  console.log(
    `  dispatcher added per request (isolated, p50): ${added.toFixed(1)} ns = ${((added / 1000 / perRequestUs) * 100).toFixed(4)}% of one request's ${perRequestUs.toFixed(0)} us here`,
  );
}
faultline.uninstallHttp();
