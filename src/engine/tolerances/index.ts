/**
 * Tolerance evaluation, exactly as Chaos Toolkit dispatches it: by the JSON
 * type of the tolerance, booleans before integers, objects by their `type`.
 * One file per kind, one registration line each.
 *
 * Where Chaos Toolkit would crash (a regex on an object, a range on null,
 * incomparable bounds), the tolerance is simply not met, with a reason.
 *
 * @example
 * await checkTolerance([200, 204], { status: 201, headers: {}, body: '' }, ctx); // { met: false, reason: ... }
 * await checkTolerance([200, 204], 201, ctx); // { met: true }: a 2-item list is a range for plain values
 */

import { InterruptExecution, type Issue } from '../../core/errors.js';
import { isDict } from '../../core/python.js';
import { Registry } from '../../core/registry.js';
import type { Tolerance } from '../../core/schema.js';
import { baselineTolerance } from './baseline.js';
import { booleanTolerance } from './boolean.js';
import { integerTolerance } from './integer.js';
import { jsonpathTolerance } from './jsonpath.js';
import {
  describe,
  type KindContext,
  notMet,
  type ToleranceContext,
  type ToleranceKind,
  type ToleranceResult,
} from './kind.js';
import { listTolerance } from './list.js';
import { probeTolerance } from './probe.js';
import { rangeTolerance } from './range.js';
import { regexTolerance } from './regex.js';
import { compareString, stringTolerance } from './string.js';

export type { ToleranceContext, ToleranceKind, ToleranceResult } from './kind.js';

export const toleranceKinds = new Registry<ToleranceKind>('tolerance kind');
toleranceKinds.register('boolean', booleanTolerance);
toleranceKinds.register('integer', integerTolerance);
toleranceKinds.register('string', stringTolerance);
toleranceKinds.register('list', listTolerance);
toleranceKinds.register('range', rangeTolerance);
toleranceKinds.register('regex', regexTolerance);
toleranceKinds.register('jsonpath', jsonpathTolerance);
toleranceKinds.register('probe', probeTolerance);
toleranceKinds.register('baseline', baselineTolerance);

/** The registry key for a tolerance: its JSON type, or `type` for objects. */
export function toleranceKindOf(tolerance: unknown): string {
  if (typeof tolerance === 'boolean') return 'boolean';
  if (typeof tolerance === 'number') return Number.isInteger(tolerance) ? 'integer' : 'float';
  if (typeof tolerance === 'string') return 'string';
  if (Array.isArray(tolerance)) return 'list';
  if (tolerance === null || tolerance === undefined) return 'null';
  if (isDict(tolerance)) return typeof tolerance.type === 'string' ? tolerance.type : 'object without a type';
  return typeof tolerance;
}

async function dispatch(tolerance: unknown, output: unknown, ctx: KindContext, substituted: boolean) {
  // A string produced by substitution is compared as it is, never substituted twice.
  if (substituted && typeof tolerance === 'string') return compareString(tolerance, output);
  const name = toleranceKindOf(tolerance);
  const kind = toleranceKinds.get(name);
  // Floats and null are not tolerances for Chaos Toolkit (it returns "not met" for them).
  if (!kind) return notMet(`tolerance ${describe(tolerance)} is not supported (${name})`);
  return kind.check(tolerance, output, ctx);
}

/**
 * Checks a probe's output against its tolerance. Pass the tolerance as written
 * (not substituted): `${name}` references are resolved here from `ctx.vars`.
 * Never throws for a bad tolerance or an odd output; only an InterruptExecution
 * from a probe tolerance propagates.
 */
export async function checkTolerance(
  tolerance: Tolerance,
  output: unknown,
  ctx: ToleranceContext,
): Promise<ToleranceResult> {
  const kctx: KindContext = {
    vars: ctx.vars,
    runProbe: (probe) => ctx.runProbe(probe),
    ...(ctx.baseline ? { baseline: ctx.baseline } : {}),
    recheck: (t, o) => dispatch(t, o, kctx, true),
  };
  try {
    return await dispatch(tolerance, output, kctx, false);
  } catch (err) {
    if (err instanceof InterruptExecution) throw err;
    return notMet(`the tolerance could not be checked: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Semantic checks of a tolerance beyond its schema (regex compiles, JSON path parses). Paths relative to the tolerance. */
export function validateTolerance(tolerance: Tolerance): Issue[] {
  const name = toleranceKindOf(tolerance);
  const kind = toleranceKinds.get(name);
  if (!kind) {
    if (isDict(tolerance))
      return [{ path: 'type', message: `tolerance type '${String(tolerance.type)}' is unsupported` }];
    return [
      {
        path: '',
        message: `a tolerance must be a boolean, an integer, a string, a list, or an object of type range, regex, jsonpath or probe; got ${describe(tolerance)}`,
      },
    ];
  }
  return kind.validate?.(tolerance) ?? [];
}
