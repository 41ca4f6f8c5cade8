#!/usr/bin/env node
// `faultline halt` from a second process.
//   node bench/halt.mjs [trials=20]
//     during a run: time from launching the halt command to (a) the run's one
//     fault reverted (the marker file gone) and (b) the run interrupted (its process exited);
//   node bench/halt.mjs [trials=5] --network-faults 20   (root)
//     N network faults (partitions and losses on distinct ports of a namespace made
//     here) held by this process: launch to `faultline halt` exited with all reverted
//     and verified (the kernel is checked afterwards).
// Load the machine yourself to measure under contention (e.g. `stress-ng --cpu 2`).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nIndex = process.argv.indexOf('--network-faults');
const networkFaults = nIndex > 0 ? Number(process.argv[nIndex + 1]) : 0;
const trials = Number(
  process.argv.slice(2).find((a, i, all) => /^\d+$/.test(a) && all[i - 1] !== '--network-faults') ??
    (networkFaults ? 5 : 20),
);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/faultline.js');
const home = mkdtempSync(join(tmpdir(), 'faultline-bench-halt-'));
const env = { ...process.env, FAULTLINE_HOME: home };
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const release = () =>
  new Promise((r) => spawn(process.execPath, [bin, 'halt', '--release'], { cwd: root, env }).on('exit', r));

function waitFor(child, re) {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      if (re.test(err)) resolve();
    });
    child.on('exit', () => reject(new Error(`exited before ${re}: ${err}`)));
  });
}

async function haltNetworkFaults() {
  const { FaultSession, Ledger } = await import('../dist/faults/index.js');
  const { lossKind, partitionKind } = await import('../dist/faults/network/index.js');
  const ns = `flhalt${process.pid}`;
  const ip = (...args) => execFileSync('ip', args);
  ip('netns', 'add', ns);
  const times = [];
  try {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    for (let trial = 0; trial < trials; trial++) {
      const s = new FaultSession({ runId: `bench-halt-${trial}`, ledger: new Ledger({ home }) });
      for (let i = 0; i < networkFaults; i++) {
        const scope = { namespace: ns, port: 20_000 + i, protocol: 'tcp' };
        await (i % 2 ? s.inject(lossKind, { ...scope, percent: 10 }) : s.inject(partitionKind, scope));
      }
      const start = performance.now();
      const halt = spawn(process.execPath, [bin, 'halt'], { cwd: root, env });
      const [code, ms] = await new Promise((r) => halt.on('exit', (c) => r([c, performance.now() - start])));
      if (code !== 0) throw new Error(`faultline halt exited with ${code}`);
      const tables = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables'], { encoding: 'utf8' });
      if (/faultline/.test(tables)) throw new Error(`faultline halt left tables behind: ${tables}`);
      times.push(ms);
      await s.revertAll();
      await release();
    }
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
  console.log(`trials: ${trials}, ${networkFaults} network faults each`);
  console.log(
    `halt launched -> exited, all reverted and verified: ${times.map((t) => t.toFixed(0)).join(', ')} ms`,
  );
  console.log(`RESULT halt_${networkFaults}_network_faults_max_ms=${Math.max(...times).toFixed(0)}`);
}

if (networkFaults > 0) {
  try {
    await haltNetworkFaults();
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  process.exit(0);
}

const reverted = [];
const interrupted = [];
try {
  for (let i = 0; i < trials; i++) {
    const marker = join(home, `m${i}`);
    const run = spawn(
      process.execPath,
      [bin, 'run', 'examples/long-fault.yaml', '--journal-path', join(home, 'j.json')],
      {
        cwd: root,
        env: { ...env, MARKER_PATH: marker },
      },
    );
    const exited = new Promise((r) => run.on('exit', () => r(performance.now())));
    await waitFor(run, /create-marker' succeeded/);
    const t0 = performance.now();
    const halt = spawn(process.execPath, [bin, 'halt'], { cwd: root, env });
    const haltDone = new Promise((r) => halt.on('exit', r));
    let gone = 0;
    while (existsSync(marker)) await new Promise((r) => setImmediate(r));
    gone = performance.now();
    const runEnd = await exited;
    await haltDone;
    reverted.push(gone - t0);
    interrupted.push(runEnd - t0);
    await release();
  }
  const f = (xs) =>
    `p50 ${pct(xs, 50).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
  console.log(`trials: ${trials}`);
  console.log(`halt launched -> fault reverted:   ${f(reverted)}`);
  console.log(`halt launched -> run interrupted:  ${f(interrupted)}`);
  console.log(`RESULT halt_to_reverted_p99_ms=${pct(reverted, 99).toFixed(0)} target<=250`);
} finally {
  rmSync(home, { recursive: true, force: true });
}
