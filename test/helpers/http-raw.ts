/** Low-level HTTP for API tests: exact headers and bytes (no fetch defaults), raw sockets for hostile input. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP request with exactly the given headers (User-Agent defaults to a non-browser one). An event
 * stream (server-sent events) never ends on its own: its body is what arrived with the first chunk, and
 * the connection is then closed.
 */
export function http(
  base: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        method,
        path,
        headers: {
          'user-agent': 'faultline-test',
          ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
          ...headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const stream = String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          if (!stream) return;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
          req.destroy();
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${path} within 10 s`)));
    req.end(body);
  });
}

/** Writes raw bytes on a fresh connection and collects everything until the server closes (or `waitMs`). */
export function rawExchange(
  port: number,
  chunks: (string | Buffer)[],
  opts: { waitMs?: number; gapMs?: number } = {},
): Promise<{ data: string; closedByServer: boolean; elapsedMs: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let data = '';
    let closedByServer = false;
    const timer = setTimeout(() => {
      socket.destroy();
    }, opts.waitMs ?? 5000);
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) break;
        socket.write(c);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    });
    socket.on('data', (d) => {
      data += d.toString('latin1');
    });
    socket.on('end', () => {
      closedByServer = true;
    });
    socket.on('error', () => {
      closedByServer = true;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, closedByServer, elapsedMs: Date.now() - started });
    });
  });
}

/** A TCP echo server on port 0. */
export async function echoServer(): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Sends `message` through `port` and resolves with the echo and the round-trip time. */
export function echoRoundTrip(port: number, message = 'ping'): Promise<{ reply: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    let started = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no echo through port ${port} within 10 s (got ${JSON.stringify(reply)})`));
    }, 10_000);
    socket.on('connect', () => {
      started = performance.now();
      socket.write(message);
    });
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.length >= message.length) {
        const ms = performance.now() - started;
        clearTimeout(timer);
        socket.destroy();
        resolve({ reply, ms });
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Deterministic PRNG (mulberry32) for seeded fuzzing. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A loopback port nothing listens on (bound once, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * A random JSON-ish value for fuzzing an API: nulls, booleans, huge and fractional numbers (and
 * Infinity, which JSON.stringify turns into null), random UTF-16, long strings, arrays, and objects
 * whose keys come from `keys` (the fields the route reads) plus `__proto__`, `constructor` and `x`.
 */
export function randomJson(rand: () => number, keys: readonly string[], depth = 0): unknown {
  switch (Math.floor(rand() * (depth > 3 ? 5 : 8))) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return Math.floor(rand() * 2 ** 40) * (rand() < 0.5 ? -1 : 1);
    case 3:
      return rand() < 0.3 ? 'x'.repeat(Math.floor(rand() * 3000)) : rand() < 0.5 ? 1.5e308 * 10 : rand();
    case 4:
      return String.fromCharCode(
        ...Array.from({ length: Math.floor(rand() * 20) }, () => Math.floor(rand() * 0xffff)),
      );
    case 5:
      return Array.from({ length: Math.floor(rand() * 5) }, () => randomJson(rand, keys, depth + 1));
    default: {
      const all = [...keys, '__proto__', 'constructor', 'x'];
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rand() * 5); i > 0; i--)
        o[all[Math.floor(rand() * all.length)] as string] = randomJson(rand, keys, depth + 1);
      return o;
    }
  }
}

/** What every refusal of the server's API must be: a 4xx, JSON `{error: {code, message}}`, no stack. */
export function assertClientError(r: RawResponse, what: string): void {
  assert.ok(
    r.status >= 400 && r.status < 500,
    `${what}: expected a 4xx, got ${r.status}: ${r.body.slice(0, 300)}`,
  );
  let parsed: { error?: { code?: unknown; message?: unknown } } = {};
  try {
    parsed = JSON.parse(r.body);
  } catch {
    assert.fail(`${what}: not JSON: ${r.body.slice(0, 200)}`);
  }
  assert.equal(typeof parsed.error?.code, 'string', `${what}: ${r.body.slice(0, 200)}`);
  assert.equal(typeof parsed.error?.message, 'string', what);
  assert.match(String(r.headers['content-type']), /application\/json/, what);
  assert.ok(!/\bat .+\.(?:ts|js):\d+/.test(r.body), `${what}: a stack trace in ${r.body.slice(0, 300)}`);
}
