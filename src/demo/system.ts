/**
 * The demo system `faultline demo` runs an experiment on, all in this process
 * on 127.0.0.1 (free ports):
 *
 *   load -> order API --(keep-alive agent, 2 s timeout, 1 retry)--> proxy "datastore" -> datastore
 *
 * - the **datastore** holds 1,000 orders in memory and answers
 *   `GET /orders/:id` after 1-6 ms of simulated I/O (a small, realistic
 *   service time);
 * - the **order API** answers `GET /orders/:id` by fetching the record from
 *   the datastore through a Faultline proxy, with a keep-alive agent, a
 *   per-attempt timeout and one retry; when both attempts fail it answers
 *   503 (the datastore said 503), 504 (timed out) or 502 (anything else);
 * - the **proxy** is a Faultline `ProxyManager` with its Toxiproxy-compatible
 *   control API, so the experiment's `faultline.proxy` actions add and remove
 *   toxics on it like on any proxy server.
 */
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startControlServer } from '../proxy/api/server.js';
import { ProxyManager } from '../proxy/manager.js';
import { sdkControlMount } from '../sdk-control/api.js';

export interface DemoSystemOptions {
  /**
   * Per-attempt timeout of the order API's datastore calls (ms, default 2000): eight times the
   * slowest injected latency (250 ms), so a loaded machine does not turn the latency fault into errors.
   */
  attemptTimeoutMs?: number;
  /** Retries after a failed datastore call (default 1). */
  retries?: number;
}

export interface DemoSystem {
  /** The order API's base URL (`http://127.0.0.1:PORT`). */
  orderApiUrl: string;
  /** The datastore's own address (`127.0.0.1:PORT`), behind the proxy. */
  datastore: string;
  /** Where the order API reaches the datastore: the proxy's listen address. */
  datastoreProxy: string;
  /** The proxy's control API (Toxiproxy's API). */
  proxyApiUrl: string;
  /** Name of the proxy in front of the datastore. */
  proxyName: string;
  /** Sends `count` requests to the order API (a few at a time), so the first measurements are not cold. */
  warmUp(count?: number): Promise<void>;
  /** Stops everything (idempotent). */
  close(): Promise<void>;
}

export const ORDER_COUNT = 1000;
const PROXY_NAME = 'datastore';

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The datastore: orders by id, after a little simulated I/O. */
function datastoreServer(): Server {
  const orders = new Map<number, string>();
  for (let id = 1; id <= ORDER_COUNT; id++) {
    orders.set(
      id,
      JSON.stringify({
        id,
        customer: `customer-${(id * 7919) % 997}`,
        items: [{ sku: `SKU-${(id % 50) + 1}`, quantity: (id % 3) + 1 }],
        total: Math.round(((id * 37) % 20000) + 499) / 100,
        status: id % 10 === 0 ? 'shipped' : 'confirmed',
      }),
    );
  }
  return createServer((req, res) => {
    const m = /^\/orders\/(\d+)$/.exec(req.url ?? '');
    // 1-6 ms of "query time".
    setTimeout(
      () => {
        const body = m ? orders.get(Number(m[1])) : undefined;
        if (body === undefined) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end('{"error":"not found"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      1 + Math.floor(Math.random() * 6),
    );
  });
}

interface Fetched {
  status: number;
  body: string;
}

/** One GET through the agent, failing after `timeoutMs` (the socket is then destroyed). */
function fetchOnce(
  agent: Agent,
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** The order API: each order is read from the datastore, with a timeout and a retry. */
function orderApiServer(
  upstream: string,
  opts: Required<DemoSystemOptions>,
): { server: Server; agent: Agent } {
  const sep = upstream.lastIndexOf(':');
  const host = upstream.slice(0, sep);
  const port = Number(upstream.slice(sep + 1));
  const agent = new Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 1000 });
  const server = createServer((req, res) => {
    const m = /^\/orders\/(\d+)$/.exec(req.url ?? '');
    if (req.method !== 'GET' || !m) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    const path = `/orders/${m[1]}`;
    void (async () => {
      let last: { status: number; error: string } = { status: 502, error: 'no attempt' };
      for (let attempt = 0; attempt <= opts.retries; attempt++) {
        try {
          const r = await fetchOnce(agent, host, port, path, opts.attemptTimeoutMs);
          if (r.status < 500) {
            res.writeHead(r.status, {
              'content-type': 'application/json',
              'x-attempts': String(attempt + 1),
            });
            res.end(r.body);
            return;
          }
          last = { status: r.status === 503 ? 503 : 502, error: `datastore answered ${r.status}` };
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          last =
            code === 'ETIMEDOUT'
              ? { status: 504, error: `datastore did not answer within ${opts.attemptTimeoutMs} ms` }
              : { status: 502, error: `datastore unreachable: ${code ?? (err as Error).message}` };
        }
      }
      res.writeHead(last.status, {
        'content-type': 'application/json',
        'x-attempts': String(opts.retries + 1),
      });
      res.end(JSON.stringify({ error: last.error }));
    })();
  });
  server.keepAliveTimeout = 10_000;
  return { server, agent };
}

/** Starts the datastore, the proxy (with its control API) and the order API on free loopback ports. */
export async function startDemoSystem(options: DemoSystemOptions = {}): Promise<DemoSystem> {
  const opts: Required<DemoSystemOptions> = {
    attemptTimeoutMs: options.attemptTimeoutMs ?? 2000,
    retries: options.retries ?? 1,
  };
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const store = datastoreServer();
    const storePort = await listen(store);
    closers.push(() => closeServer(store));
    const datastore = `127.0.0.1:${storePort}`;

    const manager = new ProxyManager();
    closers.push(() => manager.close());
    // With the SDK control plane, as `faultline proxy` serves it.
    const api = await startControlServer({
      control: manager,
      host: '127.0.0.1',
      port: 0,
      mounts: [sdkControlMount()],
    });
    closers.push(() => api.close());
    // The demo's API has no token: no proxy may republish it (docs/security.md).
    manager.addControlAddress(api.host, api.port);
    const proxy = await manager.create({ name: PROXY_NAME, listen: '127.0.0.1:0', upstream: datastore });

    const { server, agent } = orderApiServer(proxy.listen, opts);
    const apiPort = await listen(server);
    closers.push(async () => {
      agent.destroy();
      await closeServer(server);
    });
    const orderApiUrl = `http://127.0.0.1:${apiPort}`;
    let closed: Promise<void> | undefined;
    return {
      orderApiUrl,
      datastore,
      datastoreProxy: proxy.listen,
      proxyApiUrl: api.url,
      proxyName: PROXY_NAME,
      async warmUp(count = 200) {
        const warm = new Agent({ keepAlive: true, maxSockets: 8 });
        try {
          const u = new URL(orderApiUrl);
          let next = 0;
          const worker = async () => {
            while (next < count) {
              const id = (next++ % ORDER_COUNT) + 1;
              await fetchOnce(warm, u.hostname, Number(u.port), `/orders/${id}`, 2000).catch(() => undefined);
            }
          };
          await Promise.all(Array.from({ length: 8 }, worker));
        } finally {
          warm.destroy();
        }
      },
      close() {
        closed ??= closeAll();
        return closed;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
