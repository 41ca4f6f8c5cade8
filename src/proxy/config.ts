/**
 * The proxy server's config file: the JSON (or YAML) array `/populate` accepts,
 * applied before the API binds. Unlike Toxiproxy, which logs config errors and
 * starts anyway, every problem is reported with its path and position and the
 * server does not start.
 *
 * @example
 * // proxies.yaml
 * // - name: db
 * //   listen: 127.0.0.1:5433
 * //   upstream: localhost:5432
 * const { proxies, warnings } = await loadProxyConfig('proxies.yaml');
 */
import { extname } from 'node:path';
import { FaultlineError, type Issue } from '../core/errors.js';
import { parseText } from '../core/parse.js';
import { readSourceFile } from '../core/read-source.js';
import { decodePopulate } from './api/decode.js';
import { foldName, fromPlain } from './api/gojson.js';
import type { ProxyInput } from './model.js';

export interface ProxyConfig {
  proxies: ProxyInput[];
  /** Things that are accepted but probably not what was meant (unknown keys, toxics). */
  warnings: string[];
}

const FIELDS = ['name', 'listen', 'upstream', 'enabled'] as const;
const FOLDED = new Map<string, string>(FIELDS.map((f) => [foldName(f), f]));

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Checks a parsed config value; returns every issue (path `[i].field`) and the warnings. */
export function checkProxyConfig(value: unknown): { issues: Issue[]; warnings: string[] } {
  const issues: Issue[] = [];
  const warnings: string[] = [];
  if (!Array.isArray(value)) {
    issues.push({
      path: '',
      message: `expected an array of proxies ({name, listen, upstream, enabled}), got ${describe(value)}`,
    });
    return { issues, warnings };
  }
  const seen = new Map<string, number>();
  value.forEach((item, i) => {
    const at = `[${i}]`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      issues.push({ path: at, message: `expected a proxy object, got ${describe(item)}` });
      return;
    }
    const fields: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(item)) {
      const field = FOLDED.get(foldName(key));
      if (field) fields[field] = v;
      else if (foldName(key) === 'TOXICS') {
        warnings.push(`${at}.${key}: toxics in the config file are ignored (add them through the API)`);
      } else warnings.push(`${at}.${key}: unknown key ignored`);
    }
    for (const f of ['name', 'upstream'] as const) {
      const v = fields[f];
      if (v === undefined || v === null || v === '') issues.push({ path: `${at}.${f}`, message: 'required' });
      else if (typeof v !== 'string')
        issues.push({ path: `${at}.${f}`, message: `expected a string, got ${describe(v)}` });
    }
    if (fields.listen !== undefined && fields.listen !== null && typeof fields.listen !== 'string') {
      issues.push({
        path: `${at}.listen`,
        message: `expected a "host:port" string, got ${describe(fields.listen)}`,
      });
    }
    if (fields.enabled !== undefined && fields.enabled !== null && typeof fields.enabled !== 'boolean') {
      issues.push({
        path: `${at}.enabled`,
        message: `expected true or false, got ${describe(fields.enabled)}`,
      });
    }
    if (typeof fields.name === 'string' && fields.name !== '') {
      const first = seen.get(fields.name);
      if (first !== undefined) {
        issues.push({
          path: `${at}.name`,
          message: `duplicate proxy name ${JSON.stringify(fields.name)} (also at [${first}])`,
        });
      } else seen.set(fields.name, i);
    }
  });
  return { issues, warnings };
}

/** Reads, parses and checks a config file. Throws FaultlineError (exit status 2) listing every issue. */
export async function loadProxyConfig(path: string): Promise<ProxyConfig> {
  const text = await readSourceFile(path, 'Proxy config');
  const format = extname(path).toLowerCase() === '.json' ? 'json' : 'yaml';
  const parsed = parseText(text, format, path);
  const { issues, warnings } = checkProxyConfig(parsed.value);
  if (issues.length > 0) {
    for (const issue of issues) {
      const segs: (string | number)[] = [];
      for (const m of issue.path.matchAll(/\[(\d+)\]|\.([^.[]+)/g))
        segs.push(m[1] !== undefined ? Number(m[1]) : m[2]!);
      const pos = parsed.positionOf(segs);
      if (pos) Object.assign(issue, pos);
    }
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `proxy config ${path} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'})`,
      { issues },
    );
  }
  return { proxies: decodePopulate(fromPlain(parsed.value)), warnings };
}
