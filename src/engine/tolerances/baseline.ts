/**
 * Faultline: `{type: baseline, max_ratio?, min_ratio?, within?, target?}`, a
 * tolerance relative to the probe's own value when it was first checked
 * (normally in the steady-state check before the method): "p99 at most 1.5x
 * the baseline" is `max_ratio: 1.5`, "success ratio at least 0.9x" is
 * `min_ratio: 0.9`, "within 10% of the steady state" is `within: 0.1`. The
 * first check captures the baseline and is met. The baseline is the kind's
 * memory: the engine keeps one per probe for the run and journals them as
 * `faultline.baselines`.
 */
import type { Issue } from '../../core/errors.js';
import { describe, MET, notMet, type ProbeMemory, selectTarget, type ToleranceKind } from './kind.js';
import { toDecimal } from './range.js';

interface BaselineTolerance {
  type: 'baseline';
  max_ratio?: unknown;
  min_ratio?: unknown;
  within?: unknown;
  target?: unknown;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export const baselineTolerance: ToleranceKind<BaselineTolerance> = {
  remembers: { journal: 'baselines' },
  check(tolerance, output, ctx) {
    const value = selectTarget(output, tolerance.target);
    const v = toDecimal(value);
    if (typeof v !== 'number' || Number.isNaN(v)) {
      return notMet(typeof v === 'number' ? `${describe(value)} is not a number` : v.error);
    }
    const memory = ctx.memory as ProbeMemory<number> | undefined;
    if (!memory)
      return notMet('a baseline tolerance is only checked in a steady-state hypothesis or a safeguard');
    const base = memory.get();
    if (base === undefined) {
      memory.set(v);
      return MET;
    }
    const maxRatio = num(tolerance.max_ratio);
    const minRatio = num(tolerance.min_ratio);
    const within = num(tolerance.within);
    const ratio = base === 0 ? (v === 0 ? 1 : Number.POSITIVE_INFINITY * Math.sign(v)) : v / base;
    const shown = Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'unbounded times';
    if (maxRatio !== undefined && ratio > maxRatio) {
      return notMet(`${v} is ${shown} the baseline ${base} (at most ${maxRatio}x)`);
    }
    if (minRatio !== undefined && ratio < minRatio) {
      return notMet(`${v} is ${shown} the baseline ${base} (at least ${minRatio}x)`);
    }
    if (within !== undefined && Math.abs(v - base) > within * Math.abs(base)) {
      return notMet(`${v} is more than ${within * 100}% away from the baseline ${base}`);
    }
    return MET;
  },
  validate(tolerance) {
    const issues: Issue[] = [];
    for (const key of ['max_ratio', 'min_ratio', 'within'] as const) {
      const v = tolerance[key];
      if (v !== undefined && !(typeof v === 'number' && v >= 0 && Number.isFinite(v))) {
        issues.push({ path: key, message: `expected a non-negative number, got ${describe(v)}` });
      }
    }
    if (
      tolerance.max_ratio === undefined &&
      tolerance.min_ratio === undefined &&
      tolerance.within === undefined
    ) {
      issues.push({ path: '', message: 'a baseline tolerance needs max_ratio, min_ratio or within' });
    }
    return issues;
  },
};
