#!/usr/bin/env node
// The built-in load generator against autocannon (npm), side by side in one run
// against the same local target: a minimal node:http server in its own process.
// Each round runs, back to back:
//  1. autocannon with C connections for D seconds: its requests/s (closed loop);
//  2. ours (C as the concurrency cap, so at most C connections; the HTTP/1.1
//     fast path) at target rates from autocannon's: up by 4% while sustained,
//     down by 4% (or to 98% of what completed) until sustained (completed >= 99% of target, <= 1% dropped,
//     no errors). The highest sustained rate is our maximum; the ratio to
//     autocannon's rate of the same round is the figure.
// Then ours at 2,000 req/s: achieved rate and send-time jitter p99.
// Usage: npm run build && node bench/load-generator.mjs [connections=50] [seconds=5] [rounds=3] [undici] [queue]
//   `undici` adds, each round, our generator through undici at its highest sustained rate search too.
//   `queue` runs ours with overflow 'queue' (due requests wait for a slot; latency still from the intended time).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import { runLoad } from '../dist/load/index.js';
import { result, settle } from './proxy/harness.mjs';

const connections = Number(process.argv[2] ?? 50);
const seconds = Number(process.argv[3] ?? 5);
const rounds = Number(process.argv[4] ?? 3);
const withUndici = process.argv.includes('undici');
// `queue`: requests due at the cap wait for a free slot (wrk2's way) instead of being dropped.
const overflow = process.argv.includes('queue') ? 'queue' : 'drop';

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
  `target ${url} (separate process); ${connections} connections, ${seconds} s per step, ${rounds} rounds`,
);

const ac = (opts) =>
  new Promise((resolve, reject) =>
    autocannon({ url, connections, pipelining: 1, ...opts }, (err, r) => (err ? reject(err) : resolve(r))),
  );
const load = () => loadavg()[0].toFixed(1);

// Warm both the target and our code paths.
await ac({ duration: 2 });
await runLoad({ rate: 20_000, durationMs: 2000, concurrency: connections, requests: [{ url }] });
await settle(300);

/** The highest sustained rate, searching from `start`. */
async function maxSustained(start, run, label) {
  let best = 0;
  let saturated = 0;
  let rate = Math.round(start);
  let direction = 0;
  for (let step = 0; step < 12; step++) {
    const s = await runLoad(
      { rate, durationMs: seconds * 1000, concurrency: connections, overflow, requests: [{ url }] },
      run,
    );
    const sustained =
      s.throughput >= rate * 0.99 &&
      s.totals.dropped <= s.scheduled * 0.01 &&
      s.totals.successes === s.totals.requests;
    console.log(
      `  ${label} @ ${rate} req/s: completed ${s.throughput.toFixed(0)}/s, dropped ${s.totals.dropped} (${((s.totals.dropped / s.scheduled) * 100).toFixed(2)}%), p50 ${s.latency.p50} ms, p99 ${s.latency.p99} ms, jitter p99 ${s.send_jitter.p99} ms -> ${sustained ? 'sustained' : 'not sustained'} (load ${load()})`,
    );
    if (sustained) best = Math.max(best, rate);
    saturated = Math.max(saturated, s.throughput);
    if (direction === 0) direction = sustained ? 1 : -1;
    if ((direction > 0 && !sustained) || (direction < 0 && sustained)) break;
    // Down: 4%, or straight to just under what completed when that is lower.
    rate = Math.round(direction > 0 ? rate * 1.04 : Math.min(rate * 0.96, s.throughput * 0.98));
    await settle(200);
  }
  return { best, saturated };
}

const rows = [];
for (let round = 1; round <= rounds; round++) {
  const acResult = await ac({ duration: seconds });
  const acRate = acResult.requests.total / seconds;
  console.log(
    `round ${round}: autocannon ${acRate.toFixed(0)} req/s (p50 ${acResult.latency.p50} ms, p99 ${acResult.latency.p99} ms, errors ${acResult.errors}, non2xx ${acResult.non2xx}; load ${load()})`,
  );
  await settle(200);
  const ours = await maxSustained(acRate, {}, 'ours');
  const row = { round, acRate, ours: ours.best, saturated: ours.saturated, ratio: ours.best / acRate };
  if (withUndici) {
    await settle(200);
    row.undici = (await maxSustained(acRate * 0.4, { http1: false }, 'undici')).best;
  }
  console.log(
    `round ${round}: ours ${ours.best} req/s sustained = ${row.ratio.toFixed(3)}x autocannon${withUndici ? `; through undici ${row.undici} (${(row.undici / acRate).toFixed(3)}x)` : ''}`,
  );
  rows.push(row);
  await settle(300);
}

await settle(300);
const two = await runLoad({
  rate: 2000,
  durationMs: Math.max(seconds, 10) * 1000,
  concurrency: connections,
  requests: [{ url }],
});
const off = (Math.abs(two.achieved_rate - 2000) / 2000) * 100;
console.log(
  `ours @ 2000 req/s: sent ${two.sent} in ${(two.duration_ms / 1000).toFixed(2)} s, completed ${two.throughput.toFixed(1)}/s, p99 ${two.latency.p99} ms, jitter p50 ${two.send_jitter.p50} ms (load ${load()})`,
);

const byRatio = [...rows].sort((a, b) => a.ratio - b.ratio);
const median = byRatio[Math.floor((byRatio.length - 1) / 2)];
const bestRow = byRatio[byRatio.length - 1];
result(
  'load_max_sustained_ratio_median',
  median.ratio.toFixed(3),
  `(round ${median.round}: ours ${median.ours} / autocannon ${median.acRate.toFixed(0)} req/s; target >= 1: ${median.ratio >= 1 ? 'met' : 'NOT met'})`,
);
result(
  'load_max_sustained_ratio_rounds',
  rows.map((r) => r.ratio.toFixed(3)).join(','),
  `(best ${bestRow.ratio.toFixed(3)}: ours ${bestRow.ours} / autocannon ${bestRow.acRate.toFixed(0)})`,
);
result(
  'load_max_completed_rate',
  Math.max(...rows.map((r) => r.saturated)).toFixed(0),
  '(highest completed req/s in any step, drops allowed)',
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
