#!/usr/bin/env node
// Engine overhead per activity: an experiment of N no-op node probes, against
// calling the same function N times directly, in the same process and run.
// Usage: node bench/engine-overhead.mjs [activities=2000]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExperiment } from '../dist/index.js';

const n = Number(process.argv[2] ?? 2000);
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-engine-'));
writeFileSync(join(dir, 'noop.mjs'), 'export function noop() { return 1; }\n');
const experiment = {
  title: 'overhead',
  description: 'no-op probes',
  method: Array.from({ length: n }, (_, i) => ({
    type: 'probe',
    name: `p${i}`,
    provider: { type: 'node', module: './noop.mjs', func: 'noop', arguments: {} },
  })),
};
try {
  const { noop } = await import(join(dir, 'noop.mjs'));
  // Warm up module loading and JIT for both sides.
  await runExperiment({ ...experiment, method: experiment.method.slice(0, 50) }, { baseDir: dir, home: dir });
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await noop({});
  const direct = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  const journal = await runExperiment(experiment, { baseDir: dir, home: dir });
  const engine = Number(process.hrtime.bigint() - t) / 1e6;
  if (journal.run.length !== n || journal.status !== 'completed') throw new Error('the run did not complete');
  const per = (engine - direct) / n;
  console.log(`activities: ${n}`);
  console.log(`direct calls:  ${direct.toFixed(1)} ms`);
  console.log(`engine run:    ${engine.toFixed(1)} ms`);
  console.log(`RESULT engine_overhead_per_activity_ms=${per.toFixed(3)} target<=1`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
