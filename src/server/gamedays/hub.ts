/**
 * The game days' live stream (`GET /api/gamedays/{id}/live`): server-sent events of a game day as it
 * happens, sent once each change is recorded in the database, so a viewer never sees what a reload
 * would not show. Frames: `snapshot` first (the game day as GET answers it), then `timeline` per event
 * (id: its seq), `gameday` when its state changes (the same shape without the timeline), and `end`
 * (the final state) after which the stream closes.
 *
 * A game day speaks a few times a minute, not a run's hundreds of events a second, so this is a plain
 * set of viewers per game day; the viewers themselves are the live view's (live.ts: written straight
 * to Node's response, dropped when they stop reading), and so are the frames and the headers.
 */
import type { ServerResponse } from 'node:http';
import { type LiveSink, ResponseViewer, sseFrame, Viewer } from '../live.js';

export interface GameDayHubOptions {
  /** A comment line this often keeps proxies from closing a quiet stream (default 15 s). */
  heartbeatMs?: number;
  /** Unsent bytes a viewer may hold before it is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
}

const encoder = new TextEncoder();

export class GameDayHub {
  readonly #viewers = new Map<string, Set<LiveSink>>();
  readonly #heartbeatMs: number;
  readonly #max: number;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: GameDayHubOptions = {}) {
    this.#heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.#max = opts.maxBufferedBytes ?? 1024 * 1024;
  }

  /** A viewer for a request: Node's response when there is one, else a web stream (app.request() in tests). */
  viewerFor(outgoing: ServerResponse | undefined): { viewer: LiveSink; stream?: ReadableStream<Uint8Array> } {
    if (outgoing) {
      const viewer = new ResponseViewer(outgoing, this.#max, (v) => this.#forget(v));
      viewer.open();
      return { viewer };
    }
    const viewer = new Viewer(this.#max, (v) => this.#forget(v));
    return { viewer, stream: viewer.stream };
  }

  /** Sends the snapshot; then the game day's frames until `end` (or, when `ended`, closes at once). */
  attach(id: string, viewer: LiveSink, snapshot: unknown, seq: number, ended?: boolean): void {
    viewer.send(encoder.encode(sseFrame('snapshot', snapshot, seq)));
    if (ended || this.#closed) {
      if (ended) viewer.send(encoder.encode(sseFrame('end', snapshot)));
      viewer.close();
      return;
    }
    if (viewer.closed) return;
    const set = this.#viewers.get(id) ?? new Set<LiveSink>();
    this.#viewers.set(id, set);
    set.add(viewer);
    this.#beat();
  }

  /** A frame to every viewer of game day `id`. */
  publish(id: string, event: 'timeline' | 'gameday', data: unknown, seq?: number): void {
    const set = this.#viewers.get(id);
    if (!set || set.size === 0) return;
    const bytes = encoder.encode(sseFrame(event, data, seq));
    for (const v of [...set]) v.send(bytes);
  }

  /** The game day ended: `end` with its final state, and every stream of it closes. */
  end(id: string, final: unknown): void {
    const set = this.#viewers.get(id);
    this.#viewers.delete(id);
    if (!set) return;
    const bytes = encoder.encode(sseFrame('end', final));
    for (const v of [...set]) {
      v.send(bytes);
      v.close();
    }
  }

  /** Whether anyone watches game day `id` (a state frame is built only then). */
  watching(id: string): boolean {
    return (this.#viewers.get(id)?.size ?? 0) > 0;
  }

  get viewers(): number {
    let n = 0;
    for (const s of this.#viewers.values()) n += s.size;
    return n;
  }

  /** Ends every stream (the server is closing). */
  close(): void {
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    for (const set of [...this.#viewers.values()]) for (const v of [...set]) v.close();
    this.#viewers.clear();
  }

  #forget(viewer: LiveSink): void {
    for (const [id, set] of this.#viewers) {
      set.delete(viewer);
      if (set.size === 0) this.#viewers.delete(id);
    }
    if (this.#viewers.size === 0 && this.#heartbeat) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
  }

  #beat(): void {
    if (this.#heartbeat || this.#closed) return;
    const ping = encoder.encode(': ping\n\n');
    this.#heartbeat = setInterval(() => {
      for (const set of this.#viewers.values()) for (const v of [...set]) v.send(ping);
    }, this.#heartbeatMs);
    this.#heartbeat.unref();
  }
}
