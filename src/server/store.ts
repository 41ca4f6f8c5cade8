/**
 * The control plane's storage contract (`faultline serve`, issue #17): what
 * the server keeps between runs, as zod schemas (the single source of the
 * types, the API's validation and its OpenAPI) and one Store interface that
 * both databases implement through one query layer (Kysely): SQLite in
 * $FAULTLINE_HOME by default, PostgreSQL for a team (src/server/db/).
 *
 * Journals are stored whole (they are what reports and comparisons read);
 * the columns beside them are what lists filter and sort on. Secrets never
 * reach the store: experiments are stored as uploaded (their `secrets`
 * reference the environment or a vault, they do not hold values: the API
 * refuses inline secret values), and journals are already redacted by the
 * engine.
 */
import { z } from 'zod';
import type { ApprovalStore } from './approvals/model.js';
import { ROLES } from './auth/roles.js';
import type { BlackoutStore } from './blackouts/model.js';
import type { GameDayStore } from './gamedays/model.js';
import { ExperimentNameSchema } from './names.js';
import type { ScheduleStore } from './schedules/model.js';

/** Formats `faultline run` reads from a file: the upload says which (its file name's extension). */
export const EXPERIMENT_FORMATS = ['json', 'yaml'] as const;
export const ExperimentFormatSchema = z.enum(EXPERIMENT_FORMATS);

export { ExperimentNameSchema };

/** One stored version of an experiment: every upload under a name is a new version (1, 2, ...). */
export const ExperimentVersionSchema = z.object({
  name: ExperimentNameSchema,
  version: z.number().int().positive(),
  format: ExperimentFormatSchema,
  /** The experiment's own title. */
  title: z.string(),
  tags: z.array(z.string()),
  /** The source as uploaded (UTF-8 text). */
  source: z.string(),
  /** sha256 of `source`, hex: an upload identical to the latest version makes no new version. */
  sha256: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
});
export type ExperimentVersion = z.infer<typeof ExperimentVersionSchema>;

/** An experiment in lists: its latest version's facts. */
export const ExperimentSummarySchema = ExperimentVersionSchema.omit({ source: true }).extend({
  versions: z.number().int().positive(),
});
export type ExperimentSummary = z.infer<typeof ExperimentSummarySchema>;

export const RUN_STATUSES = ['queued', 'running', 'finished', 'interrupted'] as const;
export const RunStatusSchema = z.enum(RUN_STATUSES);
export const VERDICTS = ['passed', 'deviated', 'failed', 'aborted', 'interrupted', 'refused'] as const;
export const VerdictKindSchema = z.enum(VERDICTS);

/**
 * Where a run came from: started through this server's API, pushed from elsewhere (`faultline run
 * --server`), fired by a schedule, or started by a game day's step.
 */
export const RUN_ORIGINS = ['server', 'push', 'schedule', 'gameday'] as const;

export const RunSchema = z.object({
  id: z.string().uuid(),
  /** Absent for a pushed run whose experiment is not stored here. */
  experiment: ExperimentNameSchema.optional(),
  experimentVersion: z.number().int().positive().optional(),
  title: z.string(),
  tags: z.array(z.string()),
  origin: z.enum(RUN_ORIGINS),
  status: RunStatusSchema,
  /** Set once it finished (the journal's verdict). */
  verdict: VerdictKindSchema.optional(),
  /** Why it was interrupted, refused or failed, in words. */
  reason: z.string().optional(),
  requestedAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  /** Who asked for it (a user name, a token's name, or `local` on 127.0.0.1 without sign-in). */
  requestedBy: z.string(),
  /** The server process that runs it (a queued or running run is claimed by exactly one). */
  claimedBy: z.string().optional(),
  /** Seconds, from the journal. */
  duration: z.number().optional(),
  // What the journal says (db/facts.ts), present once a journal is stored: history's columns.
  /** Fault records in the journal. */
  faults: z.number().int().nonnegative().optional(),
  /** Distinct targets those faults touched (the blast radius). */
  targets: z.number().int().nonnegative().optional(),
  /** Time to recover after the faults were reverted, when the run measured it and recovered. */
  recoveryMs: z.number().nonnegative().optional(),
  /** A safeguard stopped the run. */
  safeguardBreached: z.boolean().optional(),
  /** Faults left behind: their revert failed or could not be verified. */
  unreverted: z.number().int().nonnegative().optional(),
  // What started it (migrations/0005-run-links.ts).
  /** The schedule that fired it. */
  schedule: z.string().optional(),
  /** The approval that allowed it (an experiment tagged for production). */
  approval: z.string().optional(),
  /** The game day whose step started it. */
  gameday: z.string().optional(),
  /** Configuration given over the experiment's own (a Chaos Monkey schedule's targets). */
  configuration: z.record(z.string(), z.unknown()).optional(),
});
export type Run = z.infer<typeof RunSchema>;

/**
 * The emergency stop, kept in the database so every server on it honours it: while one is raised no
 * server claims a queued run, and each server interrupts its runs and reverts its host's faults (halt.ts).
 */
export const HaltRecordSchema = z.object({
  since: z.string(),
  /** Who raised it (a user, a token, `local`). */
  by: z.string(),
  reason: z.string(),
});
export type HaltRecord = z.infer<typeof HaltRecordSchema>;

/** A run with its journal (the engine's JSON journal, stored whole). */
export const RunWithJournalSchema = RunSchema.extend({ journal: z.unknown().optional() });
export type RunWithJournal = z.infer<typeof RunWithJournalSchema>;

export const RunFilterSchema = z.object({
  experiment: ExperimentNameSchema.optional(),
  status: RunStatusSchema.optional(),
  verdict: VerdictKindSchema.optional(),
  /** Runs carrying every one of these tags. */
  tags: z.array(z.string()).optional(),
  requestedBy: z.string().optional(),
  /**
   * Runs with a fault that touched this target, exactly as one of its labels (db/facts.ts targetLabels):
   * the fault's target, `kind:target`, a FaultTarget's name, `type:name`, host, `host:port`, `key=value`.
   */
  target: z.string().min(1).max(512).optional(),
  /** requestedAt within [from, to) (ISO 8601). */
  from: z.string().datetime({ offset: true }).optional(),
  to: z.string().datetime({ offset: true }).optional(),
  /** Newest first; at most `limit` (default 50, at most 500), after the `cursor` of a previous page. */
  limit: z.number().int().min(1).max(500).optional(),
  cursor: z.string().optional(),
});
export type RunFilter = z.infer<typeof RunFilterSchema>;

export const RunPageSchema = z.object({
  runs: z.array(RunSchema),
  /** Pass as `cursor` for the next page; absent on the last. */
  next: z.string().optional(),
});
export type RunPage = z.infer<typeof RunPageSchema>;

/**
 * What trends.ts asks the store: the finished runs requested within [from, to) (one experiment's, or
 * every one's), counted per bucket of `bucketSeconds` from `origin` and per experiment.
 */
export interface TrendQuery {
  from: string;
  to: string;
  /** A bucket's start, at or before `from` (ISO 8601 UTC, whole seconds). */
  origin: string;
  bucketSeconds: number;
  /** An experiment's name, or a pushed run's title when no stored experiment is named. */
  experiment?: string;
}

/** Additive counts over a set of runs (runs refused before they started are in `verdicts` only). */
export interface TrendCounts {
  /** Runs with a verdict other than `refused`. */
  runs: number;
  passed: number;
  verdicts: Record<(typeof VERDICTS)[number], number>;
  /** Of `runs`, those that stored a journal (the blast radius is averaged over these). */
  withFacts: number;
  faults: number;
  targets: number;
  maxTargets: number;
  /** Runs that left at least one fault unreverted. */
  leftFaults: number;
  safeguardBreaches: number;
}

/** Counts of no runs: what a bucket, an experiment or the whole window starts from. */
export function emptyTrendCounts(): TrendCounts {
  return {
    runs: 0,
    passed: 0,
    verdicts: Object.fromEntries(VERDICTS.map((v) => [v, 0])) as TrendCounts['verdicts'],
    withFacts: 0,
    faults: 0,
    targets: 0,
    maxTargets: 0,
    leftFaults: 0,
    safeguardBreaches: 0,
  };
}

/** Recovery over a set of runs: median and p90 interpolated between ranks (as PostgreSQL's percentile_cont). */
export interface RecoveryFigures {
  samples: number;
  median: number;
  p90: number;
}

export interface TrendAggregates {
  /** One row per (bucket index, experiment) with runs; bucket i starts at origin + i x bucketSeconds. */
  cells: { bucket: number; experiment: string; counts: TrendCounts }[];
  recovery: {
    overall?: RecoveryFigures;
    buckets: Map<number, RecoveryFigures>;
    experiments: Map<string, RecoveryFigures>;
  };
}

export const AuditEntrySchema = z.object({
  id: z.number().int(),
  at: z.string(),
  /** Who did it. */
  actor: z.string(),
  /** What: `experiment.upload`, `run.start`, `run.abort`, `run.push`, `halt`, ... */
  action: z.string(),
  /** What it was done to: an experiment name, a run id. */
  subject: z.string().optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

export interface NewExperiment {
  name: string;
  format: z.infer<typeof ExperimentFormatSchema>;
  title: string;
  tags: readonly string[];
  source: string;
  createdBy: string;
}

export interface NewRun {
  experiment?: string;
  experimentVersion?: number;
  title: string;
  tags: readonly string[];
  origin: Run['origin'];
  requestedBy: string;
  schedule?: string;
  approval?: string;
  gameday?: string;
  configuration?: Record<string, unknown>;
  /** A pushed run arrives finished, with its journal. */
  finished?: {
    verdict: Run['verdict'];
    startedAt: string;
    finishedAt: string;
    duration?: number;
    journal: unknown;
  };
}

/** How a run changes: claimed, started, finished (with its journal) or interrupted. */
export interface RunUpdate {
  status?: Run['status'];
  verdict?: Run['verdict'];
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  duration?: number;
  journal?: unknown;
}

// ---------------------------------------------------------------- people and access

export const RoleSchema = z.enum(ROLES);

/** A name people sign in with: not `local` (the anonymous actor) and no `:` (`token:NAME` is a token). */
export const UserNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, {
    error: 'expected 1-64 letters, digits, ., _, @ or -, starting with a letter or digit',
  })
  .refine((n) => n.toLowerCase() !== 'local', { error: '`local` is the name of the anonymous actor' });

/** A user as everyone may see it: never its password hash. */
export const UserSchema = z.object({
  name: UserNameSchema,
  role: RoleSchema,
  createdAt: z.string(),
  /** A disabled user cannot sign in, and its sessions and tokens stop working. */
  disabled: z.boolean(),
});
export type User = z.infer<typeof UserSchema>;

export const TokenNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
  error: 'expected 1-64 letters, digits, ., _ or -, starting with a letter or digit',
});

/** An API token as listed: its name, owner and role, never the token or its hash. */
export const ApiTokenSchema = z.object({
  name: TokenNameSchema,
  /** The user who made it, or `local` (made on the server's host with `faultline serve token add`). */
  owner: z.string(),
  role: RoleSchema,
  createdAt: z.string(),
});
export type ApiToken = z.infer<typeof ApiTokenSchema>;

export interface NewUser {
  name: string;
  role: User['role'];
  /** hashPassword()'s encoding (auth/secrets.ts): the store never sees a password. */
  passwordHash: string;
}

export interface NewApiToken {
  name: string;
  owner: string;
  role: ApiToken['role'];
  /** sha256 of the token (auth/secrets.ts secretHash): the token itself is shown once, never stored. */
  tokenHash: string;
}

export interface NewSession {
  /** sha256 of the session id (the cookie's value), which is never stored. */
  idHash: string;
  user: string;
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
}

export type Session = NewSession;

/**
 * The server's storage. Every method may throw FAULTLINE_ERR_STORE (the database is unreachable or
 * refused the statement; the message names the database without its password).
 */
export interface Store {
  /** `sqlite` or `postgres`, and where (a path, or the URL with its password removed). */
  readonly describe: string;
  /** Schedules and their firings (schedules/, issue #18). */
  readonly schedules: ScheduleStore;
  /** Approvals of experiments tagged for production, and experiments' lifecycle states (approvals/). */
  readonly approvals: ApprovalStore;
  /** Named windows during which nothing starts (blackouts/). */
  readonly blackouts: BlackoutStore;
  /** Game days: their plans, sessions, timelines and follow-up actions (gamedays/). */
  readonly gamedays: GameDayStore;
  /** Applies the migrations not applied yet, in order, each in a transaction; idempotent. */
  migrate(): Promise<{ applied: string[] }>;
  /** A cheap round trip: false with the reason while the database is unreachable. */
  health(): Promise<{ ok: true } | { ok: false; error: string }>;
  close(): Promise<void>;

  /** A new version under `name` (1 when new); an upload identical to the latest returns it unchanged. */
  putExperiment(e: NewExperiment): Promise<{ experiment: ExperimentVersion; created: boolean }>;
  listExperiments(): Promise<ExperimentSummary[]>;
  /** The latest version, or the one asked for; undefined when there is none. */
  getExperiment(name: string, version?: number): Promise<ExperimentVersion | undefined>;
  listExperimentVersions(name: string): Promise<Omit<ExperimentVersion, 'source'>[]>;

  /** A queued run (or, for a push, a finished one with its journal). */
  createRun(run: NewRun): Promise<Run>;
  /**
   * Claims the oldest queued run for `server` (atomically: two servers on one database never claim
   * the same run) and marks it running; undefined when none is queued.
   */
  claimQueuedRun(server: string): Promise<Run | undefined>;
  updateRun(id: string, update: RunUpdate): Promise<Run | undefined>;
  getRun(id: string): Promise<RunWithJournal | undefined>;
  listRuns(filter: RunFilter): Promise<RunPage>;
  /** The counts and recovery figures of the runs in a window, for trends.ts (done in SQL, not per run). */
  trendAggregates(query: TrendQuery): Promise<TrendAggregates>;
  /** Runs waiting and running now, on every server of this database. */
  countActiveRuns(): Promise<{ queued: number; running: number }>;
  /**
   * Marks every run `running` (or claimed) by `server` as interrupted with `reason` (a server that
   * starts again after being killed mid-run); returns them.
   */
  interruptRunsOf(server: string, reason: string): Promise<Run[]>;

  /** Raises the emergency stop; when one is already raised it is returned unchanged (`created` false). */
  raiseHalt(halt: { by: string; reason: string }): Promise<{ halt: HaltRecord; created: boolean }>;
  /** The emergency stop in force, if any. */
  getHalt(): Promise<HaltRecord | undefined>;
  /** Lifts the emergency stop; false when none was raised. */
  releaseHalt(): Promise<boolean>;

  /** Appends to the audit log (never updated, never deleted). */
  audit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<AuditEntry>;
  listAudit(options?: { limit?: number; before?: number }): Promise<AuditEntry[]>;

  // ------------------------------------------------------------ people and access (auth/)

  /** A new user; undefined when the name is taken. */
  createUser(user: NewUser): Promise<User | undefined>;
  listUsers(): Promise<User[]>;
  /** A user with its password hash, to check a sign-in; undefined when there is none. */
  getUserCredentials(name: string): Promise<{ user: User; passwordHash: string } | undefined>;
  /**
   * Changes a user's role, state or password hash; a new password or disabling ends its sessions.
   * Undefined when there is no such user.
   */
  updateUser(
    name: string,
    change: { role?: User['role']; disabled?: boolean; passwordHash?: string },
  ): Promise<User | undefined>;
  /** Removes the user with its sessions and the tokens it owns; false when there was none. */
  deleteUser(name: string): Promise<boolean>;
  /** Whether any user exists (the server then requires sign-in even on loopback). */
  hasUsers(): Promise<boolean>;
  /** How many enabled admins exist (one is needed to listen beyond loopback; the last is kept). */
  countAdmins(): Promise<number>;

  /** A new token; undefined when the name is taken. */
  createToken(token: NewApiToken): Promise<ApiToken | undefined>;
  listTokens(): Promise<ApiToken[]>;
  /** The token whose hash this is, undefined when none. */
  findToken(tokenHash: string): Promise<ApiToken | undefined>;
  deleteToken(name: string): Promise<boolean>;

  createSession(session: NewSession): Promise<void>;
  /** The live session with this id hash and its user (expired ones are not found). */
  findSession(idHash: string, now: string): Promise<{ session: Session; user: User } | undefined>;
  deleteSession(idHash: string): Promise<void>;
  /** Removes sessions that expired before `now`; how many. */
  deleteExpiredSessions(now: string): Promise<number>;
}
