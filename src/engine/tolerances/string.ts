/**
 * A string: `output == tolerance` after substitution. A whole `${name}` becomes
 * the typed value (an int, a list...) and is checked again by its own kind.
 */
import { substituteString } from '../../experiment/substitute.js';
import { describe, MET, notMet, type ToleranceKind } from './kind.js';

/** Compares without substituting: used when the string came out of a substitution. */
export function compareString(tolerance: string, output: unknown) {
  return output === tolerance ? MET : notMet(`expected ${describe(tolerance)}, got ${describe(output)}`);
}

export const stringTolerance: ToleranceKind<string> = {
  check(tolerance, output, ctx) {
    const value = substituteString(tolerance, ctx.vars);
    if (typeof value !== 'string') return ctx.recheck(value, output);
    return compareString(value, output);
  },
};
