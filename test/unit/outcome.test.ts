/**
 * decideOutcome / decideStatus / rollbacksPlay (engine/outcome.ts), the one
 * place a run's status, deviated, reason, verdict and exit code come from, as
 * tables. Each row is the outcomes the engine's phases return in a case its
 * suites run for real, and names that suite and test; the journal is the
 * evidence those phases record (steady states, activity runs, faults).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InterruptExecution } from '../../src/core/errors.js';
import type { ActivityRun, Journal, RunStatus, SteadyState } from '../../src/core/journal.js';
import type { RollbackStrategy } from '../../src/core/schema.js';
import type { VerdictKind } from '../../src/core/verdict.js';
import { reasonOf } from '../../src/engine/activity.js';
import { breachReason, interruptCause, maxDurationReason } from '../../src/engine/interruption.js';
import { decideOutcome, decideStatus, type PhaseOutcome, rollbacksPlay } from '../../src/engine/outcome.js';

const provider = { type: 'process' as const, path: 'true' };
const activityRun = (type: 'probe' | 'action', name: string, error?: string): ActivityRun => ({
  activity: { type, name, provider },
  output: null,
  status: error === undefined ? 'succeeded' : 'failed',
  ...(error === undefined ? {} : { exception: [`${error}\n`] }),
  start: '',
  end: '',
  duration: 0,
});
/** A steady state: `met`, missed, or `raised` (its probe failed). */
const hypothesis = (how: 'met' | 'missed' | 'raised'): SteadyState => ({
  steady_state_met: how === 'met',
  probes: [
    {
      ...activityRun('probe', 'ok', how === 'raised' ? 'faultline.ActivityFailed: unreachable' : undefined),
      tolerance_met: how === 'met',
    },
  ],
});

/** The evidence a run records besides its status: what each row's phases left in the journal. */
function evidence(e: {
  before?: SteadyState;
  after?: SteadyState;
  during?: SteadyState[];
  strategy?: string;
  run?: ActivityRun[];
  faultline?: Partial<Journal['faultline']>;
}): Journal {
  return {
    'chaoslib-version': 'test',
    platform: 'linux',
    node: 'host',
    experiment: { title: 't', description: 'd', method: [], dry: null },
    start: '',
    end: '',
    duration: 0,
    // Placeholders: decideOutcome replaces both with what it decides.
    status: 'completed',
    deviated: false,
    steady_states: { before: e.before ?? null, after: e.after ?? null, during: e.during ?? [] },
    run: e.run ?? [activityRun('action', 'inject')],
    rollbacks: [],
    faultline: {
      version: 'test',
      run_id: 'r',
      host: 'host',
      pid: 1,
      strategies: { hypothesis: e.strategy ?? 'default', rollbacks: 'default' },
      during_tolerance: { max_misses: 0, max_miss_ratio: 0 },
      faults: [],
      unreverted: [],
      ...e.faultline,
    },
  };
}
const held = evidence({ before: hypothesis('met'), after: hypothesis('met') });

const NOT_MET_BEFORE = 'the steady state was not met before the method';
const AFTER = 'the steady state deviated after the method';
const FAIL_FAST =
  "fail-fast: the steady state was not met during the method (check 2, probe 'ok'): the method was stopped and its faults reverted";
const failFastRecord = { reason: FAIL_FAST, fired_at: '', check: 2 };

const before = (raised: boolean, reason = NOT_MET_BEFORE): PhaseOutcome => ({
  phase: 'before-hypothesis',
  kind: 'not-met',
  raised,
  reason,
});
const after = (raised: boolean): PhaseOutcome => ({
  phase: 'after-hypothesis',
  kind: 'deviated',
  raised,
  reason: AFTER,
});
const failFast: PhaseOutcome = { phase: 'during-hypothesis', kind: 'fail-fast', reason: FAIL_FAST };
const interrupted = (
  by: Extract<PhaseOutcome, { kind: 'interrupted' }>['by'],
  reason: string,
): PhaseOutcome => ({ phase: 'experiment', kind: 'interrupted', by, reason });
const breached: PhaseOutcome = { phase: 'safeguards', kind: 'breached', probe: 'no-alarm' };
const BREACH = "safeguard 'no-alarm' triggered the end of the experiment";

interface Row {
  /** The suite and test whose run returns these outcomes. */
  mirrors: string;
  outcomes: PhaseOutcome[];
  journal: Journal;
  status: RunStatus;
  deviated: boolean;
  /** `journal.faultline.reason`: exact text, a pattern, or none. */
  reason: string | RegExp | undefined;
  verdict: VerdictKind;
  exit: 0 | 1 | 2;
  /** The verdict's first reason, when the row checks it. */
  firstReason?: RegExp;
}

const rows: Row[] = [
  {
    mirrors: 'engine-ctk A. happy path: before met, action, after met',
    outcomes: [],
    journal: held,
    status: 'completed',
    deviated: false,
    reason: undefined,
    verdict: 'passed',
    exit: 0,
  },
  {
    mirrors: 'engine-ctk B. a hypothesis probe raises -> failed, method skipped',
    outcomes: [before(true)],
    journal: evidence({ before: hypothesis('raised'), run: [] }),
    status: 'failed',
    deviated: false,
    reason: NOT_MET_BEFORE,
    verdict: 'failed',
    exit: 1,
  },
  {
    mirrors: 'engine-ctk C. deviation: after-hypothesis missed -> completed + deviated',
    outcomes: [after(false)],
    journal: evidence({ before: hypothesis('met'), after: hypothesis('missed') }),
    status: 'completed',
    deviated: true,
    reason: AFTER,
    verdict: 'deviated',
    exit: 1,
  },
  {
    mirrors: 'engine-ctk C. (a probe of the hypothesis after raises: failed + deviated)',
    outcomes: [after(true)],
    journal: evidence({ before: hypothesis('met'), after: hypothesis('raised') }),
    status: 'failed',
    deviated: true,
    reason: AFTER,
    verdict: 'failed',
    exit: 1,
  },
  {
    mirrors: 'engine-ctk D/E/F. before missed (404, exit code): completed, not deviated, never injected',
    outcomes: [before(false)],
    journal: evidence({ before: hypothesis('missed'), run: [] }),
    status: 'completed',
    deviated: false,
    reason: NOT_MET_BEFORE,
    verdict: 'deviated',
    exit: 1,
  },
  {
    mirrors: 'engine-verdict warm-up: the steady state did not hold within the deadline',
    outcomes: [before(false, `${NOT_MET_BEFORE} (warm-up of 0.3 s)`)],
    journal: evidence({ before: hypothesis('missed'), run: [] }),
    status: 'completed',
    deviated: false,
    reason: /not met before the method \(warm-up of 0\.3 s\)/,
    verdict: 'deviated',
    exit: 1,
  },
  {
    mirrors: 'engine-ctk G. a failing method action does not change the status',
    outcomes: [],
    journal: evidence({ run: [activityRun('action', 'boom', 'RuntimeError: oops')] }),
    status: 'completed',
    deviated: false,
    reason: undefined,
    verdict: 'failed',
    exit: 1,
    firstReason: /^action 'boom' failed: RuntimeError: oops$/,
  },
  {
    mirrors: 'engine-verdict: a run whose only fault action failed to inject does not pass',
    outcomes: [],
    journal: evidence({
      before: hypothesis('met'),
      after: hypothesis('met'),
      run: [activityRun('action', 'inject', 'faultline.FaultError: marker file /tmp/m already exists')],
    }),
    status: 'completed',
    deviated: false,
    reason: undefined,
    verdict: 'failed',
    exit: 1,
    firstReason: /^action 'inject' failed: .*already exists/,
  },
  {
    mirrors: 'engine-ctk G. a control interrupting at activity level -> interrupted',
    outcomes: [interrupted('experiment', "control 'stopper' interrupted the run")],
    journal: held,
    status: 'interrupted',
    deviated: false,
    reason: "control 'stopper' interrupted the run",
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: 'controls: a control can interrupt the run at experiment level',
    outcomes: [interrupted('experiment', 'stopped by the test control')],
    journal: evidence({ run: [] }),
    status: 'interrupted',
    deviated: false,
    reason: /stopped by the test control/,
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: 'engine-ctk H. continuously with fail-fast: the after-check missed too',
    outcomes: [failFast, after(false)],
    journal: evidence({
      before: hypothesis('met'),
      after: hypothesis('missed'),
      during: [hypothesis('met'), hypothesis('missed')],
      strategy: 'continuously',
      faultline: { fail_fast: failFastRecord },
    }),
    status: 'completed',
    deviated: true,
    reason: FAIL_FAST,
    verdict: 'deviated',
    exit: 1,
    firstReason: /^fail-fast: /,
  },
  {
    mirrors: 'engine-ctk H. continuously without fail-fast: misses during, after-check missed',
    outcomes: [after(false)],
    journal: evidence({
      before: hypothesis('met'),
      after: hypothesis('missed'),
      during: [hypothesis('missed'), hypothesis('missed')],
      strategy: 'continuously',
    }),
    status: 'completed',
    deviated: true,
    reason: AFTER,
    verdict: 'deviated',
    exit: 1,
  },
  {
    mirrors: 'engine-verdict: fail-fast stops the current pause; status as Chaos Toolkit, reason fail-fast',
    outcomes: [failFast],
    journal: evidence({
      before: hypothesis('met'),
      after: hypothesis('met'),
      during: [hypothesis('met'), hypothesis('missed')],
      strategy: 'continuously',
      run: [activityRun('action', 'inject', `faultline.InterruptExecution: ${FAIL_FAST}`)],
      faultline: { fail_fast: failFastRecord },
    }),
    status: 'failed',
    deviated: false,
    reason: FAIL_FAST,
    verdict: 'deviated',
    exit: 1,
    firstReason: /^fail-fast: /,
  },
  {
    mirrors: 'engine-verdict: misses during the method make the verdict deviated; Chaos Toolkit fields stay',
    outcomes: [],
    journal: evidence({
      before: hypothesis('met'),
      after: hypothesis('met'),
      during: [hypothesis('met'), hypothesis('missed'), hypothesis('missed')],
      strategy: 'continuously',
    }),
    status: 'completed',
    deviated: false,
    reason: undefined,
    verdict: 'deviated',
    exit: 1,
    firstReason: /^the steady state was not met in 2 of 3 checks during the method \(tolerated: at most 0\)$/,
  },
  {
    mirrors: 'engine-verdict: ... a tolerance lets them pass',
    outcomes: [],
    journal: evidence({
      before: hypothesis('met'),
      after: hypothesis('met'),
      during: [hypothesis('met'), hypothesis('missed'), hypothesis('missed')],
      strategy: 'continuously',
      faultline: { during_tolerance: { max_misses: 2, max_miss_ratio: 0 } },
    }),
    status: 'completed',
    deviated: false,
    reason: undefined,
    verdict: 'passed',
    exit: 0,
  },
  {
    mirrors: 'engine-ctk I. a missing ref without validation -> aborted',
    outcomes: [
      {
        phase: 'method',
        kind: 'aborted',
        by: 'unresolved-ref',
        reason: "referenced activity 'pizza' could not be found in the experiment",
      },
    ],
    journal: evidence({ before: hypothesis('met'), run: [] }),
    status: 'aborted',
    deviated: false,
    reason: /pizza/,
    verdict: 'aborted',
    exit: 1,
  },
  {
    mirrors:
      'engine-ctk I. an interrupt during a long pause (engine-long-durations: Ctrl-C stops a 1e308 s pause)',
    outcomes: [interrupted('signal', 'interrupted by SIGINT')],
    journal: held,
    status: 'interrupted',
    deviated: false,
    reason: 'interrupted by SIGINT',
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: 'engine-ctk: runtime.max_duration interrupts a run that lasts too long',
    outcomes: [interrupted('max-duration', 'the experiment exceeded its max duration (0.3 s)')],
    journal: held,
    status: 'interrupted',
    deviated: false,
    reason: /max duration \(0\.3 s\)/,
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: "e2e cli: halt reverts a running experiment's fault and interrupts it",
    outcomes: [interrupted('halt', 'halted by `faultline halt`: e2e')],
    journal: held,
    status: 'interrupted',
    deviated: false,
    reason: 'halted by `faultline halt`: e2e',
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors:
      'safeguards: a breached safeguard interrupts the run (engine-slow-injection: during a lock wait)',
    outcomes: [interrupted('safeguard', BREACH), breached],
    journal: held,
    status: 'interrupted',
    deviated: false,
    reason: /safeguard 'no-alarm'/,
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: 'recovery-time: after a safeguard stops the run, recovery is read (it recovered)',
    outcomes: [breached, interrupted('safeguard', BREACH)],
    journal: evidence({ faultline: { recovery: { mttr: 1.5, deadline: 10 } } }),
    status: 'interrupted',
    deviated: false,
    reason: BREACH,
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: 'run.ts #recover: the steady state did not hold again within the deadline',
    outcomes: [
      {
        phase: 'recovery',
        kind: 'not-recovered',
        reason: 'did not recover: the steady state did not hold within 10 s of the faults being reverted',
      },
    ],
    journal: evidence({ faultline: { recovery: { mttr: null, deadline: 10 } } }),
    status: 'completed',
    deviated: true,
    reason: /^did not recover/,
    verdict: 'deviated',
    exit: 1,
  },
  {
    mirrors: 'run.ts: recovery after an interrupt keeps the status; its reason is the last word',
    outcomes: [
      interrupted('signal', 'interrupted by SIGINT'),
      { phase: 'recovery', kind: 'not-recovered', reason: 'did not recover: ...' },
    ],
    journal: evidence({ faultline: { recovery: { mttr: null, deadline: 10 } } }),
    status: 'interrupted',
    deviated: true,
    reason: 'did not recover: ...',
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: 'run.ts #rollbacks: a second Ctrl-C (the rollback signal) stops the rollbacks',
    outcomes: [
      { phase: 'experiment', kind: 'aborted', by: 'error', reason: 'boom' },
      { phase: 'rollbacks', kind: 'interrupted', by: 'rollback-signal', reason: 'interrupted by SIGINT' },
    ],
    journal: held,
    status: 'interrupted',
    deviated: false,
    reason: 'interrupted by SIGINT',
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: 'run.ts #finish: afterExperiment interrupts: only the status changes',
    outcomes: [
      after(false),
      { phase: 'after-experiment', kind: 'interrupted', by: 'experiment', reason: 'late' },
    ],
    journal: evidence({ before: hypothesis('met'), after: hypothesis('missed') }),
    status: 'interrupted',
    deviated: true,
    reason: AFTER,
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: 'run.ts #main: an unexpected error (a beforeMethod hook that throws) aborts the run',
    outcomes: [{ phase: 'experiment', kind: 'aborted', by: 'error', reason: 'hook exploded' }],
    journal: evidence({ before: hypothesis('met'), run: [] }),
    status: 'aborted',
    deviated: false,
    reason: 'hook exploded',
    verdict: 'aborted',
    exit: 1,
  },
  {
    mirrors: 'run.ts #method: the "during" loop fails with an error',
    outcomes: [
      { phase: 'during-hypothesis', kind: 'aborted', reason: 'the continuous hypothesis failed: x' },
    ],
    journal: evidence({ before: hypothesis('met'), strategy: 'continuously' }),
    status: 'aborted',
    deviated: false,
    reason: 'the continuous hypothesis failed: x',
    verdict: 'aborted',
    exit: 1,
  },
  {
    mirrors: 'run.ts #method: the method abort is seen after the "during" one and gives the reason',
    outcomes: [
      { phase: 'during-hypothesis', kind: 'aborted', reason: 'the continuous hypothesis failed: x' },
      { phase: 'method', kind: 'aborted', by: 'unresolved-ref', reason: "referenced activity 'pizza'" },
    ],
    journal: evidence({ before: hypothesis('met'), strategy: 'continuously' }),
    status: 'aborted',
    deviated: false,
    reason: "referenced activity 'pizza'",
    verdict: 'aborted',
    exit: 1,
  },
  {
    mirrors: 'run.ts #main: an interrupt after the method aborted still ends the run interrupted',
    outcomes: [
      { phase: 'method', kind: 'aborted', by: 'unresolved-ref', reason: "referenced activity 'pizza'" },
      interrupted('signal', 'interrupted by SIGTERM'),
    ],
    journal: held,
    status: 'interrupted',
    deviated: false,
    reason: 'interrupted by SIGTERM',
    verdict: 'interrupted',
    exit: 1,
  },
  {
    mirrors: 'verdict "blast radius refusal": a fault the blast radius refused mid-run ends the method',
    outcomes: [
      failFast,
      { phase: 'method', kind: 'aborted', by: 'blast-radius', reason: 'too many targets' },
    ],
    journal: evidence({
      faultline: { blast_radius: { policies: [], violation: 'too many targets' }, fail_fast: failFastRecord },
    }),
    status: 'aborted',
    deviated: false,
    reason: 'too many targets',
    verdict: 'refused',
    exit: 2,
    firstReason: /^blast radius: too many targets$/,
  },
  {
    mirrors: 'session-revert / faults-session: a fault that could not be verified reverted',
    outcomes: [],
    journal: evidence({
      before: hypothesis('met'),
      after: hypothesis('met'),
      faultline: {
        unreverted: [{ id: '1', kind: 'marker', target: '/tmp/m', injected_at: '', error: 'EACCES' }],
      },
    }),
    status: 'completed',
    deviated: false,
    reason: undefined,
    verdict: 'failed',
    exit: 1,
    firstReason: /^1 fault\(s\) not reverted: \/tmp\/m$/,
  },
];

for (const row of rows) {
  test(`outcome: ${row.mirrors} -> ${row.status}${row.deviated ? ' + deviated' : ''}, ${row.verdict}, exit ${row.exit}`, () => {
    const o = decideOutcome(row.outcomes, row.journal);
    assert.equal(o.status, row.status);
    assert.equal(o.deviated, row.deviated);
    if (row.reason === undefined) assert.equal(o.reason, undefined);
    else if (typeof row.reason === 'string') assert.equal(o.reason, row.reason);
    else assert.match(o.reason ?? '', row.reason);
    assert.equal(o.verdict.kind, row.verdict, JSON.stringify(o.verdict.reasons));
    assert.equal(o.exitCode, row.exit);
    assert.equal(o.verdict.exit_code, row.exit);
    if (row.firstReason) assert.match(o.verdict.reasons[0] ?? '', row.firstReason, JSON.stringify(o.verdict));
    // Which phase has the last word does not depend on the order the outcomes arrive in.
    assert.deepEqual(decideStatus([...row.outcomes].reverse()), decideStatus(row.outcomes));
  });
}

test('outcome: the journal given as evidence is not modified; its own status and reason do not count', () => {
  const journal = evidence({ before: hypothesis('met'), faultline: { reason: 'stale' } });
  journal.status = 'aborted';
  const copy = structuredClone(journal);
  const o = decideOutcome([], journal);
  assert.deepEqual(journal, copy);
  assert.equal(o.status, 'completed');
  assert.equal(o.reason, undefined);
  assert.equal(o.verdict.kind, 'passed');
});

/** [mirrors, strategy, outcomes before the rollbacks, whether they play] */
const rollbackRows: [string, RollbackStrategy, PhaseOutcome[], boolean][] = [
  ['engine-ctk A. default, completed', 'default', [], true],
  ['engine-ctk B. default, a hypothesis probe raised (failed)', 'default', [before(true)], false],
  ['engine-ctk B. always, failed', 'always', [before(true)], true],
  ['engine-ctk B. never', 'never', [], false],
  ['engine-ctk C. default, deviated after the method', 'default', [after(false)], true],
  ['engine-ctk E. default, before missed (completed)', 'default', [before(false)], true],
  ['engine-ctk G. default, a control interrupted', 'default', [interrupted('experiment', 'stop')], false],
  ['engine-ctk G. always, a control interrupted', 'always', [interrupted('experiment', 'stop')], true],
  ['engine-ctk: rollback strategy deviated, deviated', 'deviated', [after(false)], true],
  ['engine-ctk: rollback strategy deviated, not deviated', 'deviated', [], false],
  [
    'engine-verdict: --rollback-strategy always after Ctrl-C',
    'always',
    [interrupted('signal', 'interrupted by SIGINT')],
    true,
  ],
  [
    'engine-ctk I. default, aborted (a missing ref)',
    'default',
    [{ phase: 'method', kind: 'aborted', by: 'unresolved-ref', reason: 'x' }],
    true,
  ],
  [
    'safeguards: rollbacks are played after a safeguard stop (default)',
    'default',
    [interrupted('safeguard', BREACH), breached],
    true,
  ],
  [
    'safeguards: a breach with strategy deviated',
    'deviated',
    [interrupted('safeguard', BREACH), breached],
    true,
  ],
  ['safeguards: a breach with strategy never', 'never', [interrupted('safeguard', BREACH), breached], false],
  ['engine-verdict: fail-fast (failed), default', 'default', [failFast], false],
  [
    'engine-ctk H. fail-fast then deviated after (completed), default',
    'default',
    [failFast, after(false)],
    true,
  ],
];

for (const [mirrors, strategy, outcomes, plays] of rollbackRows) {
  test(`rollbacks: ${mirrors} -> ${plays ? 'played' : 'skipped'}`, () => {
    assert.equal(rollbacksPlay(strategy, outcomes), plays);
  });
}

test('interruptCause: who aborted the run controller, or a control/activity that raised on its own', () => {
  /** The run's controller aborted with `reason` (as interrupts.ts does), and the interrupt the engine then sees. */
  const abortedWith = (reason: unknown) => {
    const controller = new AbortController();
    controller.abort(reason);
    return { controller: controller.signal, err: new InterruptExecution(reasonOf(controller.signal)) };
  };
  const idle = new AbortController().signal;
  assert.equal(
    interruptCause(new InterruptExecution("control 'stopper' interrupted the run"), { controller: idle }),
    'experiment',
  );

  for (const why of ['interrupted by SIGINT', undefined]) {
    const caller = new AbortController();
    caller.abort(why);
    const { controller, err } = abortedWith(caller.signal.reason);
    assert.equal(interruptCause(err, { controller, caller: caller.signal }), 'signal', String(why));
  }
  const breach = abortedWith(breachReason('no-alarm'));
  assert.equal(interruptCause(breach.err, { ...breach, breached: 'no-alarm' }), 'safeguard');
  const max = abortedWith(maxDurationReason(300));
  assert.equal(max.err.message, 'the experiment exceeded its max duration (0.3 s)');
  assert.equal(interruptCause(max.err, { ...max, maxDurationMs: 300 }), 'max-duration');
  const halt = abortedWith('halted by `faultline halt`: e2e');
  assert.equal(interruptCause(halt.err, { ...halt, maxDurationMs: 300, breached: 'other' }), 'halt');
  // A control that raises its own interrupt after the halt: the control's, as its message is the reason.
  assert.equal(interruptCause(new InterruptExecution('stopped by the test control'), halt), 'experiment');
});
