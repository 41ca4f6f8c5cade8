/** Small helpers the providers share. */
import { ActivityFailed } from '../core/errors.js';

/** The error a provider throws when the run's signal aborts it. */
export function abortedError(signal: AbortSignal, what: string): ActivityFailed {
  const reason =
    signal.reason instanceof Error ? signal.reason.message : signal.reason ? String(signal.reason) : '';
  return new ActivityFailed(`${what} was interrupted${reason ? `: ${reason}` : ''}`, {
    cause: signal.reason,
  });
}

/** An error as Python's `format_exception_only` shows it: `<Type>: <message>`, or just the type. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message ? `${err.name}: ${err.message}` : err.name;
  return `Error: ${String(err)}`;
}

/** A zod issue path (`['a', 0, 'b']`) in Issue form, under a prefix: `arguments.a[0].b`. */
export function issuePath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}
