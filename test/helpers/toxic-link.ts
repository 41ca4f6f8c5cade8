/**
 * An in-memory `ToxicLink` on a virtual clock, for testing a toxic without
 * sockets or real time: `clock.advance(ms)` fires due timers in order, and the
 * link records what the toxic pushed, ended, closed and reset.
 */
import type { Clock, ConnectionInfo, Direction, Toxic, ToxicKind, ToxicLink } from '../../src/proxy/toxic.js';

interface Timer {
  at: number;
  fn: () => void;
  id: object;
}

export class FakeClock implements Clock {
  t = 0;
  #timers: Timer[] = [];

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = {};
    this.#timers.push({ at: this.t + Math.max(0, ms), fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((x) => x.id !== handle);
  }
  get pending(): number {
    return this.#timers.length;
  }
  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.#timers)
        if (timer.at <= end && (next === undefined || timer.at < next.at)) next = timer;
      if (next === undefined) break;
      this.#timers = this.#timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
}

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
export function seeded(seed = 1): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Pushed {
  data: string;
  /** Timestamp pushed along. */
  at: number;
  /** Virtual time of the push. */
  t: number;
}

export class FakeLink implements ToxicLink {
  readonly clock = new FakeClock();
  readonly pushed: Pushed[] = [];
  ended: number | null = null;
  closed: number | null = null;
  resets = 0;
  paused = false;
  pauses = 0;
  highWaterMark: number;
  readonly connection: ConnectionInfo = { id: 1, proxy: 'test', shared: new Map() };
  random: () => number;

  constructor(
    readonly direction: Direction = 'downstream',
    opts: { seed?: number; highWaterMark?: number } = {},
  ) {
    this.random = seeded(opts.seed ?? 1);
    this.highWaterMark = opts.highWaterMark ?? 1 << 20;
  }

  push(chunk: Buffer, at: number): void {
    this.pushed.push({ data: chunk.toString('latin1'), at, t: this.clock.t });
  }
  end(): void {
    this.ended ??= this.clock.t;
  }
  close(): void {
    this.closed ??= this.clock.t;
    this.end();
  }
  reset(): void {
    this.resets++;
  }
  pause(): void {
    if (!this.paused) this.pauses++;
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }

  /** Everything pushed so far, concatenated. */
  get output(): string {
    return this.pushed.map((p) => p.data).join('');
  }
}

/** Creates a toxic on a fake link with its attributes parsed (defaults applied). */
export function makeToxic<A extends Record<string, unknown>>(
  kind: ToxicKind<any>,
  attributes: Partial<A> = {},
  link = new FakeLink(),
): { toxic: Toxic<any>; link: FakeLink; attributes: A } {
  const parsed = kind.attributes.parse(attributes) as A;
  return { toxic: kind.create(parsed, link), link, attributes: parsed };
}

/** Writes a string chunk stamped with the link's current time. */
export function feed(toxic: Toxic<any>, link: FakeLink, data: string): void {
  toxic.write(Buffer.from(data, 'latin1'), link.clock.now());
}
