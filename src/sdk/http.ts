/**
 * Outgoing `node:http` / `node:https` requests: `installHttp()` replaces
 * `request` and `get` on both modules (and syncs the ESM named exports).
 *
 * A request no rule matches goes to the original function untouched. For an
 * injected http_error, reset, timeout or exception the request is built by
 * the original function over an in-memory socket instead of a connection, so
 * the caller gets a real ClientRequest and, for http_error, a real
 * IncomingMessage parsed by Node from the canned response; the upstream is
 * never contacted. latency lets the request go out and delays its 'response'.
 */
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { Duplex } from 'node:stream';
import { urlToHttpOptions } from 'node:url';
import { type CallInfo, type CompiledRule, delayFor, type FaultRegistry } from './core.js';
import { injectedError } from './errors.js';

type RequestFn = typeof http.request;

/** The functions as they were when the SDK loaded (the control subscription uses these). */
export const originalRequest = { http: http.request, https: https.request } as const;

/** An in-memory socket: swallows what the request writes; the fault decides what comes back. */
class FaultSocket extends Duplex {
  #timer: NodeJS.Timeout | undefined;
  remoteAddress = '127.0.0.1';
  remotePort = 0;
  encrypted = false;

  override _read(): void {}
  override _write(_chunk: unknown, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    cb();
  }
  override _destroy(error: Error | null, cb: (error?: Error | null) => void): void {
    if (this.#timer) clearTimeout(this.#timer);
    cb(error);
  }
  /** Idle timeout as net.Socket has it: nothing ever arrives, so it fires after `ms`. */
  setTimeout(ms: number, cb?: () => void): this {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (cb) this.once('timeout', cb);
    if (ms > 0) {
      this.#timer = setTimeout(() => this.emit('timeout'), ms);
      this.#timer.unref();
    }
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address(): { address: string; family: string; port: number } {
    return { address: '127.0.0.1', family: 'IPv4', port: 0 };
  }
}

interface Normalized {
  options: http.RequestOptions & Record<string, unknown>;
  cb: ((res: http.IncomingMessage) => void) | undefined;
}

function normalize(args: unknown[]): Normalized {
  const [a, b, c] = args;
  let options: Record<string, unknown>;
  let cb: unknown;
  if (typeof a === 'string' || a instanceof URL) {
    const base = urlToHttpOptions(typeof a === 'string' ? new URL(a) : a) as Record<string, unknown>;
    if (typeof b === 'function') {
      options = base;
      cb = b;
    } else {
      options = { ...base, ...(b as object | undefined) };
      cb = c;
    }
  } else {
    options = { ...(a as object | undefined) };
    cb = b;
  }
  return { options, cb: typeof cb === 'function' ? (cb as Normalized['cb']) : undefined };
}

function callFor(
  options: Record<string, unknown>,
  defaultPort: string,
  labels?: Record<string, string>,
): CallInfo {
  let host = (options.hostname as string | undefined) ?? (options.host as string | undefined) ?? 'localhost';
  let port = options.port !== undefined && options.port !== null ? String(options.port) : '';
  if (options.hostname === undefined && typeof options.host === 'string') {
    const m = /^(.*):(\d+)$/.exec(options.host);
    if (m && !options.host.includes(']:') && m[1]?.includes(':') !== true) {
      host = m[1] ?? host;
      port ||= m[2] ?? '';
    }
  }
  host = host.replace(/^\[|\]$/g, '');
  const rawPath = (options.path as string | undefined) ?? '/';
  const q = rawPath.indexOf('?');
  return {
    kind: 'http',
    host,
    port: port || defaultPort,
    path: q === -1 ? rawPath : rawPath.slice(0, q),
    method: String(options.method ?? 'GET').toUpperCase(),
    labels,
  };
}

function responseBytes(rule: CompiledRule['rule']): Buffer {
  const status = rule.status ?? 503;
  const body = Buffer.from(rule.body ?? '');
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    ...rule.headers,
    'content-length': String(body.length),
    'x-faultline-fault': rule.id,
    connection: 'close',
  };
  let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`), body]);
}

interface Patch {
  module: typeof http | typeof https;
  request: RequestFn;
  get: RequestFn;
  patchedRequest: RequestFn;
  patchedGet: RequestFn;
  /** Makes the patched functions pass through (when someone else's wrapper still calls them). */
  disable(): void;
}

let patches: Patch[] | undefined;

function makePatch(core: FaultRegistry, mod: typeof http | typeof https, defaultPort: string): Patch {
  const request = mod.request as RequestFn;
  const get = mod.get as RequestFn;
  let live = true;

  function inject(c: CompiledRule, call: CallInfo, n: Normalized, self: unknown): http.ClientRequest {
    const rule = c.rule;
    const delay = delayFor(rule);
    core.reportFault(c, call, delay);
    if (rule.type === 'latency') {
      const req = (request as (...a: unknown[]) => http.ClientRequest).call(self, n.options, n.cb);
      const emit = req.emit;
      req.emit = function (this: http.ClientRequest, event: string | symbol, ...rest: unknown[]): boolean {
        if (event === 'response') {
          setTimeout(() => emit.call(this, event, ...rest), delay);
          return true;
        }
        return emit.call(this, event, ...rest);
      } as typeof req.emit;
      return req;
    }
    const socket = new FaultSocket();
    const options = {
      ...n.options,
      agent: undefined,
      // Like net.createConnection, honour the request's `timeout` as the socket's idle timeout.
      createConnection: (opts: { timeout?: number }) => {
        if (opts?.timeout) socket.setTimeout(opts.timeout);
        return socket;
      },
    };
    const req = (request as (...a: unknown[]) => http.ClientRequest).call(self, options, n.cb);
    const where = `http ${call.method} ${call.host}${call.path}`;
    if (rule.type === 'http_error') {
      const answer = () => {
        setTimeout(() => {
          if (socket.destroyed) return;
          socket.push(responseBytes(rule));
          socket.push(null);
        }, delay);
      };
      if (req.writableFinished) answer();
      else req.once('finish', answer);
    } else {
      setTimeout(() => {
        if (!socket.destroyed) socket.destroy(injectedError(rule.type, rule, where));
      }, delay);
    }
    return req;
  }

  function observe(req: http.ClientRequest, call: CallInfo): void {
    const t0 = performance.now();
    let done = false;
    req.once('response', (res: http.IncomingMessage) => {
      if (done) return;
      done = true;
      core.observe(call, (res.statusCode ?? 0) < 500, performance.now() - t0);
    });
    req.once('error', () => {
      if (done) return;
      done = true;
      core.observe(call, false, performance.now() - t0);
    });
  }

  const patchedRequest = function (this: unknown, ...args: unknown[]): http.ClientRequest {
    if (!live || !core.hot) return (request as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    let n: Normalized;
    let call: CallInfo;
    let c: CompiledRule | undefined;
    try {
      n = normalize(args);
      call = callFor(n.options, defaultPort);
      c = core.decide(call);
    } catch (error) {
      core.internalError('http', error);
      return (request as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    }
    if (c) {
      try {
        return inject(c, call, n, this);
      } catch (error) {
        core.internalError('http', error);
      }
    }
    const req = (request as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    if (!c && core.observing) {
      try {
        observe(req, call);
      } catch (error) {
        core.internalError('http', error);
      }
    }
    return req;
  } as RequestFn;

  const patchedGet = function (this: unknown, ...args: unknown[]): http.ClientRequest {
    if (!live || !core.hot) return (get as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    const req = (patchedRequest as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    req.end();
    return req;
  } as RequestFn;

  return {
    module: mod,
    request,
    get,
    patchedRequest,
    patchedGet,
    disable: () => {
      live = false;
    },
  };
}

/**
 * Patches `http.request`, `http.get`, `https.request` and `https.get`;
 * returns the undo. Installing twice is a no-op.
 */
export function installHttp(core: FaultRegistry): () => void {
  if (patches) return uninstallHttp;
  patches = [makePatch(core, http, '80'), makePatch(core, https, '443')];
  for (const p of patches) {
    p.module.request = p.patchedRequest as typeof p.module.request;
    p.module.get = p.patchedGet as typeof p.module.get;
  }
  syncBuiltinESMExports();
  return uninstallHttp;
}

/** Restores the originals; a wrapper someone else has since replaced ours with is left alone, ours inside it goes inert. */
export function uninstallHttp(): void {
  if (!patches) return;
  for (const p of patches) {
    p.disable();
    if (p.module.request === p.patchedRequest) p.module.request = p.request as typeof p.module.request;
    if (p.module.get === p.patchedGet) p.module.get = p.get as typeof p.module.get;
  }
  patches = undefined;
  syncBuiltinESMExports();
}
