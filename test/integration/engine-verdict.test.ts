/**
 * Faultline's verdict and fail-fast on real runs (issue #12 items 1, 2, 18a,
 * 18d and the warm-up): a marker fault, a probe that watches it, and the
 * journal's Chaos Toolkit fields checked beside the verdict. Every wait is on
 * an event (a check that missed, an activity that ended), never on timing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Activity, Experiment } from '../../src/core/schema.js';
import { decideVerdict } from '../../src/core/verdict.js';
import type { RunEvent } from '../../src/engine/events.js';
import { exitCodeFor, type RunOptions } from '../../src/engine/run.js';
import { runExperiment } from '../../src/lib/run.js';
import { notificationBody } from '../../src/observe/notify.js';
import { outcomeOf, RunMetrics } from '../../src/observe/run-metrics.js';
import { renderReport } from '../../src/report/index.js';
import { tempHomeSuite } from '../helpers/home.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/engine/', import.meta.url));
const home = tempHomeSuite();

const node = (func: string, args: Record<string, unknown> = {}) => ({
  type: 'node' as const,
  module: './probes.mjs',
  func,
  arguments: args,
});
const inject = (marker: string, pauseAfter?: number): Activity => ({
  type: 'action',
  name: 'inject',
  provider: {
    type: 'faultline',
    module: 'faultline.marker',
    func: 'create',
    arguments: { path: marker, duration: 120 },
  },
  ...(pauseAfter === undefined ? {} : { pauses: { after: pauseAfter } }),
});
const revertAll: Activity = {
  type: 'action',
  name: 'revert',
  provider: { type: 'faultline', module: 'faultline.faults', func: 'revert', arguments: {} },
};
/** The steady state: the marker (the fault) is absent. */
const hypothesis = (marker: string) => ({
  title: 'no marker',
  probes: [
    {
      type: 'probe' as const,
      name: 'no-marker',
      tolerance: true,
      provider: node('fileAbsent', { path: marker }),
    },
  ],
});
const run = (e: Experiment, o: RunOptions = {}) =>
  runExperiment(e, { baseDir: FIXTURES, home: home.home, ...o });
/** Whether a fault was reverted before the phase started (events in order). */
function revertedBefore(events: RunEvent[], phase: string): boolean {
  const reverted = events.findIndex((e) => e.type === 'fault' && e.action === 'reverted');
  const started = events.findIndex((e) => e.type === 'phase' && e.phase === phase);
  return reverted >= 0 && reverted < started;
}
const missedDuring = (e: RunEvent) =>
  e.type === 'hypothesis-end' && e.phase === 'during-hypothesis' && !e.state.steady_state_met;

test('misses during the method make the verdict deviated; Chaos Toolkit fields stay; a tolerance lets them pass', async () => {
  const marker = join(home.home, 'v1.marker');
  const go = join(home.home, 'v1.go');
  // The method holds the fault until a check during the method has missed, then reverts it: the after-check is met.
  const exp: Experiment = {
    title: 'misses during the method',
    description: 'd',
    'steady-state-hypothesis': hypothesis(marker),
    method: [
      inject(marker),
      { type: 'action', name: 'hold', provider: node('waitForFile', { path: go }) },
      revertAll,
    ],
    runtime: { hypothesis: { strategy: 'continuously', frequency: 0.05 } },
  };
  const onEvent = (e: RunEvent) => {
    if (missedDuring(e)) void writeFile(go, 'x');
  };
  const metrics = new RunMetrics();
  const j = await run(exp, {
    onEvent: (e) => {
      onEvent(e);
      metrics.listener(e);
    },
  });
  // Chaos Toolkit's fields: only the after-check sets deviated.
  assert.equal(j.status, 'completed');
  assert.equal(j.deviated, false);
  assert.equal(j.steady_states.before?.steady_state_met, true);
  assert.equal(j.steady_states.after?.steady_state_met, true);
  const misses = j.steady_states.during.filter((s) => !s.steady_state_met).length;
  assert.ok(misses >= 1);
  // Faultline's verdict counts them.
  const v = j.faultline.verdict;
  assert.ok(v, 'the verdict is stored in the journal');
  assert.deepEqual(v, decideVerdict(j));
  assert.equal(v.kind, 'deviated');
  assert.equal(exitCodeFor(j), 1);
  assert.match(
    v.reasons[0] ?? '',
    new RegExp(
      `not met in ${misses} of ${j.steady_states.during.length} checks during the method \\(tolerated: at most 0\\)`,
    ),
  );
  assert.deepEqual(j.faultline.during_tolerance, { max_misses: 0, max_miss_ratio: 0 });
  // ... and so do metrics, webhooks and the JUnit report.
  assert.equal(outcomeOf(j), 'deviated');
  assert.match(metrics.render(), /faultline_runs_total\{outcome="deviated"\} 1/);
  assert.match(metrics.render(), /faultline_last_run_success\{[^}]*\} 0/);
  const body = notificationBody('deviated', { title: j.experiment.title, runId: 'r' }, j) as {
    text: string;
    faultline: Record<string, unknown>;
  };
  assert.match(body.text, /verdict: DEVIATED \(exit code 1\)/);
  assert.match(body.text, /not met in \d+ of \d+ checks during the method/);
  assert.equal(body.faultline.verdict, 'deviated');
  assert.match(renderReport('junit', [j]), /<property name="verdict" value="deviated"\/>/);

  // The same run with the misses tolerated (the CLI's --max-misses): it passes, with a warning.
  await rm(go);
  const k = await run(exp, { onEvent, maxMisses: 1000 });
  assert.equal(k.faultline.verdict?.kind, 'passed');
  assert.equal(exitCodeFor(k), 0);
  assert.match(k.faultline.verdict?.warnings[0] ?? '', /within the tolerance: at most 1000/);
  assert.equal(outcomeOf(k), 'completed');

  // A ratio from the experiment's runtime block: every check may miss.
  await rm(go);
  const r = await run(
    { ...exp, runtime: { hypothesis: { ...exp.runtime?.hypothesis, max_miss_ratio: 1 } } },
    { onEvent },
  );
  assert.equal(r.faultline.verdict?.kind, 'passed');
  assert.equal(r.faultline.verdict?.during?.max_miss_ratio, 1);
});

test('fail-fast stops the current pause and reverts the fault at once; status as Chaos Toolkit, reason fail-fast', async () => {
  const marker = join(home.home, 'v2.marker');
  const exp: Experiment = {
    title: 'fail fast',
    description: 'd',
    'steady-state-hypothesis': hypothesis(marker),
    // Before the fix the 60 s pause ran on with the fault in place.
    method: [
      inject(marker, 60),
      { type: 'action', name: 'never-reached', provider: node('echo', { value: 1 }) },
    ],
    runtime: { hypothesis: { strategy: 'continuously', frequency: 0.05, fail_fast: true } },
  };
  const events: RunEvent[] = [];
  const started = Date.now();
  const j = await run(exp, { onEvent: (e) => events.push(e) });
  assert.ok(Date.now() - started < 30_000, 'the 60 s pause was cut short');
  assert.equal(existsSync(marker), false);
  // Chaos Toolkit: fail-fast sets `failed`; the after-check (met: the fault is gone) does not reset it.
  assert.equal(j.status, 'failed');
  assert.equal(j.deviated, false);
  assert.equal(j.steady_states.after?.steady_state_met, true);
  assert.deepEqual(
    j.run.map((r) => [r.activity.name, r.status]),
    [['inject', 'succeeded']],
  );
  const ff = j.faultline.fail_fast;
  assert.ok(ff?.reverted_at, 'fail-fast recorded when it fired and when the faults were reverted');
  assert.equal(ff.check, 1 + j.steady_states.during.findIndex((s) => !s.steady_state_met));
  assert.match(
    ff.reason,
    /^fail-fast: the steady state was not met during the method \(check \d+, probe 'no-marker'\)/,
  );
  assert.equal(j.faultline.reason, ff.reason);
  assert.equal(j.faultline.verdict?.kind, 'deviated');
  assert.equal(j.faultline.verdict?.reasons[0], ff.reason);
  assert.equal(exitCodeFor(j), 1);
  // The fault was reverted before the method ended and before the after-check ran.
  assert.ok(revertedBefore(events, 'after-hypothesis'), 'reverted before the hypothesis after');
  const fault = j.faultline.faults[0];
  assert.ok(fault?.reverted_at && fault.reverted_at <= (j.steady_states.after?.probes[0]?.start ?? ''));
});

test('fail-fast waits for the misses to exceed the tolerance', async () => {
  const marker = join(home.home, 'v3.marker');
  const exp: Experiment = {
    title: 'fail fast, tolerant',
    description: 'd',
    'steady-state-hypothesis': hypothesis(marker),
    method: [inject(marker, 60)],
    runtime: {
      hypothesis: { strategy: 'during-method-only', frequency: 0.05, fail_fast: true, max_misses: 2 },
    },
  };
  const j = await run(exp);
  assert.equal(j.status, 'failed', 'during-method-only with fail-fast: failed, not deviated (Chaos Toolkit)');
  assert.equal(j.deviated, false);
  const misses = j.steady_states.during.filter((s) => !s.steady_state_met).length;
  assert.equal(misses, 3, 'fired at the third miss, the first one not tolerated');
  assert.equal(j.faultline.fail_fast?.check, j.steady_states.during.length);
  assert.equal(j.faultline.verdict?.kind, 'deviated');
  assert.equal(existsSync(marker), false);
});

test('a run whose only fault action failed to inject does not pass (Chaos Toolkit status stays completed)', async () => {
  // A marker fault refuses to replace a file that is already there: the injection fails, nothing is injected.
  const taken = join(home.home, 'v4.taken');
  await writeFile(taken, 'not ours');
  const j = await run({
    title: 'never injected',
    description: 'd',
    method: [inject(taken)],
  });
  assert.equal(j.status, 'completed');
  assert.equal(j.run[0]?.status, 'failed');
  assert.equal(j.faultline.verdict?.kind, 'failed');
  assert.match(j.faultline.verdict?.reasons[0] ?? '', /^action 'inject' failed: .*already exists/);
  assert.deepEqual(j.faultline.faults, []);
  assert.equal(exitCodeFor(j), 1);
});

test('--rollback-strategy always: after Ctrl-C the faults are reverted before the rollbacks run', async () => {
  const marker = join(home.home, 'v5.marker');
  const ac = new AbortController();
  const events: RunEvent[] = [];
  const j = await run(
    {
      title: 'rollbacks after revert',
      description: 'd',
      method: [inject(marker, 60)],
      // The rollback records whether the fault was still in place when it ran.
      rollbacks: [{ type: 'action', name: 'fault-gone', provider: node('fileAbsent', { path: marker }) }],
    },
    {
      rollbackStrategy: 'always',
      signal: ac.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'activity-end' && e.run.activity.name === 'inject') ac.abort('interrupted by SIGINT');
      },
    },
  );
  assert.equal(j.status, 'interrupted');
  assert.equal(j.rollbacks[0]?.output, true, 'the fault was gone when the rollback ran');
  assert.ok(revertedBefore(events, 'rollbacks'));
  assert.equal(j.faultline.verdict?.kind, 'interrupted');
});

test('warm-up: the steady state is checked again until it holds, or the deadline passes', async () => {
  const notReady = join(home.home, 'v6.not-ready');
  const exp = (warmup?: string): Experiment => ({
    title: 'warm-up',
    description: 'd',
    'steady-state-hypothesis': {
      title: 'ready',
      probes: [
        { type: 'probe', name: 'ready', tolerance: true, provider: node('fileAbsent', { path: notReady }) },
      ],
    },
    method: [{ type: 'action', name: 'm', provider: node('echo', { value: 1 }) }],
    runtime: { hypothesis: { frequency: 0.05, ...(warmup ? { warmup } : {}) } },
  });

  // Without a warm-up, a service not ready yet fails the check before the method, as before.
  await writeFile(notReady, 'x');
  const cold = await run(exp());
  assert.equal(cold.run.length, 0);
  assert.equal(cold.faultline.warmup, undefined);

  // With one, the first miss makes the service ready; the second check holds and the method runs.
  const logs: string[] = [];
  const j = await run(exp('60s'), {
    onEvent: (e) => {
      if (e.type === 'hypothesis-end' && e.phase === 'before-hypothesis' && !e.state.steady_state_met)
        void rm(notReady, { force: true });
      if (e.type === 'log') logs.push(e.message);
    },
  });
  assert.equal(j.status, 'completed');
  assert.equal(j.steady_states.before?.steady_state_met, true);
  assert.equal(j.run.length, 1);
  assert.equal(j.faultline.verdict?.kind, 'passed');
  const w = j.faultline.warmup as { deadline: number; checks: number; met_after: number | null };
  assert.equal(w.deadline, 60);
  assert.ok(w.checks >= 2);
  assert.ok(w.met_after !== null);
  assert.ok(
    logs.some((m) =>
      /^warm-up: the steady state is not met yet \(probe 'ready'\); checking again in/.test(m),
    ),
  );

  // Never ready: the check before the method fails once the deadline has passed.
  await writeFile(notReady, 'x');
  const late = await run(exp('300ms'));
  assert.equal(late.run.length, 0);
  assert.equal(late.steady_states.before?.steady_state_met, false);
  const lw = late.faultline.warmup as { deadline: number; checks: number; met_after: number | null };
  // Only lower bounds on time: the warm-up waited its whole deadline (however few checks a busy machine fits in).
  assert.ok(lw.checks >= 1);
  assert.ok(late.duration >= lw.deadline);
  assert.equal(lw.met_after, null);
  assert.match(late.faultline.reason ?? '', /not met before the method \(warm-up of 0\.3 s\)/);
  assert.equal(late.faultline.verdict?.kind, 'deviated');
  assert.equal(late.faultline.verdict?.reasons.length, 1);
});
