/** Time to recover (MTTR): after the faults are reverted, the steady state is checked until it holds or a deadline passes. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Experiment } from '../../src/core/schema.js';
import { exitCodeFor } from '../../src/engine/run.js';
import { runExperiment } from '../../src/lib/run.js';
import { tempHome } from '../helpers/home.js';
import { startServer } from '../helpers/server.js';

let home: Awaited<ReturnType<typeof tempHome>>;
before(async () => {
  home = await tempHome();
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), []);
  await home.cleanup();
});

/** A service that fails while the marker exists and for `recoverMs` after it is gone. */
async function slowToRecover(marker: string, recoverMs: number) {
  let lastFault = 0;
  const server = await startServer((_req, res) => {
    if (existsSync(marker)) lastFault = Date.now();
    res.writeHead(Date.now() - lastFault > recoverMs ? 200 : 503);
    res.end();
  });
  /** When the service became healthy again (ms since the epoch). */
  return Object.assign(server, { healthyAt: () => lastFault + recoverMs });
}

function experiment(url: string, marker: string, deadline: string): Experiment {
  return {
    title: 'recovers',
    description: 'd',
    runtime: { hypothesis: { strategy: 'before-method-only' }, recovery: { deadline, interval: '100ms' } },
    'steady-state-hypothesis': {
      title: 'healthy',
      probes: [{ type: 'probe', name: 'up', tolerance: 200, provider: { type: 'http', url, timeout: 2 } }],
    },
    method: [
      {
        type: 'action',
        name: 'degrade',
        provider: {
          type: 'faultline',
          module: 'faultline.marker',
          func: 'create',
          arguments: { path: marker },
        },
      },
      { type: 'probe', name: 'sees-503', provider: { type: 'http', url, timeout: 2 } },
      {
        type: 'action',
        name: 'heal',
        provider: {
          type: 'faultline',
          module: 'faultline.marker',
          func: 'remove',
          arguments: { path: marker },
        },
      },
    ],
  };
}

test('MTTR is measured from the revert to the first steady-state check that holds', async () => {
  const marker = join(home.home, 'r1');
  const server = await slowToRecover(marker, 400);
  try {
    const j = await runExperiment(experiment(server.url, marker, '5s'), { home: home.home });
    const r = j.faultline.recovery as {
      mttr: number;
      checks: number;
      recovered_at: string | null;
      faults_reverted_at: string;
    };
    assert.ok(r.recovered_at);
    // Recovered at the first check after the service was healthy again, timed from the revert.
    assert.ok(Date.parse(r.recovered_at) >= server.healthyAt() - 1, 'not before the service recovered');
    const span = (Date.parse(r.recovered_at) - Date.parse(r.faults_reverted_at)) / 1000;
    assert.ok(Math.abs(r.mttr - span) < 0.002, `mttr ${r.mttr} vs ${span}`);
    assert.ok(r.mttr > 0 && r.mttr < 2, `mttr ${r.mttr}`);
    assert.ok(r.checks >= 2);
    assert.equal(j.deviated, false);
    assert.equal(exitCodeFor(j), 0);
  } finally {
    await server.close();
  }
});

test('a recovery deadline that passes marks the run deviated: "did not recover"', async () => {
  const marker = join(home.home, 'r2');
  const server = await slowToRecover(marker, 3000);
  try {
    const j = await runExperiment(experiment(server.url, marker, '500ms'), { home: home.home });
    const r = j.faultline.recovery as { mttr: number | null; recovered_at: string | null };
    assert.equal(r.recovered_at, null);
    assert.equal(r.mttr, null);
    assert.equal(j.deviated, true);
    assert.match(j.faultline.reason ?? '', /^did not recover/);
    assert.equal(exitCodeFor(j), 1);
  } finally {
    await server.close();
  }
});
