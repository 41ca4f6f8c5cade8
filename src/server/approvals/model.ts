/**
 * Approvals of experiments tagged for production (issue #18), and the lifecycle state an experiment is
 * in because of them: the zod schemas (the API's validation, its OpenAPI, the dashboard's types), the
 * ApprovalStore contract, and the pure rules (who may decide, which approval a run may use, which state
 * an experiment is in), so they are unit-tested without a database.
 *
 * An approval names one version of one experiment: a new upload is a new version, which is not approved
 * until someone approves it. It is asked for (`pending`), then approved or rejected by an approver who is
 * neither the version's author nor the requester; once approved it is valid for `expiresIn` seconds, for
 * every run (`standing`: what schedules and game days need) or for one run (`used` by the run it allowed,
 * atomically, so two concurrent starts never share it). Past its expiry it is `expired`.
 * Imports zod, ../names.js and ../../core/ only (store.ts imports this file).
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import type { GrantedApproval } from '../../core/policy.js';
import { ExperimentNameSchema } from '../names.js';
import { pageLimit } from '../query.js';

export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'expired', 'used'] as const;
export const ApprovalStateSchema = z.enum(APPROVAL_STATES);
export type ApprovalState = z.infer<typeof ApprovalStateSchema>;

/** How long an approval lasts once approved when the request does not say (24 h). */
export const DEFAULT_APPROVAL_SECONDS = 24 * 3600;
/** The longest an approval may last (30 days): a standing approval is re-examined at least monthly. */
export const MAX_APPROVAL_SECONDS = 30 * 24 * 3600;
/** The shortest (1 minute): anything shorter expires before anyone could use it. */
export const MIN_APPROVAL_SECONDS = 60;

/** Free text stored in a text column: PostgreSQL refuses NUL, which would be the database's 503. */
const storedText = (max: number) =>
  z
    .string()
    .max(max, { error: `expected at most ${max} characters` })
    .regex(/^[^\u0000]*$/, { error: 'expected text without NUL characters' });

const DURATION_HINT = `expected a duration such as 30m, 24h or 720h (or seconds), from 1m to 720h (30 days)`;

/** `expiresIn` as written (`24h`, `90m`, or seconds) in whole seconds; undefined outside the bounds. */
export function expiresInSeconds(v: string | number): number | undefined {
  const ms = parseDuration(v);
  const seconds = ms === undefined ? undefined : Math.round(ms / 1000);
  return seconds === undefined || seconds < MIN_APPROVAL_SECONDS || seconds > MAX_APPROVAL_SECONDS
    ? undefined
    : seconds;
}

/** Validated here, converted with expiresInSeconds (a refinement, not a transform: the OpenAPI shows the input). */
export const ExpiresInSchema = z
  .union([z.string().max(32), z.number()], { error: DURATION_HINT })
  .refine((v) => expiresInSeconds(v) !== undefined, { error: DURATION_HINT });

/** POST /api/experiments/{name}/approvals. */
export const RequestApprovalSchema = z.strictObject({
  /** The version to approve (default: the latest). */
  version: z.number({ error: 'expected a version number (1, 2, ...)' }).int().positive().optional(),
  /** For every run until it expires (schedules and game days need this); default: for one run. */
  standing: z.boolean({ error: 'expected true or false' }).optional(),
  /** How long it lasts once approved (default 24h, at most 720h). */
  expiresIn: ExpiresInSchema.optional(),
  /** Why, for the approver: what will run, when, who is watching. */
  comment: storedText(2000).optional(),
});
export type RequestApproval = z.output<typeof RequestApprovalSchema>;

/** POST /api/approvals/{id}/approve and /reject. */
export const DecideApprovalSchema = z.strictObject({
  /** The approver's word: conditions of an approval, the reason of a rejection. */
  comment: storedText(2000).optional(),
});

export const ApprovalParamsSchema = z.strictObject({
  id: z.string().uuid({ error: 'expected an approval id (a UUID)' }),
});

export const ApprovalQuerySchema = z.strictObject({
  state: ApprovalStateSchema.optional(),
  experiment: ExperimentNameSchema.optional(),
  limit: pageLimit(500).optional(),
});

export const ApprovalSchema = z.object({
  id: z.string().uuid(),
  experiment: ExperimentNameSchema,
  version: z.number().int().positive(),
  state: ApprovalStateSchema,
  /** For every run until it expires; otherwise for one run. */
  standing: z.boolean(),
  /** Seconds it lasts once approved. */
  expiresIn: z.number().int().positive(),
  /** The requester's comment. */
  comment: z.string().optional(),
  requestedBy: z.string(),
  requestedAt: z.string(),
  /** The version's author (who may not approve it). */
  author: z.string(),
  /** Who approved or rejected it, when, and what they said. */
  decidedBy: z.string().optional(),
  decidedAt: z.string().optional(),
  decisionComment: z.string().optional(),
  /** Set when approved: approvedAt + expiresIn. */
  expiresAt: z.string().optional(),
  /** A one-run approval: when a run used it, and who started that run. */
  usedAt: z.string().optional(),
  usedBy: z.string().optional(),
});
export type Approval = z.infer<typeof ApprovalSchema>;

/** GET /api/approvals/{id}: the approval and the runs it allowed (their journals record it). */
export const ApprovalDetailSchema = ApprovalSchema.extend({ runs: z.array(z.string().uuid()) });
export type ApprovalDetail = z.infer<typeof ApprovalDetailSchema>;

// ---------------------------------------------------------------- the lifecycle

/**
 * Where an experiment stands, from its latest version's approvals, in the order of the practice (plan and
 * design, approve, execute):
 * - `ready`: not tagged for production; it runs without an approval.
 * - `draft`: tagged for production, no approval asked for this version yet.
 * - `in-review`: an approval is asked for and waits for an approver.
 * - `approved`: an approval of this version is valid now: it may run.
 * - `rejected`: the last decision on this version was a rejection (ask again, or upload a new version).
 * - `expired`: its approval ran out (expired, or its one run used it): ask again to run it again.
 */
export const LIFECYCLE_STATES = ['ready', 'draft', 'in-review', 'approved', 'rejected', 'expired'] as const;
export const LifecycleStateSchema = z.enum(LIFECYCLE_STATES);
export type LifecycleState = z.infer<typeof LifecycleStateSchema>;

export const LifecycleSchema = z.object({
  state: LifecycleStateSchema,
  /** Tagged for production (the settings file's production_tags): runs need an approval. */
  production: z.boolean(),
  /** The version the state is about (the latest). */
  version: z.number().int().positive(),
  /** The approval the state comes from (the pending, valid or last decided one). */
  approval: ApprovalSchema.pick({ id: true, state: true, standing: true, expiresAt: true }).optional(),
});
export type Lifecycle = z.infer<typeof LifecycleSchema>;

/** Whether an approval may allow a run at `now` (approved and not past its expiry). */
export function usable(a: Approval, now: Date): boolean {
  return a.state === 'approved' && a.expiresAt !== undefined && a.expiresAt > now.toISOString();
}

/**
 * The lifecycle state of `version` from its approvals (any order). An approved one past its expiry that
 * the sweep has not marked yet counts as expired already.
 */
export function lifecycleOf(
  production: boolean,
  version: number,
  approvals: readonly Approval[],
  now: Date,
): Lifecycle {
  if (!production) return { state: 'ready', production, version };
  const mine = approvals.filter((a) => a.version === version);
  const pick = (a: Approval | undefined, state: LifecycleState): Lifecycle => ({
    state,
    production,
    version,
    ...(a
      ? {
          approval: {
            id: a.id,
            state: a.state,
            standing: a.standing,
            ...(a.expiresAt ? { expiresAt: a.expiresAt } : {}),
          },
        }
      : {}),
  });
  const valid = mine.find((a) => usable(a, now));
  if (valid) return pick(valid, 'approved');
  const pending = mine.find((a) => a.state === 'pending');
  if (pending) return pick(pending, 'in-review');
  // The latest decision: what happened to this version last.
  const last = mine
    .filter((a) => a.decidedAt !== undefined)
    .sort((a, b) => ((b.usedAt ?? b.decidedAt ?? '') > (a.usedAt ?? a.decidedAt ?? '') ? 1 : -1))[0];
  if (!last) return pick(undefined, 'draft');
  return pick(last, last.state === 'rejected' ? 'rejected' : 'expired');
}

// ---------------------------------------------------------------- who may decide

/** The people behind an approval's author, requester and would-be approver (names as actors are). */
export interface DecisionParties {
  /** Who is deciding: their actor, and the user who owns their token when they use one. */
  approver: readonly string[];
  /** The version's author, and its token's owner when it was uploaded with a token. */
  author: readonly string[];
  /** The requester, likewise. */
  requester: readonly string[];
}

/**
 * Why the approver may not approve `a`, or undefined when they may: the four-eyes rule. The version's
 * author and the requester are refused, also through a token they own; a server without users has one
 * actor, `local`, so it cannot approve anything it asked for.
 */
export function selfApproval(a: Approval, who: DecisionParties): string | undefined {
  const me = (names: readonly string[]) => names.find((n) => who.approver.includes(n));
  const wrote = me(who.author);
  if (wrote !== undefined)
    return `${wrote} wrote version ${a.version} of ${a.experiment}: its approval must come from an approver who did not write it and did not ask for it`;
  const asked = me(who.requester);
  if (asked !== undefined)
    return `${asked} asked for this approval of ${a.experiment} version ${a.version}: it must come from an approver who did not write it and did not ask for it`;
  return undefined;
}

/** The approval as the run it allowed records it in its journal (faultline.policy.approval.grant). */
export function toGranted(a: Approval): GrantedApproval | undefined {
  if (a.decidedBy === undefined || a.decidedAt === undefined || a.expiresAt === undefined) return undefined;
  if (a.state === 'pending' || a.state === 'rejected') return undefined;
  return {
    id: a.id,
    experiment: a.experiment,
    version: a.version,
    requestedBy: a.requestedBy,
    requestedAt: a.requestedAt,
    approvedBy: a.decidedBy,
    approvedAt: a.decidedAt,
    expiresAt: a.expiresAt,
    standing: a.standing,
    ...(a.comment !== undefined ? { comment: a.comment } : {}),
  };
}

// ---------------------------------------------------------------- the store

export interface NewApprovalRequest {
  experiment: string;
  version: number;
  author: string;
  standing: boolean;
  expiresIn: number;
  comment?: string;
  requestedBy: string;
}

export interface ApprovalFilter {
  state?: ApprovalState;
  experiment?: string;
  /** Newest first; default 100, at most 500. */
  limit?: number;
}

export interface ApprovalStore {
  /** A new pending request. */
  request(r: NewApprovalRequest): Promise<Approval>;
  get(id: string): Promise<Approval | undefined>;
  /** `get` with the ids of the runs it allowed, oldest first. */
  detail(id: string): Promise<ApprovalDetail | undefined>;
  /** Pending first (oldest first: the longest waiting on top), then the rest newest first. */
  list(filter: ApprovalFilter): Promise<Approval[]>;
  /** Every approval of these experiments (their lifecycle states), any version. */
  ofExperiments(names: readonly string[]): Promise<Approval[]>;
  /**
   * Approves or rejects a pending request, atomically (two approvers at once: one wins); an approval's
   * expiry starts now. Undefined when it is not pending (any more).
   */
  decide(
    id: string,
    d: { approve: boolean; by: string; comment?: string; now: Date },
  ): Promise<Approval | undefined>;
  /**
   * The approval that allows one more run of this version at `now`. `standing` only: a standing one,
   * untouched. Otherwise a one-run approval first (marked `used` by `by` in the same statement, so two
   * concurrent starts never share it), else a standing one. Undefined when none is valid.
   */
  take(
    experiment: string,
    version: number,
    opts: { standingOnly: boolean; by: string; now: Date },
  ): Promise<Approval | undefined>;
  /** Marks approved approvals past their expiry `expired` and returns them (each once, across servers). */
  expire(now: Date): Promise<Approval[]>;
  /**
   * Approval `id` as the run it allowed records it in its journal (runner.ts passes it to the run);
   * undefined when there is no such approval or it was not approved.
   */
  grant(id: string): Promise<GrantedApproval | undefined>;
}
