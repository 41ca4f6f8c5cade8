/**
 * Wall-clock arithmetic in IANA time zones for the Chaos Monkey's working hours: the local date of an
 * instant, and the instant of a local date and time. Intl knows the zones' rules, so no zone database
 * ships with us; one formatter per zone is kept because building one costs far more than using it.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** True when the runtime knows `timezone` (`Europe/Paris`, `UTC`). */
export function isTimeZone(timezone: string): boolean {
  try {
    formatter(timezone);
    return true;
  } catch {
    return false;
  }
}

const DAY_MS = 86_400_000;

/** The wall-clock time of `ms` in `timezone`, as the UTC instant with the same fields (whole seconds). */
function wallOf(ms: number, timezone: string): number {
  const f: Record<string, number> = {};
  for (const p of formatter(timezone).formatToParts(ms))
    if (p.type !== 'literal') f[p.type] = Number(p.value);
  return Date.UTC(f.year ?? 0, (f.month ?? 1) - 1, f.day ?? 1, f.hour ?? 0, f.minute ?? 0, f.second ?? 0);
}

/** The local calendar day of `ms` in `timezone`, as days since 1970-01-01. */
export function localDay(ms: number, timezone: string): number {
  return Math.floor(wallOf(ms, timezone) / DAY_MS);
}

/**
 * The instant when the wall clock in `timezone` reads `second` seconds past midnight of `day` (days since
 * 1970-01-01). As Temporal's `compatible` disambiguation: a time that happens twice (autumn) is its first
 * occurrence, and a time that does not exist (spring) moves forward by the gap (02:30 becomes 03:30).
 */
export function instantOf(day: number, second: number, timezone: string): number {
  const wall = day * DAY_MS + second * 1000;
  // The offsets half a day either side: around a change they differ, otherwise both are the offset.
  const before = wall - (wallOf(wall - DAY_MS / 2, timezone) - (wall - DAY_MS / 2));
  const after = wall - (wallOf(wall + DAY_MS / 2, timezone) - (wall + DAY_MS / 2));
  const valid = [before, after].filter((t) => wallOf(t, timezone) === wall);
  // In a gap neither is valid; the earlier offset's instant reads as the wall time plus the gap.
  return valid.length ? Math.min(...valid) : before;
}

/** Day of week (0 = Sunday) of a day counted from 1970-01-01 (a Thursday). */
export const weekday = (day: number) => (((day + 4) % 7) + 7) % 7;

/** YYYY-MM-DD of a day counted from 1970-01-01. */
export const isoDate = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);
