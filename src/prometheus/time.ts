/**
 * The times and durations experiments give Prometheus probes. Chaos Toolkit's
 * chaosprometheus parses `when`/`start`/`end` with Python's dateparser; this
 * covers the forms its documentation uses: `now`, `5 minutes ago`,
 * `in 2 hours`, RFC 3339 / ISO 8601 dates, and unix timestamps.
 */

const UNIT_SECONDS: Record<string, number> = {
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86_400,
  day: 86_400,
  days: 86_400,
  w: 604_800,
  week: 604_800,
  weeks: 604_800,
};

const RELATIVE = /^(?:(in)\s+)?(\d+(?:\.\d+)?|an?)\s*([a-z]+)(?:\s+(ago))?$/;
const NUMERIC = /^[+-]?\d+(?:\.\d+)?$/;
// RFC 3339 and the ISO 8601 forms Date.parse reads reliably (a date, optionally a time).
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A time as a Date, or undefined when it cannot be read. Numbers (and numeric
 * strings) are unix seconds.
 *
 * @example parseTime('5 minutes ago', new Date()) // five minutes before now
 */
export function parseTime(value: string | number, now: Date = new Date()): Date | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? new Date(value * 1000) : undefined;
  const text = value.trim().toLowerCase();
  if (text === 'now') return new Date(now.getTime());
  if (NUMERIC.test(text)) return new Date(Number(text) * 1000);
  const rel = RELATIVE.exec(text);
  if (rel) {
    const [, inFuture, amount = '', unit = '', ago] = rel;
    const seconds = UNIT_SECONDS[unit];
    if (seconds === undefined || Boolean(inFuture) === Boolean(ago)) return undefined;
    const n = amount === 'a' || amount === 'an' ? 1 : Number(amount);
    return new Date(now.getTime() + (ago ? -1 : 1) * n * seconds * 1000);
  }
  if (ISO.test(value.trim())) {
    const ms = Date.parse(value.trim().replace(' ', 'T'));
    return Number.isNaN(ms) ? undefined : new Date(ms);
  }
  return undefined;
}

/**
 * A duration in seconds: a number, a numeric string, or Prometheus' form
 * (`30s`, `5m`, `1h30m`, `250ms`). Undefined when it cannot be read.
 */
export function parseDurationSeconds(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const text = value.trim();
  if (NUMERIC.test(text)) {
    const n = Number(text);
    return n >= 0 ? n : undefined;
  }
  const units: Record<string, number> = {
    ms: 0.001,
    s: 1,
    m: 60,
    h: 3600,
    d: 86_400,
    w: 604_800,
    y: 31_536_000,
  };
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let matched = 0;
  for (let m = part.exec(text); m; m = part.exec(text)) {
    total += Number(m[1]) * (units[m[2] ?? ''] ?? 0);
    matched = part.lastIndex;
  }
  return matched > 0 && matched === text.length ? total : undefined;
}
