/**
 * A minimal HTTP/1.1 client for the load generator's `http:` requests: the
 * fast path. undici costs about 11 µs of CPU per request here, which caps the
 * generator well below what a `node:http` server can answer; this client
 * sends bytes serialized once per template, reads into one shared buffer
 * (`onread`: no allocation per read) and parses only what the generator needs
 * (the status, where the body ends, whether the connection stays open).
 *
 * Scope: one request at a time per connection (no pipelining), keep-alive,
 * bodies by Content-Length, chunked (extensions and trailers skipped) or until
 * close, no body for HEAD, 1xx (skipped), 204 and 304. Anything else (https,
 * `Expect`, `Upgrade`, a caller's `Transfer-Encoding`, header bytes that need
 * validation) stays on undici: see {@link http1Template}.
 *
 * Errors keep the codes the undici path reports: socket errors by their code
 * (ECONNREFUSED, ECONNRESET, ...), a connection closed before the end of the
 * response as `UND_ERR_SOCKET`, an unparseable response as `HPE_*`.
 */
import { connect, type Socket } from 'node:net';

/** What a request's owner hears (the generator's InFlight implements it for undici too). */
export interface Http1Handler {
  /** Called once the request is on a connection; `abort` ends it with `err` (and closes the connection). */
  onConnect(abort: (err?: Error) => void): void;
  onHeaders(statusCode: number): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

/** One request template's bytes, serialized once. */
export interface Http1Request {
  bytes: Buffer;
  /** HEAD: the response has no body whatever its headers say. */
  head: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Latin-1 visible characters, space and tab: what goes on the wire unchanged.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Request headers the fast path leaves to undici (framing or connection semantics). */
const UNHANDLED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'expect',
  'te',
  'trailer',
]);
const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Serializes a request for the fast path, or returns undefined when it is not
 * for it (not `http:`, a header the fast path does not handle, bytes that need
 * undici's validation): the generator then sends it through undici.
 */
export function http1Template(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Http1Request | undefined {
  if (url.protocol !== 'http:' || !TOKEN.test(method)) return undefined;
  let host = url.host;
  let lines = '';
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value) || UNHANDLED.has(lower)) return undefined;
    if (lower === 'host') host = value;
    else if (lower === 'content-length') {
      if (value.trim() !== String(body?.length ?? 0)) return undefined;
    } else lines += `${name}: ${value}\r\n`;
  }
  if (!FIELD_VALUE.test(host)) return undefined;
  const length = body
    ? `content-length: ${body.length}\r\n`
    : PAYLOAD_METHODS.has(method)
      ? 'content-length: 0\r\n'
      : '';
  const head = Buffer.from(
    `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\n${lines}${length}\r\n`,
    'latin1',
  );
  return { bytes: body && body.length > 0 ? Buffer.concat([head, body]) : head, head: method === 'HEAD' };
}

/** Errors that carry a code, as undici's and llhttp's do. */
export function http1Error(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Response header blocks larger than this are refused (undici's default maxHeaderSize is 16 KiB). */
const MAX_HEADER_BYTES = 64 * 1024;
/** Idle connections are reused for this long when the server announces no keep-alive timeout. */
const DEFAULT_KEEP_ALIVE_MS = 30_000;
/** Margin under a server's announced keep-alive timeout (as undici's keepAliveTimeoutThreshold). */
const KEEP_ALIVE_MARGIN_MS = 1000;

// One read buffer for every connection: reads are parsed synchronously, nothing keeps a view of it.
const SHARED = Buffer.allocUnsafe(64 * 1024);

// Parser states.
const S_IDLE = 0;
const S_HEAD = 1;
const S_LENGTH = 2;
const S_UNTIL_CLOSE = 3;
const S_CHUNK_SIZE = 4;
const S_CHUNK_EXT = 5;
const S_CHUNK_SIZE_LF = 6;
const S_CHUNK_DATA = 7;
const S_CHUNK_DATA_CR = 8;
const S_CHUNK_DATA_LF = 9;
const S_TRAILER_START = 10;
const S_TRAILER_LINE = 11;
const S_TRAILER_END_LF = 12;

const CR = 13;
const LF = 10;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** One keep-alive connection: at most one request at a time. */
class Conn {
  readonly socket: Socket;
  handler: Http1Handler | null = null;
  dead = false;
  idleSince = 0;
  /** How long the connection may sit idle and still be reused. */
  keepAliveMs = DEFAULT_KEEP_ALIVE_MS;
  #state = S_IDLE;
  #head = false;
  #partial: Buffer | null = null;
  #remaining = 0;
  #status = 0;
  #keepAlive = true;
  #digits = 0;
  readonly abort = (err?: Error): void => this.fail(err ?? http1Error('UND_ERR_ABORTED', 'request aborted'));

  constructor(readonly pool: Http1Pool) {
    this.socket = connect({
      host: pool.host,
      port: pool.port,
      noDelay: true,
      onread: { buffer: SHARED, callback: (n: number, buf: Buffer) => this.#onRead(n, buf) },
    } as never) as Socket;
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('end', () => this.#onEnd());
    this.socket.on('close', () => this.fail(http1Error('UND_ERR_SOCKET', 'other side closed')));
  }

  send(req: Http1Request, h: Http1Handler): void {
    this.handler = h;
    this.#head = req.head;
    this.#state = S_HEAD;
    this.#keepAlive = true;
    h.onConnect(this.abort);
    this.socket.write(req.bytes);
  }

  /** Ends the connection; a request on it ends with `err`. */
  fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.#state = S_IDLE;
    this.pool.forget(this);
    this.socket.destroy();
    const h = this.handler;
    this.handler = null;
    h?.onError(err);
  }

  /** Closes without telling anyone (pool shutdown). */
  close(): void {
    this.handler = null;
    this.dead = true;
    this.socket.destroy();
  }

  #onEnd(): void {
    if (this.#state === S_UNTIL_CLOSE && this.handler) this.#complete(false);
    this.fail(http1Error('UND_ERR_SOCKET', 'other side closed'));
  }

  #complete(reusable: boolean): void {
    const h = this.handler;
    this.handler = null;
    this.#state = S_IDLE;
    if (reusable && this.#keepAlive) {
      this.idleSince = Date.now();
      this.pool.release(this);
    } else {
      this.dead = true;
      this.pool.forget(this);
      this.socket.destroy();
    }
    h?.onComplete();
  }

  #onRead(n: number, buf: Buffer): boolean {
    if (this.dead) return true;
    let data = buf;
    let i = 0;
    let end = n;
    while (i < end) {
      switch (this.#state) {
        case S_IDLE:
          // Bytes nobody asked for: the connection cannot be trusted any more.
          this.fail(http1Error('UND_ERR_SOCKET', 'unexpected data on an idle connection'));
          return true;
        case S_HEAD: {
          if (this.#partial) {
            data = Buffer.concat([this.#partial, data.subarray(i, end)]);
            this.#partial = null;
            i = 0;
            end = data.length;
          }
          const e = findHeadEnd(data, i, end);
          if (e < 0) {
            if (end - i > MAX_HEADER_BYTES) {
              this.fail(http1Error('UND_ERR_HEADERS_OVERFLOW', 'response headers too large'));
              return true;
            }
            this.#partial = Buffer.from(data.subarray(i, end));
            return true;
          }
          if (e - i > MAX_HEADER_BYTES) {
            this.fail(http1Error('UND_ERR_HEADERS_OVERFLOW', 'response headers too large'));
            return true;
          }
          const err = this.#parseHead(data, i, e);
          if (err) {
            this.fail(err);
            return true;
          }
          i = e + 4;
          break;
        }
        case S_LENGTH: {
          const take = Math.min(this.#remaining, end - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#complete(true);
          break;
        }
        case S_UNTIL_CLOSE:
          return true;
        case S_CHUNK_DATA: {
          const take = Math.min(this.#remaining, end - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = S_CHUNK_DATA_CR;
          break;
        }
        default: {
          const err = this.#chunkByte(data[i] as number);
          if (err) {
            this.fail(err);
            return true;
          }
          i++;
        }
      }
    }
    return true;
  }

  /** One byte of chunked framing (sizes, extensions, CRLFs, trailers). */
  #chunkByte(c: number): Error | undefined {
    switch (this.#state) {
      case S_CHUNK_SIZE: {
        const v = hexValue(c);
        if (v >= 0) {
          if (++this.#digits > 12) return http1Error('HPE_INVALID_CHUNK_SIZE', 'chunk size too large');
          this.#remaining = this.#remaining * 16 + v;
          return undefined;
        }
        if (this.#digits === 0) return http1Error('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
        if (c === CR) this.#state = S_CHUNK_SIZE_LF;
        else if (c === 59 /* ; */ || c === 32 || c === 9) this.#state = S_CHUNK_EXT;
        else return http1Error('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
        return undefined;
      }
      case S_CHUNK_EXT:
        if (c === CR) this.#state = S_CHUNK_SIZE_LF;
        else if (c === LF) return http1Error('HPE_INVALID_CHUNK_SIZE', 'invalid chunk extension');
        return undefined;
      case S_CHUNK_SIZE_LF:
        if (c !== LF) return http1Error('HPE_INVALID_CHUNK_SIZE', 'expected LF after the chunk size');
        this.#state = this.#remaining === 0 ? S_TRAILER_START : S_CHUNK_DATA;
        return undefined;
      case S_CHUNK_DATA_CR:
        if (c !== CR) return http1Error('HPE_INVALID_CHUNK_SIZE', 'expected CRLF after chunk data');
        this.#state = S_CHUNK_DATA_LF;
        return undefined;
      case S_CHUNK_DATA_LF:
        if (c !== LF) return http1Error('HPE_INVALID_CHUNK_SIZE', 'expected CRLF after chunk data');
        this.#state = S_CHUNK_SIZE;
        this.#digits = 0;
        this.#remaining = 0;
        return undefined;
      case S_TRAILER_START:
        if (c === CR) this.#state = S_TRAILER_END_LF;
        else this.#state = S_TRAILER_LINE;
        return undefined;
      case S_TRAILER_LINE:
        if (c === LF) this.#state = S_TRAILER_START;
        return undefined;
      case S_TRAILER_END_LF:
        if (c !== LF) return http1Error('HPE_INVALID_CHUNK_SIZE', 'expected CRLF after the trailers');
        this.#complete(true);
        return undefined;
      default:
        return undefined;
    }
  }

  /**
   * The status line and headers in `d[start, end)` (without the final CRLFCRLF);
   * sets the body state. Works on the bytes: only four headers matter, and the
   * common values (`Connection: keep-alive`, `Keep-Alive: timeout=5`, a
   * Content-Length) are read without making strings.
   */
  #parseHead(d: Buffer, start: number, end: number): Error | undefined {
    let eol = indexOfCrlf(d, start, end);
    if (eol < 0) eol = end;
    const status = statusFromBytes(d, start, eol);
    if (status < 0) {
      const line = d.toString('latin1', start, Math.min(eol, start + 80));
      return http1Error('HPE_INVALID_STATUS', `invalid status line: ${JSON.stringify(line)}`);
    }
    const http10 = d[start + 7] === 48;
    let length = -1;
    let chunked = false;
    let encoded = false;
    let close = http10;
    let pos = eol + 2;
    while (pos < end) {
      let next = indexOfCrlf(d, pos, end);
      if (next < 0) next = end;
      let colon = pos;
      while (colon < next && d[colon] !== 58) colon++;
      if (colon === next || colon === pos)
        return http1Error('HPE_INVALID_HEADER_TOKEN', 'invalid header line');
      const nameLen = colon - pos;
      // Compare names only at the lengths of the four that matter.
      if (nameLen === 14 || nameLen === 17 || nameLen === 10) {
        let vs = colon + 1;
        let ve = next;
        while (vs < ve && (d[vs] === 32 || d[vs] === 9)) vs++;
        while (ve > vs && (d[ve - 1] === 32 || d[ve - 1] === 9)) ve--;
        if (nameLen === 14 && equalsLower(d, pos, 'content-length')) {
          let v = 0;
          if (ve === vs || ve - vs > 15)
            return http1Error('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
          for (let k = vs; k < ve; k++) {
            const digit = (d[k] as number) - 48;
            if (digit < 0 || digit > 9)
              return http1Error('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
            v = v * 10 + digit;
          }
          if (length >= 0 && length !== v)
            return http1Error('HPE_INVALID_CONTENT_LENGTH', 'conflicting Content-Length');
          length = v;
        } else if (nameLen === 17 && equalsLower(d, pos, 'transfer-encoding')) {
          encoded = true;
          chunked = /(?:^|,)\s*chunked$/i.test(d.toString('latin1', vs, ve));
        } else if (nameLen === 10 && equalsLower(d, pos, 'connection')) {
          if (ve - vs === 10 && equalsLower(d, vs, 'keep-alive')) {
            if (http10) close = false;
          } else {
            const v = d.toString('latin1', vs, ve).toLowerCase();
            if (/(?:^|,)\s*close\s*(?:,|$)/.test(v)) close = true;
            else if (http10 && /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(v)) close = false;
          }
        } else if (nameLen === 10 && equalsLower(d, pos, 'keep-alive')) {
          const t = keepAliveTimeout(d, vs, ve);
          if (t >= 0) this.keepAliveMs = Math.max(0, t * 1000 - KEEP_ALIVE_MARGIN_MS);
        }
      }
      pos = next + 2;
    }
    if (status >= 100 && status < 200 && status !== 101) return undefined; // interim: the real response follows
    this.#status = status;
    if (close) this.#keepAlive = false;
    this.handler?.onHeaders(status);
    if (status === 101) {
      this.#complete(false);
    } else if (this.#head || status === 204 || status === 304) {
      this.#complete(true);
    } else if (chunked) {
      this.#state = S_CHUNK_SIZE;
      this.#digits = 0;
      this.#remaining = 0;
    } else if (!encoded && length >= 0) {
      if (length === 0) this.#complete(true);
      else {
        this.#state = S_LENGTH;
        this.#remaining = length;
      }
    } else {
      this.#state = S_UNTIL_CLOSE;
      this.#keepAlive = false;
    }
    return undefined;
  }

  /** The status of the response being read (0 before the headers). */
  get status(): number {
    return this.#status;
  }
}

/** The index of the CRLFCRLF ending a response head in `d[from, to)`, or -1. */
function findHeadEnd(d: Buffer, from: number, to: number): number {
  let k = from + 3;
  while (k < to) {
    const c = d[k];
    if (c === LF) {
      if (d[k - 1] === CR && d[k - 2] === LF && d[k - 3] === CR) return k - 3;
      k++;
    } else if (c === CR) k++;
    // Neither CR nor LF: no match can include this byte.
    else k += 4;
  }
  return -1;
}

function indexOfCrlf(d: Buffer, from: number, to: number): number {
  for (let k = from; k < to - 1; k++) if (d[k] === CR && d[k + 1] === LF) return k;
  return -1;
}

/** Whether `d` at `at` holds `lower` (lower-case ASCII), ignoring case. */
function equalsLower(d: Buffer, at: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++)
    if (((d[at + k] as number) | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}

/** `timeout=N` in a Keep-Alive value `d[from, to)`: N seconds, or -1. */
function keepAliveTimeout(d: Buffer, from: number, to: number): number {
  for (let k = from; k + 7 <= to; k++) {
    if (!equalsLower(d, k, 'timeout')) continue;
    let j = k + 7;
    while (j < to && d[j] === 32) j++;
    if (d[j] !== 61 /* = */) return -1;
    j++;
    while (j < to && d[j] === 32) j++;
    let n = -1;
    for (; j < to; j++) {
      const digit = (d[j] as number) - 48;
      if (digit < 0 || digit > 9) break;
      n = (n < 0 ? 0 : n * 10) + digit;
    }
    return n;
  }
  return -1;
}

/** The status line in `d[from, to)` -> its status, or -1. */
function statusFromBytes(d: Buffer, from: number, to: number): number {
  if (to - from >= 12 && d[from] === 72 && d[from + 4] === 47 && d[from + 6] === 46) {
    const minor = d[from + 7];
    if (d[from + 1] !== 84 || d[from + 2] !== 84 || d[from + 3] !== 80 || d[from + 5] !== 49) return -1;
    if ((minor !== 48 && minor !== 49) || d[from + 8] !== 32) return -1;
    let status = 0;
    for (let k = from + 9; k < from + 12; k++) {
      const digit = (d[k] as number) - 48;
      if (digit < 0 || digit > 9) return -1;
      status = status * 10 + digit;
    }
    if (to - from > 12 && d[from + 12] !== 32) return -1;
    return status < 100 ? -1 : status;
  }
  return -1;
}

/** `HTTP/1.x NNN[ reason]` -> NNN, or -1 (the parser's check, on a string). */
export function parseStatusLine(line: string): number {
  return statusFromBytes(Buffer.from(line, 'latin1'), 0, line.length);
}

/**
 * Keep-alive connections to one origin, opened on demand: the generator's
 * in-flight cap bounds how many are busy, so a request never waits for one.
 */
export class Http1Pool {
  readonly #idle: Conn[] = [];
  readonly #all = new Set<Conn>();

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  /** Sends `req` on an idle connection (the most recently used) or a new one. */
  dispatch(req: Http1Request, h: Http1Handler): void {
    const idle = this.#idle;
    let conn = idle.pop();
    if (conn) {
      const now = Date.now();
      while (conn && now - conn.idleSince >= conn.keepAliveMs) {
        conn.close();
        this.#all.delete(conn);
        conn = idle.pop();
      }
    }
    if (!conn) {
      conn = new Conn(this);
      this.#all.add(conn);
    }
    conn.send(req, h);
  }

  /** Connections open (idle or busy). */
  get size(): number {
    return this.#all.size;
  }

  /** @internal a connection finished a request and can take another. */
  release(conn: Conn): void {
    this.#idle.push(conn);
  }

  /** @internal a connection is gone. */
  forget(conn: Conn): void {
    this.#all.delete(conn);
    const k = this.#idle.lastIndexOf(conn);
    if (k >= 0) this.#idle.splice(k, 1);
  }

  /** Closes every connection; requests still on them are dropped silently. */
  destroy(): Promise<void> {
    for (const c of this.#all) c.close();
    this.#all.clear();
    this.#idle.length = 0;
    return Promise.resolve();
  }
}

/** The pool's host for net.connect: an IPv6 literal without its brackets. */
export function connectHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}
