/**
 * `{type: regex, pattern, target?}`: the pattern is substituted, then searched
 * (unanchored, Python `re.search`) in the output or in `output[target]`
 * (`stdout`/`stderr` for process, `body` for http). A value that is not a
 * string is not met (Chaos Toolkit crashes on it). Patterns are Python `re`
 * syntax run in a linear-time engine (src/core/safe-regex.ts): a pattern that
 * needs backtracking is refused rather than allowed to stall the run.
 */
import type { Issue } from '../../core/errors.js';
import { checkSafeRegex } from '../../core/safe-regex.js';
import { substitute } from '../../experiment/substitute.js';
import { describe, isVarTemplate, MET, notMet, selectTarget, type ToleranceKind } from './kind.js';

interface RegexTolerance {
  type: 'regex';
  pattern: unknown;
  target?: unknown;
}

const compile = (pattern: string) => checkSafeRegex(pattern, { field: 'pattern', syntax: 'python' });

export const regexTolerance: ToleranceKind<RegexTolerance> = {
  check(tolerance, output, ctx) {
    const pattern = substitute(tolerance.pattern, ctx.vars);
    if (typeof pattern !== 'string')
      return notMet(`the regex pattern must be a string, got ${describe(pattern)}`);
    const rx = compile(pattern);
    if ('error' in rx) return notMet(rx.error);
    const value = selectTarget(output, tolerance.target);
    if (typeof value !== 'string') {
      const hint = typeof value === 'object' && value !== null && !tolerance.target ? ' (set `target`)' : '';
      return notMet(`a regex needs a string, got ${describe(value)}${hint}`);
    }
    return rx.test(value) ? MET : notMet(`pattern ${describe(pattern)} not found in ${describe(value)}`);
  },
  validate(tolerance) {
    const issues: Issue[] = [];
    const { pattern } = tolerance;
    if (typeof pattern !== 'string') {
      issues.push({
        path: 'pattern',
        message: `pattern ${describe(pattern)} has an invalid type: expected a string`,
      });
    } else if (!isVarTemplate(pattern)) {
      // Patterns with ${name} are only known at run time.
      const rx = compile(pattern);
      if ('error' in rx) issues.push({ path: 'pattern', message: rx.error });
    }
    return issues;
  },
};
