#!/usr/bin/env node
// Safeguard reaction: from the moment the watched condition is breached (an
// "alarm" file appears; the safeguard checks every 100 ms) to every fault of
// the run reverted (the marker fault's file gone). Usage: node bench/safeguard.mjs [trials=50]
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExperiment } from '../dist/index.js';

const trials = Number(process.argv[2] ?? 50);
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-safeguard-'));
writeFileSync(
  join(dir, 'probe.mjs'),
  "import { existsSync } from 'node:fs';\nexport const absent = ({ path }) => !existsSync(path);\n",
);
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const reactions = [];
try {
  for (let i = 0; i < trials; i++) {
    const marker = join(dir, `m${i}`);
    const alarm = join(dir, `a${i}`);
    let breachedAt = 0;
    let revertedAt = 0;
    const watch = setInterval(() => {
      if (breachedAt && !revertedAt && !existsSync(marker)) revertedAt = performance.now();
    }, 0);
    await runExperiment(
      {
        title: 'safeguard reaction',
        description: 'bench',
        safeguards: [
          {
            type: 'probe',
            name: 'no-alarm',
            tolerance: true,
            frequency: 0.1,
            provider: { type: 'node', module: './probe.mjs', func: 'absent', arguments: { path: alarm } },
          },
        ],
        method: [
          {
            type: 'action',
            name: 'inject',
            provider: {
              type: 'faultline',
              module: 'faultline.marker',
              func: 'create',
              arguments: { path: marker },
            },
            pauses: { after: 30 },
          },
        ],
      },
      {
        baseDir: dir,
        home: dir,
        onEvent: (e) => {
          if (e.type === 'activity-end' && e.run.activity.name === 'inject') {
            // Breach at a random point of the safeguard's 100 ms cycle.
            setTimeout(
              () => {
                writeFileSync(alarm, 'x');
                breachedAt = performance.now();
              },
              50 + Math.random() * 100,
            );
          }
        },
      },
    );
    clearInterval(watch);
    if (!revertedAt) revertedAt = performance.now();
    reactions.push(revertedAt - breachedAt);
  }
  console.log(`trials: ${trials}; safeguard every 100 ms`);
  console.log(
    `breach -> every fault reverted: p50 ${pct(reactions, 50).toFixed(1)} ms, p99 ${pct(reactions, 99).toFixed(1)} ms, max ${Math.max(...reactions).toFixed(1)} ms`,
  );
  console.log(`RESULT safeguard_reaction_p99_ms=${pct(reactions, 99).toFixed(1)} target<=250`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
