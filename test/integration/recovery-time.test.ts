/**
 * Recovery time read from the traffic (engine/recovery-time.ts): a real
 * node:http service that keeps failing for a known 1.5 s after the fault is
 * reverted, load at 100 req/s, and a hypothesis whose probe looks at the last
 * 5 s. The MTTR must be about 1.5 s (the service), not 5 s (the probe's
 * window). Bounds hold on a loaded machine: at least 1.45 s (the last failure
 * is answered 1.5 s after the revert, counted in 100 ms slots) and under 3.5 s.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Experiment } from '../../src/core/schema.js';
import { decideVerdict } from '../../src/core/verdict.js';
import type { RunEvent } from '../../src/engine/events.js';
import { type RecoveryRecord, recoveredFromSlots } from '../../src/engine/recovery-time.js';
import { runExperiment } from '../../src/lib/run.js';
import type { WindowMetrics } from '../../src/load/series.js';
import { tempHomeSuite } from '../helpers/home.js';
import { startServer } from '../helpers/server.js';

const RECOVERS_MS = 1500;

const home = tempHomeSuite();

/** Answers 500 while the marker exists and until RECOVERS_MS after the engine reported the revert; 200 otherwise. */
async function slowToRecover(marker: string) {
  let revertedAt: number | undefined;
  let broken = false;
  const server = await startServer((_req, res) => {
    if (existsSync(marker)) broken = true;
    // Broken from the first sight of the marker until RECOVERS_MS after the revert.
    const failing = broken && (revertedAt === undefined || Date.now() < revertedAt + RECOVERS_MS);
    res.writeHead(failing ? 500 : 200);
    res.end();
  });
  const onEvent = (e: RunEvent) => {
    if (e.type === 'fault' && e.action === 'reverted') revertedAt = Date.now();
  };
  return Object.assign(server, { onEvent, revertedAt: () => revertedAt });
}

const successProbe = {
  type: 'probe' as const,
  name: 'served',
  tolerance: { type: 'range', range: [0.99, 1] },
  // A 5 s window: the old measurement (first check that held) could not report less than ~6.5 s here.
  provider: {
    type: 'faultline' as const,
    module: 'faultline.load',
    func: 'success_ratio',
    arguments: { window: 5 },
  },
};

/** Creates the marker (a ledgered fault the engine reverts at the end of the method), then waits. */
const breakAction = (marker: string, pauseS: number) => ({
  type: 'action' as const,
  name: 'break',
  provider: {
    type: 'faultline' as const,
    module: 'faultline.marker',
    func: 'create',
    arguments: { path: marker },
  },
  pauses: { after: pauseS },
});

function experiment(url: string, marker: string, extra: Partial<Experiment> = {}): Experiment {
  return {
    title: 'recovers 1.5 s after the revert',
    description: 'd',
    configuration: { service_url: url },
    load: { rate: 100, timeout: '2s', requests: [{ url: '${service_url}/' }] },
    runtime: {
      hypothesis: { strategy: 'before-method-only' },
      recovery: { deadline: '20s', interval: '250ms' },
    },
    'steady-state-hypothesis': { title: 'served', probes: [successProbe] },
    method: [breakAction(marker, 1)],
    ...extra,
  } as unknown as Experiment;
}

test('MTTR is read from the traffic: ~1.5 s for a service that recovers 1.5 s after the revert, not the 5 s probe window', async (t) => {
  const marker = join(home.home, 'm1');
  const server = await slowToRecover(marker);
  try {
    const j = await runExperiment(experiment(server.url, marker), {
      home: home.home,
      onEvent: server.onEvent,
    });
    const r = j.faultline.recovery as RecoveryRecord;
    const detail = JSON.stringify(r);
    assert.equal(r.method, 'traffic', detail);
    assert.equal(r.resolution, 0.1, detail);
    assert.equal(r.skipped, undefined, detail);
    assert.equal(typeof r.mttr, 'number', detail);
    assert.ok(
      (r.mttr as number) >= 1.45,
      `mttr ${r.mttr} must not be before the service recovered: ${detail}`,
    );
    assert.ok((r.mttr as number) < 3.5, `mttr ${r.mttr} must be well under the 5 s probe window: ${detail}`);
    // The check that confirmed it came later (its window had to clear), and the record says when.
    assert.ok(
      r.confirmed_at && r.recovered_at && Date.parse(r.confirmed_at) >= Date.parse(r.recovered_at),
      detail,
    );
    assert.equal(decideVerdict(j).kind, 'passed', JSON.stringify(decideVerdict(j)));
    const confirmedAfter = (Date.parse(r.confirmed_at) - Date.parse(r.faults_reverted_at)) / 1000;
    t.diagnostic(
      `mttr ${r.mttr} s from the traffic; the confirming check came ${confirmedAfter.toFixed(2)} s after the revert`,
    );
  } finally {
    await server.close();
  }
});

test('after a safeguard stops the run, recovery is read from load that is still running', async () => {
  const marker = join(home.home, 'm2');
  const server = await slowToRecover(marker);
  try {
    const j = await runExperiment(
      experiment(server.url, marker, {
        safeguards: [
          {
            type: 'probe',
            name: 'errors-below-half',
            frequency: 0.25,
            tolerance: { type: 'range', range: [0, 0.5] },
            provider: {
              type: 'faultline',
              module: 'faultline.load',
              func: 'error_rate',
              arguments: { window: 1 },
            },
          },
        ],
        method: [breakAction(marker, 20)],
      } as Partial<Experiment>),
      { home: home.home, onEvent: server.onEvent },
    );
    assert.equal(j.status, 'interrupted');
    assert.ok(j.faultline.safeguard, 'the safeguard tripped');
    const r = j.faultline.recovery as RecoveryRecord;
    const detail = JSON.stringify(r);
    assert.equal(r.skipped, undefined, detail);
    assert.equal(r.method, 'traffic', detail);
    assert.ok((r.mttr as number) >= 1.45 && (r.mttr as number) < 3.5, detail);
    // Every recovery check judged traffic: none saw an empty window (the old "orders-served: 0").
    const load = j.faultline.load as { series: { second: number; requests: number }[] };
    const revertedSecond = Math.floor((Date.parse(r.faults_reverted_at) - Date.parse(j.start)) / 1000);
    const afterRevert = load.series.filter((s) => s.second > revertedSecond + 1);
    assert.ok(afterRevert.length >= 2, `load after the revert: ${JSON.stringify(load.series)}`);
    assert.ok(
      afterRevert.every((s) => s.requests > 0),
      JSON.stringify(afterRevert),
    );
  } finally {
    await server.close();
  }
});

test('recovery is skipped, with its reason, when the load stopped before the revert', async () => {
  const marker = join(home.home, 'm3');
  const server = await slowToRecover(marker);
  try {
    const exp = experiment(server.url, marker, {
      method: [breakAction(marker, 2)],
    } as Partial<Experiment>);
    (exp as unknown as { load: Record<string, unknown> }).load.duration = '1s';
    const j = await runExperiment(exp, { home: home.home, onEvent: server.onEvent });
    const r = j.faultline.recovery as RecoveryRecord;
    const detail = JSON.stringify(r);
    assert.match(r.skipped ?? '', /load stopped sending .*no traffic to judge/, detail);
    assert.equal(r.mttr, undefined, detail);
    assert.equal(r.checks, 0, 'no check judged stopped load');
    const v = decideVerdict(j);
    assert.ok(!v.reasons.some((x) => /did not recover/.test(x)), JSON.stringify(v));
    assert.equal(j.deviated, false);
  } finally {
    await server.close();
  }
});

test('recoveredFromSlots: the end of the last slot a judge rejects; empty slots say nothing', () => {
  const slot = (start_ms: number, requests: number, successes: number) =>
    ({
      start_ms,
      requests,
      successes,
      success_ratio: requests ? successes / requests : 0,
    }) as WindowMetrics & {
      start_ms: number;
    };
  const served = (m: WindowMetrics) => m.success_ratio >= 0.99;
  const slots = [
    slot(1000, 10, 5),
    slot(1100, 10, 9),
    slot(1200, 0, 0),
    slot(1300, 10, 10),
    slot(1400, 10, 10),
  ];
  assert.equal(recoveredFromSlots(slots, [served], 1050), 1200);
  assert.equal(recoveredFromSlots(slots.slice(2), [served], 1250), 1250, 'healthy from the revert on');
  assert.equal(recoveredFromSlots([slot(1000, 0, 0), slot(1100, 0, 0)], [served], 1000), 1000);
});
