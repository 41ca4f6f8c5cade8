/**
 * The `python` provider. Faultline runs no Python: a python activity runs only
 * when Faultline has a native implementation of that module and function
 * (a built-in activity registered under the Python names). Arguments are
 * validated by the native implementation's schema. As in Chaos Toolkit, the
 * activity sees only the secret scopes its provider lists in `secrets`.
 * Python controls likewise: a native control registered under the module
 * (registerNativeControl), or Chaos Toolkit's safeguards control, which the
 * engine runs as safeguards. These rules are the python provider's hooks: the
 * engine names no python module.
 */
import { ActivityFailed, FaultlineError } from '../core/errors.js';
import type { PythonProvider, Secrets } from '../core/schema.js';
import type { ProviderRunner } from '../engine/context.js';
import { type ControlHooks, type ControlProvider, nativeControls } from '../engine/controls.js';
import { checkArguments, lookupBuiltin, runBuiltin } from './builtin.js';

export const notNative = (module: string) =>
  `Python module '${module}' is not available: Faultline runs no Python; use a \`node\` provider (module, func, arguments) or a built-in activity (see \`faultline discover\`)`;

/** Chaos Toolkit's safeguards control, by its python module: run as safeguards, not loaded. */
export const SAFEGUARDS_CONTROL = 'chaosaddons.controls.safeguards';

/** A python control: its native implementation, or a refusal naming the module (Faultline runs no Python). */
export function nativeControl(provider: ControlProvider, control: string): ControlHooks {
  const factory = nativeControls.get(provider.module);
  if (!factory) {
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `control '${control}': Python module '${provider.module}' is not available: Faultline runs no Python; write the control as a Node module (provider type node)`,
    );
  }
  return factory((provider.arguments ?? {}) as Record<string, unknown>);
}

function listedScopes(secrets: Secrets, scopes: readonly string[] | undefined): Secrets {
  const out: Secrets = {};
  for (const scope of scopes ?? []) {
    const values = secrets[scope];
    if (values) out[scope] = values;
  }
  return out;
}

export const pythonProvider: ProviderRunner<PythonProvider> = {
  type: 'python',

  run(provider, ctx) {
    const found = lookupBuiltin(provider, notNative);
    if ('issue' in found) return Promise.reject(new ActivityFailed(found.issue.message));
    return runBuiltin(found.activity, provider.arguments, {
      ...ctx,
      secrets: listedScopes(ctx.secrets, provider.secrets),
    });
  },

  check(provider) {
    const found = lookupBuiltin(provider, notNative);
    if ('issue' in found) return [found.issue];
    return checkArguments(found.activity, provider.arguments ?? {});
  },

  // Python controls: native implementations, and the safeguards control run as safeguards.
  loadControl: nativeControl,
  isSafeguardControl: (provider) => provider.module === SAFEGUARDS_CONTROL,
};
