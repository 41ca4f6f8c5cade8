/**
 * Safeguards: a breach stops the method at once, reverts every fault, plays
 * the rollbacks and records the breach; Chaos Toolkit's chaosaddons
 * safeguards control runs unchanged.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Experiment } from '../../src/core/schema.js';
import type { RunEvent } from '../../src/engine/events.js';
import { exitCodeFor } from '../../src/engine/run.js';
import { runExperiment } from '../../src/lib/run.js';
import { tempHome } from '../helpers/home.js';
import { startServer } from '../helpers/server.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/engine/', import.meta.url));
let home: Awaited<ReturnType<typeof tempHome>>;
before(async () => {
  home = await tempHome();
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
});

/** An experiment that injects a marker fault, then waits 30 s (a safeguard is expected to cut it short). */
function experiment(marker: string, extra: Partial<Experiment> = {}): Experiment {
  return {
    title: 'guarded',
    description: 'a safeguard watches an alarm file',
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
      {
        type: 'action',
        name: 'never-reached',
        provider: { type: 'node', module: './probes.mjs', func: 'echo', arguments: { value: 1 } },
      },
    ],
    rollbacks: [
      {
        type: 'action',
        name: 'rollback',
        provider: { type: 'node', module: './probes.mjs', func: 'echo', arguments: { value: 'rolled back' } },
      },
    ],
    ...extra,
  };
}
const alarmProbe = (alarm: string, more: Record<string, unknown> = {}) => ({
  type: 'probe' as const,
  name: 'no-alarm',
  tolerance: true,
  provider: { type: 'node' as const, module: './probes.mjs', func: 'fileAbsent', arguments: { path: alarm } },
  ...more,
});

test('a breached safeguard interrupts the run, reverts faults at once, plays rollbacks and records the breach', async () => {
  const marker = join(home.home, 'sg.marker');
  const alarm = join(home.home, 'sg.alarm');
  const started = Date.now();
  const onEvent = (e: RunEvent) => {
    if (e.type === 'activity-end' && e.run.activity.name === 'inject')
      setTimeout(() => void writeFile(alarm, 'x'), 300);
  };
  const j = await runExperiment(experiment(marker, { safeguards: [alarmProbe(alarm, { frequency: 0.1 })] }), {
    baseDir: FIXTURES,
    home: home.home,
    onEvent,
  });
  assert.ok(Date.now() - started < 5000, 'the 30 s pause was cut short');
  assert.equal(j.status, 'interrupted');
  assert.equal(exitCodeFor(j), 1);
  assert.match(j.faultline.reason ?? '', /safeguard 'no-alarm'/);
  assert.equal(existsSync(marker), false, 'the fault was reverted');
  const breach = j.faultline.safeguard as {
    name: string;
    value: unknown;
    breached_at: string;
    reverted_at: string;
  };
  assert.equal(breach.name, 'no-alarm');
  assert.equal(breach.value, false);
  const reaction =
    Date.parse(breach.reverted_at.replace('000+00:00', 'Z')) -
    Date.parse(breach.breached_at.replace('000+00:00', 'Z'));
  assert.ok(reaction >= 0 && reaction < 1000, `reverted ${reaction} ms after the breach`);
  assert.equal(j.rollbacks.length, 1, 'rollbacks are played after a safeguard stop');
  assert.deepEqual(
    j.run.map((r) => r.activity.name),
    ['inject'],
  );
});

test('a plain safeguard is a pre-check: breached, nothing runs', async () => {
  const alarm = join(home.home, 'pre.alarm');
  await writeFile(alarm, 'x');
  const marker = join(home.home, 'pre.marker');
  const j = await runExperiment(experiment(marker, { safeguards: [alarmProbe(alarm)] }), {
    baseDir: FIXTURES,
    home: home.home,
  });
  assert.equal(j.status, 'interrupted');
  assert.deepEqual(j.run, []);
  assert.equal(existsSync(marker), false);
});

test("Chaos Toolkit's chaosaddons safeguards control runs unchanged", async () => {
  const marker = join(home.home, 'ctk.marker');
  const alarm = join(home.home, 'ctk.alarm');
  const onEvent = (e: RunEvent) => {
    if (e.type === 'activity-end' && e.run.activity.name === 'inject')
      setTimeout(() => void writeFile(alarm, 'x'), 200);
  };
  const j = await runExperiment(
    experiment(marker, {
      controls: [
        {
          name: 'safeguard',
          provider: {
            type: 'python',
            module: 'chaosaddons.controls.safeguards',
            arguments: { probes: [alarmProbe(alarm, { frequency: 0.1 })] },
          },
        },
      ],
    }),
    { baseDir: FIXTURES, home: home.home, onEvent },
  );
  assert.equal(j.status, 'interrupted');
  assert.equal((j.faultline.safeguard as { name: string }).name, 'no-alarm');
  assert.equal(existsSync(marker), false);
});

test('a safeguard control without probes is refused with a clear message', async () => {
  await assert.rejects(
    runExperiment(
      experiment('/tmp/x', {
        controls: [
          {
            name: 'sg',
            provider: {
              type: 'python',
              module: 'chaosaddons.controls.safeguards',
              arguments: { probes: [] },
            },
          },
        ],
      }),
      { baseDir: FIXTURES, home: home.home },
    ),
    /control 'sg': arguments\.probes/,
  );
});

test('a load-metric safeguard trips when a real service starts failing', async () => {
  let failing = false;
  const server = await startServer((_req, res) => {
    res.writeHead(failing ? 500 : 200);
    res.end();
  });
  try {
    const marker = join(home.home, 'load.marker');
    const onEvent = (e: RunEvent) => {
      if (e.type === 'activity-end' && e.run.activity.name === 'inject')
        setTimeout(() => (failing = true), 300);
    };
    const j = await runExperiment(
      experiment(marker, {
        load: { rate: 100, requests: [{ url: server.url }] },
        safeguards: [
          {
            type: 'probe',
            name: 'error-rate-below-20-percent',
            frequency: 0.1,
            tolerance: { type: 'range', range: [0, 0.2] },
            provider: {
              type: 'faultline',
              module: 'faultline.load',
              func: 'error_rate',
              arguments: { window: 0.5 },
            },
          },
        ],
      }),
      { baseDir: FIXTURES, home: home.home, onEvent },
    );
    assert.equal(j.status, 'interrupted');
    const breach = j.faultline.safeguard as { name: string; value: number };
    assert.equal(breach.name, 'error-rate-below-20-percent');
    assert.ok(breach.value > 0.2, `error rate seen: ${breach.value}`);
    assert.equal(existsSync(marker), false);
  } finally {
    await server.close();
  }
});
