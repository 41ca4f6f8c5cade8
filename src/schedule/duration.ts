/**
 * Schedule durations (`@every 1h30m`, `jitter: 30s`). Schedules count in hours and days, so they take
 * compound forms and days; each part still goes through the one duration parser (src/core/duration.ts).
 */
import { parseDuration as parsePart } from '../core/duration.js';
import { FaultlineError } from '../core/errors.js';

export const DURATION_EXPECTED = 'expected a duration such as 30s, 10m, 1h30m';

// Units largest first, each at most once: `1d2h30m15s500ms`. Backtracking reads `5ms` as milliseconds.
const COMPOUND =
  /^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/;
const UNITS = ['d', 'h', 'm', 's', 'ms'] as const;

/** Milliseconds of a schedule duration, or undefined when `text` is not one (or is zero). */
export function durationMs(text: string): number | undefined {
  const m = COMPOUND.exec(text.trim());
  if (!m || text.trim() === '') return undefined;
  let total = 0;
  for (const [i, unit] of UNITS.entries()) {
    const n = m[i + 1];
    // `1h0m` is a fine way to write an hour; the core parser refuses a zero part on its own.
    if (n === undefined || Number(n) === 0) continue;
    const ms = unit === 'd' ? parsePart(`${Number(n) * 24}h`) : parsePart(`${n}${unit}`);
    if (ms === undefined) return undefined;
    total += ms;
  }
  const rounded = Math.round(total);
  return rounded >= 1 && Number.isSafeInteger(rounded) ? rounded : undefined;
}

/**
 * Milliseconds of a duration: `90s`, `10m`, `1h30m`, `2d`; throws FAULTLINE_ERR_VALIDATION naming `field`.
 * @example parseDuration('1h30m', 'jitter') // 5_400_000
 */
export function parseDuration(text: string, field: string): number {
  const ms = durationMs(text);
  if (ms !== undefined) return ms;
  const message = `${DURATION_EXPECTED}, got ${JSON.stringify(text)}`;
  throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `${field}: ${message}`, {
    issues: [{ path: field, message }],
  });
}
