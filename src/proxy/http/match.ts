/**
 * Which requests an HTTP toxic applies to (Istio-style fault injection):
 * method, path prefix or regular expression, and a header, each optional
 * (empty matches everything), then `percentage` of the matching requests.
 */
import { z } from 'zod';
import { SafeRegexError, safeRegexCache } from '../../core/safe-regex.js';
import { attr, goTypes } from '../toxic.js';
import type { RequestHead } from './request-framer.js';

/**
 * A pattern attribute. Patterns come from API clients and are matched against
 * what data-plane clients send, so they run in RE2 (linear time, Go's syntax,
 * as in Toxiproxy): `^/(a+)+$` and a 35-byte path froze the whole server for
 * 110 s with JavaScript's backtracking RegExp (issue #13).
 */
const regex = (description: string) => {
  const s = z
    .string()
    .superRefine((v, ctx) => {
      if (v === '') return;
      try {
        compiled(v);
      } catch (err) {
        if (!(err instanceof SafeRegexError)) throw err;
        ctx.addIssue({ code: 'custom', message: `must be a valid RE2 regular expression: ${err.reason}` });
      }
    })
    .default('')
    .describe(description);
  goTypes.add(s, { goType: 'string' });
  return s;
};

/** Compiled patterns by source: every connection builds its matcher, the pattern is compiled once. */
const compiled = safeRegexCache({ field: 'path_regex/header_value' });

/** Attributes shared by every HTTP toxic. */
export const requestMatchAttributes = {
  percentage: attr.float('percentage of matching requests affected (0-100)', {
    min: 0,
    max: 100,
    default: 100,
  }),
  method: attr.string('only requests with this method (comma-separated list; empty: any)'),
  path_prefix: attr.string('only paths starting with this'),
  path_regex: regex('only paths matching this regular expression'),
  header_name: attr.string('only requests carrying this header'),
  header_value: regex('...whose value matches this regular expression (empty: any value)'),
};

export interface RequestMatch {
  percentage: number;
  method: string;
  path_prefix: string;
  path_regex: string;
  header_name: string;
  header_value: string;
}

/** Compiles the matcher once per attribute set (not per request). */
export function compileMatch(a: RequestMatch): (req: RequestHead) => boolean {
  const methods = a.method
    .split(',')
    .map((m) => m.trim().toUpperCase())
    .filter(Boolean);
  const pathRe = a.path_regex ? compiled(a.path_regex) : undefined;
  const header = a.header_name.toLowerCase();
  const valueRe = a.header_value ? compiled(a.header_value) : undefined;
  return (req) => {
    if (methods.length && !methods.includes(req.method)) return false;
    if (a.path_prefix && !req.path.startsWith(a.path_prefix)) return false;
    if (pathRe && !pathRe.test(req.path)) return false;
    if (header) {
      const v = req.headers[header];
      if (v === undefined || (valueRe && !valueRe.test(v))) return false;
    }
    return true;
  };
}
