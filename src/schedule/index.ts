/**
 * SCAFFOLD (issue #18, being written by the schedule-arithmetic work): the calendar arithmetic of
 * schedules. These signatures are the contract the server's scheduler codes against.
 */
import { z } from 'zod';

/** A cron schedule: 5 or 6 fields, `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`, or `@every 10m`. */
export const CronTimingSchema = z.strictObject({
  cron: z.string(),
  timezone: z.string().default('UTC'),
  /** Up to this long after each due time, the same for every server (jitterMs): `30s`, `5m`. */
  jitter: z.string().optional(),
});
export type CronTiming = z.output<typeof CronTimingSchema>;

/** Chaos Monkey mode: runs at random times within working hours and days (monkey.ts). */
export const MonkeyTimingSchema = z.strictObject({
  monkey: z.strictObject({
    timezone: z.string().default('UTC'),
    workingHours: z.strictObject({ start: z.string().default('09:00'), end: z.string().default('17:00') }).default({
      start: '09:00',
      end: '17:00',
    }),
    workingDays: z.array(z.string()).default(['mon', 'tue', 'wed', 'thu', 'fri']),
    meanTimeBetweenRunsInWorkDays: z.number().default(2),
    probability: z.number().default(1),
    holidays: z.array(z.string()).optional(),
  }),
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
 * The first firing strictly after `after`. `key` (the schedule's id) seeds the jitter and the monkey's
 * dice, so every server computes the same times; `anchor` is where `@every` counts from (the schedule's
 * creation). Undefined when it never fires again.
 */
export function nextFire(_t: Timing, _key: string, _after: Date, _anchor?: Date): Fire | undefined {
  throw new Error('scaffold');
}

/** Firings with `due` in (from, to], oldest first, at most `limit`: what fell due while the server was down. */
export function firesBetween(
  _t: Timing,
  _key: string,
  _from: Date,
  _to: Date,
  _limit: number,
  _anchor?: Date,
): Fire[] {
  throw new Error('scaffold');
}

/** `count` of `candidates` picked at random, seeded by `seed` (the firing), without repeats. */
export function pickTargets<T>(_candidates: readonly T[], _count: number, _seed: string): T[] {
  throw new Error('scaffold');
}

/** Milliseconds of a duration: `90s`, `10m`, `1h30m`, `2d`; throws FAULTLINE_ERR_VALIDATION naming `field`. */
export function parseDuration(_text: string, _field: string): number {
  throw new Error('scaffold');
}
