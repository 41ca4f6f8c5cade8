#!/usr/bin/env node
// `faultline halt` from a second process during a run: time from launching the
// halt command to (a) the fault reverted (the marker file gone) and (b) the
// run interrupted (its process exited). Usage: node bench/halt.mjs [trials=20]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const trials = Number(process.argv[2] ?? 20);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/faultline.js');
const home = mkdtempSync(join(tmpdir(), 'faultline-bench-halt-'));
const env = { ...process.env, FAULTLINE_HOME: home };
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

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
    await new Promise((r) =>
      spawn(process.execPath, [bin, 'halt', '--release'], { cwd: root, env }).on('exit', r),
    );
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
