#!/usr/bin/env node
// The built-in load generator against autocannon (npm), side by side in one run
// against the same local target: a minimal node:http server in its own process.
// Each round runs, back to back:
//  1. autocannon with C connections for D seconds: its requests/s (closed loop,
//     so it is by construction the rate the target sustains with C connections);
//  2. ours with the same C as its in-flight cap (so at most C connections, the
//     HTTP/1.1 fast path), once per overflow mode, at a fixed target rate per
//     step: the highest rate it sustains (completed >= 99% of the target rate,
//     <= 1% dropped, no errors). The search starts at autocannon's rate, climbs
//     by 2% while sustained, and otherwise bisects between the highest rate
//     sustained and the lowest not sustained (within 1%, at most 10 steps).
//     The ratio to autocannon's rate of the same round is the figure.
// Then the generators' own cost: both at the same fixed rate (autocannon with
// `overallRate`), CPU time of this process per completed request; and ours at
// 2,000 req/s: achieved rate and send-time jitter p99.
// Usage: npm run build && node bench/load-generator.mjs [connections=50] [seconds=5] [rounds=3] [modes=queue,drop]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import { runLoad } from '../dist/load/index.js';
import { result, settle } from './proxy/harness.mjs';

const connections = Number(process.argv[2] ?? 50);
const seconds = Number(process.argv[3] ?? 5);
const rounds = Number(process.argv[4] ?? 3);
// `queue`: requests due at the cap wait for a free slot (wrk2's way; latency still from
// the intended time). `drop` (the default mode): they are dropped and counted.
const modes = (process.argv[5] ?? 'queue,drop').split(',');

const TARGET = `
const http = require('node:http');
const s = http.createServer((req, res) => { res.writeHead(200, {'content-type': 'text/plain'}); res.end('ok'); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`;
const target = spawn(process.execPath, ['-e', TARGET], { stdio: ['ignore', 'pipe', 'inherit'] });
const [portLine] = await once(target.stdout, 'data');
const url = `http://127.0.0.1:${String(portLine).trim()}/`;
console.log(
  `target ${url} (separate process); ${connections} connections, ${seconds} s per step, ${rounds} rounds, modes ${modes.join(', ')}`,
);

const ac = (opts) =>
  new Promise((resolve, reject) =>
    autocannon({ url, connections, pipelining: 1, ...opts }, (err, r) => (err ? reject(err) : resolve(r))),
  );
const ours = (rate, overflow, durationMs = seconds * 1000) =>
  runLoad({ rate, durationMs, concurrency: connections, overflow, requests: [{ url }] });
const load = () => loadavg()[0].toFixed(1);

// Warm both the target and our code paths.
await ac({ duration: 2 });
await ours(20_000, 'drop', 2000);
await settle(300);

/** The highest rate sustained in `overflow` mode, searching from `start`. */
async function maxSustained(start, overflow) {
  let lo = 0; // highest sustained
  let hi = Number.POSITIVE_INFINITY; // lowest not sustained
  let rate = Math.round(start);
  for (let step = 0; step < 10; step++) {
    const s = await ours(rate, overflow);
    const dropped = s.totals.dropped / s.scheduled;
    const sustained =
      s.throughput >= rate * 0.99 && dropped <= 0.01 && s.totals.successes === s.totals.requests;
    console.log(
      `  ${overflow} @ ${rate} req/s: completed ${s.throughput.toFixed(0)}/s, dropped ${(dropped * 100).toFixed(2)}%, p50 ${s.latency.p50} ms, p99 ${s.latency.p99} ms -> ${sustained ? 'sustained' : 'not sustained'} (load ${load()})`,
    );
    if (sustained) lo = Math.max(lo, rate);
    else hi = Math.min(hi, rate);
    if (hi !== Number.POSITIVE_INFINITY && hi - lo <= hi * 0.01) break;
    // Up by 2% until a failure bounds it; below a failure, bisect (the first step
    // down goes no higher than what completed, which is what drops cost).
    if (hi === Number.POSITIVE_INFINITY) rate = Math.round(rate * 1.02);
    else if (lo === 0) rate = Math.round(Math.min(rate * 0.96, s.throughput * 0.98));
    else rate = Math.round((lo + hi) / 2);
    await settle(200);
  }
  return lo;
}

const rows = [];
for (let round = 1; round <= rounds; round++) {
  const acResult = await ac({ duration: seconds });
  const acRate = acResult.requests.total / seconds;
  console.log(
    `round ${round}: autocannon ${acRate.toFixed(0)} req/s (p50 ${acResult.latency.p50} ms, p99 ${acResult.latency.p99} ms, errors ${acResult.errors}, non2xx ${acResult.non2xx}; load ${load()})`,
  );
  const row = { round, acRate };
  for (const mode of modes) {
    await settle(200);
    row[mode] = await maxSustained(acRate, mode);
  }
  console.log(
    `round ${round}: ${modes.map((m) => `${m} ${row[m]} req/s = ${(row[m] / acRate).toFixed(3)}x`).join('; ')} autocannon`,
  );
  rows.push(row);
  await settle(300);
}

// The generators' own cost at one rate both reach easily: CPU of this process
// (where both run) per completed request, alternating, three runs each.
const costRate = Math.round(Math.min(...rows.map((r) => r.acRate)) * 0.5);
const cost = { ours: [], autocannon: [] };
for (let i = 0; i < 3; i++) {
  await settle(200);
  let c0 = process.cpuUsage();
  const a = await ac({ duration: seconds, overallRate: costRate });
  let c = process.cpuUsage(c0);
  cost.autocannon.push((c.user + c.system) / a.requests.total);
  await settle(200);
  c0 = process.cpuUsage();
  const o = await ours(costRate, 'drop');
  c = process.cpuUsage(c0);
  cost.ours.push((c.user + c.system) / o.totals.requests);
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

await settle(300);
const two = await ours(2000, 'drop', Math.max(seconds, 10) * 1000);
const off = (Math.abs(two.achieved_rate - 2000) / 2000) * 100;
console.log(
  `ours @ 2000 req/s: sent ${two.sent} in ${(two.duration_ms / 1000).toFixed(2)} s, completed ${two.throughput.toFixed(1)}/s, p99 ${two.latency.p99} ms, jitter p50 ${two.send_jitter.p50} ms (load ${load()})`,
);

for (const mode of modes) {
  const ratios = rows.map((r) => r[mode] / r.acRate);
  const m = med(ratios);
  result(
    `load_max_sustained_ratio_${mode}_median`,
    m.toFixed(3),
    `(rounds ${ratios.map((x) => x.toFixed(3)).join(', ')}; ${rows.map((r) => `${r[mode]}/${r.acRate.toFixed(0)}`).join(', ')} req/s; target >= 1: ${m >= 1 ? 'met' : 'NOT met'})`,
  );
}
result(
  'load_cpu_us_per_request',
  `ours ${med(cost.ours).toFixed(2)}, autocannon ${med(cost.autocannon).toFixed(2)}`,
  `(at ${costRate} req/s, medians of 3; ratio ours/autocannon ${(med(cost.ours) / med(cost.autocannon)).toFixed(2)})`,
);
result(
  'load_2000_achieved_rate',
  two.achieved_rate.toFixed(1),
  `(target within 1%: ${off.toFixed(2)}% ${off <= 1 ? 'met' : 'NOT met'})`,
);
result(
  'load_2000_send_jitter_p99_ms',
  two.send_jitter.p99,
  `(target <= 2 ms: ${two.send_jitter.p99 <= 2 ? 'met' : 'NOT met'})`,
);

target.kill();
