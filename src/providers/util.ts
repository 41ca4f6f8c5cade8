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

/** Bytes of stdout (and of stderr) a process activity keeps by default: the rest is read and dropped. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/**
 * The per-stream output limit: FAULTLINE_MAX_OUTPUT_BYTES (a whole number of
 * bytes, at least 1024) or the default; anything else fails the activity,
 * naming the variable.
 */
export function maxOutputBytes(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.FAULTLINE_MAX_OUTPUT_BYTES;
  if (text === undefined || text.trim() === '') return DEFAULT_MAX_OUTPUT_BYTES;
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < 1024) {
    throw new ActivityFailed(
      `FAULTLINE_MAX_OUTPUT_BYTES: expected a whole number of bytes, at least 1024, got '${text}'`,
    );
  }
  return n;
}

/**
 * Keeps the first `limit` bytes of a stream and counts the rest: a process
 * that writes without end (`yes`) costs CPU until its timeout, never memory.
 * text() ends with a marker when something was dropped.
 */
export class BoundedOutput {
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #dropped = 0;

  constructor(readonly limit: number) {}

  push(chunk: Buffer): void {
    const room = this.limit - this.#kept;
    if (room >= chunk.length) {
      this.#chunks.push(chunk);
      this.#kept += chunk.length;
      return;
    }
    if (room > 0) {
      this.#chunks.push(chunk.subarray(0, room));
      this.#kept += room;
    }
    this.#dropped += chunk.length - Math.max(room, 0);
  }

  get dropped(): number {
    return this.#dropped;
  }

  text(): string {
    const text = Buffer.concat(this.#chunks).toString('utf8');
    if (this.#dropped === 0) return text;
    return `${text}\n[faultline: output truncated: kept the first ${this.limit} bytes, dropped ${this.#dropped} more (FAULTLINE_MAX_OUTPUT_BYTES)]`;
  }
}
