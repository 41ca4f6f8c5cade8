#!/usr/bin/env node
// What one process activity's spawn costs, by mechanism (issue #14 item 3): Faultline's `process`
// provider calls child_process.spawn, which on Linux (Node 20's libuv) is a fork() of the whole
// Node process; Chaos Toolkit's Python uses vfork/posix_spawn. Each variant runs in its own
// process, times its own loop of `true` with stdout and stderr captured, and prints ms per spawn;
// the variants are interleaved over the rounds and the figure is the median.
//  - node spawn: child_process.spawn('true') with piped output, as the provider does;
//  - node spawn +200 MB: the same with 200 MB more touched memory (the fork cost grows with it);
//  - sh helper: one long-lived /bin/sh forks and execs /usr/bin/true for the Node parent (output to files,
//    exit status back on its stdout): what a small spawn helper would cost;
//  - native posix_spawn: the process provider's own way on Linux when `npm run build` could compile
//    native/spawn.c (src/providers/spawn-native.ts), the same loop through spawnCaptured() (omitted
//    when the addon was not built);
//  - python subprocess: subprocess.run(['true'], capture_output=True), when python3 is on PATH.
// usage: node bench/spawn-cost.mjs [rounds=4] [spawns=200]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const rounds = Number(process.argv[2] ?? 4);
const spawns = Number(process.argv[3] ?? 200);

// A loop of spawns of `true` with both pipes drained, timed in its own process; `setup` runs first and
// `start` is the expression that starts one child.
const spawnLoop = (setup, start) => `
${setup}
const once = () => new Promise((resolve, reject) => {
  const c = ${start};
  c.stdout.resume();
  c.stderr.resume();
  c.on('close', resolve);
  c.on('error', reject);
});
const t = performance.now();
for (let i = 0; i < ${spawns}; i++) await once();
console.log((performance.now() - t) / ${spawns});
`;

const nodeLoop = spawnLoop(
  `import { spawn } from 'node:child_process';
const keep = [];
for (let i = 0; i < Number(process.argv[2]); i++) keep.push(Buffer.alloc(1 << 20, 1));`,
  `spawn('true', [], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })`,
);

const nativeLoop = spawnLoop(
  `import { spawnCaptured, spawnMechanism } from ${JSON.stringify(new URL('../dist/providers/spawn-native.js', import.meta.url).href)};
if (spawnMechanism() !== 'posix_spawn') throw new Error('the native addon is not built');`,
  `spawnCaptured('/usr/bin/true', [])`,
);

const shHelper = `
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const dir = mkdtempSync(join(tmpdir(), 'spawn-cost-'));
const sh = spawn('/bin/sh', [], { stdio: ['pipe', 'pipe', 'inherit'] });
let buf = '';
let waiting;
sh.stdout.on('data', (d) => {
  buf += d;
  const i = buf.indexOf('\\n');
  if (i >= 0 && waiting) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const w = waiting;
    waiting = undefined;
    w(line);
  }
});
const run = (cmd) => new Promise((resolve) => {
  waiting = resolve;
  sh.stdin.write(cmd + ' </dev/null >' + dir + '/o 2>' + dir + '/e; echo $?\\n');
});
const t = performance.now();
for (let i = 0; i < ${spawns}; i++) {
  // /usr/bin/true, not the shell's builtin: the helper must fork and exec as a real command does.
  if ((await run('/usr/bin/true')) !== '0') throw new Error('true failed');
  readFileSync(dir + '/o');
  readFileSync(dir + '/e');
}
console.log((performance.now() - t) / ${spawns});
sh.stdin.end();
rmSync(dir, { recursive: true, force: true });
`;

const pyLoop = `
import subprocess, time
t = time.perf_counter()
for _ in range(${spawns}): subprocess.run(['true'], capture_output=True)
print((time.perf_counter() - t) * 1000 / ${spawns})
`;

const hasPython = spawnSync('python3', ['-c', '0']).status === 0;
const hasNative = existsSync(new URL('../dist/native/spawn.node', import.meta.url));
const variants = [
  { name: 'node spawn', argv: [process.execPath, '--input-type=module', '-e', nodeLoop, '--', '0'] },
  {
    name: 'node spawn +200 MB',
    argv: [process.execPath, '--input-type=module', '-e', nodeLoop, '--', '200'],
  },
  ...(hasNative
    ? [{ name: 'native posix_spawn', argv: [process.execPath, '--input-type=module', '-e', nativeLoop] }]
    : []),
  { name: 'sh helper', argv: [process.execPath, '--input-type=module', '-e', shHelper] },
  ...(hasPython ? [{ name: 'python subprocess', argv: ['python3', '-c', pyLoop] }] : []),
];

const results = variants.map(() => []);
for (let r = 0; r < rounds; r++) {
  variants.forEach((v, i) => {
    const x = spawnSync(v.argv[0], v.argv.slice(1), { encoding: 'utf8' });
    if (x.status !== 0) throw new Error(`${v.name} exited ${x.status}: ${x.stderr}`);
    results[i].push(Number(x.stdout.trim()));
  });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${rounds} interleaved rounds of ${spawns} spawns of true (median ms per spawn)`);
variants.forEach((v, i) => {
  console.log(`${v.name.padEnd(20)} ${median(results[i]).toFixed(2)} ms`);
});
if (!hasPython) console.log('python3 not on PATH: its line is left out');
if (!hasNative)
  console.log('dist/native/spawn.node not built (npm run build needs a C compiler): its line is left out');
variants.forEach((v, i) => {
  console.log(`RESULT spawn_${v.name.replace(/[^a-z0-9]+/gi, '_')}_ms=${median(results[i]).toFixed(2)}`);
});
