/**
 * applyLiveEvent, the one reducer the server and the browser both apply to a run's live events:
 * every event kind, events out of order or twice (a snapshot followed by events it already holds),
 * the caps, and that the state given is never changed (the dashboard keeps old states for rendering).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyLiveEvent,
  initialLiveState,
  LIVE_ACTIVITIES,
  LIVE_LOAD_SECONDS,
  LIVE_LOG_LINES,
  type LiveEvent,
  type LiveState,
} from '../../src/server/live-state.js';

function play(events: LiveEvent[], from: LiveState = initialLiveState('r1', 'a run')): LiveState {
  let s = from;
  for (const event of events) s = applyLiveEvent(s, { seq: s.seq + 1, at: 1000 + s.seq, event });
  return s;
}

test('a run from start to end: phase, current activity, probes against their tolerance, hypotheses, the end', () => {
  const s = play([
    { type: 'run-start', title: 'checkout survives' },
    { type: 'phase', phase: 'before-hypothesis' },
    { type: 'activity-start', phase: 'before-hypothesis', name: 'p99', activity: 'probe', background: false },
  ]);
  assert.equal(s.title, 'checkout survives');
  assert.equal(s.phase, 'before-hypothesis');
  assert.deepEqual(s.current, [{ phase: 'before-hypothesis', name: 'p99', activity: 'probe', since: 1002 }]);
  assert.deepEqual(s.activities, [{ phase: 'before-hypothesis', name: 'p99', status: 'running' }]);

  const e = play(
    [
      {
        type: 'activity-end',
        phase: 'before-hypothesis',
        name: 'p99',
        status: 'succeeded',
        output: '120',
        tolerance: { type: 'range', range: [0, 200] },
        toleranceMet: true,
      },
      { type: 'hypothesis-end', phase: 'before-hypothesis', met: true },
      { type: 'activity-start', phase: 'method', name: 'kill', activity: 'action', background: false },
      { type: 'activity-end', phase: 'method', name: 'kill', status: 'failed', error: 'no such process' },
      { type: 'run-end', status: 'finished', verdict: 'failed', reason: 'an action failed' },
    ],
    s,
  );
  assert.deepEqual(e.current, []);
  assert.deepEqual(e.activities, [
    {
      phase: 'before-hypothesis',
      name: 'p99',
      status: 'succeeded',
      output: '120',
      tolerance: { type: 'range', range: [0, 200] },
      toleranceMet: true,
    },
    { phase: 'method', name: 'kill', status: 'failed', error: 'no such process' },
  ]);
  assert.deepEqual(e.hypotheses, [{ phase: 'before-hypothesis', met: true }]);
  assert.equal(e.status, 'finished');
  assert.equal(e.verdict, 'failed');
  assert.equal(e.reason, 'an action failed');
  assert.equal(e.seq, 8);
});

test('the end of an activity never seen starting is listed; a background activity ends apart from the next', () => {
  const s = play([
    { type: 'activity-start', phase: 'method', name: 'load', activity: 'action', background: true },
    { type: 'activity-start', phase: 'method', name: 'kill', activity: 'action', background: false },
    { type: 'activity-end', phase: 'method', name: 'kill', status: 'succeeded' },
    { type: 'activity-end', phase: 'rollbacks', name: 'restore', status: 'succeeded' },
  ]);
  assert.deepEqual(
    s.current.map((c) => c.name),
    ['load'],
  );
  assert.deepEqual(
    s.activities.map((a) => `${a.name}:${a.status}`),
    ['load:running', 'kill:succeeded', 'restore:succeeded'],
  );
});

test('the same probe in successive checks: each end closes the latest running entry', () => {
  const check: LiveEvent[] = [
    { type: 'activity-start', phase: 'during-hypothesis', name: 'p', activity: 'probe', background: false },
    { type: 'activity-end', phase: 'during-hypothesis', name: 'p', status: 'succeeded', toleranceMet: true },
  ];
  const s = play([...check, ...check, check[0] as LiveEvent]);
  assert.deepEqual(
    s.activities.map((a) => a.status),
    ['succeeded', 'succeeded', 'running'],
  );
});

test('faults: injected is active, a later action replaces it by id, other faults stay', () => {
  const fault = (id: string, extra: Record<string, string> = {}) => ({
    id,
    kind: 'marker-file',
    target: `/tmp/${id}`,
    injectedAt: '2026-01-01T00:00:00Z',
    ...extra,
  });
  const s = play([
    { type: 'fault', action: 'injected', fault: fault('a') },
    { type: 'fault', action: 'injected', fault: fault('b') },
    { type: 'fault', action: 'reverted', fault: fault('a', { revertedAt: '2026-01-01T00:00:05Z' }) },
    { type: 'fault', action: 'revert-failed', fault: fault('b', { error: 'EPERM' }) },
  ]);
  assert.deepEqual(s.faults, [
    { ...fault('a'), state: 'reverted', revertedAt: '2026-01-01T00:00:05Z' },
    { ...fault('b'), state: 'revert-failed', error: 'EPERM' },
  ]);
  const expired = play([{ type: 'fault', action: 'expired', fault: fault('a') }], s);
  assert.equal(expired.faults[0]?.state, 'expired');
});

test('safeguards: one entry per name, its latest value, how many checks, when', () => {
  const s = play([
    {
      type: 'safeguard',
      name: 'errors',
      met: true,
      value: '0.01',
      tolerance: { type: 'range', range: [0, 0.1] },
    },
    { type: 'safeguard', name: 'cpu', met: true, value: '20' },
    { type: 'safeguard', name: 'errors', met: false, value: '0.5', reason: 'out of range' },
  ]);
  assert.deepEqual(s.safeguards, [
    { name: 'errors', met: false, checks: 2, at: 1002, value: '0.5', reason: 'out of range' },
    { name: 'cpu', met: true, checks: 1, at: 1001, value: '20' },
  ]);
});

test('a duplicate or older event is ignored and returns the same state', () => {
  const s = play([{ type: 'phase', phase: 'method' }]);
  const dup = applyLiveEvent(s, { seq: 1, at: 5, event: { type: 'phase', phase: 'rollbacks' } });
  assert.equal(dup, s);
  const older = applyLiveEvent(s, { seq: 0, at: 5, event: { type: 'phase', phase: 'rollbacks' } });
  assert.equal(older, s);
  // A gap (events lost to a drop) still applies: the seq says where the viewer is.
  const gap = applyLiveEvent(s, { seq: 9, at: 5, event: { type: 'phase', phase: 'revert' } });
  assert.equal(gap.phase, 'revert');
  assert.equal(gap.seq, 9);
  assert.equal(applyLiveEvent(gap, { seq: 5, at: 6, event: { type: 'phase', phase: 'method' } }), gap);
});

test('the state given is never changed', () => {
  const s = play([
    { type: 'activity-start', phase: 'method', name: 'a', activity: 'action', background: false },
    { type: 'fault', action: 'injected', fault: { id: 'f', kind: 'k', target: 't', injectedAt: 'x' } },
    { type: 'safeguard', name: 'g', met: true },
  ]);
  const frozen = structuredClone(s);
  play(
    [
      { type: 'activity-end', phase: 'method', name: 'a', status: 'succeeded' },
      { type: 'fault', action: 'reverted', fault: { id: 'f', kind: 'k', target: 't', injectedAt: 'x' } },
      { type: 'safeguard', name: 'g', met: false },
      { type: 'load', sample: { at: 1, throughput: 1, errorRate: 0, p50: 1, p99: 2 } },
      { type: 'log', level: 'info', message: 'm' },
      { type: 'run-end', status: 'interrupted' },
    ],
    s,
  );
  assert.deepEqual(s, frozen);
});

test('caps: activities, load seconds and log lines keep the newest', () => {
  const many = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));
  const s = play([
    ...many(
      LIVE_ACTIVITIES + 5,
      (i): LiveEvent => ({ type: 'activity-end', phase: 'method', name: `a${i}`, status: 'succeeded' }),
    ),
    ...many(
      LIVE_LOAD_SECONDS + 3,
      (i): LiveEvent => ({ type: 'load', sample: { at: i, throughput: i, errorRate: 0, p50: 1, p99: 2 } }),
    ),
    ...many(LIVE_LOG_LINES + 7, (i): LiveEvent => ({ type: 'log', level: 'info', message: `line ${i}` })),
  ]);
  assert.equal(s.activities.length, LIVE_ACTIVITIES);
  assert.equal(s.activities[0]?.name, 'a5');
  assert.equal(s.load.length, LIVE_LOAD_SECONDS);
  assert.equal(s.load[0]?.at, 3);
  assert.equal(s.log.length, LIVE_LOG_LINES);
  assert.equal(s.log[0]?.message, 'line 7');
  assert.equal(s.log.at(-1)?.message, `line ${LIVE_LOG_LINES + 6}`);
});
