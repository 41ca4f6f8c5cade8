/**
 * An open-model HTTP load generator: requests are due at fixed intended times
 * (start + i / rate) whatever the responses do, and latency runs from the
 * intended time, so a stalled server shows up in the percentiles instead of
 * silently slowing the schedule down (no coordinated omission). When the
 * concurrency cap is reached, a due request is dropped and counted, never delayed
 * (beyond one pass of the event loop, to read responses that have already arrived);
 * with `overflow: 'queue'` it waits for a free slot instead (wrk2's way), its
 * latency still counted from its intended time.
 * Between requests due under 2 ms apart it sleeps on a waker thread (./waker.ts);
 * above 6,700 req/s it sends in batches of up to 1 ms (#batchWait).
 *
 * `http:` requests go through a minimal HTTP/1.1 client (./http1.ts: request
 * bytes serialized once per template, keep-alive connections opened on demand
 * up to the in-flight cap, an incremental response parser); https and what
 * that client does not handle go through undici's dispatcher API (a Pool of up
 * to `concurrency` keep-alive connections per origin). A sweep every few
 * milliseconds aborts requests past their timeout.
 *
 * @example
 * const summary = await runLoad({ rate: 200, durationMs: 2000, requests: [{ url }] });
 * summary.latency.p99; // ms
 */
import { performance } from 'node:perf_hooks';
import { type Dispatcher, Pool } from 'undici';
import { LatencyHistogram, type LatencySummary, round3 } from './histogram.js';
import { connectHost, type Http1Handler, Http1Pool, type Http1Request, http1Template } from './http1.js';
import { type LoadOptions, type LoadOptionsInput, parseLoadOptions } from './schema.js';
import { type Counts, LoadSeries, type Outcome, type SecondStats, type WindowMetrics } from './series.js';
import { Waker } from './waker.js';

export interface LoadSummary {
  target_rate: number;
  /** Milliseconds from the first due request to the end of the schedule. */
  duration_ms: number;
  /** Requests due by the schedule (sent + dropped + timed out while queued). */
  scheduled: number;
  sent: number;
  /** Requests sent per second. */
  achieved_rate: number;
  /** Completed requests per second, from the start to the last completion (a queue that drains late counts its time). */
  throughput: number;
  totals: Counts;
  /** Latency from intended send time to the end of the response, ms (responses only). */
  latency: LatencySummary & { mean: number };
  /** How late requests left compared with their intended time, ms. */
  send_jitter: { p50: number; p99: number; max: number };
  /** Connection errors by code (ECONNREFUSED, UND_ERR_SOCKET, ...). */
  errors: Record<string, number>;
  series: SecondStats[];
}

export interface LoadRunOptions {
  signal?: AbortSignal;
  /** Called as each second of the run closes (live views). */
  onSecond?(stats: SecondStats): void;
  /**
   * `false`: send `http:` requests through undici too, not the built-in
   * HTTP/1.1 client (comparisons, or a server the fast path mishandles).
   */
  http1?: boolean;
  /**
   * `true`: wait for requests due less than 2 ms apart by spinning the event
   * loop (setImmediate) instead of sleeping on the waker thread (./waker.ts).
   */
  spin?: boolean;
}

/** Below this wait the schedule spins to the due time; above it (up to 2 ms) it sleeps on the waker. */
const SPIN_MS = 0.15;
/** Above 1 / SPIN_MS req/s, the least time between wake-ups (requests due meanwhile go out together). */
const BATCH_MS = 1;
/** A batch holds at most this share of the in-flight cap, so that batching alone never reaches it. */
const BATCH_CAP_SHARE = 0.25;
/** The waker is asked for this much before the due time (its thread and the message take about that long). */
const WAKE_EARLY_MS = 0.1;

interface Prepared {
  /** The fast path (`http:`), or undefined for undici. */
  fast: { pool: Http1Pool; request: Http1Request } | undefined;
  pool: Pool | undefined;
  origin: string;
  path: string;
  method: Dispatcher.HttpMethod;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

const TIMEOUT = Symbol('timeout');
const STOPPED = Symbol('stopped');

interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (reason: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A generator's lifecycle, one state at a time (cockatiel's InnerState):
 *
 *   idle --start()--> running --stop(), the duration's end, the signal--> stopping --drained--> stopped
 *   idle --stop(), or start() with the signal already aborted-----------------------------> stopped
 *
 * `result` is the one summary start() and stop() both resolve with. What only the
 * running schedule needs (batching, the cap's pass) lives in its state, so nothing
 * of it can be read, or left set, once the schedule has ended.
 */
type State =
  | { readonly kind: 'idle' }
  | {
      readonly kind: 'running';
      readonly result: Deferred<LoadSummary>;
      /** Requests due closer together than a spin: sent in batches (see #batchWait). */
      readonly batching: boolean;
      /** The least time between wake-ups when batching (BATCH_MS, less with a tight cap). */
      readonly batchMs: number;
      /** The cap was reached while requests were overdue and the event loop has been given its one pass. */
      capPass: boolean;
    }
  | {
      readonly kind: 'stopping';
      readonly result: Deferred<LoadSummary>;
      /** ms from the start to the end of the schedule (what the summary's duration reports). */
      readonly scheduleEnd: number;
      /** Called when nothing is in flight or queued any more. */
      readonly drained: () => void;
    }
  | {
      readonly kind: 'stopped';
      readonly result: Deferred<LoadSummary>;
      readonly scheduleEnd: number;
      /** false when stopped before it started: its clock stays at 0. */
      readonly ran: boolean;
    };
type Running = Extract<State, { kind: 'running' }>;
/** `idle`, `running`, `stopping` (the schedule has ended, requests in flight drain) or `stopped`. */
export type LoadState = State['kind'];

class InFlight implements Dispatcher.DispatchHandlers, Http1Handler {
  status = 0;
  abortFn: ((err: Error) => void) | undefined;
  done = false;
  constructor(
    readonly gen: LoadGenerator,
    /** Intended send time, ms on the performance clock. */
    readonly due: number,
    readonly deadline: number,
  ) {}
  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
  }
  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    this.gen.settle(this, this.status);
  }
  onError(err: Error): void {
    this.gen.settle(this, classify(err), err);
  }
  onUpgrade(): void {}
  onBodySent(): void {}
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function classify(err: Error): Outcome {
  if ((err as { [TIMEOUT]?: boolean })[TIMEOUT]) return 'timeout';
  const code = (err as { code?: string }).code;
  return code && TIMEOUT_CODES.has(code) ? 'timeout' : 'error';
}

function timeoutError(): Error {
  return Object.assign(new Error('request timed out'), { [TIMEOUT]: true, code: 'FAULTLINE_LOAD_TIMEOUT' });
}

export class LoadGenerator {
  readonly options: LoadOptions;
  readonly series: LoadSeries;
  readonly #pools = new Map<string, Pool>();
  readonly #fastPools = new Map<string, Http1Pool>();
  readonly #templates: Prepared[];
  readonly #cumulative: number[];
  readonly #totalWeight: number;
  readonly #interval: number;
  readonly #inFlight = new Set<InFlight>();
  /** Intended send times of requests waiting for a slot (`overflow: queue`), oldest first. */
  #queued: number[] = [];
  #queueHead = 0;
  /** Queued requests that waited past the timeout: counted as timeouts, never sent. */
  #queueTimeouts = 0;
  /** When the last request was settled (ms from the start). */
  #lastSettled = 0;
  readonly #jitter = new LatencyHistogram(3);
  readonly #errors: Record<string, number> = {};
  readonly #run: LoadRunOptions;
  #state: State = { kind: 'idle' };
  /** When the schedule started (performance clock): every time below is ms from here. */
  #start = 0;
  #next = 0;
  #sent = 0;
  #reported = 0;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #waker: Waker | undefined;
  #second: NodeJS.Timeout | undefined;
  #onAbort = () => void this.stop({ abort: true });

  /** Validates the options (throws FAULTLINE_ERR_VALIDATION naming each field). Call start() to send. */
  constructor(options: LoadOptionsInput, run: LoadRunOptions = {}) {
    this.options = parseLoadOptions(options);
    this.#run = run;
    this.#interval = 1000 / this.options.rate;
    const timeout = this.options.timeoutMs;
    const poolFor = (origin: string): Pool => {
      let pool = this.#pools.get(origin);
      if (!pool) {
        pool = new Pool(origin, {
          connections: this.options.concurrency,
          pipelining: 1,
          connect: { timeout },
          // Backstops: the sweep enforces the timeout over the whole request.
          headersTimeout: timeout + 1000,
          bodyTimeout: timeout + 1000,
          keepAliveTimeout: 30_000,
        });
        this.#pools.set(origin, pool);
      }
      return pool;
    };
    const fastFor = (url: URL): Http1Pool => {
      let pool = this.#fastPools.get(url.origin);
      if (!pool) {
        pool = new Http1Pool(connectHost(url), Number(url.port) || 80);
        this.#fastPools.set(url.origin, pool);
      }
      return pool;
    };
    this.#templates = this.options.requests.map((r) => {
      const url = new URL(r.url);
      const body = r.body === undefined ? undefined : Buffer.from(r.body);
      const request = run.http1 === false ? undefined : http1Template(url, r.method, r.headers, body);
      return {
        fast: request ? { pool: fastFor(url), request } : undefined,
        pool: request ? undefined : poolFor(url.origin),
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: r.method as Dispatcher.HttpMethod,
        headers: r.headers,
        body,
      };
    });
    let sum = 0;
    this.#cumulative = this.options.requests.map((r) => (sum += r.weight));
    this.#totalWeight = sum;
    this.series = new LoadSeries(() => {
      const s = this.#state;
      return s.kind === 'idle' || (s.kind === 'stopped' && !s.ran) ? 0 : performance.now() - this.#start;
    });
  }

  /** Where the generator is in its lifecycle (see State). */
  get state(): LoadState {
    return this.#state.kind;
  }

  /** Starts sending; resolves with the summary when the duration has elapsed (or stop()). */
  start(): Promise<LoadSummary> {
    if (this.#state.kind !== 'idle') return this.#state.result.promise;
    const { signal } = this.#run;
    if (signal?.aborted) return this.#stopUnstarted();
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    // Only a rate with requests due less than 2 ms apart waits below timer precision.
    if (!this.#run.spin && this.#interval < 2.5) this.#waker = new Waker(this.#tick);
    const result = deferred<LoadSummary>();
    this.#state = {
      kind: 'running',
      result,
      batching: this.#waker !== undefined && this.#interval < SPIN_MS,
      batchMs: Math.min(BATCH_MS, this.options.concurrency * BATCH_CAP_SHARE * this.#interval),
      capPass: false,
    };
    this.#start = performance.now();
    const sweepMs = Math.max(2, Math.min(20, this.options.timeoutMs / 10));
    this.#sweep = setInterval(() => this.#sweepTimeouts(), sweepMs);
    this.#second = setInterval(() => this.#tickSeconds(), 100);
    this.#tick();
    return result.promise;
  }

  /** Requests currently awaiting a response. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Metrics over the last `windowMs` (probes, safeguards, live views). */
  metrics(windowMs: number): WindowMetrics {
    return this.series.window(windowMs);
  }

  /**
   * Stops the schedule. Without `abort`, in-flight requests finish (or time out)
   * and are counted; with it they are cancelled and not counted.
   */
  stop(opts: { abort?: boolean } = {}): Promise<LoadSummary> {
    const s = this.#state;
    switch (s.kind) {
      case 'idle':
        return this.#stopUnstarted();
      case 'running':
        return this.#endSchedule(s, 0, opts.abort === true);
      case 'stopping':
        if (opts.abort) this.#cancelAll();
        return s.result.promise;
      case 'stopped':
        return s.result.promise;
    }
  }

  /** idle -> stopped: nothing was sent; the pools made for the templates are closed. */
  #stopUnstarted(): Promise<LoadSummary> {
    const result = deferred<LoadSummary>();
    this.#state = { kind: 'stopped', result, scheduleEnd: 0, ran: false };
    this.#finish().then(result.resolve, result.reject);
    return result.promise;
  }

  /**
   * running -> stopping: no request is sent any more; those in flight finish (or,
   * with `abort`, are cancelled and not counted); once none is left -> stopped.
   * `atLeast`: the schedule's end when its duration ran out (it spans [0, duration)).
   */
  #endSchedule(run: Running, atLeast: number, abort: boolean): Promise<LoadSummary> {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#waker?.cancel();
    const { result } = run;
    const scheduleEnd = Math.max(performance.now() - this.#start, atLeast);
    const drained = deferred<void>();
    this.#state = { kind: 'stopping', result, scheduleEnd, drained: () => drained.resolve() };
    if (abort) this.#cancelAll();
    else this.#drainedIfIdle();
    drained.promise
      .then(() => this.#finish())
      .then((summary) => {
        this.#state = { kind: 'stopped', result, scheduleEnd, ran: true };
        result.resolve(summary);
      }, result.reject);
    return result.promise;
  }

  /** Tells a stopping generator that nothing is in flight or queued any more. */
  #drainedIfIdle(): void {
    const s = this.#state;
    if (s.kind === 'stopping' && this.#inFlight.size === 0 && this.#queueLength === 0) s.drained();
  }

  #cancelAll(): void {
    const err = Object.assign(new Error('load stopped'), { [STOPPED]: true });
    for (const r of this.#inFlight) {
      r.done = true;
      r.abortFn?.(err);
    }
    this.#inFlight.clear();
    this.#queued = [];
    this.#queueHead = 0;
    this.#drainedIfIdle();
  }

  async #finish(): Promise<LoadSummary> {
    for (const t of [this.#sweep, this.#second]) if (t) clearInterval(t);
    this.#waker?.close();
    this.#run.signal?.removeEventListener('abort', this.#onAbort);
    this.series.finish();
    await Promise.all([
      ...[...this.#pools.values()].map((p) => p.destroy().catch(() => {})),
      ...[...this.#fastPools.values()].map((p) => p.destroy()),
    ]);
    return this.summary();
  }

  #tick = (): void => {
    this.#timer = undefined;
    this.#immediate = undefined;
    const run = this.#state;
    if (run.kind !== 'running') return;
    const { durationMs } = this.options;
    const interval = this.#interval;
    let now = performance.now() - this.#start;
    for (;;) {
      const due = this.#next * interval;
      if (durationMs !== undefined && due >= durationMs) {
        // The schedule spans [0, duration): its last request is due one interval before the end.
        void this.#endSchedule(run, durationMs, false);
        return;
      }
      if (due > now) break;
      if (
        this.#inFlight.size >= this.options.concurrency &&
        !run.capPass &&
        this.options.overflow === 'drop'
      ) {
        // At the cap: one pass of the event loop first, which reads the responses that have
        // already arrived (finished before this send time) and frees their slots. Only
        // responses already there are counted; what is still at the cap after it is dropped.
        run.capPass = true;
        this.#immediate = setImmediate(this.#tick);
        return;
      }
      this.#fire(due, now);
      this.#next++;
      now = performance.now() - this.#start;
    }
    run.capPass = false;
    const wait = this.#next * interval - now;
    // Timers fire ~1 ms late at best: sleep on one only when the next request is far off;
    // closer, sleep on the waker thread (microsecond timeouts); spin only for the last moment,
    // and not at all when requests are due less than a spin apart.
    if (wait > 2) this.#timer = setTimeout(this.#tick, wait - 1.5);
    else if (wait > SPIN_MS && this.#waker?.ready)
      this.#waker.wakeAt(this.#start + this.#next * interval - WAKE_EARLY_MS);
    else if (run.batching && this.#waker?.ready) this.#batchWait(run, now);
    else this.#immediate = setImmediate(this.#tick);
  };

  /**
   * Requests due closer together than a spin would last. Spinning would be continuous
   * and take a core from the target being measured, and each wake-up of a sleeping
   * process costs kernel time (tens of µs on this VM), more than a request. So sleep
   * a batch (1 ms, as wrk2's millisecond timers; less when a quarter of the cap would
   * fall due sooner) and send what fell due meanwhile together; each request's
   * lateness is recorded as send jitter. CPU per request at 40k req/s: 13.1 µs with
   * 0.2 ms batches, 10.4 µs with 1 ms, autocannon 11.9 µs (docs/benchmarks.md).
   * With every slot busy the target is the limit, and a response always arrives before
   * the next batch would: poll the event loop instead of sleeping, so that no response
   * waits for a wake-up of this process while the target idles. At saturation that is
   * 1.00-1.15x autocannon's throughput against 0.93-0.97x sleeping, at no more CPU per
   * request (the loop always has work then). Polling lasts only while responses come
   * less than a spin apart: a slowed or stalled target (a latency fault) is waited for
   * asleep (at 10k req/s against 200 ms answers: 16% of a core instead of 21%).
   */
  #batchWait(run: Running, now: number): void {
    if (this.#inFlight.size >= this.options.concurrency && now - this.#lastSettled < SPIN_MS) {
      this.#immediate = setImmediate(this.#tick);
      return;
    }
    const waker = this.#waker as Waker;
    waker.wakeAt(this.#start + Math.max(this.#next * this.#interval, now + run.batchMs));
  }

  #fire(due: number, now: number): void {
    if (this.#inFlight.size >= this.options.concurrency) {
      if (this.options.overflow === 'queue') this.#queued.push(due);
      else this.series.drop(now);
      return;
    }
    this.#send(due, now);
  }

  get #queueLength(): number {
    return this.#queued.length - this.#queueHead;
  }

  /** Sends queued requests while slots are free; those that waited past the timeout count as timeouts. */
  #sendQueued(): void {
    while (this.#queueLength > 0 && this.#inFlight.size < this.options.concurrency) {
      const due = this.#queued[this.#queueHead++] as number;
      const now = performance.now() - this.#start;
      if (now - due >= this.options.timeoutMs) {
        this.#queueTimeouts++;
        this.series.record('timeout', now - due, now);
      } else this.#send(due, now);
    }
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queued.length) {
      this.#queued = this.#queued.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #send(due: number, now: number): void {
    const t = this.#pick();
    const r = new InFlight(this, due, now + this.options.timeoutMs);
    this.#inFlight.add(r);
    this.#sent++;
    this.#jitter.recordMs(now - due);
    try {
      if (t.fast) {
        t.fast.pool.dispatch(t.fast.request, r);
        return;
      }
      (t.pool as Pool).dispatch(
        { origin: t.origin, path: t.path, method: t.method, headers: t.headers, body: t.body },
        r,
      );
    } catch (err) {
      this.settle(r, 'error', err as Error);
    }
  }

  #pick(): Prepared {
    const templates = this.#templates;
    if (templates.length === 1) return templates[0] as Prepared;
    const x = Math.random() * this.#totalWeight;
    const i = this.#cumulative.findIndex((c) => x < c);
    return templates[i < 0 ? templates.length - 1 : i] as Prepared;
  }

  /** @internal called by a request's handler. */
  settle(r: InFlight, outcome: Outcome, err?: Error): void {
    if (r.done) return;
    r.done = true;
    this.#inFlight.delete(r);
    if (outcome === 'error' && err) {
      const code = (err as { code?: string }).code ?? err.name;
      this.#errors[code] = (this.#errors[code] ?? 0) + 1;
    }
    const t = performance.now() - this.#start;
    this.#lastSettled = t;
    this.series.record(outcome, t - r.due, t);
    if (this.#queueLength > 0) this.#sendQueued();
    this.#drainedIfIdle();
  }

  #sweepTimeouts(): void {
    if (this.#queueLength > 0) this.#sendQueued();
    const now = performance.now() - this.#start;
    for (const r of this.#inFlight) {
      if (r.deadline > now) continue;
      // Not yet on a socket (still connecting): count it now; undici finishes it later, ignored.
      if (r.abortFn) r.abortFn(timeoutError());
      if (!r.done) this.settle(r, 'timeout');
    }
  }

  #tickSeconds(): void {
    this.series.tick();
    const { seconds } = this.series;
    // Seconds also close when a later outcome is recorded: report from our own cursor.
    for (; this.#reported < seconds.length; this.#reported++) {
      const s = seconds[this.#reported];
      if (s) this.#run.onSecond?.(s);
    }
  }

  summary(): LoadSummary {
    const s = this.#state;
    const elapsed =
      s.kind === 'running' ? performance.now() - this.#start : s.kind === 'idle' ? 0 : s.scheduleEnd;
    const seconds = Math.max(elapsed, 1) / 1000;
    const totals = this.series.totals;
    const latency = this.series.latency;
    return {
      target_rate: this.options.rate,
      duration_ms: round3(elapsed),
      scheduled: this.#sent + totals.dropped + this.#queueTimeouts,
      sent: this.#sent,
      achieved_rate: round3(this.#sent / seconds),
      throughput: round3(totals.requests / (Math.max(elapsed, this.#lastSettled, 1) / 1000)),
      totals: structuredClone(totals),
      latency: { ...latency.summary(), mean: round3(latency.meanMs) },
      send_jitter: {
        p50: round3(this.#jitter.percentileMs(50)),
        p99: round3(this.#jitter.percentileMs(99)),
        max: round3(this.#jitter.maxMs),
      },
      errors: { ...this.#errors },
      series: [...this.series.seconds],
    };
  }
}

/**
 * Why requests were dropped and what changes it, or undefined when none were.
 * `names` are how the caller spells the two settings (CLI flags, experiment keys).
 * Drops are by design (the cap protects the target), but they are the first thing
 * to explain when the achieved rate falls short of the target.
 */
export function explainDrops(
  summary: LoadSummary,
  concurrency: number,
  names: { concurrency: string; overflow: string },
): string | undefined {
  const { dropped } = summary.totals;
  if (dropped === 0) return undefined;
  const pct = ((dropped / summary.scheduled) * 100).toFixed(2);
  return `load: ${dropped} requests (${pct}%) were dropped: they fell due while ${concurrency} were in flight; raise ${names.concurrency}, or use ${names.overflow} queue to send them late (their wait counts in latency)`;
}

/** Runs a load to the end of its duration (or the signal) and returns what it measured. */
export function runLoad(options: LoadOptionsInput, run: LoadRunOptions = {}): Promise<LoadSummary> {
  return new LoadGenerator(options, run).start();
}
