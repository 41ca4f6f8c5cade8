/**
 * Chaos Monkey mode, Netflix's model: on each working day (a working weekday in the schedule's zone that
 * is not a holiday) a weighted coin with p = 1/μ decides whether a run is planned, at a uniformly random
 * second within working hours; then `probability` decides whether the planned run goes ahead. A run thus
 * happens on a working day with probability probability/μ, and the mean gap between runs is μ/probability
 * working days. The dice of a day are seeded from (schedule key, local date), so every server and every
 * restart plans the same day the same way, and editing μ or probability keeps the drawn times.
 */
import { localTime, toMinutes, WEEKDAYS } from '../core/policy.js';
import { instantsOf } from './blackout.js';
import { seededRandom } from './random.js';

const DAY_MS = 86_400_000;

/** What a day's plan needs (MonkeyTiming's `monkey`, validated). */
export interface MonkeyPlan {
  timezone: string;
  workingHours: { start: string; end: string };
  workingDays: readonly string[];
  meanTimeBetweenRunsInWorkDays: number;
  probability: number;
  holidays?: readonly string[] | undefined;
}

/** One local day of the plan. `run` is set on the days the coin planned a run. */
export interface MonkeyDay {
  /** YYYY-MM-DD in the plan's zone. */
  date: string;
  working: boolean;
  run?: { due: Date; skipped?: 'probability' };
}

/** The local calendar day of instant `ms` in `timezone`, as days since 1970-01-01. */
export function localDay(ms: number, timezone: string): number {
  const l = localTime(ms, timezone);
  return Date.UTC(l.year, l.month - 1, l.day) / DAY_MS;
}

/**
 * The instant the wall clock of `timezone` reads `second` seconds past midnight of `day` (days since
 * 1970-01-01): a time that happens twice (autumn) is its first pass, one that does not exist (spring) is
 * where the clocks jump past it (02:30 in the gap is 03:30), as the blackout windows read local times.
 */
export function instantOf(day: number, second: number, timezone: string): number {
  const local = day * DAY_MS + second * 1000;
  return instantsOf(local, timezone)[0] ?? local;
}

/** The plan of `day` (days since 1970-01-01, a local date in the plan's zone) for schedule `key`. */
export function planMonkeyDay(m: MonkeyPlan, key: string, day: number): MonkeyDay {
  const date = new Date(day * DAY_MS).toISOString().slice(0, 10);
  // 1970-01-01 (day 0) was a Thursday.
  const weekday = WEEKDAYS[(((day + 4) % 7) + 7) % 7] ?? 'sun';
  const working = m.workingDays.includes(weekday) && !m.holidays?.includes(date);
  if (!working) return { date, working };
  const random = seededRandom(`monkey\u0000${key}\u0000${date}`);
  // Three draws every day, whatever their outcome, so each keeps its meaning when μ or probability change.
  const coin = random();
  const time = random();
  const goes = random();
  if (coin >= 1 / m.meanTimeBetweenRunsInWorkDays) return { date, working };
  const start = toMinutes(m.workingHours.start) * 60;
  const second = start + Math.floor(time * (toMinutes(m.workingHours.end) * 60 - start));
  const due = new Date(instantOf(day, second, m.timezone));
  return { date, working, run: goes < m.probability ? { due } : { due, skipped: 'probability' } };
}

/**
 * The first planned run (gone ahead or skipped) strictly after `after`. Searching 40 μ working days leaves
 * a chance of e^-40 of missing one that exists; undefined past that means no run is planned at all.
 */
export function nextMonkeyRun(m: MonkeyPlan, key: string, after: Date): MonkeyDay['run'] {
  const first = localDay(after.getTime(), m.timezone);
  const enough = Math.ceil(40 * m.meanTimeBetweenRunsInWorkDays);
  // A calendar bound too, should a plan without working days get past validation.
  const lastDay = first + 366 * 400;
  let working = 0;
  for (let day = first; working < enough && day < lastDay; day++) {
    const plan = planMonkeyDay(m, key, day);
    if (plan.working) working++;
    if (plan.run && plan.run.due.getTime() > after.getTime()) return plan.run;
  }
  return undefined;
}
