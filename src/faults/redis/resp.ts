/**
 * A small RESP2 client: enough for Faultline's Redis faults (CLIENT, CONFIG,
 * EVAL, PING), with no dependency. Commands are pipelined in order on one
 * socket; every command has a timeout, and a timeout closes the socket (the
 * reply may still arrive, so the stream can no longer be trusted).
 */
import { connect as netConnect, type Socket } from 'node:net';

export type RespValue = string | number | null | Buffer | RespValue[] | RespError;

/** An error reply (`-ERR ...`). Returned inside arrays, thrown by command(). */
export class RespError extends Error {
  /** The first word: ERR, WRONGTYPE, NOTBUSY, BUSY, NOAUTH, ... */
  readonly prefix: string;
  constructor(message: string) {
    super(message);
    this.name = 'RespError';
    this.prefix = message.split(' ', 1)[0] ?? '';
  }
}

/** The socket failed, closed, or a reply took too long. */
export class RespConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RespConnectionError';
  }
}

export interface Parsed {
  value: RespValue;
  /** Offset just past the reply. */
  next: number;
}

/** Parsing depth limit: a hostile or broken server cannot blow the stack. */
const MAX_DEPTH = 64;

function lineEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf('\r\n', from, 'latin1');
  return i;
}

function parseInteger(text: string, what: string): number {
  if (!/^-?\d+$/.test(text)) throw new Error(`RESP: invalid ${what} '${text}'`);
  return Number(text);
}

/**
 * Parses one reply at `offset`. Returns undefined when `buf` holds only part
 * of it (wait for more bytes); throws on a protocol error. Bulk strings come
 * back as UTF-8 strings unless `raw` is true (then as Buffers).
 */
export function parseReply(buf: Buffer, offset = 0, raw = false, depth = 0): Parsed | undefined {
  if (depth > MAX_DEPTH) throw new Error('RESP: arrays nested too deeply');
  if (offset >= buf.length) return undefined;
  const end = lineEnd(buf, offset + 1);
  if (end < 0) return undefined;
  const type = String.fromCharCode(buf[offset]!);
  const line = buf.toString('utf8', offset + 1, end);
  const after = end + 2;
  switch (type) {
    case '+':
      return { value: line, next: after };
    case '-':
      return { value: new RespError(line), next: after };
    case ':':
      return { value: parseInteger(line, 'integer'), next: after };
    case '$': {
      const len = parseInteger(line, 'bulk length');
      if (len === -1) return { value: null, next: after };
      if (len < 0) throw new Error(`RESP: invalid bulk length ${len}`);
      if (buf.length < after + len + 2) return undefined;
      if (buf[after + len] !== 13 || buf[after + len + 1] !== 10)
        throw new Error('RESP: bulk string not followed by CRLF');
      const bytes = buf.subarray(after, after + len);
      return { value: raw ? Buffer.from(bytes) : bytes.toString('utf8'), next: after + len + 2 };
    }
    case '*': {
      const count = parseInteger(line, 'array length');
      if (count === -1) return { value: null, next: after };
      if (count < 0) throw new Error(`RESP: invalid array length ${count}`);
      const items: RespValue[] = [];
      let at = after;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at, raw, depth + 1);
        if (!item) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`RESP: unexpected reply type byte 0x${buf[offset]!.toString(16)}`);
  }
}

/** A command as RESP2 sends it: an array of bulk strings. */
export function encodeCommand(args: readonly (string | number | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8');
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export interface RespConnectOptions {
  host: string;
  port: number;
  /** Connect (and AUTH/SETNAME) timeout; default 5000 ms. */
  connectTimeoutMs?: number;
  /** Default per-command timeout; default 5000 ms. */
  commandTimeoutMs?: number;
  password?: string;
  username?: string;
  /** CLIENT SETNAME after connecting. */
  name?: string;
}

interface Pending {
  resolve: (v: RespValue) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class RespClient {
  readonly #socket: Socket;
  readonly #pending: Pending[] = [];
  readonly #commandTimeoutMs: number;
  #buf: Buffer = Buffer.alloc(0);
  #closed: Error | undefined;
  readonly #onClose = new Set<(err: Error) => void>();

  private constructor(socket: Socket, commandTimeoutMs: number) {
    this.#socket = socket;
    this.#commandTimeoutMs = commandTimeoutMs;
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('error', (err) =>
      this.#fail(new RespConnectionError(`redis connection: ${err.message}`, { cause: err })),
    );
    socket.on('close', () => this.#fail(new RespConnectionError('redis connection closed')));
  }

  /** Connects, then AUTH and CLIENT SETNAME when asked. */
  static async connect(opts: RespConnectOptions): Promise<RespClient> {
    const timeout = opts.connectTimeoutMs ?? 5000;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(
          new RespConnectionError(
            `cannot connect to redis at ${opts.host}:${opts.port}: timed out after ${timeout} ms`,
          ),
        );
      }, timeout);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new RespConnectionError(`cannot connect to redis at ${opts.host}:${opts.port}: ${err.message}`, {
            cause: err,
          }),
        );
      });
    });
    socket.setNoDelay(true);
    const client = new RespClient(socket, opts.commandTimeoutMs ?? 5000);
    try {
      if (opts.password !== undefined) {
        const auth =
          opts.username !== undefined ? ['AUTH', opts.username, opts.password] : ['AUTH', opts.password];
        await client.command(auth, { timeoutMs: timeout });
      }
      if (opts.name !== undefined)
        await client.command(['CLIENT', 'SETNAME', opts.name], { timeoutMs: timeout });
      else await client.command(['PING'], { timeoutMs: timeout });
    } catch (err) {
      client.destroy();
      throw err;
    }
    return client;
  }

  /** True once the socket is gone (closed, failed or timed out). */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Called once when the connection ends, for whatever reason. */
  onClose(fn: (err: Error) => void): void {
    if (this.#closed) fn(this.#closed);
    else this.#onClose.add(fn);
  }

  /**
   * Sends one command and resolves with its reply. An error reply rejects with
   * RespError (the connection stays usable); a timeout or socket failure
   * rejects with RespConnectionError and closes the connection.
   * `timeoutMs: 0` waits for ever (blocked commands that end by themselves).
   */
  command(
    args: readonly (string | number | Buffer)[],
    opts: { timeoutMs?: number } = {},
  ): Promise<RespValue> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<RespValue>((resolve, reject) => {
      const ms = opts.timeoutMs ?? this.#commandTimeoutMs;
      const p: Pending = {
        resolve: (v) => (v instanceof RespError ? reject(v) : resolve(v)),
        reject,
        timer: undefined,
      };
      if (ms > 0) {
        p.timer = setTimeout(() => {
          this.#fail(new RespConnectionError(`redis ${String(args[0])}: no reply within ${ms} ms`));
        }, ms);
      }
      this.#pending.push(p);
      this.#socket.write(encodeCommand(args));
    });
  }

  /** Closes politely (QUIT is not needed: the server frees the client on EOF). */
  close(): void {
    this.#socket.end();
    this.#fail(new RespConnectionError('redis connection closed by us'));
  }

  /** Closes at once. */
  destroy(): void {
    this.#socket.destroy();
    this.#fail(new RespConnectionError('redis connection closed by us'));
  }

  #onData(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    let at = 0;
    try {
      for (;;) {
        const r = parseReply(this.#buf, at);
        if (!r) break;
        at = r.next;
        const p = this.#pending.shift();
        if (!p) throw new Error('RESP: a reply arrived with no command waiting for it');
        if (p.timer) clearTimeout(p.timer);
        p.resolve(r.value);
      }
    } catch (err) {
      this.#fail(new RespConnectionError((err as Error).message, { cause: err }));
      return;
    }
    this.#buf = at >= this.#buf.length ? Buffer.alloc(0) : this.#buf.subarray(at);
  }

  #fail(err: Error): void {
    if (!this.#closed) {
      this.#closed = err;
      this.#socket.destroy();
      for (const fn of this.#onClose) fn(err);
      this.#onClose.clear();
    }
    for (const p of this.#pending.splice(0)) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(this.#closed);
    }
  }
}
