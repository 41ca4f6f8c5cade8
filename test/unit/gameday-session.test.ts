/**
 * The game-day session: the timeline it records, confirmations, decisions (jumps, end, rollback), failed
 * steps, the emergency stop (twice), judgements, the exit code; and real experiment steps run through
 * runFromSource, one of them stopped while its fault is held (the fault is reverted, the rollback plan runs).
 * The "people" here are a scripted executor: what a terminal or the dashboard would answer.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import { localExperimentRunner } from '../../src/gameday/local.js';
import { type GameDayPlan, parsePlan } from '../../src/gameday/plan.js';
import {
  type Choice,
  type Confirmation,
  type GameDayExecutor,
  GameDaySession,
  type GameDayState,
  gameDayExitCode,
  MAX_STEP_STARTS,
  StepSkipped,
  type TimelineEvent,
} from '../../src/gameday/session.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

function plan(steps: string, extra = ''): GameDayPlan {
  const text = `name: t
title: T
objective: o
hypothesis: h
participants:
  - { name: alice, role: incident-commander }
  - { name: bob, role: technical-lead }
  - { name: carol, role: scribe }
steps:
${steps}
${extra}`;
  const r = parsePlan(text, 'plan.yaml');
  if (!r.ok) assert.fail(JSON.stringify(r.issues));
  return r.plan;
}

/** Answers in order; `hold` leaves a question pending until released (or the signal aborts). */
class People implements GameDayExecutor {
  confirmations: (Confirmation | 'hold')[] = [];
  choices: (Choice | 'hold' | 'ignore')[] = [];
  asked: string[] = [];
  async runExperiment(): Promise<never> {
    throw new FaultlineError('FAULTLINE_ERR_POLICY', 'refused: no experiments in this test');
  }
  confirm(step: { id: string }, signal: AbortSignal): Promise<Confirmation> {
    this.asked.push(`confirm ${step.id}`);
    const next = this.confirmations.shift() ?? { by: 'bob', ok: true };
    if (next !== 'hold') return Promise.resolve(next);
    return new Promise((_, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
    );
  }
  decide(step: { id: string }, signal: AbortSignal): Promise<Choice> {
    this.asked.push(`decide ${step.id}`);
    const next = this.choices.shift() ?? { by: 'alice', choice: 'continue' };
    if (next === 'ignore') return new Promise(() => {}); // never answers, ignores its signal
    if (next !== 'hold') return Promise.resolve(next);
    return new Promise((_, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
    );
  }
}

const types = (s: GameDayState) => s.timeline.map((e) => `${e.type}${e.step ? ` ${e.step}` : ''}`);
const finished = (s: GameDayState, step: string) =>
  s.timeline.find((e) => e.type === 'step.finished' && e.step === step)?.data?.outcome;

const STEPS = `  - { id: check, kind: manual, title: Dashboards green, owner: technical-lead }
  - { id: soak, kind: wait, duration: 10ms }
  - id: go-on
    kind: decision
    owner: incident-commander
    question: Continue?
    options: [{ label: continue }, { label: back, then: check }, { label: roll back, then: rollback }, { label: stop here, then: end }]
  - { id: last, kind: manual, owner: carol }`;
const ROLLBACK = `rollback:
  steps:
    - { id: undo, kind: manual, owner: bob }
    - { id: undo-2, kind: manual, owner: bob }
success_criteria:
  - { id: comms, description: Status page updated, measure: { kind: manual } }`;

test('walks the steps in order, with timestamps, owners, confirmations, decisions and notes; ends finished', async () => {
  const people = new People();
  people.confirmations = [
    { by: 'bob', ok: true, note: 'all green' },
    { by: 'carol', ok: true },
  ];
  let t = Date.parse('2026-12-07T10:00:00Z');
  const seen: TimelineEvent[] = [];
  let waiting: GameDayState['waitingFor'];
  const session = new GameDaySession(plan(STEPS, ROLLBACK), people, {
    now: () => {
      t += 1000;
      return new Date(t);
    },
    onEvent: (e, s) => {
      seen.push(e);
      if (e.type === 'step.started' && e.step === 'check') waiting = undefined;
      waiting ??= s.waitingFor;
    },
  });
  assert.equal(session.state().status, 'pending');
  const state = await session.run();
  assert.equal(state.status, 'finished');
  assert.deepEqual(types(state), [
    'gameday.started',
    'step.started check',
    'step.confirmed check',
    'step.finished check',
    'step.started soak',
    'step.finished soak',
    'step.started go-on',
    'decision go-on',
    'step.finished go-on',
    'step.started last',
    'step.confirmed last',
    'step.finished last',
    'criterion',
    'gameday.ended',
  ]);
  assert.deepEqual(seen, state.timeline, 'every event went to onEvent');
  // The injected clock: the timestamps are its ISO strings, in order; seq numbers every event.
  assert.equal(state.timeline[0]?.at, '2026-12-07T10:00:02.000Z');
  assert.deepEqual(
    state.timeline.map((e) => e.seq),
    state.timeline.map((_, i) => i + 1),
  );
  const ats = state.timeline.map((e) => e.at);
  assert.deepEqual([...ats].sort(), ats);
  const started = state.timeline[1]!;
  assert.equal(started.by, 'bob');
  assert.equal(started.data?.owner, 'technical-lead');
  assert.equal(started.text, 'Dashboards green');
  assert.deepEqual(
    state.timeline.find((e) => e.type === 'step.confirmed'),
    { ...state.timeline[2], by: 'bob', text: 'all green', data: { ok: true } },
  );
  assert.deepEqual(waiting, { step: 'check', kind: 'confirm', owner: 'technical-lead' });
  assert.equal(state.criteria[0]?.verdict, 'manual');
  assert.equal(gameDayExitCode(state), 0, 'manual criteria nobody judged do not fail the game day');
  assert.ok(state.startedAt && state.endedAt);
  assert.equal(state.current, undefined);
  assert.equal(state.waitingFor, undefined);
});

test('decisions: jump back to a step, end early, or roll back (status stopped); a decision loop is bounded', async () => {
  const people = new People();
  people.choices = [
    { by: 'alice', choice: 'back' },
    { by: 'alice', choice: 'stop here' },
  ];
  const state = await new GameDaySession(plan(STEPS, ROLLBACK), people).run();
  assert.deepEqual(people.asked, ['confirm check', 'decide go-on', 'confirm check', 'decide go-on']);
  assert.equal(state.status, 'finished');
  assert.match(state.timeline.at(-1)!.text!, /alice chose "stop here": end/);
  assert.ok(!types(state).includes('step.started last'));

  const rb = new People();
  rb.choices = [{ by: 'alice', choice: 'roll back' }];
  const rolled = await new GameDaySession(plan(STEPS, ROLLBACK), rb).run();
  assert.equal(rolled.status, 'stopped');
  assert.deepEqual(rb.asked, ['confirm check', 'decide go-on', 'confirm undo', 'confirm undo-2']);
  assert.ok(types(rolled).includes('rollback.started'));
  assert.equal(gameDayExitCode(rolled), 1);

  const loop = new People();
  loop.choices = Array.from({ length: MAX_STEP_STARTS }, () => ({ by: 'alice', choice: 'back' }));
  const looped = await new GameDaySession(plan(STEPS, ROLLBACK), loop).run();
  assert.equal(looped.status, 'failed');
  assert.match(looped.timeline.at(-1)!.text!, /more than 1000 steps started/);

  const bad = new People();
  bad.choices = [{ by: 'alice', choice: 'maybe' }];
  const unknown = await new GameDaySession(plan(STEPS, ROLLBACK), bad).run();
  assert.equal(unknown.status, 'failed');
  assert.match(
    unknown.timeline.find((e) => e.type === 'step.finished' && e.step === 'go-on')!.text!,
    /"maybe" is not an option of go-on/,
  );
});

test('a check answered no fails its step: the rollback plan runs (status failed), or the game day goes on', async () => {
  const people = new People();
  people.confirmations = [{ by: 'bob', ok: false, note: 'errors on the dashboard' }];
  const state = await new GameDaySession(plan(STEPS, ROLLBACK), people).run();
  assert.equal(state.status, 'failed');
  assert.equal(finished(state, 'check'), 'failed');
  assert.deepEqual(people.asked, ['confirm check', 'confirm undo', 'confirm undo-2']);
  assert.match(state.timeline.at(-1)!.text!, /step check failed: bob answered no: errors on the dashboard/);

  // A failed rollback step does not stop the rest of the rollback plan.
  const rb = new People();
  rb.confirmations = [
    { by: 'bob', ok: false },
    { by: 'bob', ok: false },
    { by: 'bob', ok: true },
  ];
  const rolled = await new GameDaySession(plan(STEPS, ROLLBACK), rb).run();
  assert.deepEqual(rb.asked, ['confirm check', 'confirm undo', 'confirm undo-2']);
  assert.equal(rolled.timeline.find((e) => e.type === 'rollback.finished')?.data?.outcome, 'failed');

  const goOn = new People();
  goOn.confirmations = [{ by: 'bob', ok: false }];
  const cont = await new GameDaySession(
    plan(STEPS.replace('owner: technical-lead }', 'owner: technical-lead, on_failure: continue }'), ROLLBACK),
    goOn,
  ).run();
  assert.equal(cont.status, 'finished');
  assert.equal(finished(cont, 'check'), 'failed');
  assert.equal(gameDayExitCode(cont), 1, 'a failed step fails the game day even when it went on');
});

test('an experiment the executor refuses fails its step and the rollback plan runs', async () => {
  const people = new People();
  const state = await new GameDaySession(
    plan('  - { id: run-it, kind: experiment, experiment: x.yaml }', ROLLBACK),
    people,
  ).run();
  assert.equal(state.status, 'failed');
  const ended = state.timeline.find((e) => e.type === 'run.ended')!;
  assert.equal(ended.data?.verdict, 'refused');
  assert.match(ended.text!, /no experiments in this test/);
  assert.equal(state.runs.length, 0);
});

test('a step the executor skips ends skipped, not failed, and the game day goes on; who is awaited is told as it changes', async () => {
  const people = new People();
  const waiting: (string | undefined)[] = [];
  const session = new GameDaySession(
    plan(`  - { id: run-it, kind: experiment, experiment: x.yaml }\n${STEPS}`, ROLLBACK),
    {
      confirm: people.confirm.bind(people),
      decide: people.decide.bind(people),
      runExperiment: async () => {
        throw new StepSkipped('the emergency stop is raised');
      },
    },
    {
      onStateChange: (st) =>
        waiting.push(st.waitingFor ? `${st.waitingFor.kind} ${st.waitingFor.step}` : undefined),
    },
  );
  const state = await session.run();
  assert.equal(state.status, 'finished');
  const skipped = state.timeline.find((e) => e.type === 'step.finished' && e.step === 'run-it')!;
  assert.deepEqual([skipped.data?.outcome, skipped.text], ['skipped', 'the emergency stop is raised']);
  assert.ok(!state.timeline.some((e) => e.type === 'run.ended'), 'no run, so no run ended');
  assert.deepEqual(waiting, [
    'confirm check',
    undefined,
    'decision go-on',
    undefined,
    'confirm last',
    undefined,
  ]);
});

test('the emergency stop interrupts the step in progress, then the rollback plan runs; a second stop skips its rest', async () => {
  const people = new People();
  people.confirmations = ['hold'];
  const session = new GameDaySession(plan(STEPS, ROLLBACK), people);
  const done = session.run();
  await until('the first check waits for bob', () => session.state().waitingFor?.step === 'check');
  session.note('carol', 'waiting on bob');
  session.stop('alice', 'customers complain');
  const state = await done;
  assert.equal(state.status, 'stopped');
  assert.equal(state.timeline.at(-1)?.text, 'stopped by alice: customers complain');
  assert.equal(finished(state, 'check'), 'interrupted');
  const stop = state.timeline.find((e) => e.type === 'stop.requested')!;
  assert.deepEqual([stop.by, stop.text, stop.step], ['alice', 'customers complain', 'check']);
  const note = state.timeline.find((e) => e.type === 'note')!;
  assert.deepEqual([note.by, note.text, note.step], ['carol', 'waiting on bob', 'check']);
  assert.deepEqual(people.asked, ['confirm check', 'confirm undo', 'confirm undo-2']);
  session.stop('alice', 'after the end: nothing happens');
  assert.equal(session.state().timeline.length, state.timeline.length);

  // A wait is interrupted too; a second stop while the rollback plan waits skips the rest of it.
  const twice = new People();
  twice.confirmations = [{ by: 'bob', ok: true }, 'hold'];
  const s2 = new GameDaySession(plan(STEPS.replace('duration: 10ms', 'duration: 1h'), ROLLBACK), twice);
  const run2 = s2.run();
  await until('the wait step', () => s2.state().current === 'soak');
  s2.stop('alice', 'first');
  await until('the rollback plan waits for bob', () => s2.state().waitingFor?.step === 'undo');
  assert.equal(s2.state().status, 'rolling-back');
  s2.stop('alice', 'second');
  const st2 = await run2;
  assert.equal(finished(st2, 'soak'), 'interrupted');
  assert.deepEqual(twice.asked, ['confirm check', 'confirm undo']);
  assert.equal(st2.timeline.filter((e) => e.type === 'stop.requested').at(-1)?.data?.rollback, 'skipped');

  // An executor that ignores its signal cannot hang a stop.
  const deaf = new People();
  deaf.choices = ['ignore'];
  const s3 = new GameDaySession(plan(STEPS, ROLLBACK), deaf);
  const run3 = s3.run();
  await until('the decision', () => s3.state().waitingFor?.kind === 'decision');
  s3.stop('alice', 'now');
  assert.equal((await run3).status, 'stopped');

  // Stopped before it started: no step runs, the rollback plan does.
  const early = new People();
  const s4 = new GameDaySession(plan(STEPS, ROLLBACK), early);
  s4.stop('alice', 'called off');
  const st4 = await s4.run();
  assert.equal(st4.status, 'stopped');
  assert.deepEqual(early.asked, ['confirm undo', 'confirm undo-2']);
});

test('notes and judgements are checked; a manual criterion takes the latest judgement, during or after the run', async () => {
  const session = new GameDaySession(plan(STEPS, ROLLBACK), new People());
  assert.throws(
    () => session.note('carol', '   '),
    (e: FaultlineError) => e.code === 'FAULTLINE_ERR_USAGE' && /note: expected some text/.test(e.message),
  );
  assert.throws(() => session.note('carol', 'x'.repeat(10_001)), /at most 10000 characters/);
  assert.throws(() => session.note('', 'hello'), /by: expected some text/);
  assert.throws(
    () => session.judge('alice', 'nope', true),
    /no success criterion has the id "nope" \(expected one of comms\)/,
  );
  const state = await session.run();
  assert.equal(state.criteria[0]?.verdict, 'manual');
  session.judge('alice', 'comms', false, 'not updated');
  session.judge('dave', 'comms', true, 'it was, at 10:02');
  const c = session.state().criteria[0]!;
  assert.deepEqual([c.verdict, c.detail], ['met', 'judged by dave: it was, at 10:02']);
  const measured = new GameDaySession(
    plan(
      '  - { id: r, kind: experiment, experiment: x.yaml }',
      'success_criteria: [{ id: v, description: d, measure: { kind: verdict, step: r } }]',
    ),
    new People(),
  );
  assert.throws(() => measured.judge('alice', 'v', true), /measured from the runs \(verdict\), not judged/);
});

test('an executor with judge() is asked for each manual criterion before the game day ends', async () => {
  const people = new People() as People & GameDayExecutor;
  const judged: string[] = [];
  people.judge = async (c) => {
    judged.push(c.id);
    return { by: 'alice', met: true, note: 'updated at 10:03' };
  };
  const state = await new GameDaySession(plan(STEPS, ROLLBACK), people).run();
  assert.deepEqual(judged, ['comms']);
  assert.equal(state.criteria[0]?.verdict, 'met');
  const ended = state.timeline.findIndex((e) => e.type === 'gameday.ended');
  const judgement = state.timeline.findIndex((e) => e.type === 'criterion' && e.data?.source === 'judged');
  assert.ok(judgement >= 0 && judgement < ended);
});

// ------------------------------------------------------------------ real runs

const HOLD = (marker: string) => `title: Holds a marker fault
description: Holds a marker-file fault until stopped.
method:
  - type: action
    name: create-marker
    provider:
      type: faultline
      module: faultline.marker
      func: create
      arguments: { path: ${JSON.stringify(marker)}, duration: 600 }
    pauses: { after: 600 }
`;

test('a real experiment step: stopped while its fault is held, the run is interrupted, the fault reverted, the rollback plan run', async () => {
  const h = await tempHome();
  const dir = await mkdtemp(join(tmpdir(), 'faultline-gameday-'));
  try {
    const marker = join(dir, 'degraded');
    await writeFile(join(dir, 'hold.yaml'), HOLD(marker));
    const people = new People();
    const p = plan('  - { id: hold, kind: experiment, experiment: hold.yaml, owner: bob }', ROLLBACK);
    const session = new GameDaySession(p, {
      ...people,
      confirm: people.confirm.bind(people),
      decide: people.decide.bind(people),
      runExperiment: localExperimentRunner({
        baseDir: dir,
        journalDir: join(dir, 'journals'),
        env: { ...process.env, FAULTLINE_HOME: h.home },
        home: h.home,
      }),
    });
    const done = session.run();
    await until('the fault is in place', () => existsSync(marker));
    assert.ok(session.state().timeline.some((e) => e.type === 'run.started' && e.data?.runId));
    session.stop('alice', 'abort the game day');
    const state = await done;
    assert.equal(existsSync(marker), false, 'the fault was reverted');
    assert.deepEqual(await h.activeFaults(), []);
    assert.equal(state.status, 'stopped');
    assert.equal(state.runs.length, 1);
    const run = state.runs[0]!;
    assert.equal(run.journal.status, 'interrupted');
    assert.equal(run.link, join(dir, 'journals', 'hold.json'));
    assert.ok(existsSync(run.link!));
    assert.equal(state.timeline.find((e) => e.type === 'run.ended')?.data?.verdict, 'interrupted');
    assert.equal(finished(state, 'hold'), 'interrupted');
    assert.deepEqual(people.asked, ['confirm undo', 'confirm undo-2']);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await h.cleanup();
  }
});
