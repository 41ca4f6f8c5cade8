/**
 * SCAFFOLD (issue #18, being written by the approvals work): the one check every way a run starts
 * passes through (POST /api/runs, a schedule firing, a game day's step).
 */
import type { ExperimentVersion, Store } from '../store.js';

export interface ApprovalForRunOptions {
  /** A schedule's firing (and a game day's step) needs a standing approval; an API start takes a one-run approval. */
  standing: boolean;
  /** Who asks (the API's actor; `schedule:<name>`, `gameday:<id>`). */
  actor: string;
  now?: Date;
}

/**
 * Whether `experiment` (this version) is tagged for production (the settings file's production_tags in
 * `home`), and if so the approval that allows one more run of it now, consumed when it is for one run.
 * Throws ApiError 409 `approval_required` (naming the experiment, version and how to request one) when a
 * production experiment has none.
 */
export async function approvalForRun(
  _store: Store,
  _home: string,
  _experiment: ExperimentVersion,
  _opts: ApprovalForRunOptions,
): Promise<{ production: boolean; approval?: string }> {
  return { production: false };
}
