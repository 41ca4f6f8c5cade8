/**
 * Runs one run in a worker thread (run-worker.ts) and gives back its journal, as runFromSource
 * would: the Runner's way since a run sharing the server's event loop measured the server's HTTP work
 * (viewers connecting, the dashboard, the API) as its own latency. The run is the same call in the
 * same process: the ledger, the home and the dead-man watchdog are the process's, so a server killed
 * mid-run leaves its faults in the ledger for the next start's recovery, as before.
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type ErrorCode, FaultlineError } from '../core/errors.js';
import type { Journal } from '../core/journal.js';
import type { GrantedApproval } from '../core/policy.js';
import { entryBeside } from '../faults/child-entry.js';
import type { FleetConnectOptions } from '../fleet/connect.js';
import type { LiveEvent } from './live-state.js';

/** What a run's thread is started with (structured-cloned). */
export interface RunWorkerData {
  file: string;
  cwd: string;
  home: string;
  env: Record<string, string | undefined>;
  runId: string;
  fleet?: FleetConnectOptions | undefined;
  /** The approval the server checked when it queued this production run (journal: faultline.policy). */
  approval?: GrantedApproval | undefined;
  /** Configuration given over the experiment's own (a Chaos Monkey schedule's picked targets). */
  configuration?: Record<string, unknown> | undefined;
}

/** What a run's thread posts back. */
export type RunWorkerMessage =
  | { type: 'event'; event: LiveEvent }
  | { type: 'done'; journal: Journal }
  | { type: 'error'; code?: ErrorCode; message: string };

export interface RunInThreadOptions extends RunWorkerData {
  /** Aborting interrupts the run (its faults are reverted); the promise still waits for its journal. */
  signal: AbortSignal;
  /** Each of the run's events as the live view shows it. */
  onEvent: (event: LiveEvent) => void;
}

/**
 * The run's journal once it ended; rejects with a FaultlineError when it was refused before it
 * started (validation, a policy, the blast radius, a halt), as runFromSource throws one.
 */
export function runInThread(opts: RunInThreadOptions): Promise<Journal> {
  const { signal, onEvent, ...data } = opts;
  const entry = entryBeside(import.meta.url, 'run-worker');
  return new Promise<Journal>((resolve, reject) => {
    // From src/ (tests, benchmarks) the entry is TypeScript: the thread registers tsx first (a
    // worker's execArgv does not take `--import` on Node 20).
    const worker = entry.loader
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(entry.script).href)}); });`,
          { eval: true, workerData: data satisfies RunWorkerData },
        )
      : new Worker(entry.script, { workerData: data satisfies RunWorkerData });
    let settled = false;
    const abort = () => worker.postMessage({ type: 'abort', reason: String(signal.reason ?? 'aborted') });
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', abort);
      fn();
      // The run has ended (reverts done): nothing it left open may keep the thread.
      void worker.terminate();
    };
    worker.on('message', (m: RunWorkerMessage) => {
      if (m.type === 'event') onEvent(m.event);
      else if (m.type === 'done') settle(() => resolve(m.journal));
      else
        settle(() =>
          reject(m.code !== undefined ? new FaultlineError(m.code, m.message) : new Error(m.message)),
        );
    });
    worker.on('error', (err) => settle(() => reject(err)));
    worker.on('exit', (code) =>
      settle(() => reject(new Error(`the run's thread exited (code ${code}) before the run ended`))),
    );
  });
}
