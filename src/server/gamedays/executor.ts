/**
 * How a game day's steps happen on the server (src/gameday/session.ts GameDayExecutor): an experiment
 * step queues a run of the stored experiment (origin `gameday`, naming the game day; a production
 * experiment needs a standing approval, as a schedule's firing does) and waits for it to end in the
 * store, whichever server of the database claims it; a manual check and a decision wait for the API
 * (POST .../steps/{step}/confirm and .../decide), keyed by the step.
 *
 * Experiments are not started at all while the emergency stop is raised, a blackout is in force or the
 * server is closing: such a step is skipped with the reason (a rollback's experiment too; its manual
 * steps still wait for a person, since undoing by hand is what is left to do).
 */
import { FaultlineError } from '../../core/errors.js';
import type { Journal } from '../../core/journal.js';
import { sleep } from '../../core/timers.js';
import type { DecisionStep, ExperimentStep, ManualStep } from '../../gameday/plan.js';
import type { Choice, Confirmation, GameDayExecutor, StepRun } from '../../gameday/session.js';
import { approvalForRun } from '../approvals/gate.js';
import { haltReasonText } from '../halt.js';
import type { Runner } from '../runner.js';
import type { BlackoutGate } from '../services.js';
import type { HaltRecord, Run, RunWithJournal, Store } from '../store.js';

/** How often a step's run is read while it runs (its end is a row in the store, whichever server ran it). */
export const RUN_POLL_MS = 250;

export interface ServerExecutorOptions {
  store: Store;
  runner: Runner;
  home: string;
  blackout: BlackoutGate;
  gameday: { id: string; name: string };
  /** Who started the game day: its runs are requested by them. */
  startedBy: string;
  onProblem?: (message: string) => void;
  /** A step's run ended interrupted while the emergency stop is raised: the game day stops with it. */
  onHalt?: (halt: HaltRecord) => void;
  /** A step began to wait for a person (the session records no event for that: who is on which step). */
  onWaiting?: () => void;
}

const ended = (r: Run) => r.status === 'finished' || r.status === 'interrupted';

interface Waiter {
  kind: 'confirm' | 'decision';
  step: ManualStep | DecisionStep;
  resolve(value: Confirmation | Choice): void;
  reject(err: unknown): void;
}

export class ServerExecutor implements GameDayExecutor {
  readonly #o: ServerExecutorOptions;
  readonly #waiters = new Map<string, Waiter>();
  /** Runs started and not seen ended: the game day ends only after them (their faults reverted). */
  readonly #inflight = new Set<Promise<unknown>>();
  #closing: string | undefined;

  constructor(opts: ServerExecutorOptions) {
    this.#o = opts;
  }

  /** Why experiments are not started now, if they are not. */
  async #skipReason(): Promise<string | undefined> {
    if (this.#closing) return this.#closing;
    const halt = await this.#o.store.getHalt();
    if (halt) return `the emergency stop is raised (${haltReasonText(halt)})`;
    const blackout = await this.#o.blackout.current();
    if (blackout) return `${blackout.reason}: nothing starts until it ends`;
    return undefined;
  }

  async runExperiment(
    step: ExperimentStep,
    signal: AbortSignal,
    onStarted: (runId: string | undefined) => void,
  ): Promise<StepRun> {
    const { store, runner, gameday } = this.#o;
    const skip = await this.#skipReason();
    if (skip) throw new FaultlineError('FAULTLINE_ERR_USAGE', `skipped: ${skip}`);
    const experiment = await store.getExperiment(step.experiment, step.version);
    if (!experiment)
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `no stored experiment ${step.experiment}${step.version === undefined ? '' : ` version ${step.version}`}`,
      );
    const { approval } = await approvalForRun(store, this.#o.home, experiment, {
      standing: true,
      actor: `gameday:${gameday.id}`,
    });
    if (signal.aborted) throw signal.reason;
    const run = await store.createRun({
      experiment: experiment.name,
      experimentVersion: experiment.version,
      title: experiment.title,
      tags: experiment.tags,
      origin: 'gameday',
      requestedBy: this.#o.startedBy,
      gameday: gameday.id,
      ...(approval !== undefined ? { approval } : {}),
      ...(step.configuration ? { configuration: step.configuration } : {}),
    });
    runner.notifyQueued(run);
    onStarted(run.id);
    const done = this.#waitForEnd(run, signal);
    this.#inflight.add(done);
    void done.finally(() => this.#inflight.delete(done)).catch(() => undefined);
    const last = await done;
    if (last.journal === undefined || last.journal === null)
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `run ${run.id} ended ${last.verdict ?? last.status} without a journal${last.reason ? `: ${last.reason}` : ''}`,
      );
    return { step: step.id, runId: run.id, journal: last.journal as Journal, link: `#/runs/${run.id}` };
  }

  /** Reads the run until it ends; an abort of `signal` interrupts it (or cancels it while queued). */
  async #waitForEnd(run: Run, signal: AbortSignal): Promise<RunWithJournal> {
    const { store, runner } = this.#o;
    let aborted = false;
    for (;;) {
      let now: RunWithJournal | undefined;
      try {
        now = await store.getRun(run.id);
      } catch (err) {
        // The database is away: the run goes on (its thread reverts its faults); ask again.
        this.#o.onProblem?.(`game day ${this.#o.gameday.id}: ${(err as Error).message}`);
      }
      if (now && ended(now)) {
        // Interrupted by the emergency stop (halt.ts stops the run itself): the game day stops too,
        // rather than taking it for a failed step.
        if (now.status === 'interrupted' && !signal.aborted) {
          const halt = await store.getHalt().catch(() => undefined);
          if (halt) this.#o.onHalt?.(halt);
        }
        return now;
      }
      // Queued while the emergency stop is raised: no server claims it until the release, so it is
      // cancelled (a rollback's run included) rather than left holding the game day.
      if (now?.status === 'queued' && !aborted) {
        const halt = await store.getHalt().catch(() => undefined);
        if (halt) {
          aborted = true;
          await runner.abortOrCancel(now, haltReasonText(halt)).catch(() => undefined);
          continue;
        }
      }
      if (now && signal.aborted && !aborted) {
        aborted = true;
        const reason = `game day ${this.#o.gameday.name} stopped: ${String((signal.reason as Error)?.message ?? signal.reason)}`;
        if (!(await runner.abortOrCancel(now, reason).catch(() => undefined)))
          this.#o.onProblem?.(
            `game day ${this.#o.gameday.id}: run ${run.id} runs on another server (${now.claimedBy ?? 'unknown'}); it was not interrupted from here`,
          );
      }
      await sleep(RUN_POLL_MS);
    }
  }

  confirm(step: ManualStep, signal: AbortSignal): Promise<Confirmation> {
    return this.#wait('confirm', step, signal) as Promise<Confirmation>;
  }

  decide(step: DecisionStep, signal: AbortSignal): Promise<Choice> {
    return this.#wait('decision', step, signal) as Promise<Choice>;
  }

  #wait(kind: Waiter['kind'], step: ManualStep | DecisionStep, signal: AbortSignal) {
    if (this.#closing) return Promise.reject(new Error(`not answered: ${this.#closing}`));
    return new Promise<Confirmation | Choice>((resolve, reject) => {
      const onAbort = () => {
        if (this.#waiters.get(step.id) === waiter) this.#waiters.delete(step.id);
        reject(signal.reason);
      };
      const waiter: Waiter = {
        kind,
        step,
        resolve: (v) => {
          signal.removeEventListener('abort', onAbort);
          this.#waiters.delete(step.id);
          resolve(v);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          this.#waiters.delete(step.id);
          reject(e);
        },
      };
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.set(step.id, waiter);
      this.#o.onWaiting?.();
    });
  }

  /** The step waiting for someone now, if `step` is it. */
  waiting(step: string): { kind: Waiter['kind']; step: ManualStep | DecisionStep } | undefined {
    const w = this.#waiters.get(step);
    return w ? { kind: w.kind, step: w.step } : undefined;
  }

  /** Answers the waiting step; false when it is not waiting (for this kind of answer). */
  answer(step: string, value: Confirmation | Choice, kind: Waiter['kind']): boolean {
    const w = this.#waiters.get(step);
    if (!w || w.kind !== kind) return false;
    w.resolve(value);
    return true;
  }

  /** The server is closing: what waits for a person fails now, and no experiment starts. */
  close(reason: string): void {
    this.#closing = reason;
    for (const w of [...this.#waiters.values()]) w.reject(new Error(`not answered: ${reason}`));
  }

  /** Waits until every run a step started has ended (an interrupted one has reverted its faults). */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }
}
