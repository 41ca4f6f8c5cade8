/** Durations as users write them in experiments and on the command line. */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses `30s`, `500ms`, `2m`, `1h` or a bare number of seconds into milliseconds.
 * Returns undefined for anything else (or a duration that is not positive).
 * @example parseDuration('1.5s') // 1500
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text > 0 ? text * 1000 : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000);
  return ms > 0 && Number.isFinite(ms) ? ms : undefined;
}
