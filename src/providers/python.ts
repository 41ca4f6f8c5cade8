/**
 * The `python` provider: Chaos Toolkit's Python activities and controls.
 * Modules Faultline implements natively (chaostoxi, chaosprometheus,
 * chaosaddons' safeguards: registered as built-in activities and native
 * controls under their Python names) run natively first, so their faults are
 * ledgered and reverted by Faultline; everything else, and everything when the
 * run's `providerOptions.python.native` is false, runs in the user's Python
 * through the run's worker (src/python/). As in Chaos Toolkit, an activity
 * sees only the secret scopes its provider lists in `secrets`, and receives
 * `configuration`/`secrets` only when its signature declares them.
 */
import { z } from 'zod';
import { ActivityFailed } from '../core/errors.js';
import type { PythonProvider, Secrets } from '../core/schema.js';
import { secondsToMs } from '../core/timers.js';
import type { ProviderRunner, RunScope } from '../engine/context.js';
import { nativeControls } from '../engine/controls.js';
import { pythonControl } from '../python/controls.js';
import { checkPythonActivity, checkPythonControl } from '../python/inspect.js';
import { runPython } from '../python/run-python.js';
import { checkArguments, lookupBuiltin, runBuiltin } from './builtin.js';

export const notNative = (module: string) => `Python module '${module}' has no native implementation`;

/** Chaos Toolkit's safeguards control, by its python module: run as safeguards, not loaded. */
export const SAFEGUARDS_CONTROL = 'chaosaddons.controls.safeguards';

/** `providerOptions.python`: what a caller (`faultline run --no-native`) chooses. */
export const PythonOptionsSchema = z.object({
  /** Run natively implemented modules natively (default true); false sends them to Python too. */
  native: z.boolean({ error: 'providerOptions.python.native: expected true or false' }).optional(),
});

function nativeFirst(scope: RunScope): boolean {
  return PythonOptionsSchema.parse(scope.options('python') ?? {}).native !== false;
}

/** The union of the secret scopes a provider lists: Chaos Toolkit hands a Python function one flat mapping. */
function listedSecrets(secrets: Secrets, scopes: readonly string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const scope of scopes ?? []) Object.assign(out, secrets[scope] ?? {});
  return out;
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

  async run(provider, ctx) {
    if (nativeFirst(ctx.scope)) {
      const found = lookupBuiltin(provider, notNative);
      if ('activity' in found) {
        return runBuiltin(found.activity, provider.arguments, {
          ...ctx,
          secrets: listedScopes(ctx.secrets, provider.secrets),
        });
      }
    }
    const python = runPython(ctx.scope, `Python activity ${provider.module}.${provider.func}`);
    const timeout =
      provider.timeout === undefined ? undefined : AbortSignal.timeout(secondsToMs(provider.timeout));
    const signal = timeout ? AbortSignal.any([ctx.signal, timeout]) : ctx.signal;
    try {
      const result = await python.call(
        {
          module: provider.module,
          func: provider.func,
          kwargs: provider.arguments ?? {},
          optional: {
            configuration: ctx.configuration,
            ...(provider.secrets ? { secrets: listedSecrets(ctx.secrets, provider.secrets) } : {}),
          },
        },
        signal,
      );
      if (result.missing) throw new ActivityFailed(result.message);
      return result.value;
    } catch (err) {
      if (timeout?.aborted && !ctx.signal.aborted) {
        throw new ActivityFailed(
          `${provider.module}.${provider.func} ran longer than its timeout of ${provider.timeout} s: its Python worker was stopped`,
        );
      }
      throw err;
    }
  },

  // Chaos Toolkit's messages name the activity: identical providers in two activities are checked apart.
  checkPerActivity: true,
  async check(provider, ctx) {
    const found = lookupBuiltin(provider, notNative);
    if ('activity' in found) return checkArguments(found.activity, provider.arguments ?? {});
    const issues = await checkPythonActivity(provider, ctx);
    // A native module without that function, and no Python package to run it: say what the native one has.
    if (found.issue.path === 'func' && issues.some((i) => i.path === 'module'))
      return [found.issue, ...issues.filter((i) => i.path !== 'module')];
    return issues;
  },

  // Native controls first (as for activities); any other python control runs in the run's worker.
  async loadControl(provider, control, scope) {
    const factory = nativeFirst(scope) ? nativeControls.get(provider.module) : undefined;
    if (factory) return factory((provider.arguments ?? {}) as Record<string, unknown>);
    return pythonControl(provider, control, scope);
  },
  isSafeguardControl: (provider) => provider.module === SAFEGUARDS_CONTROL,
  // A control module that cannot be found is a warning (the run carries on without it, as Chaos Toolkit's does).
  checkControl: (provider, control, ctx) =>
    nativeControls.get(provider.module) ? [] : checkPythonControl(provider, control, ctx),
};
