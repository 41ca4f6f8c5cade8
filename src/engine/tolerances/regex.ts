/**
 * `{type: regex, pattern, target?}`: the pattern is substituted, then searched
 * (unanchored, Python `re.search`) in the output or in `output[target]`
 * (`stdout`/`stderr` for process, `body` for http). A value that is not a
 * string is not met (Chaos Toolkit crashes on it).
 */
import type { Issue } from '../../core/errors.js';
import { substitute } from '../../experiment/substitute.js';
import { describe, isVarTemplate, MET, notMet, selectTarget, type ToleranceKind } from './kind.js';
import { compilePythonRegex } from './pyregex.js';

interface RegexTolerance {
  type: 'regex';
  pattern: unknown;
  target?: unknown;
}

function compile(pattern: string): RegExp | { error: string } {
  try {
    return compilePythonRegex(pattern);
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

export const regexTolerance: ToleranceKind<RegexTolerance> = {
  check(tolerance, output, ctx) {
    const pattern = substitute(tolerance.pattern, ctx.vars);
    if (typeof pattern !== 'string')
      return notMet(`the regex pattern must be a string, got ${describe(pattern)}`);
    const rx = compile(pattern);
    if (!(rx instanceof RegExp)) return notMet(`pattern ${describe(pattern)} is invalid: ${rx.error}`);
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
      if (!(rx instanceof RegExp))
        issues.push({ path: 'pattern', message: `pattern ${pattern} seems invalid: ${rx.error}` });
    }
    return issues;
  },
};
