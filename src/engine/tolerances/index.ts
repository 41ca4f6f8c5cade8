/**
 * Tolerance evaluation, exactly as Chaos Toolkit dispatches it (by the JSON type
 * of the tolerance, booleans before integers). One file per tolerance kind.
 * PLACEHOLDER SIGNATURES: implemented by the tolerances work.
 */
import type { Issue } from '../../core/errors.js';
import type { Activity, Tolerance } from '../../core/schema.js';
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
}

export async function checkTolerance(_tolerance: Tolerance, _output: unknown, _ctx: ToleranceContext): Promise<ToleranceResult> {
  throw new Error('not implemented');
}

/** Semantic checks of a tolerance beyond its schema (regex compiles, JSON path parses). Paths relative to the tolerance. */
export function validateTolerance(_tolerance: Tolerance): Issue[] {
  return [];
}
