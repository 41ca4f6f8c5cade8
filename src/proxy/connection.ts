/**
 * A proxied connection: the client socket, the upstream socket, and the two
 * links between them (upstream = client -> server, downstream = server ->
 * client).
 *
 * Lifecycle, as in Toxiproxy: accept, then dial the upstream (immediately, or
 * after a `slow_open` delay); a dial failure closes the client (it sees EOF),
 * and so does an upstream address the address policy refuses (listen.ts).
 *
 * Unlike Toxiproxy, half-close is proxied faithfully: both sockets are
 * `allowHalfOpen`, a FIN from one side is forwarded as a FIN to the other once
 * the data before it is through, and the other direction keeps flowing. The
 * sockets close when both directions have ended. An RST from one side is
 * passed on as an RST to the other; other socket errors close the other side.
 */
import { connect, isIP, Socket } from 'node:net';
import type { BusyPoller } from './busy-poll.js';
import type { ToxicEntry } from './entry.js';
import { type ByteCounters, Link, type LinkOwner } from './link.js';
import { type ConnectGate, type Direction, hasConnectHook, realClock } from './toxic.js';
import type { UpstreamLookup } from './upstream-lookup.js';

/**
 * What a connection needs of the proxy that accepted it (ProxyServer is the
 * one implementation); declared here so connection.ts does not import proxy.ts,
 * which imports it.
 */
export interface ConnectionOwner {
  readonly name: string;
  readonly poller: BusyPoller;
  readonly toxics: Record<Direction, ToxicEntry[]>;
  readonly userBuffers: boolean;
  readonly upstreamLookup: UpstreamLookup;
  upstreamTarget(): { host: string; port: number } | null;
  /** Why the address policy refuses dialling this address (listen.ts), or null. */
  dialRefusal(address: string): string | null;
  connectionClosed(conn: Connection): void;
}

/** How long a graceful close (toxic `close()`) waits for pending writes before destroying the sockets. */
const CLOSE_GRACE_MS = 5000;

enum State {
  Open = 0,
  Closing = 1,
  Closed = 2,
}

let nextId = 0;

/** libuv TCP handle as handed to `onconnection` (opaque here). */
export type TcpHandle = object;

function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

export class Connection implements LinkOwner {
  readonly id = ++nextId;
  readonly up: Link;
  readonly down: Link;
  client: Socket | null = null;
  upstream: Socket | null = null;
  #state = State.Open;
  #shared: Map<string, unknown> | null = null;
  /** A realClock handle: slow_open delays may exceed Node's timer range. */
  #dialTimer: unknown = null;
  #graceTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly owner: ConnectionOwner,
    bytes: { upstream: ByteCounters; downstream: ByteCounters },
  ) {
    this.up = new Link(this, 'upstream', bytes.upstream, owner.poller);
    this.down = new Link(this, 'downstream', bytes.downstream, owner.poller);
  }

  get proxy(): string {
    return this.owner.name;
  }

  get shared(): Map<string, unknown> {
    this.#shared ??= new Map();
    return this.#shared;
  }

  get open(): boolean {
    return this.#state === State.Open;
  }

  opposite(link: Link): Link {
    return link === this.up ? this.down : this.up;
  }

  /**
   * Starts the connection on an accepted TCP handle (the fast path: the client
   * socket reads into the link's buffers) or an accepted socket (fallback).
   */
  start(accepted: TcpHandle | Socket): void {
    const { up, down } = this;
    for (const entry of this.owner.toxics.upstream) up.attach(entry);
    for (const entry of this.owner.toxics.downstream) down.attach(entry);

    let refuse = false;
    const delays: { ms: number; signal: AbortSignal | undefined }[] = [];
    if (up.head !== null || down.head !== null) {
      const gate: ConnectGate = {
        reset: () => {
          refuse = true;
        },
        delay: (ms, signal) => {
          if (ms > 0 && !signal?.aborted) delays.push({ ms, signal });
        },
      };
      for (const stage of [...up.stages, ...down.stages]) {
        if (stage.toxic !== null && hasConnectHook(stage.toxic)) stage.toxic.onConnect(gate);
      }
    }

    let client: Socket;
    if (accepted instanceof Socket) {
      client = accepted;
      client.on('data', up.onData);
    } else {
      client = new Socket({ handle: accepted, allowHalfOpen: true, onread: up.onread } as never);
    }
    this.client = client;
    client.setNoDelay(true);
    client.on('end', () => up.onSourceEnd());
    client.on('error', (err: NodeJS.ErrnoException) => this.#onError(client, err));
    client.on('close', () => this.#onClose());
    up.setSource(client);
    down.dst = client;

    if (refuse) {
      this.#state = State.Closing;
      resetSocket(client);
      return;
    }
    if (delays.length > 0) {
      up.block();
      const started = realClock.now();
      // Re-planned when a delaying toxic is removed: the connection waits only for those still there.
      const plan = () => {
        if (this.#dialTimer !== null) realClock.clearTimeout(this.#dialTimer);
        this.#dialTimer = null;
        if (this.#state !== State.Open) return;
        let left = started - realClock.now();
        for (const d of delays) if (!d.signal?.aborted) left += d.ms;
        if (left > 0) {
          this.#dialTimer = realClock.setTimeout(plan, left);
          return;
        }
        for (const d of delays) d.signal?.removeEventListener('abort', plan);
        this.#dial();
        up.unblock();
      };
      for (const d of delays) d.signal?.addEventListener('abort', plan, { once: true });
      plan();
    } else {
      this.#dial();
    }
    if (accepted instanceof Socket && this.#dialTimer === null) client.resume();
  }

  #dial(): void {
    const target = this.owner.upstreamTarget();
    const client = this.client!;
    if (target === null) {
      this.#state = State.Closing;
      client.destroy();
      return;
    }
    // A named upstream is resolved from the proxy's cache, not by a lookup per connection; the cache
    // checks each address it hands out against the address policy, and a literal is checked here.
    const named = isIP(target.host) === 0 ? this.owner.upstreamLookup : null;
    if (named === null && this.owner.dialRefusal(target.host) !== null) {
      this.#state = State.Closing;
      client.destroy();
      return;
    }
    const userBuffers = this.owner.userBuffers;
    const upstream = connect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
      ...(named ? { lookup: named.lookup } : {}),
      ...(userBuffers ? { onread: this.down.onread } : {}),
    } as never) as Socket;
    if (named) upstream.once('connect', () => named.connected(upstream.remoteAddress));
    if (!userBuffers) upstream.on('data', this.down.onData);
    this.upstream = upstream;
    this.up.dst = upstream;
    this.down.setSource(upstream);
    upstream.on('end', () => this.down.onSourceEnd());
    upstream.on('error', (err: NodeJS.ErrnoException) => this.#onError(upstream, err));
    upstream.on('close', () => this.#onClose());
  }

  #onError(from: Socket, err: NodeJS.ErrnoException): void {
    if (this.#state === State.Closed) return;
    this.#state = State.Closing;
    this.#drop();
    const other = from === this.client ? this.upstream : this.client;
    if (other === null || other.destroyed) return;
    // A dial failure closes the client (EOF), as Toxiproxy does; an RST is passed on as an RST.
    if (err.code === 'ECONNRESET' && from.readyState !== 'opening') resetSocket(other);
    else other.destroy();
  }

  #onClose(): void {
    const { client, upstream } = this;
    if (client !== null && !client.destroyed) return;
    if (upstream !== null && !upstream.destroyed) return;
    this.#finish();
  }

  #drop(): void {
    this.up.dropping = true;
    this.down.dropping = true;
    if (this.#dialTimer !== null) realClock.clearTimeout(this.#dialTimer);
    this.#dialTimer = null;
  }

  #finish(): void {
    if (this.#state === State.Closed) return;
    this.#state = State.Closed;
    this.#drop();
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    this.up.dispose();
    this.down.dispose();
    this.owner.connectionClosed(this);
  }

  /** Closes with FIN both ways once pending writes are out (a toxic's `close()`); later data is dropped. */
  close(): void {
    if (this.#state !== State.Open) return;
    this.#state = State.Closing;
    this.#drop();
    for (const socket of [this.client, this.upstream]) {
      if (socket === null || socket.destroyed) continue;
      if (socket.connecting) {
        socket.destroy();
        continue;
      }
      socket.resume();
      socket.end();
      if (socket.writableFinished) socket.destroy();
      else socket.once('finish', () => socket.destroy());
    }
    this.#graceTimer = setTimeout(() => this.destroy(), CLOSE_GRACE_MS);
    this.#graceTimer.unref();
    this.#onClose();
  }

  /** Resets both sides (RST). */
  reset(): void {
    if (this.#state === State.Closed) return;
    this.#state = State.Closing;
    this.#drop();
    if (this.client !== null) resetSocket(this.client);
    if (this.upstream !== null) resetSocket(this.upstream);
    this.#onClose();
  }

  /** Drops the connection at once (proxy disabled or deleted). */
  destroy(): void {
    if (this.#state === State.Closed) return;
    this.#state = State.Closing;
    this.#drop();
    this.client?.destroy();
    this.upstream?.destroy();
    this.#onClose();
  }
}
