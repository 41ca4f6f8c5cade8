/**
 * A run's Python: one worker process per run (the run scope's `python`
 * value), started by the first Python activity or control and stopped when
 * the run ends. What it ran is recorded in the journal under
 * `faultline.python`, with the plain statement that faults Python code
 * injected are not in Faultline's ledger.
 */
import { ActivityFailed } from '../core/errors.js';
import type { RunScope, ScopedValue } from '../engine/run-scope.js';
import { noPython, type PythonInterpreter, resolvePython } from './interpreter.js';
import { type PythonCall, type PythonCallResult, PythonWorker } from './worker.js';

/** The journal's words on what Faultline cannot revert. */
export const NOT_LEDGERED =
  "faults injected by Python code are not in Faultline's ledger: Faultline cannot revert them; the experiment's rollbacks (and `faultline halt`, which interrupts the run) are what undo them";

export class RunPython implements ScopedValue {
  readonly #worker: PythonWorker;
  readonly #interpreter: PythonInterpreter;
  #calls = 0;
  #version: string | undefined;
  #workers = new Set<number>();

  constructor(interpreter: PythonInterpreter, scope: RunScope) {
    this.#interpreter = interpreter;
    this.#worker = new PythonWorker({
      python: interpreter,
      // Chaos Toolkit imports in the `chaos` process, whose working directory is the caller's.
      cwd: process.cwd(),
      env: scope.env,
      log: (level, message) => scope.log(level, message),
    });
  }

  async call(request: PythonCall, signal?: AbortSignal): Promise<PythonCallResult> {
    this.#calls++;
    const pending = this.#worker.call(request, signal);
    // The process exists from the call on (started lazily); an interrupted call leaves no pid to read after.
    const pid = this.#worker.pid;
    if (pid !== undefined) this.#workers.add(pid);
    try {
      return await pending;
    } finally {
      this.#version ??= this.#worker.info?.python;
    }
  }

  close(): Promise<void> {
    return this.#worker.stop();
  }

  journal(): unknown {
    if (this.#calls === 0) return undefined;
    return {
      interpreter: this.#interpreter.command,
      from: this.#interpreter.source,
      ...(this.#version ? { version: this.#version } : {}),
      calls: this.#calls,
      // More than one: a call was interrupted and the worker restarted for what had to run after it.
      workers: this.#workers.size,
      ledger: NOT_LEDGERED,
    };
  }
}

/** The run's Python, opened on first use; an ActivityFailed naming `what` when the host has none. */
export function runPython(scope: RunScope, what: string): RunPython {
  return scope.get('python', () => {
    const interpreter = resolvePython(scope.env);
    if (!interpreter) throw new ActivityFailed(`${what} needs Python 3, and ${noPython(scope.env)}`);
    return new RunPython(interpreter, scope);
  });
}
