#!/usr/bin/env node
// `faultline halt` from a second process.
//   node bench/halt.mjs [trials=20]
//     during a run: time from launching the halt command to (a) the run's one
//     fault reverted (the marker file gone) and (b) the run interrupted (its process exited);
//   node bench/halt.mjs [trials=5] --network-faults 20   (root)
//     N network faults (partitions and losses on distinct ports of a namespace made
//     here) held by this process: launch to `faultline halt` exited with all reverted
//     and verified (the kernel is checked afterwards).
//   node bench/halt.mjs [trials] --compare <dir>
//     the same, alternating trials with another built checkout (its bin/ and dist/);
//     each phase apart (launch -> halt flag written, flag -> fault reverted by the run, ...).
//   node bench/halt.mjs [trials] --cpu [--compare <dir>]
//     CPU time of `faultline halt` and of a watchdog's startup (robust to others' load).
// Load the machine yourself to measure under contention (e.g. `stress-ng --cpu 2`).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, watch } from 'node:fs';
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

// --compare <dir> alternates trials with another built checkout (e.g. a worktree of an older
// commit), so both see the same machine state.
const cIndex = process.argv.indexOf('--compare');
const trees = [root, ...(cIndex > 0 ? [process.argv[cIndex + 1]] : [])];
const median = (xs) => pct(xs, 50).toFixed(0);

// CPU time (user + system, from /usr/bin/time) of the processes a halt starts beside a run: the
// halt itself (empty home) and the watchdog a run spawns with its first fault (its loop module
// imported: the watchdog's startup). On a machine others load, wall times vary more than the
// changes measured; the CPU a process needs does not.
if (process.argv.includes('--cpu')) {
  const cpuMs = (args, cwd, childEnv) => {
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, ...args], {
      cwd,
      env: childEnv,
      encoding: 'utf8',
    });
    const [user, sys] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    return (user + sys) * 1000;
  };
  const cpu = trees.map(() => ({ halt: [], watchdog: [], node: [] }));
  try {
    for (let i = 0; i < trials; i++) {
      for (const [t, tree] of trees.entries()) {
        cpu[t].halt.push(cpuMs([join(tree, 'bin/faultline.js'), 'halt'], tree, env));
        await release();
        const loop = ['dist/faults/watchdog-loop.js', 'dist/faults/watchdog.js'].find((f) =>
          existsSync(join(tree, f)),
        );
        if (loop)
          cpu[t].watchdog.push(cpuMs(['--input-type=module', '-e', `await import('./${loop}')`], tree, env));
        cpu[t].node.push(cpuMs(['-e', '0'], tree, env));
      }
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  console.log(`trials: ${trials} per tree; CPU ms (user + system), median [min-max]`);
  const f = (xs) =>
    xs.length
      ? `${median(xs)} [${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}]`
      : 'none (no watchdog)';
  for (const [t, tree] of trees.entries()) {
    console.log(tree);
    console.log(`  node -e 0                    ${f(cpu[t].node)}`);
    console.log(`  faultline halt (empty home)  ${f(cpu[t].halt)}`);
    console.log(`  watchdog startup             ${f(cpu[t].watchdog)}`);
  }
  process.exit(0);
}

// One marker fault in a live run, per tree.
const phases = [
  'launch -> flag written',
  'flag -> fault reverted',
  'launch -> fault reverted',
  'launch -> run exited',
  'launch -> halt exited',
];
const times = trees.map(() => phases.map(() => []));
try {
  for (let i = 0; i < trials * trees.length; i++) {
    const t = i % trees.length;
    const tree = trees[t];
    const marker = join(home, `m${i}`);
    const haltFile = join(home, 'halt');
    const run = spawn(
      process.execPath,
      [
        join(tree, 'bin/faultline.js'),
        'run',
        join(root, 'examples/long-fault.yaml'),
        '--journal-path',
        join(home, 'j.json'),
      ],
      { cwd: tree, env: { ...env, MARKER_PATH: marker } },
    );
    const exited = new Promise((r) => run.on('exit', () => r(performance.now())));
    await waitFor(run, /create-marker' succeeded/);
    const t0 = performance.now();
    const halt = spawn(process.execPath, [join(tree, 'bin/faultline.js'), 'halt'], { cwd: tree, env });
    const haltDone = new Promise((r) => halt.on('exit', () => r(performance.now())));
    // Told by inotify, not polled: a polling loop here took a whole core from the processes measured
    // (with a watchdog starting beside the halt, three runnable on two cores).
    let flag = 0;
    const gone = await new Promise((resolve) => {
      const look = () => {
        if (!flag && existsSync(haltFile)) flag = performance.now();
        if (existsSync(marker)) return;
        watcher.close();
        resolve(performance.now());
      };
      const watcher = watch(home, look);
      look();
    });
    flag ||= gone;
    const runEnd = await exited;
    const haltEnd = await haltDone;
    for (const [k, ms] of [flag - t0, gone - flag, gone - t0, runEnd - t0, haltEnd - t0].entries()) {
      times[t][k].push(ms);
    }
    await release();
  }
  const f = (xs) =>
    `p50 ${pct(xs, 50).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
  console.log(`trials: ${trials} per tree`);
  for (const [t, tree] of trees.entries()) {
    if (trees.length > 1) console.log(tree);
    for (const [k, name] of phases.entries()) console.log(`  halt ${name.padEnd(26)} ${f(times[t][k])}`);
  }
  if (trees.length > 1) {
    const ratio = (k, p) => (pct(times[0][k], p) / pct(times[1][k], p)).toFixed(2);
    console.log(
      `launch -> fault reverted, ${trees[0]} / ${trees[1]}: p50 ${ratio(2, 50)}x, p99 ${ratio(2, 99)}x`,
    );
  }
  console.log(`RESULT halt_to_reverted_p99_ms=${pct(times[0][2], 99).toFixed(0)} target<=250`);
} finally {
  rmSync(home, { recursive: true, force: true });
}
