/** `true`/`false`: Python `output == tolerance`, so `1 == true`; a dict never equals a bool. */
import { pyEquals } from '../../core/python.js';
import { describe, MET, notMet, type ToleranceKind } from './kind.js';

export const booleanTolerance: ToleranceKind<boolean> = {
  check(tolerance, output) {
    return pyEquals(output, tolerance) ? MET : notMet(`expected ${tolerance}, got ${describe(output)}`);
  },
};
