/**
 * An in-order queue of chunks released at their due times with ONE timer per
 * queue (not one per chunk): the building block of every delaying toxic
 * (latency, bandwidth, slicer, packet_loss).
 *
 * Accuracy: Node's timers have 1 ms granularity, so the timer is armed for the
 * rounded remaining time and, when it fires, everything due within half a
 * millisecond is released. Errors are centred on zero (never more than 0.5 ms
 * early) instead of always late, and there is no drift: due times are absolute
 * (arrival + delay), never "previous release + delay".
 *
 * Backpressure: past `link.highWaterMark` bytes held, the queue pauses the
 * source; below half of it, it resumes. So a latency toxic on a big upload
 * holds at most about one high-water mark per link (Toxiproxy #232).
 */
import type { ToxicLink } from './toxic.js';

/** Release chunks due within this many ms when the timer fires. */
export const EARLY_MS = 0.5;

interface Item {
  /** `null` is a queued end-of-stream. */
  chunk: Buffer | null;
  /** The timestamp pushed along with the chunk. */
  at: number;
  due: number;
}

export class TimedQueue {
  #items: Item[] = [];
  #head = 0;
  #bytes = 0;
  #timer: unknown = null;
  #timerDue = Number.POSITIVE_INFINITY;
  #lastDue = Number.NEGATIVE_INFINITY;
  #paused = false;
  #releasing = false;
  #disposed = false;

  /**
   * @param moveTimestamp push chunks with their due time as timestamp (latency:
   * so two latency toxics add up) instead of their arrival time.
   */
  constructor(
    private readonly link: ToxicLink,
    private readonly moveTimestamp = false,
  ) {}

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Due time of the last queued item (or of the last one released), for pacing toxics. */
  get lastDue(): number {
    return this.#lastDue;
  }

  /**
   * Queues a chunk (or, with `null`, an end-of-stream) to be pushed with
   * timestamp `at` at time `due`. Order is kept: an item is never released
   * before the one queued ahead of it.
   */
  add(chunk: Buffer | null, at: number, due: number): void {
    if (this.#disposed) return;
    if (due < this.#lastDue) due = this.#lastDue;
    this.#lastDue = due;
    if (this.length === 0 && !this.#releasing && due <= this.link.clock.now() + EARLY_MS) {
      this.#emit(chunk, this.moveTimestamp ? due : at);
      return;
    }
    this.#items.push({ chunk, at, due });
    if (chunk !== null) {
      this.#bytes += chunk.length;
      if (!this.#paused && this.#bytes > this.link.highWaterMark) {
        this.#paused = true;
        this.link.pause();
      }
    }
    this.#arm();
  }

  /** Recomputes every queued item's due time, in order (attributes were updated). */
  retime(due: (chunk: Buffer | null, at: number) => number): void {
    let last = Number.NEGATIVE_INFINITY;
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]!;
      item.due = Math.max(last, due(item.chunk, item.at));
      last = item.due;
    }
    this.#lastDue = this.length > 0 ? last : Number.NEGATIVE_INFINITY;
    this.#disarm();
    this.#release();
  }

  /** Releases everything now (the toxic is being removed). */
  flush(): void {
    this.#disarm();
    while (!this.#disposed && this.length > 0) this.#shift();
    this.#lastDue = Number.NEGATIVE_INFINITY;
  }

  /** Drops everything (the connection is gone). */
  dispose(): void {
    this.#disposed = true;
    this.#disarm();
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  #arm(): void {
    const first = this.#items[this.#head];
    if (first === undefined || first.due === Number.POSITIVE_INFINITY) return;
    if (this.#timer !== null) {
      if (this.#timerDue <= first.due) return;
      this.#disarm();
    }
    const { clock } = this.link;
    this.#timerDue = first.due;
    this.#timer = clock.setTimeout(this.#onTimer, Math.max(0, Math.round(first.due - clock.now())));
  }

  #disarm(): void {
    if (this.#timer !== null) this.link.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerDue = Number.POSITIVE_INFINITY;
  }

  #onTimer = (): void => {
    this.#timer = null;
    this.#timerDue = Number.POSITIVE_INFINITY;
    this.#release();
  };

  #release(): void {
    if (this.#releasing) return;
    this.#releasing = true;
    try {
      const { clock } = this.link;
      let limit = clock.now() + EARLY_MS;
      while (!this.#disposed && this.length > 0 && this.#items[this.#head]!.due <= limit) {
        this.#shift();
        limit = clock.now() + EARLY_MS;
      }
    } finally {
      this.#releasing = false;
    }
    if (!this.#disposed) this.#arm();
  }

  #shift(): void {
    const item = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as unknown as Item;
    this.#head++;
    if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (item.chunk !== null) this.#bytes -= item.chunk.length;
    if (this.#paused && this.#bytes <= this.link.highWaterMark / 2) {
      this.#paused = false;
      this.link.resume();
    }
    this.#emit(item.chunk, this.moveTimestamp ? item.due : item.at);
  }

  #emit(chunk: Buffer | null, at: number): void {
    if (chunk === null) this.link.end();
    else this.link.push(chunk, at);
  }
}
