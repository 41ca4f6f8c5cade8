/**
 * A run's outcome, decided in one place. Each phase of a run (engine/run.ts,
 * engine/phases/) returns what went wrong in it, if anything, as a
 * PhaseOutcome; decideStatus() turns those into Chaos Toolkit's `status`,
 * `deviated` and Faultline's reason (docs/compatibility.md), and
 * decideOutcome() adds the verdict and exit code
 * (engine/verdict.ts, which judges the journal so that reports of saved
 * journals agree). Both are pure: the engine asks them between phases for
 * what depends on the outcome so far (the hypothesis after, the rollbacks,
 * recovery) and once at the end for the journal.
 */

import type { Journal, RunStatus } from '../core/journal.js';
import type { RollbackStrategy } from '../core/schema.js';
import { decideVerdict, type Verdict } from '../core/verdict.js';

/** What interrupted a run. */
export type InterruptCause =
  /** The caller's signal (Ctrl-C, SIGTERM). */
  | 'signal'
  /** `faultline halt`, from any terminal. */
  | 'halt'
  /** `runtime.max_duration` or `--max-duration`. */
  | 'max-duration'
  /** A safeguard's breach. */
  | 'safeguard'
  /** A control or an activity raised InterruptExecution. */
  | 'experiment'
  /** The rollback signal (a second Ctrl-C) while the rollbacks ran. */
  | 'rollback-signal';

/** What happened in one phase when it did not simply go as planned. */
export type PhaseOutcome =
  /** The hypothesis before (after any warm-up) was not met: the method did not run. */
  | { phase: 'before-hypothesis'; kind: 'not-met'; raised: boolean; reason: string }
  /** A safeguard breached (its interrupt is the `experiment` outcome); the rollbacks play unless `never`. */
  | { phase: 'safeguards'; kind: 'breached'; probe: string }
  /** Fail-fast stopped the method on a "during" miss beyond the tolerance. */
  | { phase: 'during-hypothesis'; kind: 'fail-fast'; reason: string }
  /** The "during" loop failed with an error (not a miss). */
  | { phase: 'during-hypothesis'; kind: 'aborted'; reason: string }
  /** The method could not go on: a ref that resolves to nothing, a fault the blast radius refused. */
  | { phase: 'method'; kind: 'aborted'; by: 'unresolved-ref' | 'blast-radius'; reason: string }
  /** The hypothesis after was not met. */
  | { phase: 'after-hypothesis'; kind: 'deviated'; raised: boolean; reason: string }
  /** What ended the sequence (beforeExperiment to the hypothesis after) early. */
  | { phase: 'experiment'; kind: 'interrupted'; by: InterruptCause; reason: string }
  | { phase: 'experiment'; kind: 'aborted'; by: 'error'; reason: string }
  /** The rollbacks were stopped (the remaining ones skipped, as in Chaos Toolkit). */
  | { phase: 'rollbacks'; kind: 'interrupted'; by: InterruptCause; reason: string }
  /** The steady state did not hold again within `runtime.recovery`'s deadline. */
  | { phase: 'recovery'; kind: 'not-recovered'; reason: string }
  /** The afterExperiment hook interrupted: the journal was closed, only the status changes. */
  | { phase: 'after-experiment'; kind: 'interrupted'; by: InterruptCause; reason: string };

export interface RunStatusDecision {
  status: RunStatus;
  deviated: boolean;
  /** `journal.faultline.reason`: why the run is not a plain completion. */
  reason?: string;
}

export interface RunOutcome extends RunStatusDecision {
  verdict: Verdict;
  exitCode: 0 | 1 | 2;
}

type OutcomeOf<P extends PhaseOutcome['phase'], K extends PhaseOutcome['kind']> = Extract<
  PhaseOutcome,
  { phase: P; kind: K }
>;

function find<P extends PhaseOutcome['phase'], K extends PhaseOutcome['kind']>(
  outcomes: readonly PhaseOutcome[],
  phase: P,
  kind: K,
): OutcomeOf<P, K> | undefined {
  return outcomes.find((o) => o.phase === phase && o.kind === kind) as OutcomeOf<P, K> | undefined;
}

/**
 * Chaos Toolkit's status and deviated, and the reason, from the phases'
 * outcomes (in any order). Which phase has the last word:
 *
 * - status: an interrupt of the rollbacks or of afterExperiment; else what
 *   ended the sequence early (interrupted, aborted); else the method's
 *   abort; else the hypothesis after (`failed` when a probe raised, else
 *   `completed`: Chaos Toolkit resets the status there, even after fail-fast);
 *   else fail-fast (`failed`); else the hypothesis before (`failed` when a
 *   probe raised); else `completed`.
 * - reason: recovery's, the rollbacks' interrupt, the early end, the abort,
 *   fail-fast's (it stays when the hypothesis after also missed), the
 *   hypothesis after, the hypothesis before. afterExperiment's interrupt
 *   changes only the status.
 * - deviated: the hypothesis after missed, or the system did not recover.
 *
 * @example
 * decideStatus([{ phase: 'after-hypothesis', kind: 'deviated', raised: false, reason: 'the steady state deviated after the method' }])
 * // { status: 'completed', deviated: true, reason: 'the steady state deviated after the method' }
 */
export function decideStatus(outcomes: readonly PhaseOutcome[]): RunStatusDecision {
  const before = find(outcomes, 'before-hypothesis', 'not-met');
  const failFast = find(outcomes, 'during-hypothesis', 'fail-fast');
  // The method's abort is seen after the "during" loop's, so its reason wins.
  const aborted = find(outcomes, 'method', 'aborted') ?? find(outcomes, 'during-hypothesis', 'aborted');
  const after = find(outcomes, 'after-hypothesis', 'deviated');
  const ended = outcomes.find((o) => o.phase === 'experiment');
  const rollbacks = find(outcomes, 'rollbacks', 'interrupted');
  const recovery = find(outcomes, 'recovery', 'not-recovered');
  const late = find(outcomes, 'after-experiment', 'interrupted');

  let status: RunStatus;
  if (late || rollbacks) status = 'interrupted';
  else if (ended) status = ended.kind;
  else if (aborted) status = 'aborted';
  else if (after) status = after.raised ? 'failed' : 'completed';
  else if (failFast) status = 'failed';
  else status = before?.raised ? 'failed' : 'completed';

  const reason =
    recovery?.reason ??
    rollbacks?.reason ??
    ended?.reason ??
    aborted?.reason ??
    failFast?.reason ??
    after?.reason ??
    before?.reason;
  return {
    status,
    deviated: after !== undefined || recovery !== undefined,
    ...(reason ? { reason } : {}),
  };
}

/**
 * The run's outcome: decideStatus() plus Faultline's verdict and exit code,
 * judged on `journal` (the evidence the phases recorded: steady states,
 * activity runs, faults, blast radius) with the decided status, deviated and
 * reason in place. `journal` is not modified.
 */
export function decideOutcome(outcomes: readonly PhaseOutcome[], journal: Journal): RunOutcome {
  const decided = decideStatus(outcomes);
  const { reason: _previous, ...faultline } = journal.faultline;
  const verdict = decideVerdict({
    ...journal,
    status: decided.status,
    deviated: decided.deviated,
    faultline: { ...faultline, ...(decided.reason ? { reason: decided.reason } : {}) },
  });
  return { ...decided, verdict, exitCode: verdict.exit_code };
}

/**
 * Whether the rollbacks play, by strategy, on the outcome of everything
 * before them: `default` unless the run failed or was interrupted,
 * `deviated` only when it deviated, `always`, `never`; and after a
 * safeguard's breach whatever the strategy but `never` (undo what the method
 * did).
 */
export function rollbacksPlay(strategy: RollbackStrategy, outcomes: readonly PhaseOutcome[]): boolean {
  const { status, deviated } = decideStatus(outcomes);
  const breached = outcomes.some((o) => o.kind === 'breached');
  return (
    strategy === 'always' ||
    (strategy === 'default' && status !== 'failed' && status !== 'interrupted') ||
    (strategy === 'deviated' && deviated) ||
    (breached && strategy !== 'never')
  );
}
