/**
 * The schedules' pure decisions (src/server/schedules/model.ts), as tables on dates: which late firings
 * are missed and which still run under each missed-run policy and starting deadline, what each
 * concurrency policy does with the previous runs, and a schedule's next fire times (none while paused,
 * none before its cursor).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  concurrencyDecision,
  DEFAULT_MISSED_AFTER_MS,
  MAX_CATCH_UP,
  planCatchUp,
  type Schedule,
  ScheduleSpecSchema,
  upcoming,
} from '../../src/server/schedules/model.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
/** Firings every 2 s from T0, `n` of them. */
const fires = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ due: new Date(T0 + i * 2000), at: new Date(T0 + i * 2000) }));

describe('planCatchUp', () => {
  test('on time within the deadline: every firing fires, with no reason', () => {
    const plan = planCatchUp({ missedRunPolicy: 'skip' }, fires(3), T0 + 2000 + DEFAULT_MISSED_AFTER_MS);
    assert.deepEqual(
      plan.map((p) => [p.outcome, p.reason]),
      [
        ['missed', plan[0]?.reason],
        ['fire', undefined],
        ['fire', undefined],
      ],
    );
    assert.match(plan[0]?.reason ?? '', /more than 10 s late .*missed-run policy skip/);
  });

  const now = T0 + 10 * 2000 + 500;
  const table: [string, Parameters<typeof planCatchUp>[0], string][] = [
    ['skip', { missedRunPolicy: 'skip', startingDeadline: '1s' }, 'MMMMMMMMMMF'],
    ['run-once', { missedRunPolicy: 'run-once', startingDeadline: '1s' }, 'MMMMMMMMMFF'],
    ['run-all', { missedRunPolicy: 'run-all', startingDeadline: '1s' }, 'FFFFFFFFFFF'],
    ['a deadline of 5s', { missedRunPolicy: 'skip', startingDeadline: '5s' }, 'MMMMMMMMFFF'],
  ];
  for (const [name, s, expected] of table)
    test(`${name}: ${expected}`, () => {
      const plan = planCatchUp(s, fires(11), now);
      assert.equal(plan.map((p) => (p.outcome === 'fire' ? 'F' : 'M')).join(''), expected);
      for (const p of plan.filter((p) => p.outcome === 'missed'))
        assert.match(p.reason ?? '', new RegExp(`later than its starting deadline ${s.startingDeadline}`));
      const caught = plan.filter((p) => p.outcome === 'fire' && p.reason);
      for (const p of caught)
        assert.match(p.reason ?? '', new RegExp(`run as the missed-run policy ${s.missedRunPolicy} says`));
    });

  test(`run-all runs at most ${MAX_CATCH_UP} missed firings, the newest`, () => {
    const many = fires(MAX_CATCH_UP + 20);
    const plan = planCatchUp({ missedRunPolicy: 'run-all', startingDeadline: '1s' }, many, T0 + 10_000_000);
    const run = plan.filter((p) => p.outcome === 'fire');
    assert.equal(run.length, MAX_CATCH_UP);
    assert.equal(run[0]?.fire, many[20]);
    assert.ok(plan.slice(0, 20).every((p) => p.outcome === 'missed'));
  });
});

describe('concurrencyDecision', () => {
  const active = [
    { id: 'r1', status: 'running' as const, claimedBy: 'server-a' },
    { id: 'r2', status: 'queued' as const },
  ];
  test('no previous run: every policy fires, replacing nothing', () => {
    for (const policy of ['forbid', 'allow', 'replace'] as const)
      assert.deepEqual(concurrencyDecision(policy, []), { fire: true, replace: [] });
  });
  test('forbid skips naming the previous run; allow fires beside it; replace stops each', () => {
    assert.deepEqual(concurrencyDecision('forbid', active), {
      fire: false,
      reason: 'its previous run r1 is still running (concurrency policy forbid)',
    });
    assert.deepEqual(concurrencyDecision('allow', active), { fire: true, replace: [] });
    assert.deepEqual(concurrencyDecision('replace', active), { fire: true, replace: active });
  });
});

describe('upcoming', () => {
  const stored = (over: Partial<Schedule>): Schedule => ({
    ...ScheduleSpecSchema.parse({ name: 'n', experiment: 'e', timing: { cron: '*/10 * * * * *' } }),
    id: 'id-1',
    createdAt: new Date(T0).toISOString(),
    createdBy: 'test',
    updatedAt: new Date(T0).toISOString(),
    updatedBy: 'test',
    revision: 1,
    cursor: new Date(T0).toISOString(),
    ...over,
  });
  test('the next fire times after now, in order; none while paused', () => {
    const next = upcoming(stored({}), 3, new Date(T0 + 5000));
    assert.deepEqual(
      next.map((f) => f.at),
      ['2026-12-07T10:00:10.000Z', '2026-12-07T10:00:20.000Z', '2026-12-07T10:00:30.000Z'],
    );
    assert.deepEqual(upcoming(stored({ paused: true }), 3, new Date(T0)), []);
  });
  test('nothing before the cursor (a change or a resume moves it to its time)', () => {
    const next = upcoming(stored({ cursor: '2026-12-07T10:01:00.000Z' }), 1, new Date(T0));
    assert.equal(next[0]?.at, '2026-12-07T10:01:10.000Z');
  });
});
