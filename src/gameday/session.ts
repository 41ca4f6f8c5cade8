/**
 * A game day in progress: walks the plan's timeline, asks its executor to run experiments, to have manual
 * checks confirmed and decisions taken, records everything as timestamped timeline events (who, when,
 * what), and on a stop, a failed step or a decision to roll back runs the rollback plan. The session does no
 * I/O of its own: the CLI's executor runs experiments with runFromSource and asks on the terminal, the
 * server's runs them in its queue and waits for the dashboard, and both render the same events.
 */
import { FaultlineError } from '../core/errors.js';
import { sleep } from '../core/timers.js';
import { evaluateCriteria, runVerdict } from './criteria.js';
import {
  type DecisionStep,
  durationMs,
  type ExperimentStep,
  type GameDayPlan,
  type GameDayStep,
  type ManualStep,
  participantsFor,
  type SuccessCriterion,
} from './plan.js';

export { evaluateCriteria } from './criteria.js';
export {
  type CriterionResult,
  type StepRun,
  TIMELINE_EVENT_TYPES,
  type TimelineEvent,
  type TimelineEventType,
} from './types.js';

import type { CriterionResult, StepRun, TimelineEvent } from './types.js';

/** A manual step's confirmation. `ok: false` fails the step. `auto`: confirmed by `--yes`, not a person. */
export interface Confirmation {
  by: string;
  note?: string;
  ok: boolean;
  auto?: boolean;
}

export interface Choice {
  by: string;
  /** An option's label. */
  choice: string;
  auto?: boolean;
}

export interface GameDayExecutor {
  /** Runs a step's experiment; resolves with its journal (interrupted when `signal` aborts). Throws when refused. */
  runExperiment(
    step: ExperimentStep,
    signal: AbortSignal,
    onStarted: (runId: string | undefined) => void,
  ): Promise<StepRun>;
  /** A manual check: resolves when someone confirms it (CLI: terminal; server: POST .../confirm). */
  confirm(step: ManualStep, signal: AbortSignal): Promise<Confirmation>;
  /** A decision point: resolves with the option chosen. */
  decide(step: DecisionStep, signal: AbortSignal): Promise<Choice>;
  /**
   * Optional: a manual criterion nobody judged yet, asked once the steps (and the rollback plan) are over and
   * before the game day ends; undefined leaves it to be judged later (judge()). Without it, all are left.
   */
  judge?(criterion: SuccessCriterion, signal: AbortSignal): Promise<Judgement | undefined>;
}

/** A participant's judgement of a manual criterion. */
export interface Judgement {
  by: string;
  met: boolean;
  note?: string;
}

export type GameDayStatus =
  | 'pending'
  | 'running'
  | 'stopping'
  | 'rolling-back'
  | 'finished'
  | 'stopped'
  | 'failed';

export interface GameDayState {
  plan: GameDayPlan;
  status: GameDayStatus;
  /** The step id in progress. */
  current?: string;
  /** Who is on which step, while the session waits for them. */
  waitingFor?: { step: string; kind: 'confirm' | 'decision'; owner?: string };
  timeline: TimelineEvent[];
  runs: StepRun[];
  /** After the end (and live where computable). */
  criteria: CriterionResult[];
  startedAt?: string;
  endedAt?: string;
}

export interface GameDaySessionOptions {
  /** The clock of the timeline's timestamps (tests inject one). */
  now?: () => Date;
  /** Every event as it is recorded, with the state after it. */
  onEvent?: (event: TimelineEvent, state: GameDayState) => void;
  /** The state after a change no event records: someone is now awaited on a step (`waitingFor`), or no longer. */
  onStateChange?: (state: GameDayState) => void;
}

/**
 * Thrown by an executor that does not run a step and says why (the server skips experiment steps while an
 * emergency stop or a blackout is in force): the step ends `skipped`, not `failed`, and the game day goes on.
 */
export class StepSkipped extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'StepSkipped';
  }
}

/**
 * How one step ended. `deviated`: the run completed but its hypothesis did not hold (a finding, not a
 * failure). `skipped`: the executor did not run it (StepSkipped).
 */
export type StepOutcome = 'ok' | 'deviated' | 'failed' | 'interrupted' | 'skipped';

/** Longest note or reason kept (a pasted log stays readable; a runaway paste does not fill the report). */
export const MAX_NOTE_CHARS = 10_000;
/** Step starts allowed in one game day: decisions may jump back, and a loop must end. */
export const MAX_STEP_STARTS = 1_000;

type ListEnd =
  | { kind: 'done' }
  | { kind: 'end'; by: string; choice: string }
  | { kind: 'rollback'; by: string; choice: string }
  | { kind: 'failed'; step: string; reason: string }
  | { kind: 'stopped' };

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves or rejects with `p`, or rejects once `signal` aborts (an executor that ignores its signal cannot hang a stop). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function checkText(field: string, text: string): string {
  if (typeof text !== 'string' || text.trim() === '')
    throw new FaultlineError('FAULTLINE_ERR_USAGE', `${field}: expected some text, got nothing`);
  if (text.length > MAX_NOTE_CHARS)
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `${field}: expected at most ${MAX_NOTE_CHARS} characters, got ${text.length}`,
    );
  return text;
}

/**
 * Runs a game day.
 *
 * @example
 * const session = new GameDaySession(plan, executor, { onEvent: (e) => render(e) });
 * process.once('SIGINT', () => session.stop('operator', 'Ctrl-C'));
 * const state = await session.run();
 * writeFileSync('gameday.html', renderGameDayReport('html', state));
 */
export class GameDaySession {
  readonly #plan: GameDayPlan;
  readonly #executor: GameDayExecutor;
  readonly #now: () => Date;
  readonly #onEvent: GameDaySessionOptions['onEvent'];
  readonly #onStateChange: GameDaySessionOptions['onStateChange'];
  readonly #state: GameDayState;
  /** Aborted by the first stop(): interrupts the step in progress. */
  readonly #stop = new AbortController();
  /** Aborted by a stop() during the rollback plan: skips the rest of it. */
  readonly #rollbackStop = new AbortController();
  #seq = 0;
  #started = false;
  #starts = 0;

  constructor(plan: GameDayPlan, executor: GameDayExecutor, opts: GameDaySessionOptions = {}) {
    this.#plan = plan;
    this.#executor = executor;
    this.#now = opts.now ?? (() => new Date());
    this.#onEvent = opts.onEvent;
    this.#onStateChange = opts.onStateChange;
    this.#state = {
      plan,
      status: 'pending',
      timeline: [],
      runs: [],
      criteria: evaluateCriteria(plan, [], []),
    };
  }

  /** A copy of the state now (the arrays are copied; events and runs are never changed once recorded). */
  state(): GameDayState {
    const s = this.#state;
    return {
      ...s,
      ...(s.waitingFor ? { waitingFor: { ...s.waitingFor } } : {}),
      timeline: [...s.timeline],
      runs: [...s.runs],
      criteria: s.criteria.map((c) => ({ ...c })),
    };
  }

  #emit(event: Omit<TimelineEvent, 'seq' | 'at'>): TimelineEvent {
    const e: TimelineEvent = { seq: ++this.#seq, at: this.#now().toISOString(), ...event };
    this.#state.timeline.push(e);
    this.#onEvent?.(e, this.state());
    return e;
  }

  /** Who the session waits for now (none: undefined), told to onStateChange. */
  #waitFor(w: GameDayState['waitingFor']): void {
    const before = this.#state.waitingFor;
    this.#state.waitingFor = w;
    if (before !== w) this.#onStateChange?.(this.state());
  }

  #recompute(): void {
    this.#state.criteria = evaluateCriteria(this.#plan, this.#state.runs, this.#state.timeline);
  }

  /** A timestamped note from anyone (the scribe mostly), attached to the step in progress. */
  note(by: string, text: string): void {
    checkText('note', text);
    checkText('by', by);
    this.#emit({ type: 'note', by, text, ...(this.#state.current ? { step: this.#state.current } : {}) });
  }

  /**
   * The emergency stop: aborts the step in progress (its run is interrupted and its faults reverted by the
   * engine), then the rollback plan runs. A second stop, during the rollback plan, skips the rest of it.
   * Before run() it stops the game day before its first step; after the end it does nothing.
   */
  stop(by: string, reason: string): void {
    const s = this.#state;
    if (s.status === 'finished' || s.status === 'stopped' || s.status === 'failed') return;
    if (this.#stop.signal.aborted) {
      if (s.status === 'rolling-back' && !this.#rollbackStop.signal.aborted) {
        this.#emit({ type: 'stop.requested', by, text: reason, data: { rollback: 'skipped' } });
        this.#rollbackStop.abort(new Error(`stopped by ${by}: ${reason}`));
      }
      return;
    }
    if (s.status === 'running') s.status = 'stopping';
    this.#emit({ type: 'stop.requested', by, text: reason, ...(s.current ? { step: s.current } : {}) });
    this.#stop.abort(new Error(`stopped by ${by}: ${reason}`));
  }

  /** A participant's judgement of a manual criterion (during or after the game day). */
  judge(by: string, criterion: string, met: boolean, note?: string): void {
    checkText('by', by);
    if (note !== undefined) checkText('note', note);
    const c = this.#plan.success_criteria.find((x) => x.id === criterion);
    if (!c)
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `criterion: no success criterion has the id "${criterion}" (expected one of ${this.#plan.success_criteria.map((x) => x.id).join(', ') || 'none'})`,
      );
    if (c.measure.kind !== 'manual')
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `criterion: "${criterion}" is measured from the runs (${c.measure.kind}), not judged`,
      );
    this.#emit({
      type: 'criterion',
      by,
      ...(note ? { text: note } : {}),
      data: { id: criterion, verdict: met ? 'met' : 'not-met', source: 'judged' },
    });
    this.#recompute();
  }

  /** Runs the timeline; on a stop or a failed step, the rollback plan; then evaluates the criteria. Once. */
  async run(): Promise<GameDayState> {
    if (this.#started) throw new Error('GameDaySession.run() may be called once');
    this.#started = true;
    const s = this.#state;
    const stoppedBefore = this.#stop.signal.aborted;
    s.status = stoppedBefore ? 'stopping' : 'running';
    s.startedAt = this.#now().toISOString();
    this.#emit({ type: 'gameday.started', text: this.#plan.title, data: { name: this.#plan.name } });

    const end = stoppedBefore
      ? ({ kind: 'stopped' } as const)
      : await this.#runList(this.#plan.steps, this.#stop.signal);
    let status: GameDayStatus;
    let reason: string;
    let rollback = false;
    if (end.kind === 'stopped' || this.#stop.signal.aborted) {
      status = 'stopped';
      // Who stopped it and why ("stopped by alice: customers complain").
      reason = message(this.#stop.signal.reason);
      rollback = true;
    } else if (end.kind === 'failed') {
      status = 'failed';
      reason = `step ${end.step} failed: ${end.reason}`;
      rollback = true;
    } else if (end.kind === 'rollback') {
      status = 'stopped';
      reason = `${end.by} chose "${end.choice}": roll back`;
      rollback = true;
    } else if (end.kind === 'end') {
      status = 'finished';
      reason = `${end.by} chose "${end.choice}": end`;
    } else {
      status = 'finished';
      reason = 'every step done';
    }
    if (rollback) await this.#rollback(reason);
    s.current = undefined;
    s.waitingFor = undefined;
    this.#recompute();
    await this.#askJudgements();
    for (const c of s.criteria)
      this.#emit({
        type: 'criterion',
        text: c.description,
        data: {
          id: c.id,
          verdict: c.verdict,
          source: 'measured',
          ...(c.measured ? { measured: c.measured } : {}),
        },
      });
    s.status = status;
    s.endedAt = this.#now().toISOString();
    this.#emit({ type: 'gameday.ended', text: reason, data: { status } });
    return this.state();
  }

  /** Manual criteria not judged yet, put to the executor's judge() when it has one (a stop skips them). */
  async #askJudgements(): Promise<void> {
    const ask = this.#executor.judge?.bind(this.#executor);
    if (!ask) return;
    for (const c of this.#plan.success_criteria) {
      if (c.measure.kind !== 'manual' || this.#rollbackStop.signal.aborted) continue;
      if (this.#state.criteria.find((r) => r.id === c.id)?.verdict !== 'manual') continue;
      try {
        const j = await untilAborted(ask(c, this.#rollbackStop.signal), this.#rollbackStop.signal);
        if (j) this.judge(j.by, c.id, j.met, j.note);
      } catch {
        // Nobody could answer (stdin closed, a stop): the criterion stays to be judged.
      }
    }
  }

  async #rollback(reason: string): Promise<void> {
    const steps = this.#plan.rollback?.steps ?? [];
    this.#state.status = 'rolling-back';
    this.#emit({ type: 'rollback.started', text: reason, data: { steps: steps.length } });
    const end =
      steps.length === 0
        ? ({ kind: 'done' } as const)
        : await this.#runList(steps, this.#rollbackStop.signal, true);
    this.#emit({
      type: 'rollback.finished',
      data: { outcome: end.kind === 'done' || end.kind === 'end' ? 'done' : end.kind },
      ...(end.kind === 'failed' ? { text: `step ${end.step} failed: ${end.reason}` } : {}),
    });
  }

  /** Walks a list of steps, following decisions' jumps. The rollback list goes on past a failed step. */
  async #runList(steps: readonly GameDayStep[], signal: AbortSignal, isRollback = false): Promise<ListEnd> {
    let failed: ListEnd | undefined;
    let i = 0;
    while (i < steps.length) {
      if (signal.aborted) return { kind: 'stopped' };
      const step = steps[i]!;
      if (++this.#starts > MAX_STEP_STARTS) {
        return {
          kind: 'failed',
          step: step.id,
          reason: `more than ${MAX_STEP_STARTS} steps started (a decision loop?)`,
        };
      }
      const r = await this.#runStep(step, signal);
      if (r.outcome === 'interrupted' || signal.aborted) return { kind: 'stopped' };
      if (r.outcome === 'failed' && step.on_failure === 'rollback') {
        const f = { kind: 'failed', step: step.id, reason: r.reason ?? 'failed' } as const;
        if (!isRollback) return f;
        failed ??= f;
      }
      if (r.next === 'end') return { kind: 'end', by: r.by ?? '', choice: r.choice ?? '' };
      if (r.next === 'rollback') return { kind: 'rollback', by: r.by ?? '', choice: r.choice ?? '' };
      if (r.next !== undefined) {
        const j = steps.findIndex((x) => x.id === r.next);
        i = j >= 0 ? j : i + 1;
      } else i++;
    }
    return failed ?? { kind: 'done' };
  }

  async #runStep(
    step: GameDayStep,
    signal: AbortSignal,
  ): Promise<{ outcome: StepOutcome; reason?: string; next?: string; by?: string; choice?: string }> {
    const s = this.#state;
    s.current = step.id;
    const startedAt = this.#now().getTime();
    // Who is on the step: the participants its owner names (a role names everyone in it).
    const who = participantsFor(this.#plan, step.owner).join(', ') || step.owner;
    this.#emit({
      type: 'step.started',
      step: step.id,
      ...(who ? { by: who } : {}),
      ...(step.title ? { text: step.title } : {}),
      data: { kind: step.kind, ...(step.owner ? { owner: step.owner } : {}) },
    });
    let result: { outcome: StepOutcome; reason?: string; next?: string; by?: string; choice?: string };
    try {
      result = await this.#execute(step, signal);
    } catch (err) {
      result = signal.aborted
        ? { outcome: 'interrupted', reason: message(signal.reason) }
        : err instanceof StepSkipped
          ? { outcome: 'skipped', reason: err.message }
          : { outcome: 'failed', reason: message(err) };
    }
    this.#waitFor(undefined);
    this.#emit({
      type: 'step.finished',
      step: step.id,
      ...(result.reason ? { text: result.reason } : {}),
      data: { outcome: result.outcome, seconds: (this.#now().getTime() - startedAt) / 1000 },
    });
    s.current = undefined;
    return result;
  }

  async #execute(
    step: GameDayStep,
    signal: AbortSignal,
  ): Promise<{ outcome: StepOutcome; reason?: string; next?: string; by?: string; choice?: string }> {
    const s = this.#state;
    switch (step.kind) {
      case 'wait':
        await sleep(durationMs(step.duration), signal);
        return { outcome: 'ok' };
      case 'manual': {
        this.#waitFor({ step: step.id, kind: 'confirm', ...(step.owner ? { owner: step.owner } : {}) });
        const c = await untilAborted(this.#executor.confirm(step, signal), signal);
        this.#emit({
          type: 'step.confirmed',
          step: step.id,
          by: c.by,
          ...(c.note ? { text: c.note } : {}),
          data: { ok: c.ok, ...(c.auto ? { auto: true } : {}) },
        });
        return c.ok
          ? { outcome: 'ok' }
          : { outcome: 'failed', reason: `${c.by} answered no${c.note ? `: ${c.note}` : ''}` };
      }
      case 'decision': {
        this.#waitFor({ step: step.id, kind: 'decision', ...(step.owner ? { owner: step.owner } : {}) });
        const d = await untilAborted(this.#executor.decide(step, signal), signal);
        const option = step.options.find((o) => o.label === d.choice);
        if (!option)
          throw new FaultlineError(
            'FAULTLINE_ERR_USAGE',
            `choice: "${d.choice}" is not an option of ${step.id} (expected ${step.options.map((o) => `"${o.label}"`).join(', ')})`,
          );
        this.#emit({
          type: 'decision',
          step: step.id,
          by: d.by,
          text: d.choice,
          data: { ...(option.then ? { next: option.then } : {}), ...(d.auto ? { auto: true } : {}) },
        });
        return { outcome: 'ok', by: d.by, choice: d.choice, ...(option.then ? { next: option.then } : {}) };
      }
      case 'experiment': {
        let runId: string | undefined;
        let announced = false;
        // Not raced against the signal as people's answers are: a stopped run still reverts its faults, and
        // the rollback plan must not start (nor the game day end) before that is done.
        const run = await this.#executor
          .runExperiment(step, signal, (id) => {
            runId = id;
            announced = true;
            this.#emit({ type: 'run.started', step: step.id, data: id ? { runId: id } : {} });
          })
          .catch((err: unknown) => {
            // A skipped step never had a run: nothing to end.
            if (err instanceof StepSkipped && !signal.aborted) throw err;
            this.#emit({
              type: 'run.ended',
              step: step.id,
              text: message(err),
              data: {
                ...(runId ? { runId } : {}),
                verdict: announced && signal.aborted ? 'interrupted' : 'refused',
              },
            });
            throw err;
          });
        s.runs.push(run);
        const verdict = runVerdict(run.journal);
        this.#emit({
          type: 'run.ended',
          step: step.id,
          ...(verdict.reason ? { text: verdict.reason } : {}),
          data: {
            ...(run.runId ? { runId: run.runId } : {}),
            verdict: verdict.kind,
            status: run.journal.status,
            ...(run.link ? { link: run.link } : {}),
          },
        });
        this.#recompute();
        if (verdict.kind === 'passed') return { outcome: 'ok' };
        if (verdict.kind === 'deviated') return { outcome: 'deviated', reason: verdict.reason ?? 'deviated' };
        if (verdict.kind === 'interrupted' && signal.aborted)
          return { outcome: 'interrupted', reason: verdict.reason ?? 'interrupted' };
        return {
          outcome: 'failed',
          reason: `the run ${verdict.kind}${verdict.reason ? `: ${verdict.reason}` : ''}`,
        };
      }
    }
  }
}

/**
 * The game day's exit code, as `faultline gameday run` ends: 0 when every step ran and every criterion that
 * can be judged was met (`manual` ones nobody judged do not count), 1 otherwise.
 */
export function gameDayExitCode(state: GameDayState): 0 | 1 {
  if (state.status !== 'finished') return 1;
  const failed = state.timeline.some((e) => e.type === 'step.finished' && e.data?.outcome === 'failed');
  if (failed) return 1;
  return state.criteria.every((c) => c.verdict === 'met' || c.verdict === 'manual') ? 0 : 1;
}
