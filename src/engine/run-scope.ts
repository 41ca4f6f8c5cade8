/**
 * What lives exactly as long as one run and is shared by its activities and
 * controls: a provider's per-run state (the Python worker: one process per
 * run, started by the first Python activity, stopped after the rollbacks).
 * The engine closes the scope when the run ends, on every path, last opened
 * first; a provider never needs a global keyed by run id.
 */
import type { LogLevel } from '../core/resource.js';

/** A per-run value: closed when the run ends; may add what it measured to the journal. */
export interface ScopedValue {
  close(): Promise<void>;
  /** Recorded under the journal's `faultline[key]` when the run ends (undefined: nothing). */
  journal?(): unknown;
}

export interface RunScope {
  readonly runId: string;
  /** The run's environment (which Python, PYTHONPATH): RunOptions.env or process.env. */
  readonly env: NodeJS.ProcessEnv;
  /** The caller's options for one provider type (RunOptions.providerOptions[type]), unvalidated. */
  options(type: string): unknown;
  /** The run's one value for `key`: opened on first use, closed when the run ends. */
  get<T extends ScopedValue>(key: string, open: () => T): T;
  log(level: LogLevel, message: string): void;
}

export class RunScopeImpl implements RunScope {
  readonly #values = new Map<string, ScopedValue>();
  readonly #options: Readonly<Record<string, unknown>>;
  #closed = false;

  constructor(
    readonly runId: string,
    readonly env: NodeJS.ProcessEnv,
    options: Readonly<Record<string, unknown>> | undefined,
    readonly log: (level: LogLevel, message: string) => void,
  ) {
    this.#options = options ?? {};
  }

  options(type: string): unknown {
    return this.#options[type];
  }

  get<T extends ScopedValue>(key: string, open: () => T): T {
    const found = this.#values.get(key);
    if (found) return found as T;
    // A value opened after the end (a straggling background activity) would never be closed.
    if (this.#closed) throw new Error(`the run has ended: '${key}' cannot be opened any more`);
    const value = open();
    this.#values.set(key, value);
    return value;
  }

  /** Closes every value (last opened first) and returns what each recorded for the journal. */
  async close(): Promise<Record<string, unknown>> {
    this.#closed = true;
    const recorded: Record<string, unknown> = {};
    for (const [key, value] of [...this.#values].reverse()) {
      try {
        await value.close();
      } catch (err) {
        this.log('warn', `could not close the run's ${key}: ${(err as Error).message}`);
      }
      const data = value.journal?.();
      if (data !== undefined) recorded[key] = data;
    }
    this.#values.clear();
    return recorded;
  }
}
