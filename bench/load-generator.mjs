#!/usr/bin/env node
// The built-in load generator against autocannon (npm), side by side in one run
// against the same local target: a minimal node:http server in its own process.
//  1. autocannon with C connections for D seconds: its requests/s.
//  2. ours (same C as the concurrency cap, so at most C connections) at rising
//     target rates from 80% of autocannon's: the highest rate sustained (completed
//     >= 99% of target, <= 1% dropped, no errors) is our maximum sustained rate.
//  3. ours at 2,000 req/s: achieved rate and send-time jitter p99.
// Usage: npm run build && node bench/load-generator.mjs [connections=50] [seconds=5]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { runLoad } from '../dist/load/index.js';
import { result, settle } from './proxy/harness.mjs';

const connections = Number(process.argv[2] ?? 50);
const seconds = Number(process.argv[3] ?? 5);

const TARGET = `
const http = require('node:http');
const s = http.createServer((req, res) => { res.writeHead(200, {'content-type': 'text/plain'}); res.end('ok'); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`;
const target = spawn(process.execPath, ['-e', TARGET], { stdio: ['ignore', 'pipe', 'inherit'] });
const [portLine] = await once(target.stdout, 'data');
const url = `http://127.0.0.1:${String(portLine).trim()}/`;
console.log(`target ${url} (separate process); ${connections} connections, ${seconds} s per step`);

const ac = (opts) =>
  new Promise((resolve, reject) =>
    autocannon({ url, connections, pipelining: 1, ...opts }, (err, r) => (err ? reject(err) : resolve(r))),
  );

// Warm both the target and our code paths.
await ac({ duration: 1 });
await runLoad({ rate: 2000, durationMs: 1000, concurrency: connections, requests: [{ url }] });
await settle(300);

const acResult = await ac({ duration: seconds });
const acRate = acResult.requests.total / seconds;
console.log(
  `autocannon: ${acRate.toFixed(0)} req/s (p50 ${acResult.latency.p50} ms, p99 ${acResult.latency.p99} ms, errors ${acResult.errors}, non2xx ${acResult.non2xx})`,
);
await settle(300);

// Up by 10% while sustained; if the first step is not, down by 15% until it is.
let best = 0;
let rate = Math.round(acRate * 0.8);
let direction = 0;
let saturated = 0;
for (let step = 0; step < 10; step++) {
  const s = await runLoad({
    rate,
    durationMs: seconds * 1000,
    concurrency: connections,
    requests: [{ url }],
  });
  const sustained =
    s.throughput >= rate * 0.99 &&
    s.totals.dropped <= s.scheduled * 0.01 &&
    s.totals.successes === s.totals.requests;
  console.log(
    `ours @ ${rate} req/s: completed ${s.throughput.toFixed(0)}/s, dropped ${s.totals.dropped}, p50 ${s.latency.p50} ms, p99 ${s.latency.p99} ms, jitter p99 ${s.send_jitter.p99} ms -> ${sustained ? 'sustained' : 'not sustained'}`,
  );
  if (sustained) best = Math.max(best, rate);
  saturated = Math.max(saturated, s.throughput);
  if (direction === 0) direction = sustained ? 1 : -1;
  if ((direction > 0 && !sustained) || (direction < 0 && sustained)) break;
  rate = Math.round(rate * (direction > 0 ? 1.1 : 0.85));
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
  `ours @ 2000 req/s: sent ${two.sent} in ${(two.duration_ms / 1000).toFixed(2)} s, completed ${two.throughput.toFixed(1)}/s, p99 ${two.latency.p99} ms, jitter p50 ${two.send_jitter.p50} ms`,
);

result('load_autocannon_rate', acRate.toFixed(0), `(reference, ${connections} connections)`);
result(
  'load_max_sustained_rate',
  best,
  `(target >= autocannon ${acRate.toFixed(0)}: ${best >= acRate ? 'met' : 'NOT met'})`,
);
result(
  'load_max_completed_rate',
  saturated.toFixed(0),
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
