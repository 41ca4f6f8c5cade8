/**
 * Prometheus metrics of experiment runs, built from the engine's RunEvents:
 * a listener that can watch any number of runs (a CI runner, a scheduler, or
 * one `faultline run --metrics-port`). Names are `faultline_*`; the Grafana
 * dashboard in docs/grafana-dashboard.json reads them.
 */

import { targetKey } from '../core/blast-radius.js';
import type { FaultRecord, Journal } from '../core/journal.js';
import { Exposition, Histogram, labels } from '../core/prom-text.js';
import { decideVerdict, type Verdict, type VerdictKind } from '../core/verdict.js';
import type { RunEvent } from '../engine/events.js';

export type Outcome = Exclude<VerdictKind, 'passed'> | 'completed';

/** Faultline's verdict on a finished run: the one the run stored, else decided now (older journals). */
export function verdictFor(journal: Journal): Verdict {
  return (journal.faultline.verdict as Verdict | undefined) ?? decideVerdict(journal);
}

/**
 * How a finished run is counted: its verdict, with a pass called `completed`
 * (the label dashboards already read). Misses during the method beyond the
 * tolerance, fail-fast and a failed action count as deviated or failed even
 * when Chaos Toolkit's status says `completed`.
 */
export function outcomeOf(journal: Journal): Outcome {
  const { kind } = verdictFor(journal);
  return kind === 'passed' ? 'completed' : kind;
}

const DURATION_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const RECOVERY_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

interface Current {
  experiment: string;
  runId: string;
  phase: string;
  started: number;
  faults: Map<string, FaultRecord>;
}

export class RunMetrics {
  readonly #outcomes = new Map<string, number>();
  readonly #injected = new Map<string, number>();
  readonly #revertFailures = new Map<string, number>();
  readonly #trips = new Map<string, number>();
  readonly #duration = new Histogram(DURATION_BUCKETS);
  readonly #recovery = new Histogram(RECOVERY_BUCKETS);
  readonly #current = new Map<string, Current>();
  /** Highest number of distinct targets held at once, per run id of the last run. */
  #lastBlastRadius = 0;
  #lastRun: { experiment: string; success: number; at: number; blastRadius: number } | undefined;
  #active: Current | undefined;

  /** Feed it every event of a run (pass it as, or call it from, `onEvent`). */
  readonly listener = (event: RunEvent): void => {
    switch (event.type) {
      case 'run-start': {
        const c: Current = {
          experiment: event.title,
          runId: event.runId,
          phase: 'starting',
          started: Date.now(),
          faults: new Map(),
        };
        this.#current.set(event.runId, c);
        this.#active = c;
        this.#lastBlastRadius = 0;
        break;
      }
      case 'phase':
        if (this.#active) this.#active.phase = event.phase;
        break;
      case 'fault': {
        const c = this.#active;
        if (!c) break;
        const kind = event.fault.kind;
        if (event.action === 'injected') {
          this.#injected.set(kind, (this.#injected.get(kind) ?? 0) + 1);
          c.faults.set(event.fault.id, event.fault);
          this.#lastBlastRadius = Math.max(this.#lastBlastRadius, this.#heldTargets(c));
        } else if (event.action === 'reverted') {
          c.faults.delete(event.fault.id);
        } else if (event.action === 'revert-failed') {
          this.#revertFailures.set(kind, (this.#revertFailures.get(kind) ?? 0) + 1);
        }
        break;
      }
      case 'run-end': {
        const j = event.journal;
        const outcome = outcomeOf(j);
        this.#outcomes.set(outcome, (this.#outcomes.get(outcome) ?? 0) + 1);
        this.#duration.observe(j.duration);
        const mttr = (j.faultline.recovery as { mttr?: number | null } | undefined)?.mttr;
        if (typeof mttr === 'number') this.#recovery.observe(mttr);
        const trip = j.faultline.safeguard as { name?: string } | undefined;
        if (trip?.name) this.#trips.set(trip.name, (this.#trips.get(trip.name) ?? 0) + 1);
        const c = this.#current.get(j.faultline.run_id);
        this.#current.delete(j.faultline.run_id);
        if (this.#active === c) this.#active = undefined;
        this.#lastRun = {
          experiment: j.experiment.title,
          success: outcome === 'completed' ? 1 : 0,
          at: Date.parse(j.end) / 1000,
          blastRadius: this.#lastBlastRadius,
        };
        break;
      }
      default:
        break;
    }
  };

  #heldTargets(c: Current): number {
    const keys = new Set<string>();
    for (const f of c.faults.values()) for (const t of f.targets ?? []) keys.add(targetKey(t));
    return keys.size;
  }

  /** The Prometheus text exposition, rendered at scrape time. */
  render(): string {
    const out = new Exposition();
    const running = [...this.#current.values()];
    out.family(
      'faultline_experiment_running',
      'gauge',
      'Experiments running now (1 per run), labelled with the experiment title and current phase.',
      running.map((c) => [labels({ experiment: c.experiment, phase: c.phase, run_id: c.runId }), 1]),
    );
    out.family(
      'faultline_runs_total',
      'counter',
      "Finished runs by Faultline's verdict (completed: passed; deviated, failed, aborted, interrupted, refused).",
      [...this.#outcomes].map(([outcome, n]) => [labels({ outcome }), n]),
    );
    out.histogram('faultline_run_duration_seconds', 'Duration of finished runs.', [
      { labels: {}, h: this.#duration },
    ]);
    out.histogram(
      'faultline_recovery_seconds',
      'Time to recover (MTTR): from the faults being reverted to the steady state holding again.',
      [{ labels: {}, h: this.#recovery }],
    );
    out.family(
      'faultline_faults_active',
      'gauge',
      'Faults injected and not yet reverted, across running experiments.',
      [['', running.reduce((n, c) => n + c.faults.size, 0)]],
    );
    out.family(
      'faultline_faults_injected_total',
      'counter',
      'Faults injected, by kind.',
      [...this.#injected].map(([kind, n]) => [labels({ kind }), n]),
    );
    out.family(
      'faultline_fault_revert_failures_total',
      'counter',
      'Reverts that failed or could not be verified, by kind.',
      [...this.#revertFailures].map(([kind, n]) => [labels({ kind }), n]),
    );
    out.family(
      'faultline_blast_radius_targets',
      'gauge',
      'Distinct targets held at once by the running experiments (the blast radius now).',
      [['', running.reduce((n, c) => n + this.#heldTargets(c), 0)]],
    );
    out.family(
      'faultline_safeguard_trips_total',
      'counter',
      'Runs stopped by a safeguard, by safeguard name.',
      [...this.#trips].map(([safeguard, n]) => [labels({ safeguard }), n]),
    );
    const last = this.#lastRun;
    out.family(
      'faultline_last_run_success',
      'gauge',
      'Whether the last finished run passed (1) or not (0).',
      last ? [[labels({ experiment: last.experiment }), last.success]] : [],
    );
    out.family(
      'faultline_last_run_timestamp_seconds',
      'gauge',
      'When the last run finished (Unix time).',
      last ? [[labels({ experiment: last.experiment }), last.at]] : [],
    );
    out.family(
      'faultline_last_run_blast_radius_targets',
      'gauge',
      'The most distinct targets the last finished run held at once.',
      last ? [[labels({ experiment: last.experiment }), last.blastRadius]] : [],
    );
    return out.toString();
  }
}
