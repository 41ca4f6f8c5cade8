/** The contract every tolerance kind implements, and helpers they share. */
import type { Issue } from '../../core/errors.js';
import { isDict } from '../../core/python.js';
import type { Activity } from '../../core/schema.js';
import type { Vars } from '../../experiment/substitute.js';

export interface ToleranceResult {
  met: boolean;
  /** Why it was not met (shown in the live view and the journal). */
  reason?: string;
}

export interface ToleranceContext {
  vars: Vars;
  /** Runs a probe used as a tolerance (its arguments already include `value`). */
  runProbe(probe: Activity): Promise<unknown>;
  /**
   * The probe's memory for a kind that remembers a value across checks (`remembers`),
   * by kind name; absent outside steady-state checks and safeguards. The engine passes
   * ToleranceMemory's.
   */
  memory?(kind: string): ProbeMemory | undefined;
  /** One probe's slot given directly (a caller checking a single probe): the memory of the kind that remembers. */
  baseline?: ProbeMemory<number>;
}

/** A value a kind keeps for one probe, across the checks of a run. */
export interface ProbeMemory<V = unknown> {
  get(): V | undefined;
  set(value: V): void;
}

/** What a kind sees: the caller's context plus re-dispatch of a substituted value. */
export interface KindContext extends Omit<ToleranceContext, 'memory' | 'baseline'> {
  /** Checks a value that substitution produced, without substituting it again. */
  recheck(tolerance: unknown, output: unknown): Promise<ToleranceResult>;
  /** This kind's memory for the probe being checked (kinds with `remembers`); absent outside a run's checks. */
  memory?: ProbeMemory<any>;
}

/**
 * One tolerance kind (`boolean`, `list`, `regex`, ...), one line in ./index.ts's
 * TOLERANCE_KINDS; its schema is its line in core/schema.ts's TOLERANCE_SCHEMAS.
 */
export interface ToleranceKind<T = any> {
  /**
   * The kind keeps one value per probe for the whole run (the baseline kind: the
   * first value checked). The engine gives `ctx.memory` and records every probe's
   * value in the journal under `faultline.<journal>`.
   */
  readonly remembers?: { journal: string };
  check(tolerance: T, output: unknown, ctx: KindContext): ToleranceResult | Promise<ToleranceResult>;
  /** Checks beyond the schema; issue paths are relative to the tolerance (`pattern`). */
  validate?(tolerance: T): Issue[];
}

export const MET: ToleranceResult = Object.freeze({ met: true });

export function notMet(reason: string): ToleranceResult {
  return { met: false, reason };
}

/** A short, single-line rendering of a value for reasons. */
export function describe(value: unknown, max = 120): string {
  let text: string;
  if (value === undefined) text = 'undefined';
  else if (typeof value === 'bigint') text = value.toString();
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Chaos Toolkit's `value.get(target, value)`: the target key of an object
 * output, or the whole output when the key is missing. A non-object output is
 * used as it is (Chaos Toolkit would crash on `.get`).
 */
export function selectTarget(output: unknown, target: unknown): unknown {
  if (typeof target !== 'string' || target === '' || !isDict(output)) return output;
  return Object.hasOwn(output, target) ? output[target] : output;
}

/** True when the output looks like an http or process result (`{status, ...}`). */
export function hasStatus(output: unknown): output is Record<string, unknown> & { status: unknown } {
  return isDict(output) && 'status' in output;
}

/** True when a string holds a `${name}` reference, so its final text is only known at run time. */
export function isVarTemplate(text: string): boolean {
  return /\$\{[_a-zA-Z][_a-zA-Z0-9]*\}/.test(text);
}
