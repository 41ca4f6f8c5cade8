/**
 * The `faultline` provider: Faultline's built-in activities, by `module` and
 * `func` (listed by `faultline discover`). Arguments are validated by the
 * activity's own schema, at load time (check) and again before it runs.
 * The lookup and the run are shared with the `python` provider, which runs
 * the native implementations of Chaos Toolkit python functions.
 */
import { ActivityFailed, InterruptExecution, type Issue, isFaultlineError } from '../core/errors.js';
import { onWorkloads } from '../core/fleet.js';
import type { BuiltinProvider } from '../core/schema.js';
import { filledByWorkload } from '../core/workload.js';
import { builtinActivities, findBuiltin } from '../engine/builtins.js';
import type { ActivityContext, BuiltinActivity, ProviderRunner } from '../engine/context.js';
import { abortedError, errorText, issuePath } from './util.js';

interface ModuleFunc {
  module: string;
  func: string;
  arguments?: unknown;
}

/** The funcs registered under a module, for "did you mean" messages. */
export function funcsOf(module: string): string[] {
  return builtinActivities
    .entries()
    .map(([, a]) => a)
    .filter((a) => a.module === module)
    .map((a) => a.func)
    .sort();
}

/**
 * Validates `arguments` against the activity's schema; issues at `arguments.<field>`. With
 * `forWorkloads` (the action's targets pick workloads), what the agent fills from the workload
 * may be absent (core/workload.ts filledByWorkload).
 */
export function checkArguments(activity: BuiltinActivity, args: unknown, forWorkloads = false): Issue[] {
  const parsed = activity.arguments.safeParse(args ?? {});
  if (parsed.success) return [];
  return (
    parsed.error.issues
      // A `${name}` value is only known at run time (then it is checked again, substituted).
      .filter((i) => !isPlaceholder(valueAt(args, i.path)))
      .filter((i) => !(forWorkloads && filledByWorkload(args, i.path, i.message)))
      .map((i) => ({ path: issuePath('arguments', i.path), message: i.message }))
  );
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

const isPlaceholder = (v: unknown) => typeof v === 'string' && /\$\{[^}]+\}/.test(v);

/** Looks the activity up, or explains (as an Issue) why it is not there. */
export function lookupBuiltin(
  provider: ModuleFunc,
  notFound: (module: string) => string,
): { activity: BuiltinActivity } | { issue: Issue } {
  const activity = findBuiltin(provider.module, provider.func);
  if (activity) return { activity };
  const funcs = funcsOf(provider.module);
  if (funcs.length > 0) {
    return {
      issue: {
        path: 'func',
        message: `'${provider.module}' has no function '${provider.func}' (available: ${funcs.join(', ')}; see \`faultline discover\`)`,
      },
    };
  }
  return { issue: { path: 'module', message: notFound(provider.module) } };
}

/** Runs a built-in activity with its arguments parsed by its schema. */
export async function runBuiltin(
  activity: BuiltinActivity,
  args: unknown,
  ctx: ActivityContext,
): Promise<unknown> {
  if (ctx.signal.aborted) throw abortedError(ctx.signal, `${activity.module}.${activity.func}`);
  const parsed = activity.arguments.safeParse(args ?? {});
  // A fault aimed at workloads goes to the agents as given: each fills what its workload provides
  // and parses the whole with the kind's schema before anything acts.
  if (!parsed.success && ctx.targets && onWorkloads(ctx.targets)) {
    if (parsed.error.issues.every((i) => filledByWorkload(args, i.path, i.message))) {
      return runChecked(activity, args as Record<string, unknown>, ctx);
    }
  }
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((i) => `${issuePath('arguments', i.path)}: ${i.message}`)
      .join('; ');
    throw new ActivityFailed(`invalid arguments for ${activity.module}.${activity.func}: ${detail}`);
  }
  return runChecked(activity, parsed.data, ctx);
}

async function runChecked(activity: BuiltinActivity, args: unknown, ctx: ActivityContext): Promise<unknown> {
  try {
    return await activity.run(args, ctx);
  } catch (err) {
    if (ctx.signal.aborted) throw abortedError(ctx.signal, `${activity.module}.${activity.func}`);
    if (err instanceof ActivityFailed || err instanceof InterruptExecution) throw err;
    if (isFaultlineError(err)) throw new ActivityFailed(err.message, { cause: err });
    throw new ActivityFailed(errorText(err), { cause: err });
  }
}

const unknownBuiltin = (module: string) =>
  `unknown built-in module '${module}': see \`faultline discover\` for the built-in activities`;

export const builtinProvider: ProviderRunner<BuiltinProvider> = {
  type: 'faultline',

  run(provider, ctx) {
    const found = lookupBuiltin(provider, unknownBuiltin);
    if ('issue' in found) return Promise.reject(new ActivityFailed(found.issue.message));
    return runBuiltin(found.activity, provider.arguments, ctx);
  },

  check(provider, ctx) {
    const found = lookupBuiltin(provider, unknownBuiltin);
    if ('issue' in found) return [found.issue];
    return checkArguments(
      found.activity,
      provider.arguments ?? {},
      ctx.targets !== undefined && onWorkloads(ctx.targets),
    );
  },

  // What the engine reads off the activity: a fault action's kind (the preflight), a load probe's window metric (recovery time).
  builtinOf: (provider) => findBuiltin(provider.module, provider.func),
};
