/**
 * One proxy: its listener, its live connections and its toxics. The manager
 * (manager.ts) owns validation and Toxiproxy's API semantics; this class does
 * what they decide, on sockets.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { BusyPoller } from './busy-poll.js';
import { Connection, type TcpHandle } from './connection.js';
import type { ToxicEntry } from './entry.js';
import type { ByteCounters } from './link.js';
import {
  AddressError,
  AddressPolicy,
  bindErrorMessage,
  formatAddress,
  type ListenTarget,
  parseUpstream,
  resolveListen,
} from './listen.js';
import { ProxyApiError, type ProxyView } from './model.js';
import type { Direction } from './toxic.js';
import { UpstreamLookup } from './upstream-lookup.js';

/**
 * A listen or upstream the address policy refuses (403, Toxiproxy's error
 * shape): `field` names the input; in a populate, `index` (0-based) and the
 * proxy's name, which the message then starts with.
 */
export class AddressRefused extends ProxyApiError {
  constructor(
    readonly field: 'listen' | 'upstream',
    /** Why, without the proxy's name. */
    readonly reason: string,
    readonly index?: number,
    name?: string,
  ) {
    super(403, name === undefined ? reason : `proxy ${name}: ${reason}`);
  }
}

export class ProxyServer {
  enabled = false;
  readonly toxics: Record<Direction, ToxicEntry[]> = { upstream: [], downstream: [] };
  readonly connections = new Set<Connection>();
  /** Counted as bytes flow (Toxiproxy counts them only when a link ends). */
  readonly bytes: { upstream: ByteCounters; downstream: ByteCounters } = {
    upstream: { received: 0, sent: 0 },
    downstream: { received: 0, sent: 0 },
  };
  connectionsTotal = 0;
  #server: Server | null = null;
  #upstream: string;
  #target: { host: string; port: number } | null | undefined;
  /** Cached resolution of a named upstream (see upstream-lookup.ts); reset when the upstream changes. */
  upstreamLookup = this.#newLookup();

  constructor(
    readonly name: string,
    /** As the API shows it: the bound address once started, the raw input before. */
    public listen: string,
    upstream: string,
    readonly poller: BusyPoller,
    /** Interface to bind when `listen` names none ("", ":8080"); all interfaces when undefined. */
    private readonly defaultHost?: string,
    /** Read into the links' own buffers (fast path, see link.ts); false: ordinary socket reads. */
    readonly userBuffers = true,
    /** Where it may listen and what it may dial; checked on every start and every dial. */
    readonly policy = new AddressPolicy(),
  ) {
    this.#upstream = upstream;
  }

  get upstream(): string {
    return this.#upstream;
  }

  set upstream(value: string) {
    this.#upstream = value;
    this.#target = undefined;
    this.upstreamLookup = this.#newLookup();
  }

  #newLookup(): UpstreamLookup {
    return new UpstreamLookup((address) => this.dialRefusal(address));
  }

  /** Why a connection may not dial `address` (an IP the upstream is or resolved to), or null. */
  dialRefusal(address: string): string | null {
    const target = this.upstreamTarget();
    return target === null ? null : this.policy.upstreamRefusal(this.#upstream, address, target.port);
  }

  /** Where connections are dialled; null when `upstream` is not a dialable "host:port". */
  upstreamTarget(): { host: string; port: number } | null {
    if (this.#target === undefined) this.#target = parseUpstream(this.#upstream);
    return this.#target;
  }

  view(): ProxyView {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.#upstream,
      enabled: this.enabled,
      toxics: [...this.toxics.upstream, ...this.toxics.downstream].map((t) => t.view()),
    };
  }

  findToxic(name: string): ToxicEntry | undefined {
    return (
      this.toxics.upstream.find((t) => t.name === name) ?? this.toxics.downstream.find((t) => t.name === name)
    );
  }

  /** Binds the listener; `listen` becomes the bound address. Errors are 500s with Go's text. */
  async start(): Promise<void> {
    if (this.enabled) return;
    let target: ListenTarget;
    try {
      target = await resolveListen(this.listen);
    } catch (err) {
      if (err instanceof AddressError) throw new ProxyApiError(500, `listen tcp: ${err.message}`);
      throw err;
    }
    if (target.host === '' && this.defaultHost !== undefined) target = { ...target, host: this.defaultHost };
    // Checked here, on the address about to be bound: a name may resolve elsewhere than when it was created.
    const refusal = this.policy.listenRefusal(this.listen, target.host);
    if (refusal !== null) throw new AddressRefused('listen', refusal);
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(
          { host: target.host === '' ? undefined : target.host, port: target.port, backlog: 4096 },
          () => {
            server.off('error', reject);
            resolve();
          },
        );
      });
    } catch (err) {
      throw new ProxyApiError(500, bindErrorMessage(target, err as NodeJS.ErrnoException));
    }
    // Accept errors (EMFILE...) must not crash the process; the client just is not served.
    server.on('error', () => {});
    this.#takeAccepts(server);
    const address = server.address() as AddressInfo;
    this.listen = formatAddress(address.address, address.port);
    this.#server = server;
    this.enabled = true;
  }

  /**
   * Receives accepted connections as raw TCP handles when Node allows it, so the
   * client socket can be created with `onread` (user read buffers: see link.ts);
   * `net.Server` offers `onread` to no server-side socket. Falls back to the
   * public 'connection' event (ordinary reads) if Node's internals change.
   */
  #takeAccepts(server: Server): void {
    const handle = (server as unknown as { _handle?: { onconnection?: unknown } })._handle;
    if (
      this.userBuffers &&
      handle !== undefined &&
      handle !== null &&
      typeof handle.onconnection === 'function'
    ) {
      handle.onconnection = (err: number, clientHandle?: TcpHandle) => {
        if (err === 0 && clientHandle !== undefined) this.#accept(clientHandle);
      };
    } else {
      server.on('connection', (socket: Socket) => this.#accept(socket));
    }
  }

  #accept(accepted: TcpHandle | Socket): void {
    const conn = new Connection(this, this.bytes);
    this.connections.add(conn);
    this.connectionsTotal++;
    try {
      conn.start(accepted);
    } catch {
      conn.destroy();
      this.connections.delete(conn);
      const close = (accepted as { close?: () => void; destroy?: () => void }).close;
      if (typeof close === 'function' && conn.client === null) close.call(accepted);
    }
  }

  connectionClosed(conn: Connection): void {
    this.connections.delete(conn);
  }

  /** Closes the listener (new connects are refused) and drops every connection. */
  async stop(): Promise<void> {
    if (!this.enabled) return;
    this.enabled = false;
    const server = this.#server!;
    this.#server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const conn of this.connections) conn.destroy();
    await closed;
  }

  addToxic(entry: ToxicEntry): void {
    this.toxics[entry.direction].push(entry);
    for (const conn of this.connections) {
      if (conn.open) (entry.direction === 'upstream' ? conn.up : conn.down).attach(entry);
    }
  }

  updateToxic(entry: ToxicEntry, reroll: boolean): void {
    for (const conn of this.connections) {
      (entry.direction === 'upstream' ? conn.up : conn.down).update(entry, reroll);
    }
  }

  removeToxic(entry: ToxicEntry): void {
    const list = this.toxics[entry.direction];
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    entry.clearTtl();
    for (const conn of this.connections) {
      (entry.direction === 'upstream' ? conn.up : conn.down).detach(entry);
    }
  }
}
