/**
 * Rows to the contract's shapes: NULL becomes an absent field (the schemas' optionals), JSON text is
 * decoded here and only here (both databases hand it over as text: see connect.ts).
 */
import type { AuditEntry, ExperimentVersion, Run, RunWithJournal } from '../store.js';
import type { RunFacts } from './facts.js';
import type { ExperimentVersionsTable, RunsTable } from './tables.js';

export function decodeJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

/** Journals and details may hold anything JSON can: `undefined` is stored as NULL. */
export function encodeJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

type RunRow = Omit<RunsTable, 'journal'>;

export function toRun(r: RunRow): Run {
  return {
    id: r.id,
    ...(r.experiment !== null ? { experiment: r.experiment } : {}),
    ...(r.experiment_version !== null ? { experimentVersion: Number(r.experiment_version) } : {}),
    title: r.title,
    tags: decodeJson(r.tags) as string[],
    origin: r.origin as Run['origin'],
    status: r.status as Run['status'],
    ...(r.verdict !== null ? { verdict: r.verdict as NonNullable<Run['verdict']> } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
    requestedAt: r.requested_at,
    ...(r.started_at !== null ? { startedAt: r.started_at } : {}),
    ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
    requestedBy: r.requested_by,
    ...(r.claimed_by !== null ? { claimedBy: r.claimed_by } : {}),
    ...(r.duration !== null ? { duration: Number(r.duration) } : {}),
    ...(r.faults !== null ? { faults: Number(r.faults) } : {}),
    ...(r.targets !== null ? { targets: Number(r.targets) } : {}),
    ...(r.recovery_ms !== null ? { recoveryMs: Number(r.recovery_ms) } : {}),
    ...(r.safeguard_breached !== null ? { safeguardBreached: Number(r.safeguard_breached) !== 0 } : {}),
    ...(r.unreverted !== null ? { unreverted: Number(r.unreverted) } : {}),
    ...(r.schedule_id !== null ? { schedule: r.schedule_id } : {}),
    ...(r.approval_id !== null ? { approval: r.approval_id } : {}),
    ...(r.gameday_id !== null ? { gameday: r.gameday_id } : {}),
    ...(r.configuration !== null
      ? { configuration: decodeJson(r.configuration) as Record<string, unknown> }
      : {}),
  };
}

/** A journal's facts as the run's columns: all NULL when there is no journal. */
export function factColumns(
  facts: RunFacts | undefined,
): Pick<RunsTable, 'faults' | 'targets' | 'recovery_ms' | 'safeguard_breached' | 'unreverted'> {
  return {
    faults: facts?.faults ?? null,
    targets: facts?.targets ?? null,
    recovery_ms: facts?.recoveryMs ?? null,
    safeguard_breached: facts ? (facts.safeguardBreached ? 1 : 0) : null,
    unreverted: facts?.unreverted ?? null,
  };
}

export function toRunWithJournal(r: RunsTable): RunWithJournal {
  const journal = decodeJson(r.journal);
  return { ...toRun(r), ...(journal !== undefined ? { journal } : {}) };
}

export function toExperimentVersion(r: ExperimentVersionsTable): ExperimentVersion {
  return toExperimentMeta(r) as ExperimentVersion & { source: string };
}

export function toExperimentMeta(
  r: Omit<ExperimentVersionsTable, 'source'> & { source?: string },
): Omit<ExperimentVersion, 'source'> & { source?: string } {
  return {
    name: r.name,
    version: Number(r.version),
    format: r.format as ExperimentVersion['format'],
    title: r.title,
    tags: decodeJson(r.tags) as string[],
    ...(r.source !== undefined ? { source: r.source } : {}),
    sha256: r.sha256,
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

export function toAuditEntry(r: {
  id: number;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  detail: string | null;
}): AuditEntry {
  const detail = decodeJson(r.detail) as AuditEntry['detail'];
  return {
    id: Number(r.id),
    at: r.at,
    actor: r.actor,
    action: r.action,
    ...(r.subject !== null ? { subject: r.subject } : {}),
    ...(detail !== undefined ? { detail } : {}),
  };
}

export const RUN_COLUMNS = [
  'id',
  'experiment',
  'experiment_version',
  'title',
  'tags',
  'origin',
  'status',
  'verdict',
  'reason',
  'requested_at',
  'started_at',
  'finished_at',
  'requested_by',
  'claimed_by',
  'duration',
  'faults',
  'targets',
  'recovery_ms',
  'safeguard_breached',
  'unreverted',
  'schedule_id',
  'approval_id',
  'gameday_id',
  'configuration',
] as const satisfies readonly (keyof RunsTable)[];
