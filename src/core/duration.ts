/**
 * Durations as users write them in experiments and on the command line: the
 * one parser, whose results src/core/timers.ts can always schedule.
 */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses `30s`, `500ms`, `2m`, `1h` or a bare number of seconds into milliseconds.
 * Returns undefined for anything else (a duration that is not positive, or a
 * number too large to be finite). A finite number of seconds whose milliseconds
 * would overflow (1e308 s) is the longest finite delay, never Infinity.
 * @example parseDuration('1.5s') // 1500
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return inMs(text, 1000);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  return inMs(Number(m[1]), UNITS[m[2] ?? 's'] ?? 1000);
}

function inMs(n: number, unit: number): number | undefined {
  return Number.isFinite(n) && n > 0 ? Math.min(n * unit, Number.MAX_VALUE) : undefined;
}
