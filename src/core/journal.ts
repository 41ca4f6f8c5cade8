/**
 * The journal: Chaos Toolkit's shape and key names, plus Faultline's additions
 * under `faultline`. Timestamps are ISO-8601 with a `+00:00` offset, durations
 * are float seconds, as in Chaos Toolkit.
 */

import type { BlastRadiusPolicy } from './blast-radius.js';
import type { FaultTarget } from './fault.js';
import type { Activity, Experiment } from './schema.js';

// The verdict's shapes live here, beside the journal that records them, so
// verdict.ts (the decision) imports the journal and nothing imports back.
export type VerdictKind = 'passed' | 'deviated' | 'failed' | 'aborted' | 'interrupted' | 'refused';

/** How many "during" misses a run may have and still pass (`runtime.hypothesis.max_misses` / `max_miss_ratio`). */
export interface DuringTolerance {
  /** Misses tolerated whatever the number of checks (default 0). */
  max_misses: number;
  /** Misses tolerated as a share of the checks, 0..1 (default 0: no ratio). */
  max_miss_ratio: number;
}

export interface DuringVerdict {
  checks: number;
  misses: number;
  max_misses?: number;
  max_miss_ratio?: number;
  tolerated: boolean;
}

export interface Verdict {
  kind: VerdictKind;
  /** PASSED, DEVIATED, ... */
  label: string;
  /** What `faultline run` exits with for this journal. */
  exit_code: 0 | 1 | 2;
  /** Why it is not a pass, most telling first. */
  reasons: string[];
  /** Worth a look but not failing the run (misses within the tolerance). */
  warnings: string[];
  /** The checks made during the method, when the strategy makes them. */
  during?: DuringVerdict;
}

/** When fail-fast stopped the method (`journal.faultline.fail_fast`). */
export interface FailFastRecord {
  reason: string;
  /** When the deviation that fired it was seen. */
  fired_at: string;
  /** Which "during" check (1-based) fired it. */
  check: number;
  /** When every fault of the run was reverted after it fired. */
  reverted_at?: string;
}

export type RunStatus = 'completed' | 'failed' | 'aborted' | 'interrupted';

export interface ActivityRun {
  activity: Activity;
  output: unknown;
  status: 'succeeded' | 'failed';
  /** Present only on failure: message lines, the last one `...ActivityFailed: <msg>\n`. */
  exception?: string[];
  start: string;
  end: string;
  duration: number;
  /** Hypothesis probes only. */
  tolerance_met?: boolean;
}

export interface SteadyState {
  steady_state_met: boolean;
  probes: ActivityRun[];
}

export interface FaultRecord {
  id: string;
  kind: string;
  target: string;
  injected_at: string;
  /** What the fault touched, as checked against the blast radius. */
  targets?: FaultTarget[];
  /** A fault that cannot be undone (a process kill): nothing to revert. */
  irreversible?: boolean;
  reverted_at?: string;
  verified?: boolean;
  error?: string;
  /**
   * Set when the injection did not complete (interrupted, cancelled by the run's revert,
   * or it failed) and what it did was undone: why. `injected_at` is then when it began, or
   * when it took effect if it landed after it was cancelled.
   */
  injection_error?: string;
}

export interface Journal {
  'chaoslib-version': string;
  platform: string;
  node: string;
  experiment: Experiment & { dry: string | null };
  start: string;
  end: string;
  duration: number;
  status: RunStatus;
  deviated: boolean;
  steady_states: { before: SteadyState | null; after: SteadyState | null; during: SteadyState[] };
  run: ActivityRun[];
  rollbacks: ActivityRun[];
  faultline: {
    version: string;
    run_id: string;
    host: string;
    pid: number;
    strategies: { hypothesis: string; rollbacks: string };
    /** Why the run ended other than `completed` (interrupt reason, abort error). */
    reason?: string;
    faults: FaultRecord[];
    /** Faults whose revert failed or could not be verified: reported loudly. */
    unreverted: FaultRecord[];
    /** The blast-radius policies in force, and the refusal that ended the run, if any. */
    blast_radius?: { policies: BlastRadiusPolicy[]; violation?: string };
    /** Misses of the steady state during the method the verdict tolerates (runtime.hypothesis, CLI flags). */
    during_tolerance?: DuringTolerance;
    /** Set when fail-fast stopped the method: why, when, and when the faults were reverted. */
    fail_fast?: FailFastRecord;
    /** The warm-up before the method (runtime.hypothesis.warmup): checks made and whether it ended met. */
    warmup?: WarmupRecord;
    /** Faultline's verdict (engine/verdict.ts), decided when the run ended. */
    verdict?: Verdict;
    /** What run resources measured, by their experiment key (e.g. `load`: totals and per-second series). */
    [resource: string]: unknown;
  };
}

export interface WarmupRecord {
  /** Seconds the steady state was given to hold. */
  deadline: number;
  /** Checks made, the last one being `steady_states.before`. */
  checks: number;
  /** Seconds from the first check to the one that held; null: it never held. */
  met_after: number | null;
}

/** Chaos Toolkit's timestamp format: ISO-8601 with microseconds and `+00:00`. */
export function isoNow(d = new Date()): string {
  return d.toISOString().replace('Z', '000+00:00');
}
