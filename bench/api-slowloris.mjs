#!/usr/bin/env node
// The proxy control API under a slow-connection (slowloris) attack, issue #13
// item 6: `slow` connections that each send a request line and then one header
// line every 500 ms, never finishing, reopened at once when closed, against the
// API with its default budget (1024 connections, 10 s headers timeout), while
// a health probe calls GET /version every 250 ms (each with a 5 s deadline).
// Prints probes answered / sent and the p50/p99 time of the answered ones.
// The API and the attacker each run in their own process; the probe runs here.
// Usage: node bench/api-slowloris.mjs [slow=1100] [seconds=20]
// FAULTLINE_BENCH_ROOT=<dir> runs the server from another checkout's src/ (a before/after pair).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

const slow = Number(process.argv[2] ?? 1100);
const seconds = Number(process.argv[3] ?? 20);
const root = process.env.FAULTLINE_BENCH_ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const serverModule = new URL(`file://${root.replace(/\/?$/, '/')}src/proxy/api/server.ts`).href;
const managerModule = new URL(`file://${root.replace(/\/?$/, '/')}src/proxy/manager.ts`).href;

const SERVER = `
const { startControlServer } = await import(${JSON.stringify(serverModule)});
const { ProxyManager } = await import(${JSON.stringify(managerModule)});
const api = await startControlServer({ control: new ProxyManager(), port: 0 });
process.stdout.write(api.port + '\\n');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

const ATTACKER = `
const net = require('node:net');
const [port, count] = [Number(process.argv[1]), Number(process.argv[2])];
let opened = 0;
function open() {
  const s = net.connect({ port, host: '127.0.0.1' });
  opened++;
  let drip;
  s.on('connect', () => {
    s.write('GET /version HTTP/1.1\\r\\nHost: localhost\\r\\n');
    drip = setInterval(() => s.write('X-Slow: 1\\r\\n'), 500);
  });
  s.on('error', () => {});
  s.on('close', () => { clearInterval(drip); setImmediate(open); });
}
for (let i = 0; i < count; i++) open();
setInterval(() => process.stdout.write(opened + '\\n'), 200);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

const server = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SERVER], {
  cwd: fileURLToPath(new URL('..', import.meta.url)),
  stdio: ['pipe', 'pipe', 'inherit'],
});
const [first] = await once(server.stdout, 'data');
const port = Number(String(first).trim());

const attacker = spawn(process.execPath, ['-e', ATTACKER, String(port), String(slow)], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
let opened = 0;
attacker.stdout.on('data', (d) => {
  opened = Number(String(d).trim().split('\n').pop());
});
// Let the attack fill the budget first.
while (opened < slow) await new Promise((r) => setTimeout(r, 100));
await new Promise((r) => setTimeout(r, 2000));

function probe() {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/version', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - started : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.setTimeout(5000, () => req.destroy());
    req.end();
  });
}

const times = [];
let sent = 0;
const openedBefore = opened;
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  sent++;
  const ms = await probe();
  if (ms !== undefined) times.push(ms);
  await new Promise((r) => setTimeout(r, 250));
}
const reopened = opened - openedBefore;
attacker.stdin.end();
server.stdin.end();
await Promise.all([once(attacker, 'exit'), once(server, 'exit')]);

times.sort((a, b) => a - b);
const pct = (p) =>
  times.length ? times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1) : '-';
console.log(
  `${slow} slow connections (reopened ${reopened} times during the probes), ${seconds} s: ` +
    `probes answered ${times.length}/${sent}, p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`,
);
