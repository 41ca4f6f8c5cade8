/**
 * Tolerance evaluation, exactly as Chaos Toolkit dispatches it: by the JSON
 * type of the tolerance, booleans before integers, objects by their `type`.
 * One file per kind, one line each in TOLERANCE_KINDS (its schema is its line
 * in core/schema.ts's TOLERANCE_SCHEMAS; TypeScript holds the two lists to the
 * same names). Kinds that remember a value per probe get a generic memory
 * (ToleranceMemory), so the engine knows no kind by name.
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
import { TOLERANCE_KINDS_TEXT, type Tolerance, type ToleranceKindName } from '../../core/schema.js';
import { baselineTolerance } from './baseline.js';
import { booleanTolerance } from './boolean.js';
import { integerTolerance } from './integer.js';
import { jsonpathTolerance } from './jsonpath.js';
import {
  describe,
  type KindContext,
  notMet,
  type ProbeMemory,
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

/** Every tolerance kind, by the name core/schema.ts's TOLERANCE_SCHEMAS gives it: one line each. */
export const TOLERANCE_KINDS: { readonly [K in ToleranceKindName]: ToleranceKind } = {
  boolean: booleanTolerance,
  integer: integerTolerance,
  string: stringTolerance,
  list: listTolerance,
  range: rangeTolerance,
  regex: regexTolerance,
  jsonpath: jsonpathTolerance,
  probe: probeTolerance,
  baseline: baselineTolerance,
};

export const toleranceKinds = new Registry<ToleranceKind>('tolerance kind');
for (const [name, kind] of Object.entries(TOLERANCE_KINDS)) toleranceKinds.register(name, kind);

/**
 * What the kinds that remember (`remembers`) keep during one run, by kind and
 * probe name. `onChange` receives the kind's journal field and every probe's
 * value each time one is set (the engine writes them to `journal.faultline`).
 */
export class ToleranceMemory {
  readonly #values = new Map<string, Map<string, unknown>>();
  constructor(private readonly onChange?: (field: string, values: Record<string, unknown>) => void) {}

  /** The memory a check of `probe` is given (ToleranceContext.memory). */
  forProbe(probe: string): (kind: string) => ProbeMemory | undefined {
    return (kind) => {
      const remembers = toleranceKinds.get(kind)?.remembers;
      if (!remembers) return undefined;
      let values = this.#values.get(kind);
      if (!values) {
        values = new Map();
        this.#values.set(kind, values);
      }
      const own = values;
      return {
        get: () => own.get(probe),
        set: (value) => {
          own.set(probe, value);
          this.onChange?.(remembers.journal, Object.fromEntries(own));
        },
      };
    };
  }
}

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

interface DispatchContext extends KindContext {
  memoryOf(kind: string): ProbeMemory | undefined;
}

async function dispatch(
  tolerance: unknown,
  output: unknown,
  ctx: DispatchContext,
  substituted: boolean,
): Promise<ToleranceResult> {
  // A string produced by substitution is compared as it is, never substituted twice.
  if (substituted && typeof tolerance === 'string') return compareString(tolerance, output);
  const name = toleranceKindOf(tolerance);
  const kind = toleranceKinds.get(name);
  // Floats and null are not tolerances for Chaos Toolkit (it returns "not met" for them).
  if (!kind) return notMet(`tolerance ${describe(tolerance)} is not supported (${name})`);
  const memory = kind.remembers ? ctx.memoryOf(name) : undefined;
  return kind.check(tolerance, output, memory ? { ...ctx, memory } : ctx);
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
  const direct = ctx.baseline;
  const kctx: DispatchContext = {
    vars: ctx.vars,
    runProbe: (probe) => ctx.runProbe(probe),
    memoryOf: (kind) => ctx.memory?.(kind) ?? direct,
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
        message: `a tolerance must be ${TOLERANCE_KINDS_TEXT}; got ${describe(tolerance)}`,
      },
    ];
  }
  return kind.validate?.(tolerance) ?? [];
}
