/**
 * Controls: code that runs at Chaos Toolkit's hook points around the loading,
 * the experiment, the hypothesis, the method, the rollbacks and each activity.
 * A control is a Node module (`provider: {type: node, module}`) exporting any
 * of the hooks of `ControlHooks` (named exports, a default object, or a default
 * factory `(args) => hooks`). Errors raised by a hook are logged and ignored,
 * except `InterruptExecution`, which ends the run as `interrupted`, exactly as
 * in Chaos Toolkit.
 */

import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CheckContext } from '../core/check.js';
import { FaultlineError, InterruptExecution, type Issue } from '../core/errors.js';
import { Registry } from '../core/registry.js';
// Not from ./context.js, which imports this module's types (a cycle even type-only).
import type { LogLevel } from '../core/resource.js';
import type { Activity, Configuration, Control, Experiment, Hypothesis, Secrets } from '../core/schema.js';
import type { RunScope } from './run-scope.js';

export interface HookContext<C, S = undefined> {
  /** What the hook is about: the experiment, the hypothesis, the activity. Hooks may change it in place. */
  context: C;
  /** The state so far: the journal, the steady state, the runs, the activity run. */
  state: S;
  experiment: Experiment;
  configuration: Configuration;
  secrets: Secrets;
  /** The control's own `provider.arguments`, substituted. */
  arguments: Record<string, unknown>;
  /** Ends the run as `interrupted`. */
  interrupt(reason?: string): never;
}

export interface ControlHooks {
  configure?(ctx: Omit<HookContext<Experiment>, 'state'>): unknown;
  cleanup?(): unknown;
  beforeLoadingExperiment?(ctx: { source: string }): unknown;
  afterLoadingExperiment?(ctx: { source: string; experiment: Experiment }): unknown;
  beforeExperiment?(ctx: HookContext<Experiment>): unknown;
  afterExperiment?(ctx: HookContext<Experiment, unknown>): unknown;
  beforeHypothesis?(ctx: HookContext<Hypothesis>): unknown;
  afterHypothesis?(ctx: HookContext<Hypothesis, unknown>): unknown;
  beforeMethod?(ctx: HookContext<Experiment>): unknown;
  afterMethod?(ctx: HookContext<Experiment, unknown>): unknown;
  beforeRollback?(ctx: HookContext<Experiment>): unknown;
  afterRollback?(ctx: HookContext<Experiment, unknown>): unknown;
  beforeActivity?(ctx: HookContext<Activity>): unknown;
  afterActivity?(ctx: HookContext<Activity, unknown>): unknown;
}

export type HookName = Exclude<
  keyof ControlHooks,
  'configure' | 'cleanup' | 'beforeLoadingExperiment' | 'afterLoadingExperiment'
>;

/**
 * Native implementations of Chaos Toolkit python controls (registerNativeControl),
 * by python module: the python provider's loadControl looks them up.
 */
export type ControlFactory = (args: Record<string, unknown>) => ControlHooks;
export const nativeControls = new Registry<ControlFactory>('native control');

/** A control's provider: `{type: node | python, module, arguments?}`. */
export type ControlProvider = NonNullable<Control['provider']>;

/**
 * What a provider type does for controls (optional members of ProviderRunner).
 * Without `loadControl` the engine imports `module` as a Node module (the node
 * provider's way); without `isSafeguardControl` no control of the type is one.
 */
export interface ControlProviderHooks {
  /** Loads a control declared with this provider type; a thrown error refuses the run. */
  loadControl?(
    provider: ControlProvider,
    control: string,
    scope: RunScope,
  ): ControlHooks | Promise<ControlHooks>;
  /** Whether the control is one the engine runs as safeguards (its `arguments.probes`) rather than loads. */
  isSafeguardControl?(provider: ControlProvider): boolean;
  /** What validation can tell about a control of this type without loading it: warnings, not errors. */
  checkControl?(provider: ControlProvider, control: string, ctx: CheckContext): Issue[] | Promise<Issue[]>;
}

/** Where controls find their provider type's hooks: the run's providers (ProviderLookup). */
export interface ControlProviderLookup {
  get(type: string): ControlProviderHooks | undefined;
}

export interface LoadedControl {
  name: string;
  scope?: 'before' | 'after';
  automatic: boolean;
  hooks: ControlHooks;
  arguments: Record<string, unknown>;
}

function resolveModule(spec: string, baseDir: string): string {
  if (spec.startsWith('.') || isAbsolute(spec)) return pathToFileURL(resolve(baseDir, spec)).href;
  return pathToFileURL(createRequire(resolve(baseDir, 'noop.js')).resolve(spec)).href;
}

async function importModule(spec: string, baseDir: string): Promise<Record<string, unknown>> {
  const url = resolveModule(spec, baseDir);
  if (/\.(c|m)?ts$/.test(url)) {
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

/**
 * Loads one declared control (not a `ref`): by its provider type's `loadControl`
 * when the run's providers have one (python: the native controls), else as a Node module.
 */
export async function loadControl(
  decl: Control,
  baseDir: string,
  providers: ControlProviderLookup,
  scope: RunScope,
): Promise<LoadedControl> {
  const provider = decl.provider;
  if (!provider)
    throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `control '${decl.name}' must have a provider`);
  const args = (provider.arguments ?? {}) as Record<string, unknown>;
  let hooks: ControlHooks;
  const runner = providers.get(provider.type);
  if (runner?.loadControl) {
    hooks = await runner.loadControl(provider, decl.name, scope);
  } else {
    let mod: Record<string, unknown>;
    try {
      mod = await importModule(provider.module, baseDir);
    } catch (err) {
      throw new FaultlineError(
        'FAULTLINE_ERR_VALIDATION',
        `control '${decl.name}': cannot load module '${provider.module}': ${(err as Error).message}`,
      );
    }
    const def = mod.default;
    if (typeof def === 'function') hooks = (await (def as (a: unknown) => unknown)(args)) as ControlHooks;
    else if (def && typeof def === 'object') hooks = def as ControlHooks;
    else hooks = mod as ControlHooks;
  }
  return { name: decl.name, scope: decl.scope, automatic: decl.automatic !== false, hooks, arguments: args };
}

export interface ControlEnv {
  experiment: Experiment;
  configuration: Configuration;
  secrets: Secrets;
  log(level: LogLevel, message: string): void;
}

/**
 * Calls one hook on a list of controls, in order (the same order for "after"
 * hooks, as Chaos Toolkit does). Returns normally unless a control interrupts.
 */
export async function callHook<C, S>(
  controls: readonly LoadedControl[],
  hook: HookName,
  context: C,
  state: S,
  env: ControlEnv,
): Promise<void> {
  const when = hook.startsWith('before') ? 'before' : 'after';
  for (const control of controls) {
    if (control.scope && control.scope !== when) continue;
    const fn = control.hooks[hook] as ((ctx: HookContext<C, S>) => unknown) | undefined;
    if (typeof fn !== 'function') continue;
    try {
      await fn.call(control.hooks, {
        context,
        state,
        experiment: env.experiment,
        configuration: env.configuration,
        secrets: env.secrets,
        arguments: control.arguments,
        interrupt(reason?: string): never {
          throw new InterruptExecution(reason ?? `control '${control.name}' interrupted the run`);
        },
      });
    } catch (err) {
      if (err instanceof InterruptExecution) throw err;
      env.log(
        'warn',
        `control '${control.name}' failed in ${hook}: ${(err as Error)?.message ?? String(err)}`,
      );
    }
  }
}

/**
 * The controls that apply below the experiment level: global and top-level
 * ones marked automatic (the default), then the level's own (`{ref}` entries
 * pull in a top-level control).
 */
export function controlsFor(
  base: readonly LoadedControl[],
  topLevel: readonly LoadedControl[],
  own: readonly LoadedControl[],
): LoadedControl[] {
  const out = [...base, ...topLevel].filter((c) => c.automatic);
  for (const c of own) if (!out.includes(c)) out.push(c);
  return out;
}

/** Loads a list of declarations; `{ref}` entries resolve against already-loaded top-level controls. */
export async function loadControls(
  decls: readonly Control[] | undefined,
  baseDir: string,
  topLevel: readonly LoadedControl[] = [],
  /** The run's providers (with every type `decls` names): their control hooks load python controls. */
  providers: ControlProviderLookup,
  /** The run's scope: a python control's hooks run in the run's Python worker. */
  scope: RunScope,
): Promise<LoadedControl[]> {
  const out: LoadedControl[] = [];
  for (const decl of decls ?? []) {
    if (decl.ref && !decl.provider) {
      const found = topLevel.find((c) => c.name === decl.ref);
      if (!found)
        throw new FaultlineError(
          'FAULTLINE_ERR_VALIDATION',
          `control reference '${decl.ref}' cannot be found`,
        );
      out.push(found);
    } else {
      out.push(await loadControl(decl, baseDir, providers, scope));
    }
  }
  return out;
}

/** Loading hooks run for global controls only: the experiment's own are not loaded yet. */
export async function callLoadingHook(
  controls: readonly LoadedControl[],
  hook: 'beforeLoadingExperiment' | 'afterLoadingExperiment',
  ctx: { source: string; experiment?: Experiment },
): Promise<void> {
  for (const control of controls) {
    const fn = control.hooks[hook] as ((c: typeof ctx) => unknown) | undefined;
    if (typeof fn !== 'function') continue;
    if (control.scope && !hook.startsWith(control.scope)) continue;
    try {
      await fn.call(control.hooks, ctx);
    } catch (err) {
      if (err instanceof InterruptExecution) {
        throw new FaultlineError(
          'FAULTLINE_ERR_INTERRUPTED',
          `control '${control.name}' stopped the loading: ${err.message}`,
        );
      }
    }
  }
}
