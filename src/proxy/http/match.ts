/**
 * Which requests an HTTP toxic applies to (Istio-style fault injection):
 * method, path prefix or regular expression, and a header, each optional
 * (empty matches everything), then `percentage` of the matching requests.
 */
import { attr } from '../toxic.js';
import type { RequestHead } from './request-framer.js';

function compiles(v: string): boolean {
  try {
    new RegExp(v);
    return true;
  } catch {
    return false;
  }
}
const regex = (description: string) =>
  attr.string(description, { check: compiles, message: 'must be a valid regular expression' });

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
  const pathRe = a.path_regex ? new RegExp(a.path_regex) : undefined;
  const header = a.header_name.toLowerCase();
  const valueRe = a.header_value ? new RegExp(a.header_value) : undefined;
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
