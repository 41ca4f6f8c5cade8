/**
 * Who interrupted a run, for its `interrupted` PhaseOutcome (engine/outcome.ts).
 * The run's controller (engine/interrupts.ts) is aborted by the caller's
 * signal, `faultline halt`, the max duration or a safeguard, each with its own
 * reason; controls and activities raise InterruptExecution themselves.
 */
import type { InterruptExecution } from '../core/errors.js';
import { reasonOf } from './activity.js';
import type { InterruptCause } from './outcome.js';

/** What a run's max duration aborts its controller with (given to watchInterrupts). */
export const maxDurationReason = (ms: number): string =>
  `the experiment exceeded its max duration (${ms / 1000} s)`;

/** What a safeguard's breach aborts the run's controller with. */
export const breachReason = (probe: string): string =>
  `safeguard '${probe}' triggered the end of the experiment`;

/**
 * The cause of `err`. An InterruptExecution that does not carry the
 * controller's reason was raised by a control or an activity; otherwise the
 * reason says who aborted the controller: the caller's signal (its reason is
 * passed on as is), a safeguard or the max duration (the reasons above), else
 * the halt flag, the one other source interrupts.ts has.
 */
export function interruptCause(
  err: InterruptExecution,
  run: {
    /** The run's controller. */
    controller: AbortSignal;
    /** The caller's signal (RunOptions.signal). */
    caller?: AbortSignal;
    /** The probe of the safeguard that breached, if one did. */
    breached?: string;
    maxDurationMs?: number;
  },
): InterruptCause {
  const { controller } = run;
  if (!controller.aborted || err.message !== reasonOf(controller)) return 'experiment';
  const reason: unknown = controller.reason;
  if (run.caller?.aborted && reason === run.caller.reason) return 'signal';
  if (run.breached !== undefined && reason === breachReason(run.breached)) return 'safeguard';
  if (run.maxDurationMs !== undefined && reason === maxDurationReason(run.maxDurationMs))
    return 'max-duration';
  return 'halt';
}
