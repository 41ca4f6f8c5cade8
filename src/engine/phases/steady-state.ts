/**
 * The steady-state phases of a run: the hypothesis before (with its warm-up),
 * the "during" loop beside the method, the hypothesis after. Each records its
 * checks in the journal and returns what went wrong as PhaseOutcomes
 * (engine/outcome.ts decides what they make of the run).
 */

import type { Journal, SteadyState } from '../../core/journal.js';
import { secondsToMs, sleep } from '../../core/timers.js';
import { type DuringTolerance, missesTolerated } from '../../core/verdict.js';
import { pause } from '../activity.js';
import type { LogLevel } from '../context.js';
import type { PhaseOutcome } from '../outcome.js';

/** What the steady-state phases need from the run. */
export interface SteadyStateRun {
  /** Checks the hypothesis once (probes, tolerances, control hooks, events). */
  check(phase: 'before-hypothesis' | 'during-hypothesis' | 'after-hypothesis'): Promise<SteadyState>;
  /** Aborted when the run is interrupted: cuts waits short. */
  interrupt: AbortSignal;
  journal: Journal;
  log(level: LogLevel, message: string): void;
  /** Seconds between two checks (`runtime.hypothesis.frequency`, `--hypothesis-frequency`). */
  frequency: number;
}

const probeRaised = (s: SteadyState): boolean => s.probes.some((p) => p.status === 'failed');

/**
 * The hypothesis before, checked again during the warm-up (`warmupMs`, when
 * set); not met, the method does not run. Throws interrupts.
 */
export async function hypothesisBefore(
  run: SteadyStateRun,
  warmupMs: number | undefined,
): Promise<PhaseOutcome[]> {
  const started = Date.now();
  let before = await run.check('before-hypothesis');
  if (warmupMs !== undefined) before = await warmUp(run, before, warmupMs, started);
  run.journal.steady_states.before = before;
  if (before.steady_state_met) return [];
  const afterWarmup = warmupMs === undefined ? '' : ` (warm-up of ${warmupMs / 1000} s)`;
  return [
    {
      phase: 'before-hypothesis',
      kind: 'not-met',
      raised: probeRaised(before),
      reason: `the steady state was not met before the method${afterWarmup}`,
    },
  ];
}

/** The hypothesis after. Throws interrupts. */
export async function hypothesisAfter(run: SteadyStateRun): Promise<PhaseOutcome[]> {
  const after = await run.check('after-hypothesis');
  run.journal.steady_states.after = after;
  if (after.steady_state_met) return [];
  return [
    {
      phase: 'after-hypothesis',
      kind: 'deviated',
      raised: probeRaised(after),
      reason: 'the steady state deviated after the method',
    },
  ];
}

/**
 * The "during" loop: checks the hypothesis, then waits `frequency` seconds,
 * until `stop` (the method ended), an interrupt, or fail-fast: with
 * `failFast`, once the misses so far are more than the verdict tolerates,
 * `fireFailFast` stops the method and its outcome ends the loop.
 */
export async function duringLoop(
  run: SteadyStateRun,
  opts: {
    stop: AbortSignal;
    failFast: boolean;
    tolerance: DuringTolerance;
    fireFailFast(state: SteadyState, check: number): PhaseOutcome;
  },
): Promise<PhaseOutcome[]> {
  const { stop } = opts;
  const { interrupt } = run;
  const during = run.journal.steady_states.during;
  let misses = 0;
  while (!stop.aborted && !interrupt.aborted) {
    const state = await run.check('during-hypothesis');
    during.push(state);
    if (!state.steady_state_met) {
      misses += 1;
      run.log('warn', 'the steady state deviated during the method');
      if (opts.failFast && !stop.aborted && !missesTolerated(misses, during.length, opts.tolerance))
        return [opts.fireFailFast(state, during.length)];
    }
    try {
      await sleep(secondsToMs(run.frequency), AbortSignal.any([stop, interrupt]));
    } catch {
      return [];
    }
  }
  return [];
}

/**
 * The warm-up (`runtime.hypothesis.warmup`): checks the steady state again,
 * every hypothesis frequency, until it holds or the deadline passes; returns
 * the last check. An interrupt cuts the wait short.
 */
async function warmUp(
  run: SteadyStateRun,
  first: SteadyState,
  deadlineMs: number,
  started: number,
): Promise<SteadyState> {
  const intervalMs = run.frequency * 1000;
  let state = first;
  let checks = 1;
  while (!state.steady_state_met) {
    const left = deadlineMs - (Date.now() - started);
    if (left <= 0) break;
    const wait = Math.min(intervalMs, left);
    const probe = state.probes.at(-1)?.activity.name;
    run.log(
      'info',
      `warm-up: the steady state is not met yet${probe ? ` (probe '${probe}')` : ''}; checking again in ${(wait / 1000).toFixed(1)} s (${(left / 1000).toFixed(1)} s of the warm-up left)`,
    );
    await pause(wait / 1000, run.interrupt);
    state = await run.check('before-hypothesis');
    checks += 1;
  }
  const metAfter = state.steady_state_met ? (Date.now() - started) / 1000 : null;
  run.journal.faultline.warmup = { deadline: deadlineMs / 1000, checks, met_after: metAfter };
  if (metAfter === null)
    run.log(
      'warn',
      `warm-up: the steady state did not hold within ${deadlineMs / 1000} s (${checks} checks)`,
    );
  else if (checks > 1)
    run.log('info', `warm-up: the steady state holds after ${metAfter.toFixed(1)} s (${checks} checks)`);
  return state;
}
