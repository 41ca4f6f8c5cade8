/**
 * A sub-millisecond wake-up for the load generator's schedule without spinning
 * the event loop. Node's timers have millisecond granularity (and fire about
 * 1 ms late), so between requests due less than 2 ms apart the generator used
 * to spin on setImmediate: a whole core at any rate above 500 req/s, which on
 * a shared machine also gets the process descheduled in long slices (the
 * kernel favours tasks that sleep), sending requests in bursts. Here a worker
 * thread sleeps on a futex (Atomics.wait, microsecond timeouts) until the
 * requested time and posts a message, which wakes the main thread's event loop
 * out of its poll: the process sleeps between requests.
 *
 * Protocol over a SharedArrayBuffer: the main thread writes the absolute wake
 * time (performance.timeOrigin + now, ms) and bumps a generation counter; the
 * worker serves each generation at most once. Generation -1 stops the worker.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const gen = new Int32Array(workerData, 0, 1);
const at = new Float64Array(workerData, 8, 1);
const now = () => performance.timeOrigin + performance.now();
let served = -2;
parentPort.postMessage('ready');
for (;;) {
  const g = Atomics.load(gen, 0);
  if (g < 0) break;
  if (g === served) { Atomics.wait(gen, 0, g); continue; }
  const target = at[0];
  const wait = target - now();
  if (target > 0 && wait > 0) { Atomics.wait(gen, 0, g, wait); continue; }
  served = g;
  if (target > 0) parentPort.postMessage(g);
}
`;

export class Waker {
  readonly #gen: Int32Array;
  readonly #at: Float64Array;
  readonly #worker: Worker;
  #ready = false;
  #pending = -1;
  #closed = false;

  /** `onWake` runs on the main thread when a time set by wakeAt() has come. */
  constructor(onWake: () => void) {
    const shared = new SharedArrayBuffer(16);
    this.#gen = new Int32Array(shared, 0, 1);
    this.#at = new Float64Array(shared, 8, 1);
    this.#worker = new Worker(WORKER, { eval: true, workerData: shared });
    this.#worker.unref();
    this.#worker.on('message', (m: unknown) => {
      if (m === 'ready') this.#ready = true;
      else if (m === this.#pending && !this.#closed) {
        this.#pending = -1;
        onWake();
      }
    });
    this.#worker.on('error', () => {
      this.#ready = false;
    });
  }

  /** Whether wakeAt() can be used (the worker is running); until then, spin. */
  get ready(): boolean {
    return this.#ready && !this.#closed;
  }

  /** Calls onWake at `ms` on the performance clock (replaces an earlier request). */
  wakeAt(ms: number): void {
    this.#at[0] = performance.timeOrigin + ms;
    this.#pending = this.#bump();
  }

  /** A new generation (wrapping well before the sign bit), and the worker told. */
  #bump(): number {
    const g = (Atomics.load(this.#gen, 0) + 1) & 0x3fffffff;
    Atomics.store(this.#gen, 0, g);
    Atomics.notify(this.#gen, 0);
    return g;
  }

  /** Forgets a pending wake-up. */
  cancel(): void {
    if (this.#pending < 0) return;
    this.#pending = -1;
    this.#at[0] = 0;
    this.#bump();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = -1;
    Atomics.store(this.#gen, 0, -1);
    Atomics.notify(this.#gen, 0);
    void this.#worker.terminate();
  }
}
