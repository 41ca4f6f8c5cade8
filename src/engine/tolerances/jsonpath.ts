/**
 * `{type: jsonpath, path, target?, count?, expect?}` with Chaos Toolkit's rules:
 *  - the value is the output or `output[target]`; strings are JSON-parsed when they parse;
 *  - met when something matches, or when exactly `count` values match;
 *  - when `expect` is present it decides alone: a list means `values == expect`,
 *    anything else means `values == [expect]` (two equal matches are not met).
 */
import type { Issue } from '../../core/errors.js';
import { pyEquals } from '../../core/python.js';
import { substitute } from '../../experiment/substitute.js';
import { type JsonPath, parseJsonPath } from './jsonpath-eval.js';
import { describe, isVarTemplate, MET, notMet, selectTarget, type ToleranceKind } from './kind.js';

interface JsonPathTolerance {
  type: 'jsonpath';
  path: unknown;
  target?: unknown;
  count?: unknown;
  expect?: unknown;
}

function parse(path: string): JsonPath | { error: string } {
  try {
    return parseJsonPath(path);
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

function prepare(value: unknown): unknown {
  let v = value;
  if (v instanceof Uint8Array) v = new TextDecoder().decode(v);
  if (typeof v === 'string') {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

export const jsonpathTolerance: ToleranceKind<JsonPathTolerance> = {
  check(tolerance, output, ctx) {
    const path = substitute(tolerance.path, ctx.vars);
    if (typeof path !== 'string') return notMet(`the JSON path must be a string, got ${describe(path)}`);
    const px = parse(path);
    if ('error' in px) return notMet(`JSON path ${path} is invalid: ${px.error}`);
    const values = px.match(prepare(selectTarget(output, tolerance.target)));
    const found = `${path} found ${describe(values)}`;

    const hasExpect = Object.hasOwn(tolerance, 'expect') && tolerance.expect !== undefined;
    if (hasExpect) {
      const expect = substitute(tolerance.expect, ctx.vars);
      const wanted = Array.isArray(expect) ? expect : [expect];
      return pyEquals(values, wanted) ? MET : notMet(`${found}, expected ${describe(wanted)}`);
    }
    const count = tolerance.count;
    if (count !== undefined && count !== null) {
      return pyEquals(values.length, count)
        ? MET
        : notMet(`${found}: ${values.length} value(s), expected ${describe(count)}`);
    }
    return values.length > 0 ? MET : notMet(`${path} matched nothing`);
  },
  validate(tolerance) {
    const issues: Issue[] = [];
    const { path } = tolerance;
    if (typeof path !== 'string')
      issues.push({ path: 'path', message: `JSON path ${describe(path)} has an invalid type` });
    else if (!path.trim()) issues.push({ path: 'path', message: 'JSON path cannot be empty' });
    else if (!isVarTemplate(path)) {
      const px = parse(path.trim());
      if ('error' in px) issues.push({ path: 'path', message: `JSON path ${path} is invalid: ${px.error}` });
    }
    const { count } = tolerance;
    if (count !== undefined && count !== null && !(Number.isInteger(count) && (count as number) >= 0)) {
      issues.push({ path: 'count', message: 'count must be a non-negative integer' });
    }
    return issues;
  },
};
