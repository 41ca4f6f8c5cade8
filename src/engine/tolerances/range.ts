/**
 * `{type: range, range: [lo, hi], target?}`: the value (or `output[target]`)
 * read as a Python Decimal, so numeric strings such as `" 4.2 "` count, then
 * `lo <= v <= hi`. A non-numeric string is not met; so are null and objects,
 * on which Chaos Toolkit crashes.
 */
import type { Issue } from '../../core/errors.js';
import { describe, MET, notMet, selectTarget, type ToleranceKind } from './kind.js';

interface RangeTolerance {
  type: 'range';
  range: unknown;
  target?: unknown;
}

// Python's Decimal string syntax (underscores between digits, Inf/NaN spellings).
const DIGITS = String.raw`\d(?:_?\d)*`;
const DECIMAL = new RegExp(
  String.raw`^[+-]?(?:(?:${DIGITS}(?:\.(?:${DIGITS})?)?|\.${DIGITS})(?:[eE][+-]?${DIGITS})?|inf(?:inity)?|s?nan\d*)$`,
  'i',
);

/** Python `Decimal(value)` as a number, or a reason why it is not one. */
export function toDecimal(value: unknown): number | { error: string } {
  if (typeof value === 'boolean') return Number(value);
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') {
    const text = value.trim();
    if (!DECIMAL.test(text)) return { error: `${describe(value)} is not a number` };
    const lower = text.toLowerCase().replace(/_/g, '');
    if (lower.includes('nan')) return Number.NaN;
    if (lower.includes('inf')) return lower.startsWith('-') ? -Infinity : Infinity;
    return Number(lower);
  }
  return { error: `a range needs a number, got ${describe(value)}` };
}

function bounds(range: unknown): [number, number] | undefined {
  if (!Array.isArray(range) || range.length !== 2) return undefined;
  const [lo, hi] = range;
  return typeof lo === 'number' && typeof hi === 'number' && !Number.isNaN(lo) && !Number.isNaN(hi)
    ? [lo, hi]
    : undefined;
}

export const rangeTolerance: ToleranceKind<RangeTolerance> = {
  check(tolerance, output) {
    const b = bounds(tolerance.range);
    if (!b) return notMet(`invalid range ${describe(tolerance.range)}: expected [lower, upper] numbers`);
    const value = selectTarget(output, tolerance.target);
    const v = toDecimal(value);
    if (typeof v !== 'number') return notMet(v.error);
    // Python raises on ordering a Decimal NaN; either way the range does not hold.
    if (Number.isNaN(v)) return notMet(`${describe(value)} is not a number`);
    const [lo, hi] = b;
    return lo <= v && v <= hi ? MET : notMet(`${describe(value)} is not within [${lo}, ${hi}]`);
  },
  validate(tolerance) {
    const issues: Issue[] = [];
    const range = tolerance.range;
    if (!Array.isArray(range))
      issues.push({ path: 'range', message: 'a range must be a list [lower, upper]' });
    else if (range.length !== 2)
      issues.push({ path: 'range', message: 'a range must be made of two values' });
    else {
      range.forEach((bound, i) => {
        if (typeof bound !== 'number' || Number.isNaN(bound)) {
          issues.push({
            path: `range[${i}]`,
            message: `the ${i === 0 ? 'lower' : 'upper'} bound must be a number`,
          });
        }
      });
    }
    return issues;
  },
};
