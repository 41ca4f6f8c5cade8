/**
 * Chaos Toolkit's Python controls, run in the run's Python worker. A control
 * module's hook functions (`before_activity_control`, ...) are found once, at
 * load; each hook is then one call with Chaos Toolkit's arguments: `context`
 * and the control's own arguments always, `state`, `experiment`,
 * `configuration`, `secrets`, `settings` and `extensions` when the function's
 * signature names them. Controls work by changing what they are handed, so
 * the objects come back and are merged into the run's own in place (keeping
 * the identity of what the engine holds on to, such as activities). A hook
 * that raises chaoslib's InterruptExecution interrupts the run; a module that
 * cannot be imported is a warning and the run carries on without it, as in
 * Chaos Toolkit.
 */
import { isDeepStrictEqual } from 'node:util';
import { InterruptExecution } from '../core/errors.js';
import type { ControlHooks, ControlProvider, HookContext } from '../engine/controls.js';
import type { RunScope } from '../engine/run-scope.js';
import { runPython } from './run-python.js';
import { PythonError } from './worker.js';

/** Our hook names -> Chaos Toolkit's function names. */
const PYTHON_HOOKS = {
  configure: 'configure_control',
  cleanup: 'cleanup_control',
  beforeLoadingExperiment: 'before_loading_experiment_control',
  afterLoadingExperiment: 'after_loading_experiment_control',
  beforeExperiment: 'before_experiment_control',
  afterExperiment: 'after_experiment_control',
  beforeHypothesis: 'before_hypothesis_control',
  afterHypothesis: 'after_hypothesis_control',
  beforeMethod: 'before_method_control',
  afterMethod: 'after_method_control',
  beforeRollback: 'before_rollback_control',
  afterRollback: 'after_rollback_control',
  beforeActivity: 'before_activity_control',
  afterActivity: 'after_activity_control',
} as const satisfies Record<keyof ControlHooks, string>;

type HookName = keyof typeof PYTHON_HOOKS;

/**
 * The objects a hook may change and hand back, the widest first: the context
 * (an activity) is also inside the experiment, and Python changed its own copy
 * of each, so the narrower change is merged last and wins.
 */
const RETURNED = ['experiment', 'configuration', 'secrets', 'state', 'context'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !ArrayBuffer.isView(v);
}

/**
 * Makes `target` equal to `source` in place, recursing where both hold an
 * object (or both an array) so that nested objects keep their identity.
 */
export function mergeInPlace(target: unknown, source: unknown): void {
  if (Array.isArray(target) && Array.isArray(source)) {
    for (let i = 0; i < source.length; i++) {
      if (i < target.length && sameKind(target[i], source[i])) mergeInPlace(target[i], source[i]);
      else target[i] = source[i];
    }
    target.length = source.length;
    return;
  }
  if (!isObject(target) || !isObject(source) || Array.isArray(target) || Array.isArray(source)) return;
  for (const key of Object.keys(target)) if (!Object.hasOwn(source, key)) delete target[key];
  for (const [key, value] of Object.entries(source)) {
    if (sameKind(target[key], value)) mergeInPlace(target[key], value);
    else target[key] = value;
  }
}

function sameKind(a: unknown, b: unknown): boolean {
  return isObject(a) && isObject(b) && Array.isArray(a) === Array.isArray(b);
}

/**
 * Loads a Python control: its hooks, each a call in the run's worker. A
 * module that cannot be loaded gives no hooks and one warning.
 */
export async function pythonControl(
  provider: ControlProvider,
  control: string,
  scope: RunScope,
): Promise<ControlHooks> {
  const module = provider.module;
  let python: ReturnType<typeof runPython>;
  let found: string[];
  try {
    python = runPython(scope, `control '${control}'`);
    const r = await python.call({ module: 'faultline_bridge', func: 'hooks_of', kwargs: { module } });
    found = r.missing ? [] : (r.value as string[]);
  } catch (err) {
    scope.log(
      'warn',
      `control '${control}': could not load Python module '${module}' (${(err as Error).message.split('\n')[0]}): the run carries on without it, as Chaos Toolkit's does`,
    );
    return {};
  }
  const hooks: ControlHooks = {};
  for (const [ours, theirs] of Object.entries(PYTHON_HOOKS) as [HookName, string][]) {
    if (!found.includes(theirs)) continue;
    (hooks as Record<string, unknown>)[ours] = async (ctx?: Partial<HookContext<unknown, unknown>>) => {
      const experiment = ctx?.experiment;
      const args = (ctx?.arguments ?? provider.arguments ?? {}) as Record<string, unknown>;
      // Chaos Toolkit calls cleanup_control() bare; a cleanup that names one of its arguments still gets it.
      const kwargs: Record<string, unknown> =
        ours === 'cleanup'
          ? {}
          : ours === 'configure'
            ? { ...args }
            : { context: contextOf(ours, ctx), ...args };
      const optional: Record<string, unknown> = ours === 'cleanup' ? { ...args } : {};
      if (ctx && 'state' in ctx) optional.state = ctx.state ?? null;
      if (experiment) {
        optional.experiment = experiment;
        optional.extensions = (experiment as { extensions?: unknown }).extensions ?? null;
      }
      if (ctx?.configuration) optional.configuration = ctx.configuration;
      if (ctx?.secrets) optional.secrets = ctx.secrets;
      // Chaos Toolkit's settings file is not Faultline's: a control asking for settings gets an empty mapping.
      optional.settings = {};
      try {
        const r = await python.call({ module, func: theirs, kwargs, optional, return: [...RETURNED] });
        if (r.missing) return;
        const handed: Record<string, unknown> = { ...optional, context: kwargs.context };
        for (const name of RETURNED) {
          const sent = handed[name];
          // Unchanged copies are skipped: merging the experiment as sent would undo a change to the context.
          if (!(name in r.returned) || sent === undefined || isDeepStrictEqual(sent, r.returned[name]))
            continue;
          mergeInPlace(sent, r.returned[name]);
        }
      } catch (err) {
        if (err instanceof PythonError && err.interrupt) {
          throw new InterruptExecution(`control '${control}' interrupted the run: ${err.message}`);
        }
        throw err;
      }
    };
  }
  return hooks;
}

/** What a hook's `context` is: the loading hooks give the source (before) or the experiment (after). */
function contextOf(
  hook: HookName,
  ctx: Partial<HookContext<unknown, unknown>> & { source?: string } = {},
): unknown {
  if (hook === 'beforeLoadingExperiment') return ctx.source ?? null;
  if (hook === 'afterLoadingExperiment') return ctx.experiment ?? null;
  return ctx.context ?? null;
}
