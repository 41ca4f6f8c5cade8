/**
 * Journals with known facts for history's tests (trends, comparison, metrics): a real run's journal
 * (test/fixtures/report/recovered.json: a marker-file fault under load, recovered in 1.018 s) changed
 * only where a test needs it, so everything else about it stays what the engine writes.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FaultTarget } from '../../src/core/fault.js';

export const RECOVERED = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/report/recovered.json', import.meta.url)), 'utf8'),
) as Record<string, any>;
export const SAFEGUARD_TRIP = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/report/safeguard-trip.json', import.meta.url)), 'utf8'),
) as Record<string, any>;

export interface JournalSpec {
  title?: string;
  /** Seconds; null: measured and did not recover (deviated); undefined: not measured. */
  mttr?: number | null;
  /** The steady state deviated after the method. */
  deviated?: boolean;
  /** The first fault's revert failed: it is left behind (the verdict: failed). */
  unreverted?: boolean;
  /** One fault per entry, touching those targets; default the fixture's one marker file. */
  faults?: { kind: string; target: string; targets?: FaultTarget[] }[];
}

/** A copy of the real journal with the facts `spec` asks for. */
export function journalWith(spec: JournalSpec = {}): Record<string, any> {
  const j = structuredClone(RECOVERED);
  if (spec.title !== undefined) j.experiment.title = spec.title;
  const fl = j.faultline;
  if (spec.faults) {
    const [template] = fl.faults;
    fl.faults = spec.faults.map((f, i) => ({
      ...template,
      id: `${template.id}-${i}`,
      kind: f.kind,
      target: f.target,
      ...(f.targets ? { targets: f.targets } : { targets: undefined }),
    }));
  }
  if (spec.mttr === undefined) delete fl.recovery;
  else
    fl.recovery = {
      ...fl.recovery,
      mttr: spec.mttr,
      recovered_at: spec.mttr === null ? null : fl.recovery.recovered_at,
    };
  if (spec.deviated) {
    j.steady_states.after.steady_state_met = false;
  }
  if (spec.unreverted) fl.unreverted = [{ ...fl.faults[0], verified: false, error: 'revert failed: EACCES' }];
  return j;
}
