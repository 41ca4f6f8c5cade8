/**
 * The one check every way a run starts passes through (POST /api/runs, a schedule firing, a game day's
 * step): an experiment tagged for production (the settings file's production_tags) runs only with an
 * approval of that very version, valid now; a one-run approval is used up by the run it allows. Also the
 * expiry sweep, which this check runs first so an approval past its expiry never allows a run even when
 * no timer has swept yet.
 */
import { FaultlineError } from '../../core/errors.js';
import type { PolicySettings } from '../../core/policy.js';
import { loadPolicySettings } from '../../experiment/settings.js';
import { ApiError } from '../api-error.js';
import type { Notify } from '../services.js';
import type { ExperimentVersion, Store } from '../store.js';
import type { Approval } from './model.js';

export interface ApprovalForRunOptions {
  /** A schedule's firing (and a game day's step) needs a standing approval; an API start takes a one-run approval. */
  standing: boolean;
  /** Who asks (the API's actor; `schedule:<name>`, `gameday:<id>`). */
  actor: string;
  now?: Date;
  /** Told when the sweep this check runs first expires approvals (`approval.expired`). */
  notify?: Notify;
}

/** The audit log's actor for what no request did: the expiry sweep. */
export const APPROVALS_ACTOR = 'approvals';

/** The production tag `experiment` carries, if any. */
export function productionTag(experiment: Pick<ExperimentVersion, 'tags'>, settings: PolicySettings) {
  return experiment.tags.find((t) => settings.production_tags.includes(t));
}

/**
 * The settings file's policies (only that section: a mistake elsewhere in the file refuses the runs it
 * concerns, in their threads, with the reason); policies the server cannot read are the operator's to
 * fix, so the caller gets 503 saying so rather than a guess at whether an approval is needed.
 */
export async function policySettings(home: string): Promise<PolicySettings> {
  try {
    return await loadPolicySettings(home);
  } catch (err) {
    if (!(err instanceof FaultlineError)) throw err;
    throw new ApiError(
      503,
      'settings_unreadable',
      `the server's settings file cannot be read, so whether an approval is needed is unknown: ${err.message}`,
    );
  }
}

/**
 * Marks approvals past their expiry `expired` (each once, whichever server's sweep gets it first) and
 * records each in the audit log and the webhooks. Returns them.
 */
export async function expireApprovals(store: Store, notify: Notify | undefined, now = new Date()) {
  const expired = await store.approvals.expire(now);
  for (const a of expired) {
    await store.audit({
      actor: APPROVALS_ACTOR,
      action: 'approval.expire',
      subject: a.id,
      detail: { experiment: a.experiment, version: a.version, standing: a.standing, expiresAt: a.expiresAt },
    });
    notify?.(
      'approval.expired',
      `Approval of ${a.experiment} version ${a.version} (${a.standing ? 'standing' : 'one run'}) expired`,
      approvalFacts(a),
    );
  }
  return expired;
}

/** An approval's facts for a webhook (under `faultline`). */
export function approvalFacts(a: Approval): Record<string, unknown> {
  return {
    approval: a.id,
    experiment: a.experiment,
    version: a.version,
    state: a.state,
    standing: a.standing,
    requestedBy: a.requestedBy,
    ...(a.decidedBy !== undefined ? { decidedBy: a.decidedBy } : {}),
    ...(a.expiresAt !== undefined ? { expiresAt: a.expiresAt } : {}),
  };
}

/**
 * Whether `experiment` (this version) is tagged for production (the settings file's production_tags in
 * `home`), and if so the approval that allows one more run of it now, consumed when it is for one run.
 * Throws ApiError 409 `approval_required` (naming the experiment, version and how to request one) when a
 * production experiment has none.
 *
 * Which approval: with `standing` (schedules, game days) only a standing approval, never used up; for an
 * API start a one-run approval first (the one asked for a run like this one; the soonest to expire), used
 * up in the same statement that picks it, and otherwise a standing one.
 */
export async function approvalForRun(
  store: Store,
  home: string,
  experiment: ExperimentVersion,
  opts: ApprovalForRunOptions,
): Promise<{ production: boolean; approval?: string }> {
  const settings = await policySettings(home);
  const tag = productionTag(experiment, settings);
  if (tag === undefined) return { production: false };
  const now = opts.now ?? new Date();
  await expireApprovals(store, opts.notify, now);
  const found = await store.approvals.take(experiment.name, experiment.version, {
    standingOnly: opts.standing,
    by: opts.actor,
    now,
  });
  if (found) return { production: true, approval: found.id };
  const { name, version } = experiment;
  const pending = (await store.approvals.list({ experiment: name, state: 'pending' })).find(
    (a) => a.version === version && (!opts.standing || a.standing),
  );
  const kind = opts.standing ? 'a standing approval' : 'an approval';
  throw new ApiError(
    409,
    'approval_required',
    `experiment ${name} version ${version} is tagged '${tag}' (production_tags) and needs ${kind} of version ${version} by an approver who did not write it: ${
      pending
        ? `request ${pending.id} by ${pending.requestedBy} is waiting for one (POST /api/approvals/${pending.id}/approve)`
        : `ask with POST /api/experiments/${name}/approvals {"version": ${version}${opts.standing ? ', "standing": true' : ''}}`
    }`,
  );
}
