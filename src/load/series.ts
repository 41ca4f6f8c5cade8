/**
 * What a load run measured: totals, a per-second time series, and window
 * queries over the last N milliseconds (for probes and safeguards), kept in
 * 100 ms slots for the last minute. Outcomes are counted when they complete;
 * latencies are measured by the generator from each request's intended send time.
 */
import { LatencyHistogram, type LatencySummary, round3 } from './histogram.js';

/** An HTTP status, or a request that got none. */
export type Outcome = number | 'timeout' | 'error';

export interface Counts {
  /** Requests that completed (a response, a timeout or a connection error). */
  requests: number;
  /** 2xx and 3xx responses. */
  successes: number;
  status: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  timeouts: number;
  /** Connection refused or reset, DNS failures, protocol errors: no HTTP status. */
  connection_errors: number;
  /** Requests not sent because the concurrency cap was reached at their send time. */
  dropped: number;
}

/** One second of the run (`second` counts from 0 at the start). */
export interface SecondStats extends Counts, LatencySummary {
  second: number;
}

/** What a probe reads: the last `window_ms` of the run. Latencies in milliseconds. */
export interface WindowMetrics extends LatencySummary {
  window_ms: number;
  requests: number;
  successes: number;
  /** successes / requests; 0 when nothing completed in the window. */
  success_ratio: number;
  /** (requests - successes) / requests; 1 when nothing completed in the window. */
  error_rate: number;
  /** Completed requests per second over the window. */
  throughput: number;
  timeouts: number;
  connection_errors: number;
  dropped: number;
}

export const SLOT_MS = 100;
/** Slots kept for window queries: 60 s. */
export const WINDOW_SLOTS = 600;
export const MAX_WINDOW_MS = SLOT_MS * WINDOW_SLOTS;

function emptyCounts(): Counts {
  return {
    requests: 0,
    successes: 0,
    status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    timeouts: 0,
    connection_errors: 0,
    dropped: 0,
  };
}

function resetCounts(c: Counts): void {
  c.requests = 0;
  c.successes = 0;
  c.status['1xx'] = c.status['2xx'] = c.status['3xx'] = c.status['4xx'] = c.status['5xx'] = 0;
  c.timeouts = 0;
  c.connection_errors = 0;
  c.dropped = 0;
}

function addCounts(into: Counts, c: Counts): void {
  into.requests += c.requests;
  into.successes += c.successes;
  for (const k of ['1xx', '2xx', '3xx', '4xx', '5xx'] as const) into.status[k] += c.status[k];
  into.timeouts += c.timeouts;
  into.connection_errors += c.connection_errors;
  into.dropped += c.dropped;
}

function count(c: Counts, outcome: Outcome): void {
  c.requests++;
  if (outcome === 'timeout') c.timeouts++;
  else if (outcome === 'error') c.connection_errors++;
  else {
    if (outcome >= 200 && outcome < 400) c.successes++;
    if (outcome < 200) c.status['1xx']++;
    else if (outcome < 300) c.status['2xx']++;
    else if (outcome < 400) c.status['3xx']++;
    else if (outcome < 500) c.status['4xx']++;
    else c.status['5xx']++;
  }
}

interface Slot {
  index: number;
  counts: Counts;
  hist: LatencyHistogram;
}

export class LoadSeries {
  readonly totals: Counts = emptyCounts();
  readonly latency = new LatencyHistogram(3);
  readonly seconds: SecondStats[] = [];
  readonly #slots: Slot[] = [];
  #second = 0;
  readonly #secondCounts = emptyCounts();
  readonly #secondHist = new LatencyHistogram(3);
  readonly #windowHist = new LatencyHistogram(2);

  /** `now()`: milliseconds since the run started (monotonic). */
  constructor(private readonly now: () => number) {}

  #slot(t: number): Slot {
    const index = Math.floor(t / SLOT_MS);
    const ring = index % WINDOW_SLOTS;
    let slot = this.#slots[ring];
    if (!slot) {
      slot = { index, counts: emptyCounts(), hist: new LatencyHistogram(2) };
      this.#slots[ring] = slot;
    } else if (slot.index !== index) {
      slot.index = index;
      resetCounts(slot.counts);
      slot.hist.reset();
    }
    return slot;
  }

  /** Closes every second that ended before `t` (ms since start). */
  #roll(t: number): void {
    const second = Math.floor(t / 1000);
    while (this.#second < second) this.#closeSecond();
  }

  #closeSecond(): void {
    const c = this.#secondCounts;
    this.seconds.push({
      second: this.#second,
      ...c,
      status: { ...c.status },
      ...this.#secondHist.summary(),
    });
    resetCounts(c);
    this.#secondHist.reset();
    this.#second++;
  }

  /** A completed request at `t` (ms since start); `latencyMs` from its intended send time (ignored without a status). */
  record(outcome: Outcome, latencyMs: number, t = this.now()): void {
    this.#roll(t);
    const slot = this.#slot(t);
    count(slot.counts, outcome);
    count(this.#secondCounts, outcome);
    count(this.totals, outcome);
    if (typeof outcome === 'number') {
      slot.hist.recordMs(latencyMs);
      this.#secondHist.recordMs(latencyMs);
      this.latency.recordMs(latencyMs);
    }
  }

  /** A request the concurrency cap kept from being sent. */
  drop(t = this.now()): void {
    this.#roll(t);
    this.#slot(t).counts.dropped++;
    this.#secondCounts.dropped++;
    this.totals.dropped++;
  }

  /** Closes the seconds that have ended (called once a second by the generator). */
  tick(): void {
    this.#roll(this.now());
  }

  /** Closes the current (partial) second too: the run is over. */
  finish(): void {
    this.tick();
    const c = this.#secondCounts;
    if (c.requests > 0 || c.dropped > 0) this.#closeSecond();
  }

  /** Milliseconds since the run started (the clock every slot and second is on). */
  elapsed(): number {
    return this.now();
  }

  /** Metrics over the last `windowMs` (at most one minute; rounded up to 100 ms slots). */
  window(windowMs: number): WindowMetrics {
    const span = Math.min(Math.max(windowMs, SLOT_MS), MAX_WINDOW_MS);
    const t = this.now();
    const last = Math.floor(t / SLOT_MS);
    const first = last - Math.ceil(span / SLOT_MS) + 1;
    return this.#metrics(first, last, span, Math.max(Math.min(span, t), 1));
  }

  /**
   * One WindowMetrics per 100 ms slot from `fromMs` to `toMs` (ms since the start;
   * the slots holding both ends included, at most the last minute), oldest
   * first, each with the slot's start. Recovery time reads these (safety/recovery-time.ts).
   */
  slots(fromMs: number, toMs: number): (WindowMetrics & { start_ms: number })[] {
    const last = Math.floor(Math.min(toMs, this.now()) / SLOT_MS);
    const first = Math.max(Math.floor(Math.max(fromMs, 0) / SLOT_MS), last - WINDOW_SLOTS + 1);
    const out: (WindowMetrics & { start_ms: number })[] = [];
    for (let i = first; i <= last; i++)
      out.push({ start_ms: i * SLOT_MS, ...this.#metrics(i, i, SLOT_MS, SLOT_MS) });
    return out;
  }

  /** Counts and latencies of the slots `first`..`last` (indexes), over `spanMs`; rates over `elapsedMs`. */
  #metrics(first: number, last: number, spanMs: number, elapsedMs: number): WindowMetrics {
    const counts = emptyCounts();
    const hist = this.#windowHist;
    hist.reset();
    for (const slot of this.#slots) {
      if (slot && slot.index >= first && slot.index <= last) {
        addCounts(counts, slot.counts);
        hist.add(slot.hist);
      }
    }
    const seconds = elapsedMs / 1000;
    const { requests, successes } = counts;
    return {
      window_ms: spanMs,
      requests,
      successes,
      success_ratio: requests === 0 ? 0 : successes / requests,
      error_rate: requests === 0 ? 1 : (requests - successes) / requests,
      throughput: round3(requests / seconds),
      timeouts: counts.timeouts,
      connection_errors: counts.connection_errors,
      dropped: counts.dropped,
      ...hist.summary(),
    };
  }
}
