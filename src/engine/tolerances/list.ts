/**
 * A list. Against an object with `status` (http, process) it is membership of
 * the status, whatever its length. Otherwise a 2-item list is an inclusive
 * range `a <= output <= b` with Python ordering, and any other length is
 * membership. Where Python raises (e.g. `None <= 3`) the tolerance is not met.
 */
import { PyTypeError, pyContains, pyLessEqual } from '../../core/python.js';
import { describe, hasStatus, MET, notMet, type ToleranceKind } from './kind.js';

export const listTolerance: ToleranceKind<unknown[]> = {
  check(tolerance, output) {
    if (hasStatus(output)) {
      return pyContains(tolerance, output.status)
        ? MET
        : notMet(`status ${describe(output.status)} is not one of ${describe(tolerance)}`);
    }
    if (tolerance.length === 2) {
      const [lo, hi] = tolerance;
      try {
        // Chained comparison: the upper bound is not compared when the lower one fails.
        if (pyLessEqual(lo, output) && pyLessEqual(output, hi)) return MET;
        return notMet(`${describe(output)} is not within [${describe(lo)}, ${describe(hi)}]`);
      } catch (err) {
        if (!(err instanceof PyTypeError)) throw err;
        return notMet(
          `cannot compare ${describe(output)} with the range ${describe(tolerance)}: ${err.message}`,
        );
      }
    }
    return pyContains(tolerance, output)
      ? MET
      : notMet(`${describe(output)} is not one of ${describe(tolerance)}`);
  },
};
