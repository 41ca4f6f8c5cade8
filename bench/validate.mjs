#!/usr/bin/env node
// Validating 1,000 experiment files with one `faultline validate` call (the CLI, cold),
// side by side with the same files parsed by JSON.parse alone.
// Usage: node bench/validate.mjs [files=1000]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const n = Number(process.argv[2] ?? 1000);
const bin = fileURLToPath(new URL('../bin/faultline.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-validate-'));
try {
  for (let i = 0; i < n; i++) {
    const doc = {
      title: `experiment ${i}`,
      description: 'generated for the validation benchmark',
      configuration: { base: 'http://127.0.0.1:8080', n: i },
      'steady-state-hypothesis': {
        title: 'ok',
        probes: [
          {
            type: 'probe',
            name: 'up',
            tolerance: [200, 204],
            provider: { type: 'http', url: '${base}/health', timeout: 3 },
          },
          {
            type: 'probe',
            name: 'body',
            tolerance: { type: 'jsonpath', path: '$.items[?(@.ok = true)]', count: 1 },
            provider: { type: 'http', url: '${base}/items' },
          },
        ],
      },
      method: [
        {
          type: 'action',
          name: 'call',
          provider: { type: 'http', url: '${base}/x', method: 'POST', arguments: { a: i } },
          pauses: { after: 1 },
        },
        { ref: 'up' },
      ],
      rollbacks: [{ type: 'action', name: 'undo', provider: { type: 'http', url: '${base}/undo' } }],
    };
    const ext = i % 2 ? 'json' : 'yaml';
    writeFileSync(
      join(dir, `e${i}.${ext}`),
      ext === 'json' ? JSON.stringify(doc, null, 2) : JSON.stringify(doc),
    );
  }
  const files = readdirSync(dir).map((f) => join(dir, f));
  let t = process.hrtime.bigint();
  for (const f of files) JSON.parse(readFileSync(f, 'utf8'));
  const parseOnly = Number(process.hrtime.bigint() - t) / 1e6;

  t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, '--quiet', 'validate', ...files], {
    encoding: 'utf8',
    env: { ...process.env, FAULTLINE_HOME: dir },
  });
  const cli = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`validate exited ${r.status}: ${r.stderr.slice(0, 2000)}`);
  console.log(`files: ${n}`);
  console.log(`JSON.parse only (in process):     ${parseOnly.toFixed(0)} ms`);
  console.log(`faultline validate (one CLI run): ${cli.toFixed(0)} ms  (${(cli / n).toFixed(2)} ms/file)`);
  console.log(`RESULT validate_1000_files_ms=${cli.toFixed(0)} target<=2000`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
