/**
 * The live view's hub (issue #17): what a browser watching a run is sent, as it happens. The Runner
 * feeds it every event of the runs it runs (runFromSource's `onEvent`); the hub keeps, per run, the
 * LiveState so far (live-state.ts's reducer, the one the browser applies), the last envelopes (so a
 * viewer that reconnects with Last-Event-ID gets only what it missed) and the viewers. It also carries
 * the server-wide stream (`run` and `halt` events, `broadcast`).
 *
 * A viewer must never slow a run: every send is a synchronous enqueue on the viewer's own stream, never
 * awaited, and a viewer whose unsent bytes pass a bound (it stopped reading, or reads slower than the
 * run speaks) is dropped; its browser reconnects and starts again from a snapshot. Each frame is
 * serialised once, however many viewers get it, and with many viewers frames are written in batches
 * (#flushDelay), since the cost to the run is the number of writes.
 */
import type { RunSourceEvent } from '../lib/run-source.js';
import {
  applyLiveEvent,
  initialLiveState,
  LIVE_OUTPUT_CHARS,
  type LiveEnvelope,
  type LiveEvent,
  type LiveState,
} from './live-state.js';
import type { Run } from './store.js';

/**
 * The emergency stop as `/api/live` sends it: halt.ts's HaltState, spelled out here because halt.ts
 * drives the Runner, which owns this hub (an import back would be a cycle).
 */
export interface LiveHaltState {
  halted: boolean;
  since?: string | undefined;
  by?: string | undefined;
  reason?: string | undefined;
}

/** What `/api/live` sends: a run of this server queued, started or ended; the emergency stop raised or released. */
export type ServerEvent = { type: 'run'; run: Run } | { type: 'halt'; halt: LiveHaltState };

export interface LiveHubOptions {
  /** Envelopes kept per run for Last-Event-ID resume (older ones: a fresh snapshot instead). Default 2000. */
  ring?: number;
  /** How long an ended run's state is kept, so a viewer arriving late still gets the end. Default 60 s. */
  keepEndedMs?: number;
  /** Unsent bytes a viewer may hold before it is dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** A comment line this often keeps proxies from closing a quiet stream. Default 15 s. */
  heartbeatMs?: number;
  /** The most a frame waits to be written together with the next ones (many viewers). Default 100 ms. */
  maxFlushMs?: number;
  /** The clock envelopes are stamped with (ms since the epoch). */
  now?: () => number;
}

const encoder = new TextEncoder();

/** Viewers written to per turn of the event loop when a batch goes out (see #writeSlice). */
const WRITE_SLICE = 50;

/** One SSE frame. `data` is JSON: it never holds a raw newline, so one `data:` line is enough. */
export function sseFrame(event: string, data: unknown, id?: number): string {
  return `event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;
}

/** A value as the live view shows it: JSON text, at most LIVE_OUTPUT_CHARS (an output can be megabytes). */
export function liveText(value: unknown): string {
  let text: string;
  try {
    text =
      typeof value === 'string'
        ? JSON.stringify(value.length > LIVE_OUTPUT_CHARS ? value.slice(0, LIVE_OUTPUT_CHARS) : value)
        : (JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value));
  } catch {
    // Circular or otherwise unserialisable (a Python object's repr is already text): say what it is.
    text = String(value);
  }
  return text.length > LIVE_OUTPUT_CHARS ? `${text.slice(0, LIVE_OUTPUT_CHARS - 1)}…` : text;
}

function cutLine(message: string): string {
  return message.length > LIVE_OUTPUT_CHARS ? `${message.slice(0, LIVE_OUTPUT_CHARS - 1)}…` : message;
}

/**
 * A run's event as the browser gets it, or undefined for what the live view does not show (the
 * journal written, reports, the engine's own run-end: the Runner sends the stored verdict instead).
 * Events arrive redacted by the engine (engine/redact.ts masks secret values and credential query
 * parameters in every string), so nothing here can hold more than the journal does; outputs are cut.
 */
export function toLiveEvent(e: RunSourceEvent, now: () => number = Date.now): LiveEvent | undefined {
  switch (e.type) {
    case 'run-start':
      return { type: 'run-start', title: e.title };
    case 'phase':
      return { type: 'phase', phase: e.phase };
    case 'activity-start':
      return {
        type: 'activity-start',
        phase: e.phase,
        name: e.activity.name,
        activity: e.activity.type,
        background: e.background,
      };
    case 'activity-end': {
      const { run } = e;
      const error = run.exception?.at(-1)?.trim() ?? e.reason;
      return {
        type: 'activity-end',
        phase: e.phase,
        name: run.activity.name,
        status: run.status,
        ...(run.output !== undefined ? { output: liveText(run.output) } : {}),
        ...(run.tolerance_met !== undefined
          ? { tolerance: run.activity.tolerance, toleranceMet: run.tolerance_met }
          : {}),
        ...(error ? { error: cutLine(error) } : {}),
      };
    }
    case 'hypothesis-end':
      return { type: 'hypothesis-end', phase: e.phase, met: e.state.steady_state_met };
    case 'fault': {
      const f = e.fault;
      return {
        type: 'fault',
        action: e.action,
        fault: {
          id: f.id,
          kind: f.kind,
          target: f.target,
          injectedAt: f.injected_at,
          ...(f.reverted_at !== undefined ? { revertedAt: f.reverted_at } : {}),
          ...(f.error !== undefined ? { error: cutLine(f.error) } : {}),
        },
      };
    }
    case 'load':
      return {
        type: 'load',
        sample: { at: now(), throughput: e.throughput, errorRate: e.error_rate, p50: e.p50, p99: e.p99 },
      };
    case 'safeguard':
      return {
        type: 'safeguard',
        name: e.name,
        met: e.met,
        ...(e.output !== undefined ? { value: liveText(e.output) } : {}),
        ...(e.tolerance !== undefined ? { tolerance: e.tolerance } : {}),
        ...(e.reason !== undefined ? { reason: cutLine(e.reason) } : {}),
      };
    case 'log':
      return { type: 'log', level: e.level, message: cutLine(e.message) };
    case 'notice':
      return { type: 'log', level: e.level, message: cutLine(e.message) };
    default:
      return undefined;
  }
}

/** What the hub sends to: one browser's connection, however it is written. */
export interface LiveSink {
  readonly closed: boolean;
  /** Why it was dropped, when it was. */
  readonly dropped: string | undefined;
  /** Bytes sent but not yet taken by the connection. */
  readonly buffered: number;
  /** Queues `bytes`; false (and the sink is closed) when it is gone or too far behind. */
  send(bytes: Uint8Array): boolean;
  /** Ends the stream after what is queued. */
  close(): void;
}

/** The response headers of every live stream. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  // A proxy in front (nginx) must pass events on as they come, not buffer the response.
  'X-Accel-Buffering': 'no',
};

/** The part of Node's ServerResponse a ResponseViewer writes to. */
export interface NodeResponse {
  readonly writableLength: number;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  destroy(): unknown;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * One browser's connection written straight to Node's response: a send is one `write` on the socket
 * (what the socket has not taken yet is Node's buffer, `writableLength`, the bound checked). A web
 * stream in between costs a read request, a promise and a microtask per frame per viewer: with 500
 * viewers that is most of a fan-out's cost, paid on the run's own event loop.
 */
export class ResponseViewer implements LiveSink {
  readonly #res: NodeResponse;
  readonly #max: number;
  readonly #onGone: (viewer: LiveSink) => void;
  #closed = false;
  dropped: string | undefined;

  constructor(res: NodeResponse, maxBufferedBytes: number, onGone: (viewer: LiveSink) => void) {
    this.#res = res;
    this.#max = maxBufferedBytes;
    this.#onGone = onGone;
    // The browser went away (or the socket was destroyed): forget it.
    res.once('close', () => this.#gone());
  }

  get closed(): boolean {
    return this.#closed;
  }

  get buffered(): number {
    return this.#closed ? 0 : this.#res.writableLength;
  }

  /** Sends the status and headers, once (the route does it before answering). */
  open(): void {
    if (!this.#res.headersSent && !this.#res.destroyed) this.#res.writeHead(200, { ...SSE_HEADERS });
  }

  send(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#res.destroyed) {
      this.#gone();
      return false;
    }
    if (this.buffered + bytes.byteLength > this.#max) {
      this.dropped = `more than ${this.#max} bytes unsent: the viewer is not reading`;
      this.#closed = true;
      this.#onGone(this);
      // Destroyed, not ended: an end would wait to flush what the viewer is not reading.
      this.#res.destroy();
      return false;
    }
    this.open();
    this.#res.write(bytes);
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.open();
    this.#res.end();
    this.#onGone(this);
  }

  #gone(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onGone(this);
  }
}

/**
 * One browser's stream. Sends enqueue on a ReadableStream the HTTP server reads from as fast as the
 * socket drains (@hono/node-server waits for `drain`), so what the viewer has not taken yet is the
 * stream's queue: its size is the bound checked.
 */
export class Viewer implements LiveSink {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  readonly #max: number;
  readonly #onGone: (viewer: LiveSink) => void;
  /** Why it was dropped, when it was (tests and the log). */
  dropped: string | undefined;

  readonly #cut: (() => void) | undefined;

  /** `cut`: ends the connection at once (the route destroys its socket); without it the stream errors. */
  constructor(maxBufferedBytes: number, onGone: (viewer: LiveSink) => void, cut?: () => void) {
    this.#max = maxBufferedBytes;
    this.#onGone = onGone;
    this.#cut = cut;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        // The client went away (node-server cancels the reader when the response closes).
        cancel: () => this.#gone(),
      },
      // High-water mark 0: desiredSize is minus the bytes queued, i.e. what the viewer has not taken.
      new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes sent but not yet taken by the connection. */
  get buffered(): number {
    return this.#closed ? 0 : -(this.#controller.desiredSize ?? 0);
  }

  /** Queues `bytes`; false (and the viewer is closed) when it is gone or too far behind. */
  send(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.buffered + bytes.byteLength > this.#max) {
      this.dropped = `more than ${this.#max} bytes unsent: the viewer is not reading`;
      // Cut, not closed: a close would wait to flush what the viewer is not reading. The socket's end
      // cancels the stream, which frees its queue.
      this.#closed = true;
      this.#onGone(this);
      if (this.#cut) this.#cut();
      else {
        try {
          this.#controller.error(new Error(this.dropped));
        } catch {
          // Already errored or closed.
        }
      }
      return false;
    }
    this.#controller.enqueue(bytes);
    return true;
  }

  /** Ends the stream after what is queued. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#controller.close();
    } catch {
      // Already cancelled by the client.
    }
    this.#onGone(this);
  }

  #gone(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onGone(this);
  }
}

interface Channel {
  runId: string;
  state: LiveState;
  /** Frames not yet sent: written together (see #flushDelay). */
  pending: Uint8Array[];
  flush?: NodeJS.Timeout | undefined;
  /** A batch being written to the viewers a slice at a time (see #write). */
  writing?: { bytes: Uint8Array; to: LiveSink[]; next: number; timer: NodeJS.Immediate } | undefined;
  /** The state's snapshot frame, encoded once per seq however many viewers arrive. */
  snapshot?: { seq: number; bytes: Uint8Array } | undefined;
  /** The last envelopes, oldest first. */
  ring: LiveEnvelope[];
  viewers: Set<LiveSink>;
  ended?: Run;
  /** The `end` frame, encoded once. */
  endFrame?: Uint8Array;
  expiry?: NodeJS.Timeout;
}

/** A viewer of a run this server has not begun yet (queued, or claimed and not started). */
interface Waiting {
  viewer: LiveSink;
  /** Asked at each heartbeat: the run ended without starting here, or another server runs it. */
  recheck: () => Promise<'wait' | 'gone' | Run>;
}

export class LiveHub {
  readonly #ringSize: number;
  readonly #keepEndedMs: number;
  readonly #maxBuffered: number;
  readonly #heartbeatMs: number;
  readonly #maxFlushMs: number;
  readonly #now: () => number;
  readonly #channels = new Map<string, Channel>();
  readonly #waiting = new Map<string, Set<Waiting>>();
  readonly #server = new Set<LiveSink>();
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: LiveHubOptions = {}) {
    this.#ringSize = opts.ring ?? 2000;
    this.#keepEndedMs = opts.keepEndedMs ?? 60_000;
    this.#maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024;
    this.#heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.#maxFlushMs = opts.maxFlushMs ?? 100;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * A new viewer stream (give `viewer.stream` to the response, then attach it). `cut` ends its
   * connection at once when it falls too far behind (Node: destroy the response).
   */
  viewer(cut?: () => void): Viewer {
    return new Viewer(this.#maxBuffered, (v) => this.#forget(v), cut);
  }

  /** A viewer written straight to Node's response (the routes' way; `open()` it before answering). */
  responseViewer(res: NodeResponse): ResponseViewer {
    return new ResponseViewer(res, this.#maxBuffered, (v) => this.#forget(v));
  }

  /** The live state of a run this server runs, or ran a short while ago. */
  state(runId: string): LiveState | undefined {
    return this.#channels.get(runId)?.state;
  }

  /** How many viewers are attached (runs and the server-wide stream). */
  get viewers(): number {
    let n = this.#server.size;
    for (const c of this.#channels.values()) n += c.viewers.size;
    for (const w of this.#waiting.values()) n += w.size;
    return n;
  }

  // ------------------------------------------------------------ the Runner's side

  /** The run starts here: its state begins, and viewers waiting for it start getting its events. */
  begin(runId: string, title: string): void {
    if (this.#closed) return;
    const old = this.#channels.get(runId);
    if (old?.expiry) clearTimeout(old.expiry);
    const channel: Channel = {
      runId,
      state: initialLiveState(runId, title),
      pending: [],
      ring: [],
      viewers: new Set(),
    };
    this.#channels.set(runId, channel);
    const waiting = this.#waiting.get(runId);
    this.#waiting.delete(runId);
    // They were sent a seq-0 snapshot of the queued run: the events from 1 on apply to it.
    for (const w of waiting ?? []) if (!w.viewer.closed) channel.viewers.add(w.viewer);
  }

  /** runFromSource's `onEvent` for a run begun with begin(). */
  listener(runId: string): (event: RunSourceEvent) => void {
    return (event) => {
      const live = toLiveEvent(event, this.#now);
      if (live) this.publish(runId, live);
    };
  }

  /** Applies `event` to the run's state and sends it to its viewers; undefined when the run is not here. */
  publish(runId: string, event: LiveEvent): LiveEnvelope | undefined {
    const channel = this.#channels.get(runId);
    if (!channel || channel.ended) return undefined;
    const envelope: LiveEnvelope = { seq: channel.state.seq + 1, at: this.#now(), event };
    channel.state = applyLiveEvent(channel.state, envelope);
    channel.ring.push(envelope);
    if (channel.ring.length > this.#ringSize) channel.ring.splice(0, channel.ring.length - this.#ringSize);
    if (channel.viewers.size > 0) {
      channel.pending.push(encoder.encode(sseFrame('live', envelope, envelope.seq)));
      channel.flush ??= setTimeout(() => this.#flush(channel), this.#flushDelay(channel));
    }
    return envelope;
  }

  /**
   * How long frames wait to go out together. Each write to each viewer costs the server's event loop
   * (the run's own loop) about the same whatever its size, so with many viewers events are batched:
   * 0.2 ms per viewer, at most 100 ms (a write budget of about 5,000 writes a second up to 500
   * viewers; one viewer waits 0.2 ms).
   */
  #flushDelay(channel: Channel): number {
    return Math.min(this.#maxFlushMs, channel.viewers.size * 0.2);
  }

  #flush(channel: Channel): void {
    if (channel.flush) clearTimeout(channel.flush);
    channel.flush = undefined;
    // Frames to a viewer stay in order: what an earlier batch has not written yet goes first.
    this.#finishWriting(channel);
    if (channel.pending.length === 0) return;
    const bytes = channel.pending.length === 1 ? channel.pending[0]! : Buffer.concat(channel.pending);
    channel.pending = [];
    const to = [...channel.viewers];
    if (to.length <= WRITE_SLICE) {
      for (const v of to) v.send(bytes);
      return;
    }
    channel.writing = { bytes, to, next: 0, timer: setImmediate(() => this.#writeSlice(channel)) };
  }

  /**
   * A batch goes out WRITE_SLICE viewers at a time, the event loop turning between slices: 500 socket
   * writes in one go hold the loop (the run's timers, its load's sockets) for tens of milliseconds.
   */
  #writeSlice(channel: Channel): void {
    const w = channel.writing;
    if (!w) return;
    const stop = Math.min(w.to.length, w.next + WRITE_SLICE);
    for (; w.next < stop; w.next++) (w.to[w.next] as LiveSink).send(w.bytes);
    if (w.next < w.to.length) w.timer = setImmediate(() => this.#writeSlice(channel));
    else channel.writing = undefined;
  }

  /** Writes the rest of a batch at once (before anything else is sent on the channel). */
  #finishWriting(channel: Channel): void {
    const w = channel.writing;
    if (!w) return;
    clearImmediate(w.timer);
    channel.writing = undefined;
    for (let i = w.next; i < w.to.length; i++) (w.to[i] as LiveSink).send(w.bytes);
  }

  /** The snapshot frame of the channel's state now, encoded once per seq. */
  #snapshot(channel: Channel): Uint8Array {
    const { state } = channel;
    if (channel.snapshot?.seq !== state.seq)
      channel.snapshot = { seq: state.seq, bytes: encoder.encode(sseFrame('snapshot', state, state.seq)) };
    return channel.snapshot.bytes;
  }

  /**
   * The run ended and `run` is what the store recorded: a `run-end` event with its verdict, then
   * `end` (the stored summary) to every viewer, whose streams close. The state is kept a short while.
   */
  end(run: Run): void {
    if (this.#closed) return;
    if (!this.#channels.has(run.id)) this.begin(run.id, run.title);
    const channel = this.#channels.get(run.id) as Channel;
    this.publish(run.id, {
      type: 'run-end',
      status: run.status,
      ...(run.verdict !== undefined ? { verdict: run.verdict } : {}),
      ...(run.reason !== undefined ? { reason: run.reason } : {}),
    });
    channel.ended = run;
    this.#flush(channel);
    this.#finishWriting(channel);
    const end = encoder.encode(sseFrame('end', run));
    channel.endFrame = end;
    for (const v of [...channel.viewers]) {
      v.send(end);
      v.close();
    }
    channel.expiry = setTimeout(() => {
      if (this.#channels.get(run.id) === channel) this.#channels.delete(run.id);
    }, this.#keepEndedMs);
    channel.expiry.unref();
  }

  /** Sends `event` to every `/api/live` viewer. */
  broadcast(event: ServerEvent): void {
    if (this.#server.size === 0) return;
    const bytes = encoder.encode(sseFrame(event.type, event.type === 'run' ? event.run : event.halt));
    for (const v of this.#server) v.send(bytes);
  }

  // ------------------------------------------------------------ the routes' side

  /**
   * Attaches a viewer to a run the hub has (running, or ended a short while ago). With `lastEventId`
   * still in the ring it gets only what came after; otherwise a snapshot. An ended run's viewer then
   * gets `end` and its stream closes. False when the hub does not have the run.
   */
  attach(runId: string, viewer: LiveSink, lastEventId?: number): boolean {
    const channel = this.#channels.get(runId);
    if (!channel) return false;
    // What is pending goes to those who have not got it; the newcomer's snapshot already holds it.
    this.#flush(channel);
    const { state, ring } = channel;
    const oldest = ring[0]?.seq ?? state.seq + 1;
    // Resumable when nothing after lastEventId fell out of the ring (and it is not from the future).
    if (lastEventId !== undefined && lastEventId <= state.seq && lastEventId >= oldest - 1) {
      for (const e of ring) if (e.seq > lastEventId) viewer.send(encoder.encode(sseFrame('live', e, e.seq)));
    } else {
      viewer.send(this.#snapshot(channel));
    }
    if (channel.ended) {
      channel.endFrame ??= encoder.encode(sseFrame('end', channel.ended));
      viewer.send(channel.endFrame);
      viewer.close();
      return true;
    }
    if (!viewer.closed) {
      channel.viewers.add(viewer);
      this.#beat();
    }
    return true;
  }

  /**
   * A viewer of a run queued (or claimed) but not begun here: it gets `snapshot` now and the run's
   * events once it begins. At each heartbeat `recheck` says whether it ended meanwhile (a Run: `end`
   * is sent) or is gone elsewhere (the stream closes; the reconnect is answered by the route).
   */
  wait(run: Run, viewer: LiveSink, recheck: Waiting['recheck']): void {
    if (this.attach(run.id, viewer)) return;
    const state: LiveState = { ...initialLiveState(run.id, run.title), status: run.status };
    viewer.send(encoder.encode(sseFrame('snapshot', state, 0)));
    if (viewer.closed) return;
    const set = this.#waiting.get(run.id) ?? new Set<Waiting>();
    this.#waiting.set(run.id, set);
    set.add({ viewer, recheck });
    this.#beat();
  }

  /** A viewer of a run that ended before this hub kept its events: `state` (built from the store) and `end`. */
  ended(viewer: LiveSink, state: LiveState, run: Run): void {
    viewer.send(encoder.encode(sseFrame('snapshot', state, state.seq)));
    viewer.send(encoder.encode(sseFrame('end', run)));
    viewer.close();
  }

  /** A viewer of the server-wide stream; `first` is sent before anything else (the emergency stop's state). */
  attachServer(viewer: LiveSink, first: ServerEvent): void {
    viewer.send(encoder.encode(sseFrame(first.type, first.type === 'run' ? first.run : first.halt)));
    if (viewer.closed) return;
    this.#server.add(viewer);
    this.#beat();
  }

  /** Ends every stream (the server is closing): nothing holds a connection open. */
  close(): void {
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    for (const v of [...this.#server]) v.close();
    for (const c of this.#channels.values()) {
      if (c.expiry) clearTimeout(c.expiry);
      this.#flush(c);
      this.#finishWriting(c);
      for (const v of [...c.viewers]) v.close();
    }
    for (const set of this.#waiting.values()) for (const w of [...set]) w.viewer.close();
    this.#channels.clear();
    this.#waiting.clear();
  }

  // ------------------------------------------------------------ inside

  #forget(viewer: LiveSink): void {
    this.#server.delete(viewer);
    for (const c of this.#channels.values()) c.viewers.delete(viewer);
    for (const [id, set] of this.#waiting) {
      for (const w of set) if (w.viewer === viewer) set.delete(w);
      if (set.size === 0) this.#waiting.delete(id);
    }
    if (this.viewers === 0 && this.#heartbeat) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
  }

  /** One timer for every viewer, running only while there are viewers. */
  #beat(): void {
    if (this.#heartbeat || this.#closed) return;
    const ping = encoder.encode(': ping\n\n');
    this.#heartbeat = setInterval(() => {
      for (const v of this.#server) v.send(ping);
      for (const c of this.#channels.values()) for (const v of c.viewers) v.send(ping);
      for (const [id, set] of this.#waiting) {
        for (const w of set) {
          w.viewer.send(ping);
          void w
            .recheck()
            .then((outcome) => this.#settleWaiting(id, w, outcome))
            .catch(() => {
              // The database is away: keep waiting; the next heartbeat asks again.
            });
        }
      }
    }, this.#heartbeatMs);
    this.#heartbeat.unref();
  }

  #settleWaiting(runId: string, w: Waiting, outcome: 'wait' | 'gone' | Run): void {
    if (outcome === 'wait' || w.viewer.closed || !this.#waiting.get(runId)?.has(w)) return;
    if (outcome !== 'gone') w.viewer.send(encoder.encode(sseFrame('end', outcome)));
    w.viewer.close();
  }
}
