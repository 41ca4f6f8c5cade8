/**
 * Chaos Monkey mode through the real scheduler (port 0, SQLite), in real time: a monkey schedule whose
 * working day is today and whose working hours are the next whole minute, with μ = 1 and probability 1
 * (a run planned every working day, always going ahead), fires once within those hours, picks its
 * targets at random from the candidates, and its run of a real marker fault passes with the fault
 * reverted. What the monkey planned is what fired: the firing's due time is the plan nextFire gives.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { nextFire } from '../../src/schedule/index.js';
import { markerExperiment, runEnded, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';
import type { FiringBody } from './server-schedules-fixtures.js';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const hhmm = (d: Date) =>
  `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;

// The working hours are the next whole minute (UTC); a minute that ends at midnight cannot be written
// as a window of one day (start < end), so that one minute of the day skips.
const start = new Date(Math.ceil((Date.now() + 1000) / 60_000) * 60_000);
const end = new Date(start.getTime() + 60_000);
const crossesMidnight = end.getUTCDate() !== start.getUTCDate() || hhmm(end) === '00:00';

let t: TestServer;
before(async () => {
  if (!crossesMidnight) t = await startTestServer({ serve: { schedulePollMs: 500 } });
});
after(async () => {
  await t?.close();
});

test('a monkey schedule fires within its working hours, picks targets, and its fault is reverted', {
  skip: crossesMidnight ? 'the next minute ends at midnight UTC: run again in a minute' : false,
}, async () => {
  const marker = join(t.dir, 'monkey.marker');
  const up = await t.api('POST', '/api/experiments', {
    name: 'monkey-marker',
    format: 'yaml',
    source: markerExperiment(marker, { title: 'monkey marker' }),
  });
  assert.equal(up.status, 201, up.text);
  const timing = {
    monkey: {
      timezone: 'UTC',
      workingHours: { start: hhmm(start), end: hhmm(end) },
      workingDays: [DAYS[start.getUTCDay()]],
      meanTimeBetweenRunsInWorkDays: 1,
      probability: 1,
    },
  };
  const candidates = ['web-1', 'web-2', 'web-3'];
  const created = await t.api('POST', '/api/schedules', {
    name: 'monkey',
    experiment: 'monkey-marker',
    timing,
    targets: { candidates, count: 1, configurationKey: 'victim' },
  });
  assert.equal(created.status, 201, created.text);
  // The plan, as every server computes it: today's run at a random second within the working hours.
  const planned = nextFire(created.body.timing, created.body.id, new Date(start.getTime() - 1));
  assert.ok(planned, 'a run is planned today');
  assert.ok(planned.due >= start && planned.due < end, planned.due.toISOString());
  assert.equal(created.body.nextFires[0], planned.at.toISOString());

  // A hang guard, not a timing assertion: the planned second is at most two minutes away.
  const fired = await until(
    'the monkey to fire',
    async () => {
      const r = await t.api('GET', '/api/schedules/monkey/firings');
      return (r.body.firings as FiringBody[]).find((f) => f.outcome === 'fired');
    },
    300_000,
  );
  assert.equal(fired.due, planned.due.toISOString());
  const run = await runEnded(t.store, fired.run as string);
  assert.equal(run.verdict, 'passed', run.reason);
  assert.equal(run.origin, 'schedule');
  const victim = run.configuration?.victim as string[];
  assert.equal(victim.length, 1, JSON.stringify(run.configuration));
  assert.ok(candidates.includes(victim[0] as string), JSON.stringify(run.configuration));
  assert.ok(!existsSync(marker), 'the marker fault was reverted');
  // One run a working day: nothing else is planned today.
  const firings = (await t.api('GET', '/api/schedules/monkey/firings')).body.firings as FiringBody[];
  assert.equal(firings.length, 1, JSON.stringify(firings));
});
