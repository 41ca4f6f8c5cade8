/** Real sockets on 127.0.0.1 port 0 for the proxy tests: upstream servers, clients, waiting helpers. */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export interface Upstream {
  port: number;
  address: string;
  sockets: Set<Socket>;
  server: Server;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1:0 (half-open allowed); `close()` destroys its sockets too. */
export async function startUpstream(onConnection: (socket: Socket) => void): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    address: `127.0.0.1:${port}`,
    sockets,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Echoes what it reads; ends when the client ends. */
export const startEcho = () => startUpstream((s) => s.pipe(s));

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function portOf(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

/** What happened to a client socket: data received, how it ended, when. */
export interface Outcome {
  data: Buffer;
  /** 'end' (FIN), 'error' (with code), or 'close' without either. */
  how: 'end' | 'error' | 'close';
  code?: string;
  /** ms since the client was created. */
  at: number;
}

export interface Client {
  socket: Socket;
  /** Resolves when the peer's FIN arrives, or the socket errors or closes. */
  outcome: Promise<Outcome>;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once at least `n` bytes have arrived (rejects if the socket closes first). */
  waitFor(n: number): Promise<Buffer>;
}

/** Connects to a proxy (or anything) on 127.0.0.1 and records what happens (connect errors included). */
export async function client(port: number): Promise<Client> {
  const t0 = performance.now();
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let size = 0;
  let how: Outcome['how'] = 'close';
  let code: string | undefined;
  const waiters: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (size >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(Buffer.concat(chunks));
      }
    }
  };
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    size += d.length;
    check();
  });
  let endedAt: number | undefined;
  socket.on('end', () => {
    how = 'end';
    endedAt = performance.now() - t0;
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    how = 'error';
    code = err.code;
  });
  // Settles at the FIN (the socket may stay half-open: the client connects with allowHalfOpen), an error or the close.
  const outcome = new Promise<Outcome>((resolve) => {
    const settle = () => {
      for (const w of waiters.splice(0))
        w.reject(new Error(`closed after ${size} bytes (${how} ${code ?? ''})`));
      resolve({ data: Buffer.concat(chunks), how, code, at: endedAt ?? performance.now() - t0 });
    };
    socket.on('end', settle);
    socket.on('close', settle);
  });
  // A connection reset right after the accept can fail the connect itself: `outcome` reports it either way.
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('error', () => resolve());
  });
  return {
    socket,
    outcome,
    received: () => Buffer.concat(chunks),
    waitFor: (n) =>
      new Promise<Buffer>((resolve, reject) => {
        waiters.push({ n, resolve, reject });
        check();
        if (socket.destroyed && size < n) reject(new Error(`closed after ${size} bytes`));
      }),
  };
}

/** Connect result: connected, or the connect error code (ECONNREFUSED). */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** Polls `cond` every few ms until it holds, or fails after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Sends `data` and measures the time until `data.length` bytes came back (an echo round trip). */
export async function roundTrip(c: Client, data = 'ping'): Promise<number> {
  const before = c.received().length;
  const t = performance.now();
  c.socket.write(data);
  await c.waitFor(before + Buffer.byteLength(data));
  return performance.now() - t;
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
