/**
 * Cron timing: croner reads the expressions (5 or 6 fields, names, ranges, nicknames, IANA zones) and
 * knows daylight saving; `@every <duration>` is ours, a fixed interval in real time counted from an
 * anchor (the schedule's creation) so that every server puts the firings at the same instants.
 *
 * Daylight saving, as croner (and Vixie cron) decide, with `fixedTimeRule: 'no-wildcard'` so that a list
 * such as `30 2,14 * * *` counts as fixed times too:
 *  - a fixed time that does not exist (02:30 on a spring-forward night) fires at the first valid time
 *    after the gap, the same day (03:00 in Europe/Paris and America/New_York);
 *  - a fixed time that happens twice (autumn) fires once, at its first occurrence;
 *  - an expression with a wildcard or a step in its time fields (`*\/15 * * * *`) is an interval: it
 *    skips the times in a gap and fires in both passes of a repeated hour, as the real time passes.
 */
import { Cron } from 'croner';
import { durationMs } from './duration.js';

export const CRON_EXPECTED =
  'expected a cron expression: 5 fields (minute hour day month weekday), 6 with seconds first, @hourly, @daily, @weekly, @monthly, @yearly or @every 10m';

const EVERY = /^@every\s+(\S+)$/i;

type Parsed = { every: number } | { cron: Cron };

// Parsing costs as much as a search, and a server asks the same few thousand schedules again and again.
// Dropping the whole cache when it is full is crude and enough: it refills in a tick.
const cache = new Map<string, Parsed>();
const CACHE_LIMIT = 20_000;

/** Why `expr` is not a schedule's cron (croner's reason), or undefined when it is one. */
export function cronProblem(expr: string): string | undefined {
  const every = EVERY.exec(expr.trim());
  if (every) {
    const ms = durationMs(every[1] ?? '');
    return ms !== undefined && ms >= 1000
      ? undefined
      : `${CRON_EXPECTED} (@every takes a duration of 1s or more)`;
  }
  if (/^@every\b/i.test(expr.trim())) return `${CRON_EXPECTED} (@every takes a duration such as 10m)`;
  let cron: Cron;
  try {
    cron = build(expr, 'UTC');
  } catch (e) {
    return `${CRON_EXPECTED}: ${String((e as Error).message).replace(/^CronPattern: /, '')}`;
  }
  // An expression can be well formed and never match (`0 0 30 2 *`): a schedule that never fires is a
  // mistake worth saying at once.
  if (cron.nextRun(new Date(0)) === null) return `${CRON_EXPECTED}: ${JSON.stringify(expr)} never fires`;
  return undefined;
}

function build(expr: string, timezone: string): Cron {
  // `paused` and no function: croner only computes, it never sets a timer.
  return new Cron(expr.trim(), {
    timezone,
    mode: '5-or-6-parts',
    fixedTimeRule: 'no-wildcard',
    paused: true,
  });
}

function parsed(expr: string, timezone: string): Parsed {
  const key = `${timezone}\u0000${expr}`;
  let p = cache.get(key);
  if (!p) {
    const every = EVERY.exec(expr.trim());
    const ms = every ? durationMs(every[1] ?? '') : undefined;
    p = ms !== undefined ? { every: ms } : { cron: build(expr, timezone) };
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, p);
  }
  return p;
}

/**
 * The first time strictly after `after` that `expr` names in `timezone`, or undefined when there is none.
 * `@every` fires at anchor + k × interval (k ≥ 1); without an anchor it counts from the Unix epoch, which
 * every server also agrees on.
 */
export function nextCronTime(expr: string, timezone: string, after: Date, anchor?: Date): Date | undefined {
  const p = parsed(expr, timezone);
  if ('every' in p) {
    const origin = anchor?.getTime() ?? 0;
    const k = Math.max(1, Math.floor((after.getTime() - origin) / p.every) + 1);
    return new Date(origin + k * p.every);
  }
  return p.cron.nextRun(after) ?? undefined;
}
