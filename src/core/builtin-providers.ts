/**
 * Provider types whose `module` + `func` name a built-in activity (python: the
 * native implementations of Chaos Toolkit modules): the JSON Schema points them
 * at the built-ins' argument rules, and loading them loads the built-ins.
 *
 * Its own file, free of zod and of core/schema.ts (not even a type import:
 * schema.ts re-exports it, and a type-only cycle still counts), because the
 * composition root reads it and `faultline halt` loads the composition root.
 */
export const BUILTIN_PROVIDER_TYPES = ['faultline', 'python'] as const;

/** Whether a provider type runs built-in activities. */
export function runsBuiltins(type: string): boolean {
  return (BUILTIN_PROVIDER_TYPES as readonly string[]).includes(type);
}
