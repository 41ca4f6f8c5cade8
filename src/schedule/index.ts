/**
 * The calendar arithmetic of schedules (issue #18): when a schedule fires, cron or Chaos Monkey mode, and
 * which targets a firing picks. Pure functions of their arguments (no clock, no I/O), so every server
 * computes the same firings, the scheduler can ask about any instant, and the tests pass dates.
 * These signatures are the contract the server's scheduler (src/server/schedules/) codes against.
 */
import { z } from 'zod';
import { DaysSchema, HhMmSchema, TimeZoneSchema } from '../core/policy.js';
import { cronProblem, nextCronTime } from './cron.js';
import { DURATION_EXPECTED, durationMs, parseDuration } from './duration.js';
import { nextMonkeyRun } from './monkey.js';
import { pickTargets, seededRandom } from './random.js';

export { parseDuration, pickTargets };

const DurationSchema = z.string().refine((t) => durationMs(t) !== undefined, DURATION_EXPECTED);
const isHhMm = (t: unknown) => HhMmSchema.safeParse(t).success;
const YMD = /^\d{4}-\d{2}-\d{2}$/;
// zod runs a refinement even after the regex failed: only a well-formed date is checked (2026-02-30 is not one).
const exists = (d: string) =>
  !YMD.test(d) || new Date(Date.parse(`${d}T00:00:00Z`) || 0).toISOString().startsWith(d);
const isoDay = z
  .string()
  .regex(YMD, 'expected a date YYYY-MM-DD')
  .refine(exists, 'expected a date YYYY-MM-DD that exists');
const workDays = z
  .number()
  .min(1, 'expected a number of working days, 1 or more')
  .max(1000, 'expected a number of working days, at most 1000');

/**
 * A cron schedule: 5 or 6 fields (seconds first), `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`, or
 * `@every 10m` (a fixed interval in real time from the schedule's creation).
 * @example { cron: '0 9 * * MON-FRI', timezone: 'Europe/Paris', jitter: '5m' }
 */
export const CronTimingSchema = z.strictObject({
  cron: z
    .string()
    .superRefine((expr, ctx) => {
      const problem = cronProblem(expr);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, input: expr });
    })
    .describe(
      '5 fields (minute hour day month weekday), 6 with seconds first, @daily and the like, or @every 10m',
    ),
  timezone: TimeZoneSchema.describe('the IANA time zone the fields are read in'),
  /** Up to this long after each due time, the same for every server (jitterMs): `30s`, `5m`. */
  jitter: DurationSchema.optional().describe(
    'each run starts up to this long after its due time (30s, 5m), the same delay on every server',
  ),
});
export type CronTiming = z.output<typeof CronTimingSchema>;

/**
 * Chaos Monkey mode: runs at random times within working hours and days (monkey.ts). Netflix's spelling
 * `meanTimeBetweenKillsInWorkDays` is accepted and read as `meanTimeBetweenRunsInWorkDays`.
 * @example { monkey: { timezone: 'Europe/Paris', meanTimeBetweenRunsInWorkDays: 2, probability: 0.1 } }
 */
export const MonkeyTimingSchema = z.strictObject({
  monkey: z
    .strictObject({
      timezone: TimeZoneSchema.describe('the IANA time zone of the working hours and days'),
      workingHours: z
        .strictObject({ start: HhMmSchema.default('09:00'), end: HhMmSchema.default('17:00') })
        .refine((w) => !isHhMm(w.start) || !isHhMm(w.end) || w.start < w.end, {
          message: 'expected an end after start (working hours within one day)',
          path: ['end'],
        })
        .default({ start: '09:00', end: '17:00' })
        .describe('runs start in [start, end), local time'),
      workingDays: DaysSchema.unwrap()
        .min(1, 'expected at least one working day')
        .default(['mon', 'tue', 'wed', 'thu', 'fri'])
        .describe('the days of the week that are working days'),
      /** μ: the coin of each working day plans a run with p = 1/μ. */
      meanTimeBetweenRunsInWorkDays: workDays
        .optional()
        .describe('μ (default 2): each working day plans a run with probability 1/μ'),
      /** Netflix's name for the same number. */
      meanTimeBetweenKillsInWorkDays: workDays
        .optional()
        .describe("Netflix's name for meanTimeBetweenRunsInWorkDays"),
      /** The chance a planned run goes ahead (a lost roll is recorded as skipped). */
      probability: z
        .number()
        .gt(0, 'expected a probability above 0 and at most 1')
        .lte(1, 'expected a probability above 0 and at most 1')
        .default(1)
        .describe('the chance a planned run goes ahead; one that does not is recorded as skipped'),
      holidays: z.array(isoDay).optional().describe('dates (YYYY-MM-DD, local) that are not working days'),
    })
    .refine(
      (m) => m.meanTimeBetweenRunsInWorkDays === undefined || m.meanTimeBetweenKillsInWorkDays === undefined,
      {
        message:
          'expected one of meanTimeBetweenRunsInWorkDays and its alias meanTimeBetweenKillsInWorkDays, not both',
        path: ['meanTimeBetweenKillsInWorkDays'],
      },
    )
    .transform(({ meanTimeBetweenKillsInWorkDays: kills, meanTimeBetweenRunsInWorkDays: runs, ...rest }) => ({
      ...rest,
      meanTimeBetweenRunsInWorkDays: runs ?? kills ?? 2,
    })),
});
export type MonkeyTiming = z.output<typeof MonkeyTimingSchema>;

export type Timing = CronTiming | MonkeyTiming;

/** One firing: `due` is the schedule's time (the firing's identity), `at` is when it starts (with jitter). */
export interface Fire {
  due: Date;
  at: Date;
  /** Monkey mode: the day's planned run lost its `probability` roll; it is recorded as skipped, not run. */
  skipped?: 'probability';
}

/**
 * The jitter of the firing due at `due`: [0, jitter) drawn from (key, due), so every server starts the
 * same firing at the same instant and two firings of one schedule are spread independently.
 */
export function jitterMs(jitter: string | undefined, key: string, due: Date): number {
  if (jitter === undefined) return 0;
  return Math.floor(
    seededRandom(`jitter\u0000${key}\u0000${due.toISOString()}`)() * parseDuration(jitter, 'jitter'),
  );
}

/**
 * The first firing strictly after `after`. `key` (the schedule's id) seeds the jitter and the monkey's
 * dice, so every server computes the same times; `anchor` is where `@every` counts from (the schedule's
 * creation). Undefined when it never fires again.
 * @example nextFire({ cron: '@daily', timezone: 'Europe/Paris' }, 's1', new Date('2026-06-01T12:00:00Z'))
 *   // { due: 2026-06-01T22:00:00.000Z, at: the same }
 */
export function nextFire(t: Timing, key: string, after: Date, anchor?: Date): Fire | undefined {
  if ('monkey' in t) {
    const run = nextMonkeyRun(t.monkey, key, after);
    return run && { due: run.due, at: run.due, ...(run.skipped ? { skipped: run.skipped } : {}) };
  }
  const due = nextCronTime(t.cron, t.timezone, after, anchor);
  return due && { due, at: new Date(due.getTime() + jitterMs(t.jitter, key, due)) };
}

/** Firings with `due` in (from, to], oldest first, at most `limit`: what fell due while the server was down. */
export function firesBetween(
  t: Timing,
  key: string,
  from: Date,
  to: Date,
  limit: number,
  anchor?: Date,
): Fire[] {
  const fires: Fire[] = [];
  let after = from;
  while (fires.length < limit) {
    const fire = nextFire(t, key, after, anchor);
    if (!fire || fire.due.getTime() > to.getTime()) break;
    fires.push(fire);
    after = fire.due;
  }
  return fires;
}
