/**
 * Typed events the engine emits while it runs. Library code never prints:
 * the CLI's renderers (live view, plain lines, JSON logs) consume these.
 */

import type { ActivityRun, FaultRecord, Journal, SteadyState } from '../core/journal.js';
import type { Activity, DryMode } from '../core/schema.js';
import type { LogLevel } from './context.js';

export type Phase =
  | 'before-hypothesis'
  | 'method'
  | 'during-hypothesis'
  | 'after-hypothesis'
  | 'rollbacks'
  | 'revert'
  | 'recovery';

/** Phases whose probes are checked against their tolerances (reported once the check is done). */
export const STEADY_STATE_PHASES: ReadonlySet<Phase> = new Set([
  'before-hypothesis',
  'during-hypothesis',
  'after-hypothesis',
  'recovery',
]);

export type RunEvent =
  | {
      type: 'run-start';
      runId: string;
      title: string;
      strategies: { hypothesis: string; rollbacks: string };
      dry: DryMode | null;
    }
  | { type: 'phase'; phase: Phase }
  | { type: 'activity-start'; phase: Phase; activity: Activity; background: boolean }
  | { type: 'activity-end'; phase: Phase; run: ActivityRun; reason?: string }
  | { type: 'hypothesis-end'; phase: Phase; state: SteadyState }
  | { type: 'fault'; action: 'injected' | 'reverted' | 'revert-failed' | 'expired'; fault: FaultRecord }
  | { type: 'log'; level: LogLevel; message: string }
  /**
   * The last second of the experiment's `load:` traffic, once a second while it runs (live views):
   * completed requests per second, the share that failed (0 when none completed), latency ms.
   */
  | { type: 'load'; requests: number; throughput: number; error_rate: number; p50: number; p99: number }
  /** One check of a safeguard (every check, not only a breach): its output against its tolerance. */
  | { type: 'safeguard'; name: string; met: boolean; output: unknown; tolerance?: unknown; reason?: string }
  | { type: 'run-end'; journal: Journal };

export type RunEventListener = (event: RunEvent) => void;
