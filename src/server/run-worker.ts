/**
 * A server's run in a thread of its own (node:worker_threads): runFromSource as `faultline run` calls
 * it, with the run's events turned into the live view's (toLiveEvent) here and posted to the server's
 * thread, whose LiveHub sends them to viewers. The run's timers, probes, load generator and their
 * sockets then never wait for the server's HTTP work: 500 browsers connecting at once cost the server's
 * thread about half a second, which a run sharing that thread would measure as latency.
 *
 * Messages in: `{type: 'abort', reason}`. Out: `{type: 'event', event}` (a LiveEvent), then one of
 * `{type: 'done', journal}` or `{type: 'error', ...}` (a FaultlineError's code and message: refused).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isFaultlineError } from '../core/errors.js';
import { runFromSource } from '../lib/run-source.js';
import { toLiveEvent } from './live.js';
import type { RunWorkerData, RunWorkerMessage } from './run-thread.js';

const port = parentPort;
if (!port) throw new Error('run-worker.ts runs as a worker thread (see run-thread.ts)');
const data = workerData as RunWorkerData;
const controller = new AbortController();
port.on('message', (m: { type: 'abort'; reason: string }) => {
  if (m.type === 'abort') controller.abort(m.reason);
});
const post = (m: RunWorkerMessage) => port.postMessage(m);

try {
  const result = await runFromSource(data.file, {
    cwd: data.cwd,
    home: data.home,
    env: data.env,
    runId: data.runId,
    signal: controller.signal,
    onEvent: (e) => {
      const live = toLiveEvent(e);
      if (live) post({ type: 'event', event: live });
    },
    ...(data.fleet ? { fleet: data.fleet } : {}),
    ...(data.approval ? { approval: data.approval } : {}),
    ...(data.configuration ? { vars: { configuration: data.configuration } } : {}),
  });
  post({ type: 'done', journal: result.journal });
} catch (err) {
  post(
    isFaultlineError(err)
      ? { type: 'error', code: err.code, message: err.message }
      : { type: 'error', message: (err as Error)?.message ?? String(err) },
  );
}
// Whatever the run left open (a NATS connection, an unref'd timer) must not keep the thread alive.
port.close();
