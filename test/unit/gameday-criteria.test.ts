/**
 * Success criteria from the runs' data: recorded journals of real runs (test/fixtures/report) and a real run
 * of the game-day example's experiment. What a journal does not hold is `unknown`, never invented.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Journal } from '../../src/core/journal.js';
import { evaluateCriteria } from '../../src/gameday/criteria.js';
import { localExperimentRunner } from '../../src/gameday/local.js';
import { type GameDayPlan, parsePlan } from '../../src/gameday/plan.js';
import type { StepRun, TimelineEvent } from '../../src/gameday/types.js';
import { parseJournal } from '../../src/report/index.js';
import { tempHome } from '../helpers/home.js';

const load = (name: string): Journal => {
  const r = parseJournal(
    JSON.parse(readFileSync(new URL(`../fixtures/report/${name}`, import.meta.url), 'utf8')),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.journal;
};

function plan(criteria: string): GameDayPlan {
  const r = parsePlan(
    `name: t
title: T
objective: o
hypothesis: h
participants: [{ name: alice, role: incident-commander }]
steps:
  - { id: a, kind: experiment, experiment: a.yaml }
  - { id: b, kind: experiment, experiment: b.yaml }
success_criteria:
${criteria}`,
    'plan.yaml',
  );
  if (!r.ok) assert.fail(JSON.stringify(r.issues));
  return r.plan;
}

const run = (step: string, journal: Journal): StepRun => ({ step, runId: journal.faultline.run_id, journal });
const pick = (results: ReturnType<typeof evaluateCriteria>) =>
  Object.fromEntries(results.map((r) => [r.id, [r.verdict, r.measured ?? null]]));

test('recovery time, error rate and verdict from recorded journals; absent data is unknown', () => {
  const p =
    plan(`  - { id: fast, description: Recovered within 2 s, measure: { kind: recovery_time, step: a, max: 2s } }
  - { id: faster, description: Recovered within 1 s, measure: { kind: recovery_time, step: a, max: 1 } }
  - { id: errors, description: Under 30% errors, measure: { kind: error_rate, step: a, max: 0.3 } }
  - { id: few-errors, description: Under 1% errors, measure: { kind: error_rate, step: a, max: 0.01 } }
  - { id: held, description: Hypothesis held, measure: { kind: verdict, step: a } }
  - { id: stopped, description: The safeguard stopped b, measure: { kind: verdict, step: b, equals: interrupted } }
  - { id: b-recovery, description: b recovered, measure: { kind: recovery_time, step: b, max: 2m } }
  - { id: b-errors, description: b errors, measure: { kind: error_rate, step: b, max: 0.5 } }`);
  const recovered = load('recovered.json');
  const results = evaluateCriteria(p, [run('a', recovered), run('b', load('safeguard-trip.json'))], []);
  assert.deepEqual(pick(results), {
    fast: ['met', '1.02 s'],
    faster: ['not-met', '1.02 s'],
    errors: ['met', '25.74%'],
    'few-errors': ['not-met', '25.74%'],
    held: ['met', 'passed'],
    stopped: ['met', 'interrupted'],
    'b-recovery': ['met', '1.01 s'],
    'b-errors': ['met', '9.4%'],
  });
  assert.equal(results.find((r) => r.id === 'errors')?.detail, '157 of 610 requests failed; at most 30%');

  // A journal without load or recovery (the quickstart's): unknown, with the reason.
  const quick = evaluateCriteria(p, [run('a', load('quickstart.json'))], []);
  const byId = Object.fromEntries(quick.map((r) => [r.id, r]));
  assert.equal(byId.fast?.verdict, 'unknown');
  assert.match(byId.fast!.detail!, /did not measure recovery/);
  assert.equal(byId.errors?.verdict, 'unknown');
  assert.match(byId.errors!.detail!, /no load/);
  // Step b has not run: unknown, never a guess.
  assert.deepEqual([byId.stopped?.verdict, byId.stopped?.detail], ['unknown', 'step b has not run']);

  // The latest run of a step counts (a decision may run it again).
  const again = evaluateCriteria(p, [run('a', load('quickstart.json')), run('a', recovered)], []);
  assert.equal(again.find((r) => r.id === 'fast')?.verdict, 'met');
});

test('a recovery that never came is not met; a deviated run fails a verdict criterion', () => {
  const j = load('recovered.json');
  const never = structuredClone(j);
  (never.faultline as Record<string, unknown>).recovery = {
    ...(j.faultline.recovery as object),
    mttr: null,
    recovered_at: null,
  };
  const p =
    plan(`  - { id: fast, description: Recovered within 2 s, measure: { kind: recovery_time, step: a, max: 2s } }
  - { id: held, description: Hypothesis held, measure: { kind: verdict, step: a } }`);
  const r = evaluateCriteria(p, [run('a', never)], []);
  assert.equal(r[0]?.verdict, 'not-met');
  assert.match(r[0]!.measured!, /not recovered within/);
  assert.deepEqual([r[1]?.verdict, r[1]?.measured], ['not-met', 'deviated']);
});

test('probe values: a field of the output, equals, min and max; a missing probe is unknown', () => {
  const p =
    plan(`  - { id: status, description: Healthy after, measure: { kind: probe, step: a, probe: service-is-healthy, field: status, equals: 200 } }
  - { id: status-500, description: Not 500, measure: { kind: probe, step: a, probe: service-is-healthy, field: status, equals: 500 } }
  - { id: ratio, description: Ratio high, measure: { kind: probe, step: b, probe: success-ratio, min: 0.98, max: 1 } }
  - { id: ratio-before, description: Ratio before, measure: { kind: probe, step: b, probe: success-ratio, phase: before, min: 0.999 } }
  - { id: nothing, description: Missing probe, measure: { kind: probe, step: a, probe: not-there, equals: 1 } }
  - { id: not-number, description: Status as number, measure: { kind: probe, step: a, probe: service-is-healthy, min: 1 } }`);
  const results = evaluateCriteria(
    p,
    [run('a', load('quickstart.json')), run('b', load('during-deviation.json'))],
    [],
  );
  const byId = Object.fromEntries(results.map((r) => [r.id, r]));
  assert.deepEqual([byId.status?.verdict, byId.status?.measured], ['met', '200']);
  assert.equal(byId['status-500']?.verdict, 'not-met');
  assert.deepEqual([byId.ratio?.verdict, byId.ratio?.measured], ['met', '0.99']);
  assert.ok(byId['ratio-before']?.verdict === 'met' || byId['ratio-before']?.verdict === 'not-met');
  assert.equal(byId.nothing?.verdict, 'unknown');
  assert.match(byId.nothing!.detail!, /no probe "not-there" in the steady state after the method/);
  assert.equal(byId['not-number']?.verdict, 'unknown');
});

test('manual criteria take the latest judgement from the timeline', () => {
  const p = plan('  - { id: comms, description: Status page updated, measure: { kind: manual } }');
  assert.equal(evaluateCriteria(p, [], [])[0]?.verdict, 'manual');
  const ev = (seq: number, by: string, verdict: string, text?: string): TimelineEvent => ({
    seq,
    at: '2026-12-07T10:00:00.000Z',
    type: 'criterion',
    by,
    ...(text ? { text } : {}),
    data: { id: 'comms', verdict, source: 'judged' },
  });
  const measured: TimelineEvent = {
    seq: 3,
    at: 'x',
    type: 'criterion',
    data: { id: 'comms', verdict: 'manual', source: 'measured' },
  };
  const r = evaluateCriteria(
    p,
    [],
    [ev(1, 'alice', 'not-met'), ev(2, 'bob', 'met', 'done at 10:02'), measured],
  );
  assert.deepEqual([r[0]?.verdict, r[0]?.detail], ['met', 'judged by bob: done at 10:02']);
});

test('a real run of the example experiment: recovery, error rate, verdict and probe measured from its journal', async () => {
  const h = await tempHome();
  try {
    const baseDir = fileURLToPath(new URL('../../examples/gameday/', import.meta.url));
    const runner = localExperimentRunner({
      baseDir,
      env: { ...process.env, FAULTLINE_HOME: h.home },
      home: h.home,
    });
    let started: string | undefined;
    const r = await runner(
      {
        id: 'a',
        kind: 'experiment',
        experiment: 'degrade-service.yaml',
        configuration: { degraded_seconds: 1 },
        on_failure: 'rollback',
      },
      new AbortController().signal,
      (id) => {
        started = id;
      },
    );
    assert.equal(started, r.runId);
    assert.equal(r.journal.faultline.run_id, r.runId);
    const p =
      plan(`  - { id: recovery, description: Back within 10 s, measure: { kind: recovery_time, step: a, max: 10s } }
  - { id: errors, description: At most 60% errors, measure: { kind: error_rate, step: a, max: 0.6 } }
  - { id: held, description: Hypothesis held, measure: { kind: verdict, step: a } }
  - { id: healthy, description: 200 after, measure: { kind: probe, step: a, probe: service-is-healthy, field: status, equals: 200 } }`);
    const results = evaluateCriteria(p, [r], []);
    for (const c of results) assert.equal(c.verdict, 'met', `${c.id}: ${JSON.stringify(c)}`);
    // Some requests failed while a replica was down, some did not: a real measurement, not a default.
    const rate = Number.parseFloat(results.find((c) => c.id === 'errors')!.measured!);
    assert.ok(rate > 0 && rate < 60, `error rate ${rate}%`);
    assert.deepEqual(await h.activeFaults(), []);
  } finally {
    await h.cleanup();
  }
});
