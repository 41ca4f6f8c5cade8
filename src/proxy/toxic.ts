/**
 * The toxic contract. A toxic type is one file in `toxics/` exporting a
 * `ToxicKind` (its zod attribute schema and a factory) plus one line in
 * `toxics/index.ts`. The factory is called once per link (one direction of one
 * connection) on which the toxic is active, and returns a `Toxic` that sees the
 * link's chunks in order and forwards them with `link.push()`.
 *
 * Everything that is the same for every toxic lives in the wrapper (`link.ts`):
 * the toxicity roll, the direction, TTL, live add/update/remove, backpressure
 * bookkeeping, delivering a held end-of-stream when a toxic is removed. A toxic
 * only implements its own effect.
 *
 * Optional behaviour is opt-in through small capability interfaces, detected
 * by the presence of their method (never `instanceof`):
 *   - `ConnectHook`: acts once when a connection opens, before the upstream is
 *     dialled (`reset_connect`, `slow_open`);
 *   - `PeerWriter`: writes back to the peer that sent the stream, e.g. an HTTP
 *     toxic on the upstream stream parsing requests and answering some of them
 *     itself (keep-alive keeps working: the connection stays open and the
 *     toxic goes on parsing the next request).
 *
 * @example
 * // toxics/noop.ts
 * export const noop = defineToxic({
 *   type: 'noop', goName: 'NoopToxic', summary: 'passes data through',
 *   attributes: z.object({}),
 *   create: (_attrs, link) => ({ write: (chunk, at) => link.push(chunk, at) }),
 * });
 */
import { z } from 'zod';
import { type LongTimeout, MAX_TIMER_MS, setLongTimeout } from '../core/timers.js';

export type Direction = 'upstream' | 'downstream';

/** Time source and timers (ms, fractional, monotonic). Injected so toxics can be tested on a virtual clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Node's timers fire after 1 ms past 2^31-1 ms (a latency of 3e9 ms spun a 1 ms
 * timer and printed a warning each time): longer delays are chained by
 * src/core/timers.ts, so any value an attribute schema accepts is honoured.
 * Shorter ones stay plain timers (the hot path of latency toxics).
 */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => (ms > MAX_TIMER_MS ? setLongTimeout(fn, ms, { unref: false }) : setTimeout(fn, ms)),
  clearTimeout: (handle) => {
    if (typeof (handle as Partial<LongTimeout>).clear === 'function') (handle as LongTimeout).clear();
    else clearTimeout(handle as NodeJS.Timeout);
  },
};

/** What a toxic can see of the connection its link belongs to. */
export interface ConnectionInfo {
  /** Unique per process. */
  readonly id: number;
  /** The proxy's name. */
  readonly proxy: string;
  /** Scratch space shared by both directions' toxics (e.g. to pair HTTP requests with responses). */
  readonly shared: Map<string, unknown>;
}

/** The link a toxic instance acts on: one direction of one connection. */
export interface ToxicLink {
  readonly direction: Direction;
  readonly connection: ConnectionInfo;
  readonly clock: Clock;
  /** Bytes a buffering toxic may hold before it should `pause()` the source. */
  readonly highWaterMark: number;
  /** Uniform random number in [0, 1). */
  random(): number;
  /**
   * Forwards a chunk to the next toxic, or to the destination socket at the end
   * of the chain. `at` is the chunk's timestamp (`clock.now()` at arrival; a
   * latency toxic moves it, so two latency toxics add up).
   */
  push(chunk: Buffer, at: number): void;
  /** Forwards end-of-stream (the source half-closed). */
  end(): void;
  /**
   * Ends the stream here and then closes the whole connection with FIN both
   * ways: what this toxic already pushed still goes through the toxics after
   * it; later input is dropped.
   */
  close(): void;
  /** Aborts the whole connection with RST to both peers. */
  reset(): void;
  /** Stops reading from the source until `resume()` (counted per toxic; idempotent). */
  pause(): void;
  resume(): void;
}

/** A toxic's state on one link. Only `write` is required; a missing `end` forwards end-of-stream at once. */
export interface Toxic<A = Record<string, unknown>> {
  /** A chunk arrives from the previous toxic (or the source). The toxic owns it. */
  write(chunk: Buffer, at: number): void;
  /** End-of-stream arrives. Forward it with `link.end()` when appropriate. */
  end?(): void;
  /** The toxic's attributes were updated through the API (already validated and merged). */
  update?(attributes: A): void;
  /**
   * The toxic is being removed from this link (or its toxicity re-rolled off):
   * hand everything it holds to `link.push()` now and stop its timers. Must not
   * wait for anything. A held end-of-stream is forwarded by the wrapper.
   */
  flush?(): void;
  /** The connection is gone: stop timers, drop data. */
  dispose?(): void;
}

/** Capability: acts when a connection opens, before the upstream is dialled. */
export interface ConnectHook {
  onConnect(gate: ConnectGate): void;
}

export interface ConnectGate {
  /** Resets the client connection (RST) without dialling the upstream. */
  reset(): void;
  /**
   * Delays the upstream dial (and so all data) by `ms`; delays from several toxics add up.
   * When `signal` aborts (the toxic was removed), that toxic's share ends at once.
   */
  delay(ms: number, signal?: AbortSignal): void;
}

/** Capability: writes back towards the peer that sends this link's stream. */
export interface PeerWriter {
  attachPeer(peer: PeerPort): void;
}

export interface PeerPort {
  /** Writes to the socket this link reads from (bytes count as sent in the opposite direction). */
  write(chunk: Buffer): void;
  /** Half-closes that socket (FIN). */
  end(): void;
}

export const hasConnectHook = (t: Toxic<any>): t is Toxic<any> & ConnectHook =>
  typeof (t as Partial<ConnectHook>).onConnect === 'function';

export const hasPeerWriter = (t: Toxic<any>): t is Toxic<any> & PeerWriter =>
  typeof (t as Partial<PeerWriter>).attachPeer === 'function';

/** A toxic type: its name, its attributes and its per-link factory. */
export interface ToxicKind<S extends z.ZodObject = z.ZodObject> {
  /** The `type` clients send. */
  readonly type: string;
  /** Go struct name, for Toxiproxy-style decode errors (`LatencyToxic`). */
  readonly goName: string;
  /** One line for docs and `--help`. */
  readonly summary: string;
  /** Every attribute with its default (Toxiproxy's zero values for Toxiproxy's toxics). */
  readonly attributes: S;
  /** The streams it may act on, the first being the default (absent: both, default downstream). */
  readonly streams?: readonly Direction[];
  create(attributes: z.output<S>, link: ToxicLink): Toxic<z.output<S>>;
}

export function defineToxic<S extends z.ZodObject>(kind: ToxicKind<S>): ToxicKind<S> {
  return kind;
}

/** Go type of each attribute field, for `cannot unmarshal ... of type int64` messages. */
export type GoType = 'int64' | 'int' | 'float64' | 'string' | 'map[string]string';
export const goTypes = z.registry<{ goType: GoType }>();

/** Attribute schema builders: a number with a default, a lower bound and a Go type. */
export const attr = {
  /**
   * An integer attribute (Go `int64`), default 0 and at least 0 unless told otherwise.
   * `negative: true` accepts values below 0 because Toxiproxy does and treats them as 0
   * (a negative duration fires at once): its clients send them, and refusing breaks them.
   */
  int(
    description: string,
    opts: { min?: number; max?: number; default?: number; goType?: 'int64' | 'int'; negative?: true } = {},
  ) {
    const min = opts.negative ? Number.MIN_SAFE_INTEGER : (opts.min ?? 0);
    const s = z
      .number()
      .int()
      .min(min, { message: `must be at least ${min}` })
      .max(opts.max ?? Number.MAX_SAFE_INTEGER, { message: `must be at most ${opts.max}` })
      // prefault, not default: the default goes through the checks too (slicer's average_size 0 is refused).
      .prefault(opts.default ?? 0)
      .describe(description);
    goTypes.add(s, { goType: opts.goType ?? 'int64' });
    return s;
  },
  /** A number (Go `float64`) in [min, max], with a default. */
  float(description: string, opts: { min: number; max: number; default: number }) {
    const range = `must be between ${opts.min} and ${opts.max}`;
    const s = z
      .number()
      .min(opts.min, { message: range })
      .max(opts.max, { message: range })
      .default(opts.default)
      .describe(description);
    goTypes.add(s, { goType: 'float64' });
    return s;
  },
  /** A string attribute (Go `string`), default ''. */
  string(
    description: string,
    opts: { default?: string; check?: (v: string) => boolean; message?: string } = {},
  ) {
    const check = opts.check;
    const base = check ? z.string().refine(check, { message: opts.message ?? 'is invalid' }) : z.string();
    const s = base.default(opts.default ?? '').describe(description);
    goTypes.add(s, { goType: 'string' });
    return s;
  },
  /** String-to-string map attribute (Go `map[string]string`), default {}. */
  stringMap(description: string, opts: { check?: (key: string, value: string) => string | undefined } = {}) {
    const check = opts.check;
    const base = z.record(z.string(), z.string());
    const checked = check
      ? base.superRefine((map, ctx) => {
          for (const [k, v] of Object.entries(map)) {
            const problem = check(k, v);
            if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
          }
        })
      : base;
    const s = checked.default({}).describe(description);
    goTypes.add(s, { goType: 'map[string]string' });
    return s;
  },
  /** A probability in [0, 1] (Go `float64`). */
  probability(description: string, opts: { default?: number } = {}) {
    const s = z
      .number()
      .min(0, { message: 'must be between 0 and 1' })
      .max(1, { message: 'must be between 0 and 1' })
      .default(opts.default ?? 0)
      .describe(description);
    goTypes.add(s, { goType: 'float64' });
    return s;
  },
};
