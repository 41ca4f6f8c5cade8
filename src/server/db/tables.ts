/**
 * The tables as Kysely sees them (one shape for both databases). JSON columns (`tags`, `journal`,
 * `detail`) are text in and text out on both: json on PostgreSQL, text on SQLite, and the PostgreSQL
 * pool returns json unparsed (connect.ts), so decoding happens in one place (rows.ts).
 * Timestamps are ISO 8601 UTC text (`Date#toISOString`), whose text order is time order.
 */
import type { Generated } from 'kysely';

export type DbKind = 'sqlite' | 'postgres';

export interface ExperimentVersionsTable {
  name: string;
  version: number;
  format: string;
  title: string;
  tags: string;
  source: string;
  sha256: string;
  created_at: string;
  created_by: string;
}

export interface RunsTable {
  id: string;
  experiment: string | null;
  experiment_version: number | null;
  title: string;
  tags: string;
  origin: string;
  status: string;
  verdict: string | null;
  reason: string | null;
  requested_at: string;
  started_at: string | null;
  finished_at: string | null;
  requested_by: string;
  claimed_by: string | null;
  duration: number | null;
  journal: string | null;
  // migrations/0004-run-facts.ts: facts.ts's figures, NULL until a journal is stored.
  faults: number | null;
  targets: number | null;
  recovery_ms: number | null;
  /** 0/1 on both databases. */
  safeguard_breached: number | null;
  unreverted: number | null;
  // migrations/0005-run-links.ts: what started the run and what it is given (JSON text).
  schedule_id: string | null;
  approval_id: string | null;
  gameday_id: string | null;
  configuration: string | null;
}

/** One row per (run, tag): what a tag filter joins on, indexed by tag on both databases. */
export interface RunTagsTable {
  run_id: string;
  tag: string;
  /** The run's, copied: see migrations/0001-initial.ts. */
  requested_at: string;
}

/** One row per (run, target label) its faults touched: what the `target` filter joins on, like run_tags. */
export interface RunTargetsTable {
  run_id: string;
  target: string;
  requested_at: string;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  detail: string | null;
}

/** The emergency stop: no row, or one row with id 1. */
export interface HaltTable {
  id: number;
  since: string;
  by: string;
  reason: string;
}

export interface Database {
  experiment_versions: ExperimentVersionsTable;
  runs: RunsTable;
  run_tags: RunTagsTable;
  run_targets: RunTargetsTable;
  audit_log: AuditLogTable;
  halt: HaltTable;
}
