#!/usr/bin/env node
// Waiting between requests: spinning the event loop vs sleeping on the waker
// thread (src/load/waker.ts), side by side against the same target (a node:http
// server in its own process): send-time jitter, achieved rate, and the
// generator's CPU use (share of one core) at each rate.
// Usage: npm run build && node bench/load-waker.mjs [seconds=5] [rates=2000,10000]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { runLoad } from '../dist/load/index.js';
import { result } from './proxy/harness.mjs';

const seconds = Number(process.argv[2] ?? 5);
const rates = (process.argv[3] ?? '2000,10000').split(',').map(Number);
const TARGET = `
const http = require('node:http');
const s = http.createServer((req, res) => { res.writeHead(200, {'content-type': 'text/plain'}); res.end('ok'); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`;
const target = spawn(process.execPath, ['-e', TARGET], { stdio: ['ignore', 'pipe', 'inherit'] });
const [portLine] = await once(target.stdout, 'data');
const url = `http://127.0.0.1:${String(portLine).trim()}/`;
await runLoad({ rate: 5000, durationMs: 1000, concurrency: 50, requests: [{ url }] });

for (const rate of rates) {
  for (const spin of [true, false]) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const s = await runLoad(
      { rate, durationMs: seconds * 1000, concurrency: 50, requests: [{ url }] },
      { spin },
    );
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1000 / (performance.now() - t0);
    const name = `load_${rate}_${spin ? 'spin' : 'waker'}`;
    console.log(
      `${spin ? 'spin ' : 'waker'} @ ${rate}: achieved ${s.achieved_rate.toFixed(1)}, dropped ${s.totals.dropped}, jitter p50 ${s.send_jitter.p50} p99 ${s.send_jitter.p99} max ${s.send_jitter.max} ms, latency p99 ${s.latency.p99} ms, CPU ${(cpu * 100).toFixed(0)}% of a core`,
    );
    result(`${name}_jitter_p99_ms`, s.send_jitter.p99, `(achieved ${s.achieved_rate.toFixed(1)}/s)`);
    result(`${name}_cpu_core_share`, cpu.toFixed(2));
  }
}
target.kill();
