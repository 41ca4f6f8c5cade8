/**
 * Serves run metrics for Prometheus to scrape (`faultline run --metrics-port`).
 * Loopback by default; any other address needs a token, which every scrape
 * then sends (Prometheus: `authorization: {credentials: <token>}`). Web pages
 * from other sites are refused (src/core/access.ts browserGuard): the metrics
 * name experiments and targets.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { browserGuard, isLoopbackHost, tokenCheck } from '../core/access.js';
import { FaultlineError } from '../core/errors.js';

export interface MetricsServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Required when `host` is not loopback. */
  token?: string;
  /** Names scrapers may send in `Host` besides localhost, IP addresses and `host` (see browserGuard). */
  allowedHosts?: readonly string[];
  /** Renders the exposition at scrape time. */
  render(): string;
}

export interface MetricsServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function json(res: ServerResponse, status: number, error: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...extra });
  res.end(`${JSON.stringify({ error, status })}\n`);
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token === '' ? undefined : options.token;
  if (!isLoopbackHost(host) && token === undefined) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--metrics-host: refusing to serve metrics on ${host}, which other machines can reach, without a token: set FAULTLINE_METRICS_TOKEN`,
    );
  }
  const authorized = tokenCheck(token);
  const refuseBrowser = browserGuard({ boundHost: host, token, allowedHosts: options.allowedHosts });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const refusal = refuseBrowser(req);
    if (refusal) {
      json(res, 403, refusal.message);
      return;
    }
    if (!authorized(req)) {
      json(res, 401, 'missing or invalid token: send Authorization: Bearer <token>', {
        'www-authenticate': 'Bearer',
      });
      return;
    }
    if (path !== '/metrics') {
      json(res, 404, `no such path ${JSON.stringify(path)}: metrics are at /metrics`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, `method ${req.method} not allowed: use GET`, { allow: 'GET, HEAD' });
      return;
    }
    let body: string;
    try {
      body = options.render();
    } catch (err) {
      json(res, 500, `could not render the metrics: ${(err as Error).message}`);
      return;
    }
    res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  // Slow or idle scrapers must not hold the runner open.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new FaultlineError(
          'FAULTLINE_ERR_USAGE',
          `--metrics-port: cannot listen on ${host}:${options.port}: ${err.code ?? err.message}`,
        ),
      ),
    );
    server.listen(options.port, host, () => resolve());
  });
  server.unref();
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
