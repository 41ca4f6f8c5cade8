/** The registry of built-in activities; registrations live in src/activities/index.ts. */
import { Registry } from '../core/registry.js';
import { type BuiltinActivity, builtinKey } from './context.js';

export const builtinActivities = new Registry<BuiltinActivity>('built-in activity');

export function registerBuiltin(activity: BuiltinActivity): void {
  builtinActivities.register(builtinKey(activity.module, activity.func), activity);
}

export function findBuiltin(module: string, func: string): BuiltinActivity | undefined {
  return builtinActivities.get(builtinKey(module, func));
}

/** Typed declaration of a built-in activity: `run` gets its arguments as the schema outputs them. */
export function defineActivity<S extends BuiltinActivity['arguments']>(
  activity: BuiltinActivity<S>,
): BuiltinActivity {
  return activity as unknown as BuiltinActivity;
}
