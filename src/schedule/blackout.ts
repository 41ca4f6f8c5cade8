/**
 * Blackout windows (issue #18): named periods, in an IANA time zone, during which no run starts and
 * runs in progress are stopped (Gremlin's restricted time windows). A window is one-off date ranges
 * and/or weekly hours; the settings file's `time_windows` (runs allowed ONLY inside them) are the other
 * kind, "outside these windows", so the CLI, the server and the scheduler ask one question of one
 * function: `blackoutAt(now, rules)`. `nextChange` says when that answer can change next, so a watcher
 * sleeps until then instead of polling blindly.
 *
 * Pure arithmetic: no I/O, no clock (every function takes its instant).
 *
 * How local times become instants: a window's wall-clock boundary that does not exist (the hour the
 * clocks skip in spring) takes effect when the clocks jump past it; one that exists twice (the hour
 * repeated in autumn) is crossed twice, and the state is read from the wall clock each time. The
 * instants at which the state can change are therefore the boundaries in every zone, local midnights,
 * and the zone's offset changes; between two of them the state is constant, which is what makes
 * `nextChange` exact rather than sampled.
 */
import { z } from 'zod';
import { FaultlineError } from '../core/errors.js';
import { ObjectNameSchema } from '../core/names.js';
import {
  DaysSchema,
  describeWindow,
  HhMmSchema,
  localTime,
  matchingWindow,
  type TimeWindow,
  TimeZoneSchema,
  toMinutes,
  WEEKDAYS,
  type Weekday,
} from '../core/policy.js';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** How far ahead the next change and a window's end are looked for (a window open longer is "until further notice"). */
export const HORIZON_DAYS = 400;

const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}(T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?)?$/;

/** Whether `s` is a local date-time as written in `dates`, on a real calendar day. */
function isLocalDateTime(s: string): boolean {
  if (!LOCAL_DATE_TIME.test(s)) return false;
  const [y, m, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

/** `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (seconds optional), local time in the window's zone. */
const LocalDateTimeSchema = z
  .string()
  .regex(LOCAL_DATE_TIME, {
    error: 'expected YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time in the window\u2019s timezone)',
  })
  .refine(isLocalDateTime, 'expected a real calendar date');

/** One-off range. A date-only `from` starts at its midnight; a date-only `to` includes that whole day. */
export const DateRangeSchema = z.strictObject({ from: LocalDateTimeSchema, to: LocalDateTimeSchema }).refine(
  // Only between two valid bounds: a bad one has its own issue already.
  (r) =>
    !isLocalDateTime(r.from) || !isLocalDateTime(r.to) || localKey(r.from, 'from') < localKey(r.to, 'to'),
  { error: 'expected `to` after `from`', path: ['to'] },
);
export type DateRange = z.output<typeof DateRangeSchema>;

/** Weekly hours: `end` before `start` runs past midnight into the next day; `24:00` is the end of the day. */
export const WeeklySlotSchema = z
  .strictObject({
    days: DaysSchema,
    start: HhMmSchema,
    end: z.union([HhMmSchema, z.literal('24:00')], { error: 'expected HH:MM (24 h) or 24:00' }),
  })
  .refine((w) => w.start !== w.end, {
    error: 'expected `end` different from `start` (a whole day is 00:00 to 24:00)',
    path: ['end'],
  });
export type WeeklySlot = z.output<typeof WeeklySlotSchema>;

/** A blackout window's name: as an experiment's (it is used in URLs). */
export const BlackoutNameSchema = ObjectNameSchema;

/** A window's fields before the rule that it has a period (the API's PUT takes them without `name`). */
export const BlackoutWindowFields = z.strictObject({
  name: BlackoutNameSchema,
  timezone: TimeZoneSchema,
  dates: z.array(DateRangeSchema).max(1000).optional(),
  weekly: z.array(WeeklySlotSchema).max(100).optional(),
  /** Why, in words (shown in refusals and in the reason of the runs it stops). */
  reason: z
    .string()
    .trim()
    .min(1)
    .max(500)
    // Stored in a text column, where PostgreSQL refuses NUL.
    .regex(/^[^\u0000]*$/, { error: 'expected text without NUL characters' })
    .optional(),
});

/** A window needs at least one period (a date range or weekly hours). */
export const hasPeriod = {
  check: (w: { dates?: readonly unknown[] | undefined; weekly?: readonly unknown[] | undefined }) =>
    (w.dates?.length ?? 0) + (w.weekly?.length ?? 0) > 0,
  params: { error: 'expected `dates` or `weekly` (a window needs at least one period)', path: ['dates'] },
};

/** A named blackout window: in force during any of its date ranges and any of its weekly slots. */
export const BlackoutWindowSchema = BlackoutWindowFields.refine(hasPeriod.check, hasPeriod.params);
export type BlackoutWindow = z.output<typeof BlackoutWindowSchema>;
export type BlackoutWindowInput = z.input<typeof BlackoutWindowSchema>;

/** The settings file's allowed windows as a blackout: in force whenever none of them is open. */
export interface OutsideWindows {
  kind: 'outside';
  name: string;
  windows: readonly TimeWindow[];
}

/** What blackoutAt looks at: named windows, and "outside these allowed windows". */
export type BlackoutRule = BlackoutWindow | OutsideWindows;

/** The name the settings file's `time_windows` go by as a blackout. */
export const TIME_WINDOWS_NAME = 'settings.time_windows';

/** The settings file's `time_windows` as the one blackout rule they are (none when unset). */
export function outsideTimeWindows(windows: readonly TimeWindow[] | undefined): OutsideWindows[] {
  return windows === undefined ? [] : [{ kind: 'outside', name: TIME_WINDOWS_NAME, windows }];
}

/** Every rule a settings file holds: its `time_windows` (as "outside") then its `blackouts`. */
export function settingsBlackouts(settings: {
  time_windows?: readonly TimeWindow[] | undefined;
  blackouts?: readonly BlackoutWindow[] | undefined;
}): BlackoutRule[] {
  return [...outsideTimeWindows(settings.time_windows), ...(settings.blackouts ?? [])];
}

const isOutside = (r: BlackoutRule): r is OutsideWindows => 'kind' in r && r.kind === 'outside';

/** A rule in words: "blackout freeze (dates 2026-12-20 to 2027-01-04, Europe/Paris)". */
export function describeRule(rule: BlackoutRule): string {
  if (isOutside(rule))
    return `time_windows: runs are allowed only in ${rule.windows.map(describeWindow).join(' or ')}`;
  const periods = [
    ...(rule.dates ?? []).map((d) => `dates ${d.from} to ${d.to}`),
    ...(rule.weekly ?? []).map((w) => `weekly ${w.days.join(',')} ${w.start}-${w.end}`),
  ];
  return `blackout ${rule.name} (${periods.join('; ')}, ${rule.timezone})${rule.reason ? `: ${rule.reason}` : ''}`;
}

// ------------------------------------------------------------------ local time to instants

/** Offset of `zone` from UTC at instant `t`, in ms (local = t + offset), to the minute. */
function offsetAt(t: number, zone: string): number {
  const l = localTime(t, zone);
  const local = Date.UTC(l.year, l.month - 1, l.day) + l.minutes * MINUTE_MS;
  return local - Math.floor(t / MINUTE_MS) * MINUTE_MS;
}

/**
 * The instants at which the wall clock of `zone` reads `localMs` (a local date-time written as if UTC):
 * one; two in a repeated hour (earlier first); none in a skipped one, where the instant the clocks
 * jump past it stands in (as Temporal's "compatible" disambiguation).
 */
export function instantsOf(localMs: number, zone: string): number[] {
  const before = offsetAt(localMs - DAY_MS, zone);
  const after = offsetAt(localMs + DAY_MS, zone);
  const found = [...new Set([before, after])]
    .map((o) => localMs - o)
    .filter((t) => offsetAt(t, zone) === localMs - t)
    .sort((a, b) => a - b);
  return found.length > 0 ? found : [localMs - before];
}

/** A local date-time string's value written as if UTC; a date-only `to` is the next midnight. */
function localKey(s: string, end: 'from' | 'to'): number {
  const [y, m, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
  const base = Date.UTC(y, m - 1, d);
  if (s.length > 10) return base + toMinutes(s.slice(11, 16)) * MINUTE_MS + Number(s.slice(17) || 0) * 1000;
  return end === 'to' ? base + DAY_MS : base;
}

// A watcher asks about the same parsed windows every tick: their ranges are converted once.
const rangeCache = new WeakMap<DateRange, { zone: string; bounds: [number, number] }>();

/** A range's bounds as instants [from, to): the earliest reading of each. */
function rangeInstants(r: DateRange, zone: string): [number, number] {
  const cached = rangeCache.get(r);
  if (cached?.zone === zone) return cached.bounds;
  const bounds: [number, number] = [
    instantsOf(localKey(r.from, 'from'), zone)[0]!,
    instantsOf(localKey(r.to, 'to'), zone)[0]!,
  ];
  rangeCache.set(r, { zone, bounds });
  return bounds;
}

/** The instants where `zone`'s offset changes within [from, to), to the minute. */
function offsetChanges(from: number, to: number, zone: string): number[] {
  const found: number[] = [];
  // A zone changes its offset at most a few times a year: a day's step finds each, a bisection places it.
  for (let t = from; t < to; t += DAY_MS) {
    const end = Math.min(t + DAY_MS, to);
    let lo = t;
    let hi = end;
    const o = offsetAt(lo, zone);
    if (offsetAt(hi, zone) === o) continue;
    while (hi - lo > MINUTE_MS) {
      const mid = Math.floor((lo + hi) / 2 / MINUTE_MS) * MINUTE_MS;
      if (mid <= lo || mid >= hi) break;
      if (offsetAt(mid, zone) === o) lo = mid;
      else hi = mid;
    }
    found.push(hi);
  }
  return found;
}

// ------------------------------------------------------------------ in force, and when it can change

const dayIndex = (d: Weekday) => WEEKDAYS.indexOf(d);
const previousDay = (d: Weekday): Weekday => WEEKDAYS[(dayIndex(d) + 6) % 7]!;

function slotInForce(slot: WeeklySlot, weekday: Weekday, minutes: number): boolean {
  const start = toMinutes(slot.start);
  const end = slot.end === '24:00' ? 1440 : toMinutes(slot.end);
  if (start < end) return slot.days.includes(weekday) && minutes >= start && minutes < end;
  // Past midnight: the evening of a listed day, and the early hours of the day after it.
  return (
    (slot.days.includes(weekday) && minutes >= start) ||
    (slot.days.includes(previousDay(weekday)) && minutes < end)
  );
}

/** Whether `rule` is in force at instant `t` (ms since the epoch). */
export function ruleInForce(rule: BlackoutRule, t: number): boolean {
  if (isOutside(rule)) return matchingWindow(new Date(t), rule.windows) === undefined;
  for (const r of rule.dates ?? []) {
    const [from, to] = rangeInstants(r, rule.timezone);
    if (t >= from && t < to) return true;
  }
  if (rule.weekly && rule.weekly.length > 0) {
    const { weekday, minutes } = localTime(t, rule.timezone);
    if (rule.weekly.some((s) => slotInForce(s, weekday, minutes))) return true;
  }
  return false;
}

/** Zones and wall-clock minutes of day at which `rule`'s state may change. */
function dailyBoundaries(rule: BlackoutRule): { zone: string; minutes: number[] }[] {
  if (isOutside(rule)) {
    // Time windows check the day of the instant itself, so local midnight is a boundary too.
    return rule.windows.map((w) => ({
      zone: w.timezone,
      minutes: [0, toMinutes(w.start), toMinutes(w.end)],
    }));
  }
  if (!rule.weekly || rule.weekly.length === 0) return [];
  const minutes = new Set<number>([0]);
  for (const s of rule.weekly) {
    minutes.add(toMinutes(s.start));
    if (s.end !== '24:00') minutes.add(toMinutes(s.end));
  }
  return [{ zone: rule.timezone, minutes: [...minutes] }];
}

/** Every instant within (from, to] at which some rule's state may change, sorted. */
function boundaries(rules: readonly BlackoutRule[], from: number, to: number): number[] {
  const out = new Set<number>();
  const add = (t: number) => {
    if (t > from && t <= to) out.add(t);
  };
  for (const rule of rules) {
    if (!isOutside(rule))
      for (const r of rule.dates ?? []) for (const t of rangeInstants(r, rule.timezone)) add(t);
    for (const { zone, minutes } of dailyBoundaries(rule)) {
      // Local days overlapping (from, to], a day of margin each side for the zone's offset.
      const first = localTime(from, zone);
      const startDay = Date.UTC(first.year, first.month - 1, first.day) - DAY_MS;
      for (let day = startDay; day <= to + 2 * DAY_MS; day += DAY_MS)
        for (const m of minutes) for (const t of instantsOf(day + m * MINUTE_MS, zone)) add(t);
      for (const t of offsetChanges(from, to, zone)) add(t);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** The first rule in force at `t` (rules are looked at in order). */
function firstInForce(rules: readonly BlackoutRule[], t: number): BlackoutRule | undefined {
  return rules.find((r) => ruleInForce(r, t));
}

/**
 * The first instant after `from` (within HORIZON_DAYS) where `changed(t)` holds, looking only at the
 * instants where a state can change, a week at a time so a near change is found cheaply.
 */
function firstBoundary(
  rules: readonly BlackoutRule[],
  from: number,
  changed: (t: number) => boolean,
): number | undefined {
  const WEEK = 7 * DAY_MS;
  for (let lo = from; lo < from + HORIZON_DAYS * DAY_MS; lo += WEEK) {
    for (const t of boundaries(rules, lo, lo + WEEK)) if (changed(t)) return t;
  }
  return undefined;
}

/** The blackout in force at an instant. */
export interface BlackoutInForce {
  /** The rule in force (the first listed, when several are). */
  rule: BlackoutRule;
  name: string;
  /** In words, naming the window: for refusals and for the reason of the runs it stops. */
  reason: string;
  /**
   * When no rule is in force any more (the next instant nothing is); undefined when that is further
   * than HORIZON_DAYS away (a window that never closes).
   */
  until?: Date;
}

/**
 * The blackout in force at `now`, if any: the first of `rules` in force, and until when some rule is.
 * @example blackoutAt(new Date(), settingsBlackouts(settings))?.reason
 */
export function blackoutAt(now: Date, rules: readonly BlackoutRule[]): BlackoutInForce | undefined {
  const t = now.getTime();
  const rule = firstInForce(rules, t);
  if (!rule) return undefined;
  const until = firstBoundary(rules, t, (b) => firstInForce(rules, b) === undefined);
  return {
    rule,
    name: rule.name,
    reason: describeRule(rule),
    ...(until === undefined ? {} : { until: new Date(until) }),
  };
}

/**
 * The next instant after `now` at which `blackoutAt`'s answer changes (a blackout opens, ends, or
 * another rule becomes the first in force); undefined when nothing changes within HORIZON_DAYS.
 */
export function nextChange(now: Date, rules: readonly BlackoutRule[]): Date | undefined {
  if (rules.length === 0) return undefined;
  const t = now.getTime();
  const current = firstInForce(rules, t);
  const at = firstBoundary(rules, t, (b) => firstInForce(rules, b) !== current);
  return at === undefined ? undefined : new Date(at);
}

/** One rule's state for a listing: whether it is in force, until when, and when it next opens. */
export interface RuleState {
  inForce: boolean;
  /** When it stops being in force (if it is). */
  until?: Date;
  /** The next instant it starts being in force, after `now` (after its current period, when in force). */
  nextOpening?: Date;
}

export function ruleState(now: Date, rule: BlackoutRule): RuleState {
  const t = now.getTime();
  const rules = [rule];
  const inForce = ruleInForce(rule, t);
  const until = inForce ? firstBoundary(rules, t, (b) => !ruleInForce(rule, b)) : undefined;
  const from = until ?? t;
  const nextOpening = firstBoundary(rules, from, (b) => ruleInForce(rule, b));
  return {
    inForce,
    ...(until === undefined ? {} : { until: new Date(until) }),
    ...(nextOpening === undefined ? {} : { nextOpening: new Date(nextOpening) }),
  };
}

/** The refusal of a run that would start during `b`: FAULTLINE_ERR_POLICY naming the window. */
export function blackoutRefusal(b: BlackoutInForce, now: Date): FaultlineError {
  return new FaultlineError(
    'FAULTLINE_ERR_POLICY',
    `${b.reason}; it is ${now.toISOString()}: no run starts ${isOutside(b.rule) ? 'outside them' : 'during it'}${b.until ? ` (until ${b.until.toISOString()})` : ''}`,
  );
}

/** What a run in progress is stopped with when `b` opens. */
export function blackoutStopReason(b: BlackoutInForce): string {
  return isOutside(b.rule)
    ? `${b.reason}: the allowed window closed, so the run was stopped`
    : `${b.reason} opened: the run was stopped`;
}
