/**
 * `${name}` substitution with Chaos Toolkit's rules (Python `string.Template`
 * `safe_substitute` over configuration then the inner keys of every secret scope):
 *  - a string that is exactly `${name}` becomes the typed value;
 *  - otherwise `$name` and `${name}` are interpolated as text and `$$` becomes `$`;
 *  - unknown names are left as written; names match `[_a-zA-Z][_a-zA-Z0-9]*`;
 *  - lists and objects are walked recursively.
 */
import type { Configuration, Secrets } from '../core/schema.js';

export type Vars = Readonly<Record<string, unknown>>;

const WHOLE = /^\$\{([_a-zA-Z][_a-zA-Z0-9]*)\}$/;
const TEMPLATE = /\$(?:(\$)|([_a-zA-Z][_a-zA-Z0-9]*)|\{([_a-zA-Z][_a-zA-Z0-9]*)\})/g;

/**
 * The merged view substitution reads, with Chaos Toolkit's precedence (a
 * `ChainMap(configuration, *secret_scopes)`): configuration wins over secrets,
 * and an earlier secret scope wins over a later one.
 */
export function mergeVars(configuration: Configuration | undefined, secrets: Secrets | undefined): Vars {
  const view: Record<string, unknown> = {};
  const scopes = Object.values(secrets ?? {}).reverse();
  for (const scope of scopes) {
    if (scope && typeof scope === 'object') Object.assign(view, scope);
  }
  return Object.assign(view, configuration ?? {});
}

function hasVar(vars: Vars, name: string): boolean {
  return Object.hasOwn(vars, name);
}

function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function substituteString(text: string, vars: Vars): unknown {
  const whole = WHOLE.exec(text);
  if (whole) {
    const name = whole[1]!;
    return hasVar(vars, name) ? vars[name] : text;
  }
  if (!text.includes('$')) return text;
  return text.replace(
    TEMPLATE,
    (match, dollar: string | undefined, bare: string | undefined, braced: string | undefined) => {
      if (dollar) return '$';
      const name = (bare ?? braced)!;
      return hasVar(vars, name) ? asText(vars[name]) : match;
    },
  );
}

/** Substitutes recursively; values that are not strings, lists or plain objects are returned as they are. */
export function substitute<T>(value: T, vars: Vars): T {
  if (typeof value === 'string') return substituteString(value, vars) as T;
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, vars);
    return out as T;
  }
  return value;
}
