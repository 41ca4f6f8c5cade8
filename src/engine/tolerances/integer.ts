/**
 * An integer: compared with `output.status` when the output is an object with
 * a `status` key (http, process), otherwise with the output (`200 == 200.0`).
 */
import { pyEquals } from '../../core/python.js';
import { describe, hasStatus, MET, notMet, type ToleranceKind } from './kind.js';

export const integerTolerance: ToleranceKind<number> = {
  check(tolerance, output) {
    if (hasStatus(output)) {
      return pyEquals(output.status, tolerance)
        ? MET
        : notMet(`expected status ${tolerance}, got ${describe(output.status)}`);
    }
    return pyEquals(output, tolerance) ? MET : notMet(`expected ${tolerance}, got ${describe(output)}`);
  },
};
