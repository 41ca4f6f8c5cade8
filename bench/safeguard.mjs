#!/usr/bin/env node
// Safeguard reaction: from the moment the watched condition is breached to
// every fault of the run reverted (the marker fault's file gone); the
// safeguard checks every 100 ms. Two conditions:
//  - load: a `faultline.load` error-rate safeguard over the run's own traffic
//    (500 req/s); the service starts answering 500 at a random moment, and the
//    breach is the first 500 it sends;
//  - file: a node probe that watches for an "alarm" file.
// Usage: node bench/safeguard.mjs [trials=50]
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
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
let failing = false;
let firstErrorAt = 0;
const service = createServer((_req, res) => {
  if (failing && !firstErrorAt) firstErrorAt = performance.now();
  res.writeHead(failing ? 500 : 200).end();
});
await new Promise((r) => service.listen(0, '127.0.0.1', r));
const serviceUrl = `http://127.0.0.1:${service.address().port}/`;

/**
 * One trial: a marker fault, then `breach()` at a random point of the
 * safeguard's 100 ms cycle; returns the ms from `breachedAt()` to the marker gone.
 */
async function trial(marker, extra, breach, breachedAt) {
  let revertedAt = 0;
  const watch = setInterval(() => {
    if (breachedAt() && !revertedAt && !existsSync(marker)) revertedAt = performance.now();
  }, 0);
  await runExperiment(
    {
      title: 'safeguard reaction',
      description: 'bench',
      ...extra,
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
          setTimeout(breach, 50 + Math.random() * 100);
        }
      },
    },
  );
  clearInterval(watch);
  return (revertedAt || performance.now()) - breachedAt();
}

const guard = (name, tolerance, provider) => ({
  safeguards: [{ type: 'probe', name, tolerance, frequency: 0.1, provider }],
});
const loadReactions = [];
const reactions = [];
try {
  for (let i = 0; i < trials; i++) {
    failing = false;
    firstErrorAt = 0;
    const extra = {
      load: { rate: 500, requests: [{ url: serviceUrl }] },
      ...guard(
        'no-errors',
        { type: 'range', range: [0, 0] },
        { type: 'faultline', module: 'faultline.load', func: 'error_rate', arguments: { window: 1 } },
      ),
    };
    // The breach is the first 500 the service sends once it breaks.
    loadReactions.push(
      await trial(
        join(dir, `l${i}`),
        extra,
        () => (failing = true),
        () => firstErrorAt,
      ),
    );
  }
  for (let i = 0; i < trials; i++) {
    const alarm = join(dir, `a${i}`);
    let alarmAt = 0;
    const extra = guard('no-alarm', true, {
      type: 'node',
      module: './probe.mjs',
      func: 'absent',
      arguments: { path: alarm },
    });
    const breach = () => {
      writeFileSync(alarm, 'x');
      alarmAt = performance.now();
    };
    reactions.push(await trial(join(dir, `m${i}`), extra, breach, () => alarmAt));
  }
  const line = (what, xs) =>
    `${what}: breach -> every fault reverted: p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
  console.log(`trials: ${trials}; safeguard every 100 ms`);
  console.log(line('load error rate (500 req/s)', loadReactions));
  console.log(line('alarm file', reactions));
  console.log(`RESULT safeguard_load_reaction_p99_ms=${pct(loadReactions, 99).toFixed(1)} target<=250`);
  console.log(`RESULT safeguard_file_reaction_p99_ms=${pct(reactions, 99).toFixed(1)} target<=250`);
} finally {
  service.close();
  rmSync(dir, { recursive: true, force: true });
}
