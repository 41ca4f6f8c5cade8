#!/usr/bin/env node
// The cost of a Python activity through Faultline's long-lived worker
// (dist/python/worker.js), side by side in the same run with the same no-op
// function called in a plain Python loop and with one Python process per call.
// Usage (build first: npm run build):
//   node bench/python-activity.mjs [calls=2000] [starts=10] [processes=50]
// FAULTLINE_PYTHON picks the interpreter, as for a run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePython } from '../dist/python/interpreter.js';
import { PythonWorker } from '../dist/python/worker.js';

const calls = Number(process.argv[2] ?? 2000);
const starts = Number(process.argv[3] ?? 10);
const processes = Number(process.argv[4] ?? 50);
const python = resolvePython();
if (!python) {
  console.log('no python3 found: nothing to measure');
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-python-'));
writeFileSync(
  join(dir, 'bench_noop.py'),
  'def noop():\n    return None\n\n\ndef probe(url, timeout=3, configuration=None, secrets=None):\n    return {"status": 200, "url": url}\n',
);
const env = { ...process.env, PYTHONPATH: dir };
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const noop = { module: 'bench_noop', func: 'noop', kwargs: {} };
const probe = {
  module: 'bench_noop',
  func: 'probe',
  kwargs: { url: 'http://localhost:8080/health', timeout: 2 },
  optional: { configuration: { base: 'http://localhost:8080', retries: 3 }, secrets: { token: 's3cr3t' } },
};

async function sequential(worker, request, n) {
  const t = now();
  for (let i = 0; i < n; i++) await worker.call(request);
  return (now() - t) / n;
}

try {
  // Start-up: spawn to the first reply (the ready line plus one no-op call), each a fresh worker;
  // with the interpreter as resolved (a pyenv shim is a shell script), and with the executable it runs.
  async function startUp(interpreter) {
    const times = [];
    let executable;
    for (let i = 0; i < starts; i++) {
      const worker = new PythonWorker({ python: interpreter, cwd: dir, env });
      const t = now();
      await worker.call(noop);
      times.push(now() - t);
      executable = worker.info.executable;
      await worker.stop();
    }
    return { time: median(times), executable };
  }
  const resolved = await startUp(python);
  const executable = resolved.executable;
  const direct =
    executable === python.command ? resolved : await startUp({ command: executable, source: 'PATH' });

  const worker = new PythonWorker({ python, cwd: dir, env });
  await sequential(worker, noop, 200); // warm-up: imports, JIT
  await sequential(worker, probe, 200);
  // Three rounds, interleaved, medians: a loaded machine moves single figures around.
  const noops = [];
  const probes = [];
  const concurrent = [];
  for (let round = 0; round < 3; round++) {
    noops.push(await sequential(worker, noop, calls));
    probes.push(await sequential(worker, probe, calls));
    const t = now();
    await Promise.all(Array.from({ length: calls }, () => worker.call(noop)));
    concurrent.push((now() - t) / calls);
  }
  const perNoop = median(noops);
  const perProbe = median(probes);
  const perConcurrent = median(concurrent);
  await worker.stop();

  // The same function in a plain Python loop (the floor: a call in-process).
  const loop = spawnSync(
    executable,
    [
      '-c',
      `import time, bench_noop
f = bench_noop.noop
for _ in range(200): f(**{})
t = time.perf_counter()
for _ in range(${calls}): f(**{})
print((time.perf_counter() - t) * 1000 / ${calls})`,
    ],
    { env, encoding: 'utf8' },
  );
  if (loop.status !== 0) throw new Error(`python loop failed: ${loop.stderr}`);
  const perLoop = Number(loop.stdout.trim());

  // One Python process a call (for scale), with the real executable (no pyenv shim in the way).
  const t2 = now();
  for (let i = 0; i < processes; i++) {
    const r = spawnSync(executable, ['-c', 'import bench_noop; bench_noop.noop()'], { env });
    if (r.status !== 0) throw new Error('python -c failed');
  }
  const perProcess = (now() - t2) / processes;
  const pythonStart = [];
  for (let i = 0; i < 5; i++) {
    const t3 = now();
    spawnSync(executable, ['-c', 'pass'], { env });
    pythonStart.push(now() - t3);
  }

  const row = (name, ms, note = '') =>
    console.log(
      `| ${name} | ${ms < 0.01 ? `${(ms * 1000).toFixed(2)} µs` : `${ms.toFixed(3)} ms`} | ${note} |`,
    );
  console.log(`python: ${python.command} (${python.source}) -> ${executable}`);
  console.log(
    `load average: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log('| measure | time | note |');
  console.log('|---|---|---|');
  row('worker start-up, spawn to first reply (median)', resolved.time, `${starts} starts, ${python.command}`);
  if (direct !== resolved) row('the same, with the executable itself', direct.time, executable);
  row('`python -c pass` (median)', median(pythonStart), 'the interpreter alone');
  row('worker, no-op call, sequential', perNoop, `${calls} calls, median of 3 rounds`);
  row('worker, probe with kwargs + configuration/secrets', perProbe, `${calls} calls, median of 3 rounds`);
  row('worker, no-op calls all in flight', perConcurrent, `${calls} at once, per call, median of 3`);
  row('plain Python loop, same function', perLoop, `${calls} calls`);
  row('one `python -c` process per call', perProcess, `${processes} processes`);
  console.log(
    `worker/loop: ${(perNoop / perLoop).toFixed(0)}x; process-per-call/worker: ${(perProcess / perNoop).toFixed(0)}x`,
  );
  console.log(`RESULT python_activity_ms=${perNoop.toFixed(3)} target<1`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
