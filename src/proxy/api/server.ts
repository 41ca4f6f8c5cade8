/**
 * The Toxiproxy-compatible control API over node:http: every endpoint of
 * Toxiproxy 2.x with its status codes, shapes, headers and error messages
 * (existing clients compare them), in front of any ProxyControl.
 *
 * Beyond Toxiproxy: bodies are capped, slow clients are timed out, malformed
 * input of any kind gets a 4xx JSON error, a handler that takes too long gets a
 * 503 instead of holding the connection, and the API refuses to listen beyond
 * loopback unless a token is configured (then every request must carry it).
 * Other services' routes (the SDK control plane) come as `mounts` from whoever
 * starts the server, behind the same guards and limits.
 *
 * @example
 * const manager = new ProxyManager();
 * const api = await startControlServer({ control: manager, port: 0 });
 * // ... Toxiproxy clients talk to api.url ...
 * await api.close();
 * await manager.close();
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { browserGuard, isLoopbackHost, tokenCheck } from '../../core/access.js';
import { FaultlineError } from '../../core/errors.js';
import { VERSION } from '../../version.js';
import { ProxyApiError, type ProxyControl, type ProxyView } from '../model.js';
import {
  decodePopulate,
  decodeProxyCreate,
  decodeProxyUpdate,
  decodeToxicCreate,
  decodeToxicUpdate,
  parseBody,
} from './decode.js';
import { errorJson, populateJson, proxyJson, proxyMapJson, toxicJson, toxicsJson } from './encode.js';

/** The Toxiproxy version the API reports: a real semver, so the Ruby client picks PATCH (>= 2.6). */
export const TOXIPROXY_COMPAT_VERSION = '2.12.0';

export const DEFAULT_CONTROL_HOST = '127.0.0.1';
export const DEFAULT_CONTROL_PORT = 8474;

export interface ControlServerOptions {
  control: ProxyControl;
  /** Default 127.0.0.1. A non-loopback host requires `token`. */
  host?: string;
  /** Default 8474; 0 picks a free port (read it from the result). */
  port?: number;
  /** When set, every request must send `Authorization: Bearer <token>` or `X-Faultline-Token: <token>`. */
  token?: string;
  /**
   * Names clients may send in `Host` besides localhost, IP addresses and `host` (`.example.com`: that name
   * and its subdomains). Without a token `Host` is always checked (DNS rebinding); with one, only when given.
   */
  allowedHosts?: readonly string[];
  /** Largest accepted request body (default 1 MiB); larger ones get 413. */
  maxBodyBytes?: number;
  /** The request line and headers must arrive within this (default 10 s). */
  headersTimeoutMs?: number;
  /** The body must arrive within this once the headers are in (default 10 s). */
  bodyTimeoutMs?: number;
  /** A handler slower than this answers 503 (default 25 s, Toxiproxy's TimeoutHandler). */
  handlerTimeoutMs?: number;
  /**
   * Open connections kept (default 1024). A new connection is always accepted; over the budget, one still
   * waiting for its request headers is closed instead (see guardConnections), or the newcomer if none can go.
   */
  maxConnections?: number;
  /** Observes requests and unexpected errors (the CLI's access log). Never sees headers or bodies. */
  onEvent?: (event: ControlServerEvent) => void;
  /**
   * Other services' routes served by this API under their path prefix, behind the same guards (user agent,
   * browser and Host checks, token, connection budget) and body limits: the composition passes the SDK
   * control plane (src/sdk-control/api.ts, sdkControlMount) this way, so the proxy does not know it.
   */
  mounts?: readonly ControlMount[];
}

/** What a handler answers (a mount's answers have the same shape). */
export interface ControlReply {
  status: number;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/**
 * Routes of another service under a path prefix of the control API. The server
 * checks the request (guards, token) and reads the body (size and time limits)
 * before handing it over; the mount answers everything under its prefix.
 */
export interface ControlMount {
  /** Paths that start with this are the mount's, e.g. `/faultline/sdk/`. */
  readonly prefix: string;
  /** Called once per server start with the server's limits (a long poll must answer within the handler timeout). */
  start(server: { readonly handlerTimeoutMs: number }): MountedRoutes;
}

/** A mount as one server runs it. */
export interface MountedRoutes {
  /** Whether a request with this method has a body to read first. */
  hasBody(method: string): boolean;
  handle(req: IncomingMessage, method: string, url: string, body: Uint8Array): Promise<ControlReply>;
  /** The server is closing: answer whatever waits now and release what the mount holds. */
  close?(): void;
}

export type ControlServerEvent =
  | {
      type: 'request';
      requestId: string;
      method: string;
      path: string;
      status: number;
      durationMs: number;
    }
  | { type: 'error'; requestId?: string; error: Error };

export interface ControlServer {
  /** Base URL clients use, e.g. `http://127.0.0.1:8474`. */
  url: string;
  host: string;
  port: number;
  /** Stops accepting, lets requests in flight finish (up to `graceMs`, default 2 s), then closes every connection. */
  close(graceMs?: number): Promise<void>;
}

/** Re-exported: the CLI checks the host before starting. */
export { isLoopbackHost };

// --- request ids (xid-like: 20 base32hex characters, time-ordered) --------------------------

const ID_PREFIX = randomBytes(5);
let idCounter = randomBytes(3).readUIntBE(0, 3);
const B32 = '0123456789abcdefghijklmnopqrstuv';

function requestId(): string {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(Math.floor(Date.now() / 1000) >>> 0, 0);
  ID_PREFIX.copy(b, 4);
  idCounter = (idCounter + 1) & 0xffffff;
  b.writeUIntBE(idCounter, 9, 3);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

// --- replies ----------------------------------------------------------------------------------

type Reply = ControlReply;

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';

const EMPTY = new Uint8Array(0);

const ok = (body: string, status = 200): Reply => ({ status, body, contentType: JSON_TYPE });
const noContent = (): Reply => ({ status: 204 });

/** Toxiproxy's apiError: JSON in a `text/plain` http.Error, trailing newline, nosniff. */
const apiError = (status: number, message: string): Reply => ({
  status,
  body: `${errorJson(message, status)}\n`,
  contentType: TEXT_TYPE,
  headers: { 'X-Content-Type-Options': 'nosniff' },
});

/** Errors Toxiproxy does not have (auth, limits, timeouts): plain JSON. */
const jsonError = (status: number, message: string, headers: Record<string, string> = {}): Reply => ({
  status,
  body: errorJson(message, status),
  contentType: JSON_TYPE,
  headers: { 'X-Content-Type-Options': 'nosniff', ...headers },
});

const notFoundPage = (): Reply => ({
  status: 404,
  body: '404 page not found\n',
  contentType: TEXT_TYPE,
  headers: { 'X-Content-Type-Options': 'nosniff' },
});

// --- routing ----------------------------------------------------------------------------------

interface RequestContext {
  method: string;
  params: string[];
  body(): Promise<Uint8Array>;
}

type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

interface Route {
  /** Literal segments, or null for a `{param}`. */
  pattern: (string | null)[];
  methods: Record<string, Handler>;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
};

function splitPath(url: string): string[] | undefined {
  if (!url.startsWith('/')) return undefined;
  const end = url.search(/[?#]/);
  const raw = end === -1 ? url : url.slice(0, end);
  try {
    return raw
      .slice(1)
      .split('/')
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

function matchRoute(routes: Route[], segments: string[]): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    if (route.pattern.length !== segments.length) continue;
    const params: string[] = [];
    let matched = true;
    route.pattern.forEach((p, i) => {
      const s = segments[i]!;
      if (p === null) {
        if (s === '') matched = false;
        else params.push(s);
      } else if (p !== s) matched = false;
    });
    if (matched) return { route, params };
  }
  return undefined;
}

function buildRoutes(control: ProxyControl): Route[] {
  const proxy = (ctx: RequestContext) => ctx.params[0]!;
  const toxic = (ctx: RequestContext) => ctx.params[1]!;
  const updateProxy: Handler = async (ctx) => {
    control.get(proxy(ctx)); // 404 before the body is looked at, as in Toxiproxy
    const patch = decodeProxyUpdate(await ctx.body());
    return ok(proxyJson(await control.update(proxy(ctx), patch)));
  };
  const updateToxic: Handler = async (ctx) => {
    const current = control.getToxic(proxy(ctx), toxic(ctx));
    const input = decodeToxicUpdate(await ctx.body(), current.type);
    return ok(toxicJson(control.updateToxic(proxy(ctx), toxic(ctx), input)));
  };
  return [
    {
      pattern: ['version'],
      methods: {
        GET: () => ({
          status: 200,
          body: `{"version": "${TOXIPROXY_COMPAT_VERSION}"}\n`,
          contentType: 'application/json;charset=utf-8',
        }),
      },
    },
    {
      pattern: ['proxies'],
      methods: {
        GET: () => ok(proxyMapJson(control.list())),
        POST: async (ctx) => ok(proxyJson(await control.create(decodeProxyCreate(await ctx.body()))), 201),
      },
    },
    { pattern: ['populate'], methods: { POST: async (ctx) => populate(control, await ctx.body()) } },
    {
      pattern: ['reset'],
      methods: {
        POST: async () => {
          await control.reset();
          return noContent();
        },
      },
    },
    {
      pattern: ['metrics'],
      methods: {
        GET: () => ({
          status: 200,
          body: control.metrics(),
          contentType: 'text/plain; version=0.0.4; charset=utf-8',
        }),
      },
    },
    {
      pattern: ['proxies', null],
      methods: {
        GET: (ctx) => ok(proxyJson(control.get(proxy(ctx)))),
        POST: updateProxy,
        PATCH: updateProxy,
        DELETE: async (ctx) => {
          await control.remove(proxy(ctx));
          return noContent();
        },
      },
    },
    {
      pattern: ['proxies', null, 'toxics'],
      methods: {
        GET: (ctx) => ok(toxicsJson(control.listToxics(proxy(ctx)))),
        POST: async (ctx) => {
          control.get(proxy(ctx));
          const input = decodeToxicCreate(await ctx.body());
          return ok(toxicJson(control.addToxic(proxy(ctx), input)));
        },
      },
    },
    {
      pattern: ['proxies', null, 'toxics', null],
      methods: {
        GET: (ctx) => ok(toxicJson(control.getToxic(proxy(ctx), toxic(ctx)))),
        POST: updateToxic,
        PATCH: updateToxic,
        DELETE: (ctx) => {
          control.removeToxic(proxy(ctx), toxic(ctx));
          return noContent();
        },
      },
    },
  ];
}

/** `/populate` answers errors as application/json with the proxies already done (Toxiproxy's shape). */
async function populate(control: ProxyControl, body: Uint8Array): Promise<Reply> {
  const populateError = (status: number, message: string, proxies: ProxyView[] | null): Reply => ({
    status,
    body: errorJson(message, status, proxies),
    contentType: JSON_TYPE,
  });
  try {
    const items = decodePopulate(parseBody(body));
    return ok(populateJson(await control.populate(items)), 201);
  } catch (err) {
    if (err instanceof ProxyApiError) return populateError(err.status, err.message, err.proxies ?? null);
    throw err;
  }
}

// --- the server -------------------------------------------------------------------------------

function usage(message: string): FaultlineError {
  return new FaultlineError('FAULTLINE_ERR_USAGE', message);
}

/** The client went away mid-body: nothing to answer. */
class RequestAborted extends Error {}

/** A request that ends in an answer other than its handler's (413, 408): the reply travels as an Error. */
class HttpReplyError extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

/** Reads a request body up to `limit` bytes; rejects with an HttpReplyError for 413/408. */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpReplyError(jsonError(413, `request body larger than ${limit} bytes`)));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new HttpReplyError(
          jsonError(408, `request body not received within ${timeoutMs} ms`, { Connection: 'close' }),
        ),
      );
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        reject(new HttpReplyError(jsonError(413, `request body larger than ${limit} bytes`)));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onAborted = () => onError(new RequestAborted('request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/**
 * Keeps the API answering complete requests while slow clients (slowloris) fill
 * the connection table. Node's `maxConnections` drops the newcomer once the
 * table is full: 1,100 slow connections that reconnected when dropped let 2 of
 * 81 health probes through in 45 s. Here a newcomer is always accepted, and
 * when that puts the table over budget a connection still waiting for its
 * request headers (a slow one, or an idle keep-alive one) is closed: the oldest
 * of the client (remote address) holding the most such connections, so a flood
 * from one address does not cost others theirs. Connections accepted in the
 * last two event-loop turns are spared: their first bytes may not have been
 * read yet (one turn accepts every pending connection before reading any), and
 * a complete request is usually in those bytes. If nothing can be closed, the
 * newcomer is. While over half the budget waits for headers, a client holding
 * more than an eighth of the budget in such connections gets a fifth of the
 * headers timeout (at least 1 s) for each, so the flood frees its slots sooner
 * while one slow request from elsewhere keeps its full time.
 */
function guardConnections(server: Server, maxConnections: number, headersTimeoutMs: number): () => void {
  interface Conn {
    client: string;
    /** The turn it was accepted in. */
    turn: number;
    /** When it started waiting for request headers (accept, or the end of its last response). */
    since: number;
    /** Requests whose headers are in and whose response is not finished. */
    active: number;
  }
  const conns = new Map<Socket, Conn>();
  // Insertion order is waiting order: a connection re-enters at the end when its response ends.
  const waiting = new Set<Socket>();
  const waitingByClient = new Map<string, Set<Socket>>();
  let turn = 0;
  let lastAcceptTurn = -1;
  let ticking = false;
  const tick = () => {
    turn++;
    ticking = lastAcceptTurn >= turn - 2;
    if (ticking) setImmediate(tick);
  };

  const startWaiting = (socket: Socket, conn: Conn) => {
    conn.since = performance.now();
    waiting.add(socket);
    const own = waitingByClient.get(conn.client) ?? new Set<Socket>();
    waitingByClient.set(conn.client, own);
    own.add(socket);
  };
  const stopWaiting = (socket: Socket, conn: Conn) => {
    waiting.delete(socket);
    const own = waitingByClient.get(conn.client);
    own?.delete(socket);
    if (own?.size === 0) waitingByClient.delete(conn.client);
  };
  const oldestEvictable = (sockets: Iterable<Socket>): Socket | undefined => {
    for (const s of sockets) if (turn - conns.get(s)!.turn >= 2) return s;
    return undefined;
  };
  const evict = (socket: Socket) => {
    const conn = conns.get(socket);
    if (conn) stopWaiting(socket, conn);
    conns.delete(socket);
    socket.destroy();
  };

  server.on('connection', (socket: Socket) => {
    const conn: Conn = { client: socket.remoteAddress ?? '', turn, since: 0, active: 0 };
    conns.set(socket, conn);
    startWaiting(socket, conn);
    socket.once('close', () => {
      if (conns.get(socket) === conn) {
        stopWaiting(socket, conn);
        conns.delete(socket);
      }
    });
    lastAcceptTurn = turn;
    if (!ticking) {
      ticking = true;
      setImmediate(tick);
    }
    if (conns.size <= maxConnections) return;
    let hog: Set<Socket> | undefined;
    for (const own of waitingByClient.values()) if (!hog || own.size > hog.size) hog = own;
    const victim = (hog && oldestEvictable(hog)) ?? (hog?.has(socket) ? undefined : oldestEvictable(waiting));
    evict(victim ?? socket);
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const conn = conns.get(socket);
    if (!conn) return;
    if (conn.active++ === 0) stopWaiting(socket, conn);
    res.once('close', () => {
      if (--conn.active === 0 && conns.get(socket) === conn && !socket.destroyed) startWaiting(socket, conn);
    });
  });

  const pressureTimeoutMs = Math.min(headersTimeoutMs, Math.max(1000, headersTimeoutMs / 5));
  const manyPerClient = Math.max(1, Math.floor(maxConnections / 8));
  const sweep = setInterval(
    () => {
      if (waiting.size <= maxConnections / 2) return;
      const cutoff = performance.now() - pressureTimeoutMs;
      const expired: Socket[] = [];
      for (const s of waiting) {
        const conn = conns.get(s)!;
        if (conn.since > cutoff) break;
        if (waitingByClient.get(conn.client)!.size > manyPerClient) expired.push(s);
      }
      for (const s of expired) evict(s);
    },
    Math.min(1000, pressureTimeoutMs),
  );
  sweep.unref();
  return () => clearInterval(sweep);
}

/**
 * Starts the control API. Resolves once it listens; rejects (FaultlineError) if
 * the host is not loopback and no token is set, or if it cannot listen.
 */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const {
    control,
    host = DEFAULT_CONTROL_HOST,
    port = DEFAULT_CONTROL_PORT,
    maxBodyBytes = 1024 * 1024,
    headersTimeoutMs = 10_000,
    bodyTimeoutMs = 10_000,
    handlerTimeoutMs = 25_000,
    maxConnections = 1024,
    onEvent,
  } = options;
  const token = options.token === '' ? undefined : options.token;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw usage(`invalid port ${port}: expected an integer from 0 to 65535`);
  }
  if (!isLoopbackHost(host) && token === undefined) {
    throw usage(
      `refusing to serve the proxy API on ${host}, which is reachable from other machines, without a token: ` +
        'set --token or FAULTLINE_PROXY_TOKEN (clients then send Authorization: Bearer <token>)',
    );
  }
  const authorized = tokenCheck(token);
  const refuseBrowser = browserGuard({ boundHost: host, token, allowedHosts: options.allowedHosts });

  const emit = (event: ControlServerEvent) => {
    try {
      onEvent?.(event);
    } catch {
      // an observer's failure must not break the API
    }
  };
  const routes = buildRoutes(control);
  // Other services' routes (the SDK control plane, when the composition passes it): same guards and limits.
  const mounts = (options.mounts ?? []).map((m) => ({
    prefix: m.prefix,
    routes: m.start({ handlerTimeoutMs }),
  }));
  /** Responses being produced, per socket: a timeout on the socket must not write a second response. */
  const inFlight = new Map<Socket, ServerResponse>();
  /** Sockets answered before their request body was in (403, 404, 413...): a later timeout just closes them. */
  const answeredEarly = new WeakSet<Socket>();

  const send = (res: ServerResponse, reply: Reply) => {
    if (res.headersSent || res.destroyed) return;
    for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
    if (reply.body === undefined) {
      if (reply.status !== 204) res.setHeader('Content-Length', '0');
      res.writeHead(reply.status);
      res.end();
      return;
    }
    const body = Buffer.from(reply.body, 'utf8');
    res.setHeader('Content-Type', reply.contentType ?? JSON_TYPE);
    res.setHeader('Content-Length', String(body.length));
    res.writeHead(reply.status);
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const id = requestId();
    const method = req.method ?? '';
    const url = req.url ?? '';
    const path = url.split(/[?#]/)[0] ?? '';
    res.setHeader('X-Toxiproxy-Request-Id', id);
    res.setHeader('X-Faultline-Version', VERSION);
    inFlight.set(req.socket, res);
    answeredEarly.delete(req.socket);
    res.on('finish', () => {
      if (!req.complete) answeredEarly.add(req.socket);
    });
    res.on('close', () => {
      if (inFlight.get(req.socket) === res) inFlight.delete(req.socket);
      emit({
        type: 'request',
        requestId: id,
        method,
        path,
        status: res.statusCode,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      });
    });

    let reply: Reply;
    try {
      reply = await route(req, method, url);
    } catch (err) {
      if (err instanceof HttpReplyError) reply = err.reply;
      else if (err instanceof ProxyApiError) reply = apiError(err.status, err.message);
      else if (err instanceof RequestAborted || req.destroyed) {
        res.destroy();
        return;
      } else {
        const error = err instanceof Error ? err : new Error(String(err));
        emit({ type: 'error', requestId: id, error });
        reply = apiError(500, error.message);
      }
    }
    send(res, reply);
    if (reply.headers?.Connection === 'close') res.on('finish', () => req.socket.destroy());
  };

  const route = async (req: IncomingMessage, method: string, url: string): Promise<Reply> => {
    const ua = req.headers['user-agent'];
    if (typeof ua === 'string' && ua.startsWith('Mozilla/')) return apiError(403, 'User agent not allowed');
    // Before the token: a page that found the token still may not use it from another origin.
    const refusal = refuseBrowser(req);
    if (refusal) return jsonError(403, refusal.message);
    if (!authorized(req)) {
      return jsonError(401, 'missing or invalid token: send Authorization: Bearer <token>', {
        'WWW-Authenticate': 'Bearer realm="faultline-proxy"',
      });
    }
    const mount = mounts.find((m) => url.startsWith(m.prefix))?.routes;
    if (mount) {
      const body = mount.hasBody(method) ? await readBody(req, maxBodyBytes, bodyTimeoutMs) : EMPTY;
      return mount.handle(req, method, url, body);
    }
    const segments = splitPath(url);
    const found = segments && matchRoute(routes, segments);
    if (!found) return notFoundPage();
    const handler = found.route.methods[method];
    if (!handler) {
      return { status: 405, headers: { Allow: Object.keys(found.route.methods).join(', ') } };
    }
    // The whole body is in before the operation starts, so the handler timeout measures only the operation.
    const body =
      method === 'POST' || method === 'PATCH' ? await readBody(req, maxBodyBytes, bodyTimeoutMs) : EMPTY;
    const ctx: RequestContext = { method, params: found.params, body: async () => body };
    // Toxiproxy's TimeoutHandler: a stuck operation answers 503 instead of holding the client.
    let timer: NodeJS.Timeout | undefined;
    const work = Promise.resolve().then(() => handler(ctx));
    const timeout = new Promise<Reply>((resolve) => {
      timer = setTimeout(
        () => resolve(jsonError(503, `the operation did not finish within ${handlerTimeoutMs} ms`)),
        handlerTimeoutMs,
      );
    });
    work.catch(() => {}); // a late failure after a 503 is not an unhandled rejection
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const server = createServer(
    {
      headersTimeout: headersTimeoutMs,
      // Node's own whole-request limit, a backstop behind the body timer above.
      requestTimeout: headersTimeoutMs + bodyTimeoutMs + 1000,
      connectionsCheckingInterval: Math.min(1000, headersTimeoutMs),
      keepAliveTimeout: 5000,
    },
    (req, res) => {
      handle(req, res).catch((err) => {
        emit({ type: 'error', error: err instanceof Error ? err : new Error(String(err)) });
        if (!res.headersSent) send(res, apiError(500, 'internal error'));
        else res.destroy();
      });
    },
  );
  const stopGuard = guardConnections(server, maxConnections, headersTimeoutMs);
  // Idle sockets (connected, never sending) go after a minute, like Toxiproxy's IdleTimeout.
  server.setTimeout(60_000);

  // Malformed requests, oversized headers and slow (slowloris) clients: a JSON 4xx on the raw socket, then close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const pending = inFlight.get(socket);
    if (err.code === 'ECONNRESET' || !socket.writable || answeredEarly.has(socket) || pending?.headersSent) {
      socket.destroy();
      return;
    }
    let status = 400;
    let message = 'malformed HTTP request';
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      message = 'request not received in time';
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      message = 'request headers too large';
    }
    if (pending) {
      send(pending, jsonError(status, message, { Connection: 'close' }));
      pending.on('finish', () => socket.destroy());
      return;
    }
    const body = errorJson(message, status);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}\r\n` +
        `Content-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), 1000).unref();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        new FaultlineError(
          'FAULTLINE_ERR_PROXY',
          `cannot listen on ${host}:${port} for the proxy API: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
          { cause: err },
        ),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
  server.on('error', (err) => emit({ type: 'error', error: err }));

  const address = server.address() as AddressInfo;
  const urlHost =
    address.address === '0.0.0.0'
      ? '127.0.0.1'
      : address.address === '::'
        ? '[::1]'
        : address.family === 'IPv6'
          ? `[${address.address}]`
          : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    close(graceMs = 2000) {
      closing ??= new Promise<void>((resolve) => {
        for (const m of mounts) m.routes.close?.();
        stopGuard();
        server.close(() => resolve());
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.once('close', () => clearTimeout(force));
      });
      return closing;
    },
  };
}
