/**
 * `--var key[:type]=value` and `--var-file` (JSON/YAML `{configuration, secrets}`,
 * or a KEY=VALUE env file injected into the environment), as Chaos Toolkit reads them.
 */
import { extname } from 'node:path';
import { FaultlineError } from '../core/errors.js';
import { parseText } from '../core/parse.js';
import type { Configuration, Secrets } from '../core/schema.js';
import { ConversionError, convertValue, normaliseValueType } from './configuration.js';
import { readSourceFile } from './load.js';

export interface VarOption {
  key: string;
  value: unknown;
}

export interface Overrides {
  configuration: Configuration;
  secrets: Secrets;
}

const VAR_TYPES = 'str, string, int, integer, float, number, bytes, bool or json';

/**
 * Parses one `--var` value: `key=value` (a string) or `key:type=value`.
 *
 * @example
 * parseVarOption('port:int=8080'); // { key: 'port', value: 8080 }
 */
export function parseVarOption(spec: string): VarOption {
  const usage = (why: string) => new FaultlineError('FAULTLINE_ERR_USAGE', `--var "${spec}": ${why}`);
  const eq = spec.indexOf('=');
  if (eq < 0) throw usage('expected key=value or key:type=value');
  const left = spec.slice(0, eq);
  const raw = spec.slice(eq + 1);
  const colon = left.lastIndexOf(':');
  const key = colon < 0 ? left : left.slice(0, colon);
  const type = colon < 0 ? undefined : left.slice(colon + 1);
  if (key === '') throw usage('expected a key before "=" (key=value or key:type=value)');
  if (type !== undefined && !normaliseValueType(type))
    throw usage(`unknown type "${type}", expected ${VAR_TYPES}`);
  try {
    return { key, value: convertValue(type, raw) };
  } catch (err) {
    if (err instanceof ConversionError)
      throw usage(`expected ${err.expected.replace(/^expected /, '')} value`);
    throw err;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads `--var-file` files in order. JSON/YAML files give configuration and
 * secrets (later files win, a secrets scope is replaced whole); any other file
 * is KEY=VALUE lines set into `env` (mutated).
 */
export async function loadVarFiles(paths: string[], env: NodeJS.ProcessEnv): Promise<Overrides> {
  const configuration: Configuration = {};
  const secrets: Secrets = {};
  for (const path of paths) {
    const ext = extname(path).toLowerCase();
    const text = await readSourceFile(path, 'Var file');
    if (ext === '.json' || ext === '.yaml' || ext === '.yml') {
      const data = parseText(text, ext === '.json' ? 'json' : 'yaml', path).value;
      const bad = (what: string) => new FaultlineError('FAULTLINE_ERR_CONFIG', `Var file "${path}": ${what}`);
      if (data === null || data === undefined) continue;
      if (!isObject(data)) throw bad('expected an object with `configuration` and/or `secrets`');
      if (data.configuration !== undefined && data.configuration !== null) {
        if (!isObject(data.configuration)) throw bad('`configuration` must be an object');
        Object.assign(configuration, data.configuration);
      }
      if (data.secrets !== undefined && data.secrets !== null) {
        if (!isObject(data.secrets)) throw bad('`secrets` must be an object of scopes');
        for (const [scope, values] of Object.entries(data.secrets)) {
          if (!isObject(values)) throw bad(`secrets scope "${scope}" must be an object`);
          secrets[scope] = { ...values };
        }
      }
    } else {
      Object.assign(env, parseEnvFile(text, path));
    }
  }
  return { configuration, secrets };
}

/**
 * Parses KEY=VALUE lines: `#` comments, blank lines, an optional `export `,
 * single or double quotes (double quotes understand \n, \t, \" and \\).
 */
export function parseEnvFile(text: string, source = 'env file'): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) {
      throw new FaultlineError(
        'FAULTLINE_ERR_CONFIG',
        `${source}:${i + 1}: expected KEY=VALUE, got "${line.slice(0, 80)}"`,
        {
          issues: [{ path: '', message: 'expected KEY=VALUE', line: i + 1, column: 1 }],
        },
      );
    }
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.lastIndexOf(q) > 0) {
      const end = value.lastIndexOf(q);
      value = value.slice(1, end);
      if (q === '"') {
        value = value.replace(/\\([nrt"\\])/g, (_m, c: string) =>
          c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c,
        );
      }
    } else {
      // Unquoted: ` #` starts a comment.
      const hash = value.search(/\s#/);
      if (hash >= 0) value = value.slice(0, hash).trimEnd();
    }
    out[key] = value;
  }
  return out;
}

/**
 * Combines var files and `--var` values: `--var` wins over every file.
 *
 * @example
 * const files = await loadVarFiles(opts.varFile, process.env);
 * const { configuration, secrets } = mergeOverrides(files, opts.var.map(parseVarOption));
 */
export function mergeOverrides(
  files: Partial<Overrides>,
  vars: Record<string, unknown> | VarOption[] = {},
): Overrides {
  const fromVars = Array.isArray(vars) ? Object.fromEntries(vars.map((v) => [v.key, v.value])) : vars;
  return {
    configuration: { ...(files.configuration ?? {}), ...fromVars },
    secrets: { ...(files.secrets ?? {}) },
  };
}
