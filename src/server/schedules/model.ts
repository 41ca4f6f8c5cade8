/**
 * The schedules contract (issue #18): what a schedule is (zod: the API's validation, its OpenAPI, the
 * types), what a firing records, the pure decisions the scheduler takes (missed firings, the
 * concurrency policy), and the ScheduleStore interface (db/schedule-store.ts implements it).
 * Imports zod, ../names.js, ../../core/ and ../../schedule/ only: store.ts imports this file.
 */
import { z } from 'zod';
import {
  CronTimingSchema,
  type Fire,
  MonkeyTimingSchema,
  nextFire,
  parseDuration,
} from '../../schedule/index.js';
import { ExperimentNameSchema, ObjectNameSchema } from '../names.js';

/** Free text stored in the database: PostgreSQL's text refuses NUL, which must be the caller's 400, not a 503. */
const Text = z
  .string()
  .refine((t) => !t.includes('\u0000'), { error: 'expected text without NUL characters' });

/** A duration as people write it (`90s`, `10m`, `1h30m`): checked by the calendar arithmetic's parser. */
export const DurationSchema = z.string().superRefine((text, ctx) => {
  try {
    parseDuration(text, 'duration');
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration such as 90s, 10m or 1h30m (${(err as Error).message})`,
    });
  }
});

/** When it fires: a cron expression in a time zone, or Chaos Monkey mode (random times in working hours). */
export const TimingSchema = z.union([CronTimingSchema, MonkeyTimingSchema], {
  error: 'expected {cron, timezone?, jitter?} or {monkey: {...}}',
});
export type Timing = z.output<typeof TimingSchema>;

export const CONCURRENCY_POLICIES = ['forbid', 'allow', 'replace'] as const;
export const MISSED_RUN_POLICIES = ['skip', 'run-once', 'run-all'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];
export type MissedRunPolicy = (typeof MISSED_RUN_POLICIES)[number];

/** At most this many missed firings are run by `run-all` (as Kubernetes CronJobs stop at 100). */
export const MAX_CATCH_UP = 100;
/**
 * Without a startingDeadline, a firing this late is missed: the scheduler fires within milliseconds
 * of `at`, so only a firing that fell due while no server was up (or the database was away) is this late.
 */
export const DEFAULT_MISSED_AFTER_MS = 10_000;
export const DEFAULT_HISTORY_LIMIT = 100;

/** Chaos Monkey mode's targets: `count` picked at random from `candidates` for each run. */
export const TargetPickSchema = z.strictObject({
  candidates: z.array(Text.min(1).max(512), { error: 'expected a list of target names' }).min(1, {
    error: 'expected at least one candidate',
  }),
  count: z.number().int().positive({ error: 'expected a positive integer' }).default(1),
  /** The configuration key the picked targets are given under (the experiment reads `${targets}`). */
  configurationKey: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, { error: 'expected a configuration key (letters, digits, _)' })
    .default('targets'),
});

/** What a client sends to create or replace a schedule. */
export const ScheduleSpecSchema = z.strictObject({
  name: ObjectNameSchema,
  description: Text.max(2000).optional(),
  experiment: ExperimentNameSchema,
  /** The experiment's version; absent: its latest version when it fires. */
  version: z.number().int().positive().optional(),
  timing: TimingSchema,
  /** forbid: skip while this schedule's previous run is queued or running; replace: abort it; allow: run both. */
  concurrencyPolicy: z.enum(CONCURRENCY_POLICIES).default('forbid'),
  /** A firing later than its due time plus this is missed (default DEFAULT_MISSED_AFTER_MS). */
  startingDeadline: DurationSchema.optional(),
  /** What happens to missed firings: recorded only, the latest run, or each run (at most MAX_CATCH_UP). */
  missedRunPolicy: z.enum(MISSED_RUN_POLICIES).default('skip'),
  /** How many firings' records are kept (the runs stay in history). */
  historyLimit: z.number().int().min(1).max(10_000).default(DEFAULT_HISTORY_LIMIT),
  paused: z.boolean().default(false),
  /** Added to each run's tags (beside the experiment's). */
  tags: z.array(Text.min(1).max(128)).max(64).default([]),
  targets: TargetPickSchema.optional(),
});
export type ScheduleSpec = z.output<typeof ScheduleSpecSchema>;
export type ScheduleInput = z.input<typeof ScheduleSpecSchema>;

/** PUT's body: the whole spec; its name may be left out (the path names the schedule). */
export const ScheduleReplaceSchema = ScheduleSpecSchema.partial({ name: true });

/** A stored schedule. */
export const ScheduleSchema = ScheduleSpecSchema.extend({
  id: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
  updatedAt: z.string(),
  updatedBy: z.string(),
  /** Changes on every change (the servers reload a schedule whose revision moved). */
  revision: z.number().int(),
  /**
   * Firings due at or before this are dealt with: the last firing recorded, or when the schedule was
   * created, changed or resumed (nothing that fell due before then is caught up).
   */
  cursor: z.string(),
});
export type Schedule = z.output<typeof ScheduleSchema>;

export const FIRING_OUTCOMES = ['fired', 'skipped', 'missed'] as const;
export type FiringOutcome = (typeof FIRING_OUTCOMES)[number];

/** One firing's record: exactly one per (schedule, due) however many servers tick. */
export const FiringSchema = z.object({
  schedule: z.string(),
  /** The schedule's time (the firing's identity). */
  due: z.string(),
  /** When it was to start (the due time plus its jitter). */
  at: z.string(),
  /** When a server dealt with it. */
  firedAt: z.string(),
  server: z.string(),
  outcome: z.enum(FIRING_OUTCOMES),
  /** Why it was skipped or missed, or how a missed one was caught up. */
  reason: z.string().optional(),
  run: z.string().optional(),
});
export type Firing = z.output<typeof FiringSchema>;

/** A schedule as the API shows it: with its next fire times and newest firings. */
export const ScheduleViewSchema = ScheduleSchema.extend({
  /** The next fire times (ISO 8601 UTC; jitter included), none while paused. */
  nextFires: z.array(z.string()),
  /** The newest firings (a few: GET /api/schedules/{name}/firings has them all). */
  recentFirings: z.array(FiringSchema),
});
export type ScheduleView = z.output<typeof ScheduleViewSchema>;
export const ScheduleListSchema = z.object({ schedules: z.array(ScheduleViewSchema) });
export type ScheduleList = z.output<typeof ScheduleListSchema>;

/** A firing to record: `run` is the run to queue with it (absent for a skipped or missed firing). */
export interface FiringRequest {
  schedule: Schedule;
  fire: { due: Date; at: Date };
  firedAt: Date;
  server: string;
  outcome: FiringOutcome;
  reason?: string;
  run?: {
    experiment: string;
    experimentVersion: number;
    title: string;
    tags: readonly string[];
    approval?: string;
    configuration?: Record<string, unknown>;
  };
  /**
   * A missed firing run by the run-all policy: the runs queued for the same schedule by the same call
   * are not counted by the concurrency policy (they are the catch-up, not a previous run).
   */
  catchUp?: boolean;
}

/** An active run of a schedule, as the concurrency policy sees it. */
export interface ActiveRun {
  id: string;
  status: 'queued' | 'running';
  claimedBy?: string;
}

export type FiringResult =
  /** Another server recorded this firing first. */
  | { taken: true }
  | {
      taken: false;
      firing: Firing;
      /** The queued run, when it fired. */
      run?: { id: string } & Record<string, unknown>;
      /** Runs the `replace` policy aborts: queued ones were cancelled; running ones are to be aborted where they run. */
      replaced: ActiveRun[];
    };

/**
 * What the concurrency policy does with the schedule's active runs: fire, or skip with a reason, and
 * which runs to abort.
 */
export function concurrencyDecision(
  policy: ConcurrencyPolicy,
  active: readonly ActiveRun[],
): { fire: true; replace: ActiveRun[] } | { fire: false; reason: string } {
  if (active.length === 0 || policy === 'allow') return { fire: true, replace: [] };
  if (policy === 'replace') return { fire: true, replace: [...active] };
  const first = active[0] as ActiveRun;
  return {
    fire: false,
    reason: `its previous run ${first.id} is still ${first.status} (concurrency policy forbid)`,
  };
}

/** The next `n` firings after `now` (none while paused): each one's due time (epoch ms) and start (ISO 8601). */
export function upcoming(s: Schedule, n: number, now: Date): { due: number; at: string }[] {
  if (s.paused) return [];
  const out: { due: number; at: string }[] = [];
  const cursor = new Date(s.cursor);
  let after = cursor > now ? cursor : now;
  for (let i = 0; i < n; i++) {
    const f = nextFire(s.timing, s.id, after, new Date(s.createdAt));
    if (!f) break;
    out.push({ due: f.due.getTime(), at: f.at.toISOString() });
    after = f.due;
  }
  return out;
}

/** How late a firing may start before it is missed. */
export function missedAfterMs(s: Pick<Schedule, 'startingDeadline'>): number {
  return s.startingDeadline === undefined
    ? DEFAULT_MISSED_AFTER_MS
    : parseDuration(s.startingDeadline, 'startingDeadline');
}

/**
 * What becomes of firings found late (oldest first) at `now`: those still within the starting
 * deadline fire; the missed ones fire as the missed-run policy says (run-once: the latest; run-all:
 * each, at most MAX_CATCH_UP) and the rest are recorded missed with the reason.
 */
export function planCatchUp(
  s: Pick<Schedule, 'startingDeadline' | 'missedRunPolicy'>,
  fires: readonly Fire[],
  now: number,
): { fire: Fire; outcome: 'fire' | 'missed'; reason?: string }[] {
  const limit = missedAfterMs(s);
  const late = (f: Fire) => now - f.at.getTime() > limit;
  const missed = fires.filter(late);
  const deadline =
    s.startingDeadline === undefined
      ? `more than ${limit / 1000} s late`
      : `later than its starting deadline ${s.startingDeadline}`;
  const runs = new Set<Fire>(
    s.missedRunPolicy === 'run-once'
      ? missed.slice(-1)
      : s.missedRunPolicy === 'run-all'
        ? missed.slice(-MAX_CATCH_UP)
        : [],
  );
  return fires.map((fire) => {
    if (!late(fire)) return { fire, outcome: 'fire' };
    const by = `${((now - fire.at.getTime()) / 1000).toFixed(1)} s late`;
    if (runs.has(fire))
      return {
        fire,
        outcome: 'fire',
        reason: `missed (${by}: no server fired it in time), run as the missed-run policy ${s.missedRunPolicy} says`,
      };
    return {
      fire,
      outcome: 'missed',
      reason: `${deadline} (${by}: no server fired it in time; missed-run policy ${s.missedRunPolicy})`,
    };
  });
}

/**
 * The schedules' storage. Every method may throw FAULTLINE_ERR_STORE. Names are unique; ids never
 * change (runs and firings name the id).
 */
export interface ScheduleStore {
  /** A new schedule; undefined when the name is taken. */
  create(spec: ScheduleSpec, by: string, now?: Date): Promise<Schedule | undefined>;
  list(): Promise<Schedule[]>;
  get(name: string): Promise<Schedule | undefined>;
  /** Replaces the spec (its name stays); what fell due before now is not caught up. Undefined when none. */
  update(name: string, spec: ScheduleSpec, by: string, now?: Date): Promise<Schedule | undefined>;
  /** Pauses or resumes; resuming does not catch up what fell due while paused. Undefined when none. */
  setPaused(name: string, paused: boolean, by: string, now?: Date): Promise<Schedule | undefined>;
  /** Removes the schedule and its firings' records (its runs stay in history); false when none. */
  delete(name: string): Promise<boolean>;
  /** A number that moves whenever any schedule is created, changed or deleted: what servers poll. */
  revision(): Promise<number>;
  /** Every schedule's id and revision: what a server compares with what it holds when `revision()` moved. */
  revisions(): Promise<{ id: string; revision: number }[]>;
  /** The schedules with these ids. */
  getByIds(ids: readonly string[]): Promise<Schedule[]>;
  /**
   * Records firings (of several schedules, oldest first per schedule) in one transaction, each exactly
   * once across servers: its (schedule, due) row is the claim, inserted before the concurrency policy
   * is applied and its run queued; a firing another server claimed is `taken`. The schedules' cursors
   * move forward and their histories are trimmed.
   */
  recordFirings(reqs: readonly FiringRequest[]): Promise<FiringResult[]>;
  /** A schedule's firings, newest first. */
  listFirings(scheduleId: string, options?: { limit?: number; before?: string }): Promise<Firing[]>;
  /** The newest `n` firings of each of these schedules. */
  recentFirings(scheduleIds: readonly string[], n: number): Promise<Map<string, Firing[]>>;
  /** Runs the `replace` policy asked `server` to abort (they run there), taken off the list. */
  takeAbortRequests(server: string): Promise<{ run: string; reason: string }[]>;
}
