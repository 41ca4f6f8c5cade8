/**
 * decideVerdict, the one rule for Faultline's verdict, as a table: each row a
 * journal shape (Chaos Toolkit's status/deviated plus what Faultline records)
 * and the verdict, exit code and reasons it must give.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActivityRun, Journal, SteadyState } from '../../src/core/journal.js';
import type { Activity } from '../../src/core/schema.js';
import { decideVerdict, missesTolerated, type VerdictKind } from '../../src/core/verdict.js';
import { validateExperiment } from '../../src/lib/validate.js';

const probe: Activity = { type: 'probe', name: 'p99', provider: { type: 'node', module: 'm', func: 'f' } };
const state = (met: boolean): SteadyState => ({
  steady_state_met: met,
  probes: [
    {
      activity: probe,
      output: 1,
      status: 'succeeded',
      start: '',
      end: '',
      duration: 0,
      tolerance_met: met,
    },
  ],
});
const action = (name: string, exception?: string): ActivityRun => ({
  activity: { type: 'action', name, provider: { type: 'node', module: 'm', func: 'f' } },
  output: null,
  status: exception ? 'failed' : 'succeeded',
  ...(exception ? { exception: [exception] } : {}),
  start: '',
  end: '',
  duration: 0,
});
/** `during`: a string of checks, `x` a miss, `.` met. */
const checks = (s: string): SteadyState[] => [...s].map((c) => state(c === '.'));

function journal(over: {
  status?: Journal['status'];
  deviated?: boolean;
  before?: boolean;
  after?: boolean;
  during?: string;
  strategy?: string;
  tolerance?: { max_misses: number; max_miss_ratio: number };
  runtime?: Record<string, unknown>;
  run?: ActivityRun[];
  faultline?: Record<string, unknown>;
}): Journal {
  return {
    'chaoslib-version': 'x',
    platform: 'linux',
    node: 'h',
    experiment: {
      title: 't',
      description: 'd',
      method: [],
      dry: null,
      ...(over.runtime ? { runtime: over.runtime } : {}),
    },
    start: '',
    end: '',
    duration: 1,
    status: over.status ?? 'completed',
    deviated: over.deviated ?? false,
    steady_states: {
      before: over.before === undefined ? null : state(over.before),
      after: over.after === undefined ? null : state(over.after),
      during: checks(over.during ?? ''),
    },
    run: over.run ?? [action('inject')],
    rollbacks: [],
    faultline: {
      version: 'x',
      run_id: 'r',
      host: 'h',
      pid: 1,
      strategies: { hypothesis: over.strategy ?? 'default', rollbacks: 'default' },
      ...(over.tolerance ? { during_tolerance: over.tolerance } : {}),
      faults: [],
      unreverted: [],
      ...over.faultline,
    },
  };
}

const tol = (max_misses: number, max_miss_ratio = 0) => ({ max_misses, max_miss_ratio });
const FAIL_FAST = {
  reason:
    "fail-fast: the steady state was not met during the method (check 2, probe 'p99'): the method was stopped and its faults reverted",
  fired_at: '2026-01-01T00:00:01.000000+00:00',
  check: 2,
};
const unreverted = [{ id: '1', kind: 'marker', target: '/tmp/m', injected_at: '', error: 'EACCES' }];

const rows: [string, Journal, VerdictKind, 0 | 1 | 2, RegExp | undefined][] = [
  ['happy path', journal({ before: true, after: true }), 'passed', 0, undefined],
  [
    'after-check missed (CTK: completed + deviated)',
    journal({
      before: true,
      after: false,
      deviated: true,
      faultline: { reason: 'the steady state deviated after the method' },
    }),
    'deviated',
    1,
    /deviated after the method/,
  ],
  [
    'before-check missed: never got to inject',
    journal({
      before: false,
      run: [],
      faultline: { reason: 'the steady state was not met before the method' },
    }),
    'deviated',
    1,
    /not met before the method/,
  ],
  [
    'misses during the method, none tolerated (CTK: completed, not deviated)',
    journal({
      before: true,
      after: true,
      strategy: 'continuously',
      during: '.xxxxxxxxxx',
      tolerance: tol(0),
    }),
    'deviated',
    1,
    /^the steady state was not met in 10 of 11 checks during the method \(tolerated: at most 0\)$/,
  ],
  [
    'during-method-only: one miss, none tolerated',
    journal({ strategy: 'during-method-only', during: '..x.', tolerance: tol(0) }),
    'deviated',
    1,
    /1 of 4 checks/,
  ],
  [
    'misses within max_misses',
    journal({ before: true, after: true, strategy: 'continuously', during: '.xx..', tolerance: tol(2) }),
    'passed',
    0,
    undefined,
  ],
  [
    'one miss more than max_misses',
    journal({ before: true, after: true, strategy: 'continuously', during: '.xxx.', tolerance: tol(2) }),
    'deviated',
    1,
    /3 of 5 checks .*\(tolerated: at most 2\)/,
  ],
  [
    'misses within max_miss_ratio',
    journal({ strategy: 'continuously', during: 'x.........', tolerance: tol(0, 0.1) }),
    'passed',
    0,
    undefined,
  ],
  [
    'misses beyond max_miss_ratio',
    journal({ strategy: 'continuously', during: 'xx........', tolerance: tol(0, 0.1) }),
    'deviated',
    1,
    /2 of 10 checks .*at most 0 or 10% of the checks/,
  ],
  [
    'tolerance from the experiment when the journal has none recorded (older journals)',
    journal({ strategy: 'continuously', during: '.x.', runtime: { hypothesis: { max_misses: 1 } } }),
    'passed',
    0,
    undefined,
  ],
  [
    'fail-fast, after-check met (CTK: failed, not deviated)',
    journal({
      status: 'failed',
      before: true,
      after: true,
      strategy: 'continuously',
      during: '.x',
      faultline: { fail_fast: FAIL_FAST, reason: FAIL_FAST.reason },
    }),
    'deviated',
    1,
    /^fail-fast: /,
  ],
  [
    'fail-fast, after-check missed too (CTK: completed + deviated)',
    journal({
      status: 'completed',
      deviated: true,
      before: true,
      after: false,
      strategy: 'continuously',
      during: '.x',
      faultline: { fail_fast: FAIL_FAST, reason: FAIL_FAST.reason },
    }),
    'deviated',
    1,
    /^fail-fast: /,
  ],
  [
    'the only fault action failed to inject (CTK: completed)',
    journal({
      before: true,
      after: true,
      run: [action('slow-queries', 'faultline.FaultError: connect ECONNREFUSED 127.0.0.1:5499\n')],
    }),
    'failed',
    1,
    /^action 'slow-queries' failed: connect ECONNREFUSED 127\.0\.0\.1:5499$/,
  ],
  [
    'an action cut short by fail-fast is not a failed action',
    journal({
      status: 'failed',
      strategy: 'during-method-only',
      during: 'x',
      run: [action('inject', `faultline.InterruptExecution: ${FAIL_FAST.reason}\n`)],
      faultline: { fail_fast: FAIL_FAST, reason: FAIL_FAST.reason },
    }),
    'deviated',
    1,
    /^fail-fast: /,
  ],
  [
    'a failed method probe is not a failed action',
    journal({ run: [{ ...action('look', 'faultline.ActivityFailed: nope\n'), activity: probe }] }),
    'passed',
    0,
    undefined,
  ],
  [
    'a before-check probe raised (CTK: failed)',
    journal({
      status: 'failed',
      before: false,
      run: [],
      faultline: { reason: 'the steady state was not met before the method' },
    }),
    'failed',
    1,
    /not met before the method/,
  ],
  [
    'a fault not reverted',
    journal({ before: true, after: true, faultline: { unreverted } }),
    'failed',
    1,
    /1 fault\(s\) not reverted: \/tmp\/m/,
  ],
  [
    'a fault not reverted beats a deviation',
    journal({ after: false, deviated: true, faultline: { unreverted } }),
    'failed',
    1,
    /deviated after the method/,
  ],
  [
    'interrupted (Ctrl-C)',
    journal({ status: 'interrupted', faultline: { reason: 'interrupted by SIGINT' } }),
    'interrupted',
    1,
    /^interrupted by SIGINT$/,
  ],
  [
    'aborted',
    journal({ status: 'aborted', faultline: { reason: "referenced activity 'pizza' could not be found" } }),
    'aborted',
    1,
    /pizza/,
  ],
  [
    'blast radius refusal',
    journal({
      status: 'aborted',
      faultline: {
        reason: 'too many targets',
        blast_radius: { policies: [], violation: 'too many targets' },
      },
    }),
    'refused',
    2,
    /^blast radius: too many targets$/,
  ],
  [
    'did not recover',
    journal({
      deviated: true,
      faultline: {
        recovery: { mttr: null, deadline: 10 },
        reason: 'did not recover: the steady state did not hold within 10 s of the faults being reverted',
      },
    }),
    'deviated',
    1,
    /^did not recover/,
  ],
];

for (const [name, j, kind, exit, reason] of rows) {
  test(`verdict: ${name} -> ${kind}, exit ${exit}`, () => {
    const v = decideVerdict(j);
    assert.equal(v.kind, kind);
    assert.equal(v.label, kind.toUpperCase());
    assert.equal(v.exit_code, exit);
    if (reason) assert.match(v.reasons[0] ?? '', reason, JSON.stringify(v.reasons));
    else assert.deepEqual(v.reasons, []);
    // Each finding is said once.
    assert.equal(new Set(v.reasons).size, v.reasons.length);
  });
}

test('verdict: the during block says what was checked and tolerated; tolerated misses are a warning', () => {
  const v = decideVerdict(
    journal({ strategy: 'continuously', during: '.xx..', tolerance: tol(2), before: true, after: true }),
  );
  assert.deepEqual(v.during, { checks: 5, misses: 2, max_misses: 2, tolerated: true });
  assert.match(
    v.warnings[0] ?? '',
    /not met in 2 of 5 checks during the method \(within the tolerance: at most 2\)/,
  );
  const none = decideVerdict(journal({ before: true, after: true }));
  assert.equal(none.during, undefined, 'no during block when the strategy makes no checks during the method');
  const planned = decideVerdict(journal({ strategy: 'during-method-only' }));
  assert.deepEqual(planned.during, { checks: 0, misses: 0, tolerated: true });
});

test('missesTolerated: a count, or a share of the checks when a ratio is set', () => {
  assert.equal(missesTolerated(0, 0, tol(0)), true);
  assert.equal(missesTolerated(1, 10, tol(0)), false);
  assert.equal(missesTolerated(1, 10, tol(1)), true);
  assert.equal(missesTolerated(2, 10, tol(1, 0.2)), true);
  assert.equal(missesTolerated(3, 10, tol(1, 0.2)), false);
  assert.equal(missesTolerated(1, 1, tol(0, 0.5)), false, 'one check, one miss: 100%');
});

test('the tolerance and warm-up keys are validated with their paths', async () => {
  const base = { title: 't', description: 'd', method: [] };
  const bad = await validateExperiment(
    { ...base, runtime: { hypothesis: { max_misses: 1.5, max_miss_ratio: 2, warmup: 'soon' } } },
    { env: {} },
  );
  const messages = bad.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
  assert.match(messages, /runtime\.hypothesis\.max_misses: expected a whole number of checks/);
  assert.match(messages, /runtime\.hypothesis\.max_miss_ratio: expected a ratio between 0 and 1/);
  assert.match(messages, /runtime\.hypothesis\.warmup: expected a duration/);
  const good = await validateExperiment(
    { ...base, runtime: { hypothesis: { max_misses: 2, max_miss_ratio: 0.1, warmup: '30s' } } },
    { env: {} },
  );
  assert.deepEqual(good.issues, []);
});
