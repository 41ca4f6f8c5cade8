/**
 * What a stored journal says that history filters and counts on (issue #17 "History and trends"): kept
 * in columns beside the journal (and its target labels in run_targets), so lists and trends read
 * indexes instead of parsing 100,000 journals. Computed whenever a journal is stored (a server run's end,
 * a push) and, for runs stored before these columns existed, by migration 0004.
 *
 * Journals are read defensively: a pushed journal only passed parseJournal's loose shape, and a Chaos
 * Toolkit journal has no `faultline` section at all (no faults, nothing measured).
 */
import { targetKey } from '../../core/blast-radius.js';
import type { FaultTarget } from '../../core/fault.js';

export interface RunFacts {
  /** Fault records in the journal (every injection the run began). */
  faults: number;
  /** Distinct things those faults touched: FaultTargets by identity, or kind + target when none was recorded. */
  targets: number;
  /** What `target=` matches, exactly: see targetLabels. */
  targetLabels: string[];
  /** Time to recover, from `faultline.recovery.mttr`, when the run measured it and recovered. */
  recoveryMs?: number;
  /** A safeguard stopped the run. */
  safeguardBreached: boolean;
  /** Faults whose revert failed or could not be verified (`faultline.unreverted`). */
  unreverted: number;
}

/** A label longer than this is not kept (nobody filters on it; it would only bloat the index). */
export const MAX_TARGET_LABEL = 512;
/** At most this many labels per run: a run that touched thousands of things is found by its first ones. */
const MAX_LABELS_PER_RUN = 1000;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function faultTargets(fault: Record<string, unknown>): FaultTarget[] {
  if (!Array.isArray(fault.targets)) return [];
  return fault.targets.filter(
    (t): t is FaultTarget => isRecord(t) && typeof t.type === 'string' && typeof t.name === 'string',
  );
}

/**
 * The labels a fault answers `target=` to: its own target (`/tmp/x`, `checkout-db`) and `kind:target`
 * (`marker-file:/tmp/x`), and for each FaultTarget it recorded: its name, `type:name` (`process:nginx`),
 * its host, `host:port`, and each label as `key=value` (`app=checkout`).
 */
export function targetLabels(fault: Record<string, unknown>): string[] {
  const out: string[] = [];
  const kind = text(fault.kind);
  const target = text(fault.target);
  if (target) out.push(target, ...(kind ? [`${kind}:${target}`] : []));
  for (const t of faultTargets(fault)) {
    out.push(t.name, `${t.type}:${t.name}`);
    if (text(t.host)) out.push(t.host as string);
    if (text(t.host) && typeof t.port === 'number') out.push(`${t.host}:${t.port}`);
    if (isRecord(t.labels))
      for (const [k, v] of Object.entries(t.labels)) if (typeof v === 'string') out.push(`${k}=${v}`);
  }
  // PostgreSQL's text holds no NUL: such a label (a hostile push) could not be stored, nor asked for.
  return out.filter((l) => l !== '' && l.length <= MAX_TARGET_LABEL && !l.includes('\u0000'));
}

/** The facts of a stored journal; undefined when there is no journal (a run refused or killed before it wrote one). */
export function runFacts(journal: unknown): RunFacts | undefined {
  if (!isRecord(journal)) return undefined;
  const fl = isRecord(journal.faultline) ? journal.faultline : {};
  const faults = Array.isArray(fl.faults) ? fl.faults.filter(isRecord) : [];
  const identities = new Set<string>();
  const labels = new Set<string>();
  for (const f of faults) {
    const touched = faultTargets(f);
    if (touched.length > 0) for (const t of touched) identities.add(targetKey(t));
    else identities.add(JSON.stringify([String(f.kind ?? ''), String(f.target ?? '')]));
    for (const l of targetLabels(f)) if (labels.size < MAX_LABELS_PER_RUN) labels.add(l);
  }
  const recovery = isRecord(fl.recovery) ? fl.recovery : undefined;
  const mttr = recovery?.mttr;
  return {
    faults: faults.length,
    targets: identities.size,
    targetLabels: [...labels],
    // mttr is seconds with millisecond precision: rounded so 1.018 s is 1018 ms, not 1017.9999999999999.
    ...(typeof mttr === 'number' && Number.isFinite(mttr) && mttr >= 0
      ? { recoveryMs: Math.round(mttr * 1e6) / 1e3 }
      : {}),
    safeguardBreached: isRecord(fl.safeguard),
    unreverted: Array.isArray(fl.unreverted) ? fl.unreverted.length : 0,
  };
}
