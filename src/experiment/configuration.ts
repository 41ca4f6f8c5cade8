/**
 * Configuration and secrets, resolved with Chaos Toolkit's rules:
 *  - a value is a literal, `{type: env, key, default?, env_var_type?}`, or (configuration
 *    only) a probe run once at start whose output becomes the value;
 *  - overrides (`--var`, `--var-file`) only replace keys the experiment declares;
 *    a secret override replaces a whole scope.
 * Faultline reports the overrides it ignored (Chaos Toolkit drops them silently).
 */
import { FaultlineError } from '../core/errors.js';
import type { Configuration, Secrets } from '../core/schema.js';
import { mergeVars, substitute } from './substitute.js';

/** Something the caller may want to log; resolution carried on. */
export type ConfigWarning =
  | { kind: 'override-ignored'; key: string; message: string }
  | { kind: 'secret-override-ignored'; scope: string; message: string }
  | { kind: 'dynamic-failed'; key: string; name: string; message: string; cause?: unknown };

/** A configuration value filled by a probe at run start. */
export interface DynamicProbe {
  type: 'probe';
  name: string;
  provider: { type: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ResolveConfigurationOptions {
  env: NodeJS.ProcessEnv;
  /** `--var` / `--var-file` values; only keys declared in the experiment are used. */
  overrides?: Record<string, unknown>;
  /** Resolved secrets, so dynamic probes can use `${secret}`. */
  secrets?: Secrets;
  /**
   * Runs a dynamic-configuration probe and returns the value to store (Chaos
   * Toolkit stores a process probe's stdout stripped, only on exit 0; an http
   * probe's body; otherwise the output). Throwing drops the key with a warning.
   * The probe is already substituted against `configuration` (what is resolved
   * so far). Without runProbe, probe entries are returned unresolved.
   */
  runProbe?: (name: string, probe: DynamicProbe, configuration: Configuration) => Promise<unknown>;
  /** Called for each ignored override and each failed dynamic probe. */
  onWarning?: (message: string, warning: ConfigWarning) => void;
}

export type EnvVarType = 'int' | 'float' | 'str' | 'bytes' | 'bool' | 'json';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `{type: "env", ...}`: Chaos Toolkit's test is a mapping whose `type` is "env". */
export function isEnvDefinition(v: unknown): v is Record<string, unknown> & { type: 'env' } {
  return isObject(v) && v.type === 'env';
}

export function isDynamicProbe(v: unknown): v is DynamicProbe {
  return isObject(v) && v.type === 'probe';
}

const TYPE_ALIASES: Record<string, EnvVarType> = {
  str: 'str',
  string: 'str',
  int: 'int',
  integer: 'int',
  float: 'float',
  number: 'float',
  bytes: 'bytes',
  bool: 'bool',
  json: 'json',
};

/** The value types `--var key:type=value` and `env_var_type` accept. */
export const VALUE_TYPES = Object.keys(TYPE_ALIASES);

export function normaliseValueType(type: string): EnvVarType | undefined {
  return Object.hasOwn(TYPE_ALIASES, type) ? TYPE_ALIASES[type] : undefined;
}

const INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/;
const FLOAT = /^\s*[+-]?(?:(?:\d+(?:_\d+)*)?\.\d+(?:_\d+)*|\d+(?:_\d+)*\.?)(?:[eE][+-]?\d+)?\s*$/;
const SPECIAL_FLOAT = /^\s*([+-]?)(inf|infinity|nan)\s*$/i;

/** Why a conversion failed: the expected type, for the caller's message. */
export class ConversionError extends Error {
  constructor(readonly expected: string) {
    super(`expected ${expected}`);
    this.name = 'ConversionError';
  }
}

/**
 * Converts a value as Chaos Toolkit's `convert_to_type` does (strings from the
 * environment or the command line; defaults of other types are converted too).
 * Throws ConversionError.
 */
export function convertValue(type: string | undefined, value: unknown): unknown {
  if (type === undefined || type === null) return value;
  const t = normaliseValueType(type);
  if (!t) throw new ConversionError(`one of the types ${VALUE_TYPES.join(', ')} (got "${type}")`);
  if (value === null || value === undefined) return value;
  switch (t) {
    case 'str':
      return typeof value === 'string'
        ? value
        : typeof value === 'object'
          ? JSON.stringify(value)
          : String(value);
    case 'int':
      if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value);
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'string' && INT.test(value)) return Number.parseInt(value.replace(/_/g, ''), 10);
      throw new ConversionError('an int');
    case 'float': {
      if (typeof value === 'number') return value;
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'string') {
        if (FLOAT.test(value)) return Number(value.replace(/_/g, '').trim());
        const special = SPECIAL_FLOAT.exec(value);
        if (special) {
          if (special[2]!.toLowerCase() === 'nan') return Number.NaN;
          return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
        }
      }
      throw new ConversionError('a float');
    }
    case 'bytes':
      if (typeof value === 'string') return Buffer.from(value, 'utf8');
      if (value instanceof Uint8Array) return value;
      throw new ConversionError('a string to encode as bytes');
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string') return !['false', '0', 'no'].includes(value.toLowerCase());
      return Boolean(value);
    case 'json':
      if (typeof value !== 'string') return value;
      try {
        return JSON.parse(value);
      } catch {
        throw new ConversionError('a JSON value');
      }
  }
}

function configError(message: string): FaultlineError {
  return new FaultlineError('FAULTLINE_ERR_CONFIG', message);
}

/** Resolves one `{type: env}` configuration entry. */
export function resolveConfigurationEnv(
  key: string,
  def: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): unknown {
  const envKey = def.key;
  if (typeof envKey !== 'string' || envKey === '') {
    throw configError(`Configuration "${key}" reads the environment but has no \`key\` naming the variable`);
  }
  const value = env[envKey];
  const isSet = value !== undefined;
  if (!isSet && !Object.hasOwn(def, 'default')) {
    throw configError(`Configuration makes reference to an environment key that does not exist: ${envKey}`);
  }
  const type = def.env_var_type;
  try {
    return convertValue(typeof type === 'string' ? type : undefined, isSet ? value : def.default);
  } catch (err) {
    if (!(err instanceof ConversionError)) throw err;
    const origin = isSet ? `environment variable ${envKey}` : `the default of environment variable ${envKey}`;
    throw configError(
      `Configuration "${key}": ${origin} is not ${err.expected.replace(/^expected /, '')} (env_var_type ${String(type)})`,
    );
  }
}

/** Overrides naming keys the experiment does not declare: ignored, and worth a warning. */
export function undeclaredOverrides(
  declared: Record<string, unknown> | undefined,
  overrides: Record<string, unknown> | undefined,
): string[] {
  return Object.keys(overrides ?? {}).filter((k) => !Object.hasOwn(declared ?? {}, k));
}

/**
 * Resolves an experiment's `configuration` block.
 *
 * Order, as in Chaos Toolkit: literals and environment lookups first (an
 * override replaces the declared value, and may itself be an env lookup), then
 * dynamic probes in declaration order; a probe that fails drops its key with a
 * warning. Later probes can use `${earlier}` values.
 *
 * @example
 * const configuration = await resolveConfiguration(experiment.configuration, {
 *   env: process.env,
 *   overrides: { port: 8080 },
 *   runProbe: (name, probe) => engine.runProbe(probe),
 *   onWarning: (w) => log.warn(w.message),
 * });
 */
export async function resolveConfiguration(
  decl: Record<string, unknown> | undefined,
  opts: ResolveConfigurationOptions,
): Promise<Configuration> {
  const declared = decl ?? {};
  const overrides = opts.overrides ?? {};
  for (const key of undeclaredOverrides(declared, overrides)) {
    const message = `--var/--var-file value "${key}" is ignored: the experiment's configuration does not declare it`;
    opts.onWarning?.(message, { kind: 'override-ignored', key, message });
  }
  const resolved = new Map<string, unknown>();
  const dynamic: [string, DynamicProbe][] = [];
  for (const [key, declaredValue] of Object.entries(declared)) {
    const value = Object.hasOwn(overrides, key) ? overrides[key] : declaredValue;
    if (isEnvDefinition(value)) resolved.set(key, resolveConfigurationEnv(key, value, opts.env));
    else if (isDynamicProbe(value) && opts.runProbe) dynamic.push([key, value]);
    else resolved.set(key, value);
  }

  for (const [key, probe] of dynamic) {
    const name = typeof probe.name === 'string' ? probe.name : key;
    const soFar = Object.fromEntries(resolved);
    try {
      const substituted = substitute(probe, mergeVars(soFar, opts.secrets));
      resolved.set(key, await opts.runProbe!(name, substituted, soFar));
    } catch (err) {
      const message = `Configuration "${key}" was not loaded: probe '${name}' failed: ${(err as Error)?.message ?? String(err)}`;
      opts.onWarning?.(message, { kind: 'dynamic-failed', key, name, message, cause: err });
    }
  }

  // Keep declaration order; failed dynamic keys are absent.
  const out: Configuration = {};
  for (const key of Object.keys(declared)) if (resolved.has(key)) out[key] = resolved.get(key);
  return out;
}

export interface ResolveSecretsOptions {
  env: NodeJS.ProcessEnv;
  /** Secret scopes from `--var-file`; each replaces the declared scope of that name. */
  overrides?: Record<string, Record<string, unknown>>;
  /** Called for each ignored secrets scope. */
  onWarning?: (message: string, warning: ConfigWarning) => void;
}

/**
 * Resolves an experiment's `secrets` block: inline values and `{type: env, key}`
 * (secrets have no default). Vault is not supported yet.
 *
 * @example
 * const secrets = await resolveSecrets(experiment.secrets, { env: process.env });
 */
export async function resolveSecrets(
  decl: Record<string, unknown> | undefined,
  opts: ResolveSecretsOptions,
): Promise<Secrets> {
  const declared = decl ?? {};
  const overrides = opts.overrides ?? {};
  for (const scope of Object.keys(overrides)) {
    if (!Object.hasOwn(declared, scope)) {
      const message = `--var-file secrets scope "${scope}" is ignored: the experiment's secrets do not declare it`;
      opts.onWarning?.(message, { kind: 'secret-override-ignored', scope, message });
    }
  }
  const out: Secrets = {};
  for (const [scope, declaredEntries] of Object.entries(declared)) {
    const entries = Object.hasOwn(overrides, scope) ? overrides[scope] : declaredEntries;
    if (!isObject(entries)) throw configError(`Secrets scope "${scope}" must be an object of secret values`);
    const values: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entries)) {
      if (isEnvDefinition(value)) {
        const envKey = value.key;
        if (typeof envKey !== 'string' || envKey === '') {
          throw configError(
            `Secret "${scope}.${key}" reads the environment but has no \`key\` naming the variable`,
          );
        }
        const v = opts.env[envKey];
        if (v === undefined)
          throw configError(`Secrets make reference to an environment key that does not exist: ${envKey}`);
        values[key] = v;
      } else if (isObject(value) && value.type === 'vault') {
        throw configError(`Secret "${scope}.${key}" comes from Vault: vault secrets are not supported yet`);
      } else {
        values[key] = value;
      }
    }
    // Chaos Toolkit drops scopes left empty.
    if (Object.keys(values).length > 0) out[scope] = values;
  }
  return out;
}
