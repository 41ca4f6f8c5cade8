#!/usr/bin/env node
// Loading and validating one large experiment in process (issue #13 item 10: a
// 5 MB experiment of 60,000 activities took 17.7 s), and refusing a YAML alias
// bomb. Pass another build's dist/ to compare (e.g. one of an older commit).
// Usage: node bench/validate-large.mjs [distDir=dist] [activities=60000]
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';

const dist = resolve(process.argv[2] ?? new URL('../dist', import.meta.url).pathname);
const n = Number(process.argv[3] ?? 60_000);
const { loadExperimentSource, validateExperiment } = await import(
  pathToFileURL(join(dist, 'experiment', 'index.js')).href
);
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-validate-large-'));

const activities = Array.from({ length: n }, (_, i) =>
  i % 3 === 2
    ? { ref: `a${i - 1}` }
    : { type: 'action', name: `a${i}`, provider: { type: 'process', path: 'true', arguments: ['-x'] } },
);
const configuration = Object.fromEntries(
  Array.from({ length: n }, (_, i) => [`k${i}`, { type: 'env', key: `FAULTLINE_BENCH_UNSET_${i}` }]),
);
const plain = [{ type: 'action', name: 'a', provider: { type: 'http', url: 'http://127.0.0.1:1/' } }];
const cases = [
  ['activities (process), JSON', 'acts.json', { title: 't', description: 'd', method: activities }],
  ['activities (process), YAML', 'acts.yaml', { title: 't', description: 'd', method: activities }],
  [
    'configuration keys, all missing env, JSON',
    'conf.json',
    { title: 't', description: 'd', configuration, method: plain },
  ],
];

try {
  console.log(`dist: ${dist}`);
  for (const [label, file, doc] of cases) {
    const path = join(dir, file);
    writeFileSync(path, file.endsWith('.json') ? JSON.stringify(doc) : stringify(doc));
    let t = performance.now();
    const loaded = await loadExperimentSource(path);
    const load = performance.now() - t;
    t = performance.now();
    const { issues } = await validateExperiment(loaded, { env: {} });
    const validate = performance.now() - t;
    const mb = (statSync(path).size / 1e6).toFixed(1);
    console.log(
      `${n} ${label} (${mb} MB): load ${load.toFixed(0)} ms, validate ${validate.toFixed(0)} ms, ${issues.length} issues`,
    );
    console.log(`RESULT validate_large_${file.replace('.', '_')}_ms=${(load + validate).toFixed(0)}`);
  }
  // 99 aliases of a 9 MB string: 1.2 GB once expanded.
  const bomb = join(dir, 'bomb.yaml');
  writeFileSync(bomb, `title: t\ndescription: &d ${'x'.repeat(9e6)}\nmethod:\n${'- *d\n'.repeat(99)}`);
  const t = performance.now();
  let outcome;
  try {
    const loaded = await loadExperimentSource(bomb);
    // JSON.stringify would pass V8's string limit; count what a journal would write.
    const chars = loaded.raw.method.reduce((sum, s) => sum + s.length, 0);
    outcome = `loaded, its method alone ${(chars / 1e9).toFixed(2)} GB once written out`;
  } catch (err) {
    outcome = `refused: ${err.message.split(': ').slice(1).join(': ')}`;
  }
  console.log(`alias bomb (9 MB, 99 aliases): ${(performance.now() - t).toFixed(0)} ms, ${outcome}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
