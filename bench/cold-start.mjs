#!/usr/bin/env node
// `faultline --version` cold start, side by side with a bare `node -e ''` in the same run.
// Usage: node bench/cold-start.mjs [runs=40]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 40);
const bin = fileURLToPath(new URL('../bin/faultline.js', import.meta.url));

function time(args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const bare = [];
const version = [];
const help = [];
for (let i = 0; i < runs; i++) {
  // Interleaved so that drift on a shared machine hits all three alike.
  bare.push(time(['-e', '']));
  version.push(time([bin, '--version']));
  help.push(time([bin, 'run', '--help']));
}
const row = (name, xs) =>
  `${name.padEnd(28)} median ${median(xs).toFixed(1)} ms  (min ${Math.min(...xs).toFixed(1)})`;
console.log(row("node -e ''", bare));
console.log(row('faultline --version', version));
console.log(row('faultline run --help', help));
console.log(`ratio --version / bare node: ${(median(version) / median(bare)).toFixed(2)}x`);
console.log(`RESULT cold_start_version_median_ms=${median(version).toFixed(1)} target<=150`);
