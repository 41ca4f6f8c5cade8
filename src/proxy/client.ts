/**
 * A typed client for the Toxiproxy HTTP API: Faultline's own `faultline proxy`
 * server or a real Toxiproxy 2.x (only standard endpoints, plus the optional
 * `ttl` field Faultline adds to toxics). Used by the CLI and by experiment
 * actions; depends on nothing but the global fetch.
 *
 * Every failure is a ProxyClientError carrying the HTTP status (undefined when
 * the server could not be reached) and Toxiproxy's own error text.
 *
 * @example
 * const client = new ProxyClient({ url: 'http://127.0.0.1:8474' });
 * const db = await client.createProxy({ name: 'db', listen: '127.0.0.1:0', upstream: 'localhost:5432' });
 * await client.addToxic('db', { type: 'latency', attributes: { latency: 200 }, ttl: 30_000 });
 * await client.deleteProxy('db');
 */
import { FaultlineError } from '../core/errors.js';
import { VERSION } from '../version.js';
import type { ProxyView, ToxicView } from './model.js';

export const DEFAULT_PROXY_API_URL = 'http://127.0.0.1:8474';

export interface ProxyClientOptions {
  /** Base URL of the API (default http://127.0.0.1:8474). */
  url?: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** Per-request limit (default 30 s, above the server's own 25 s handler timeout). */
  timeoutMs?: number;
}

/** Per-call options: cancel a request with a signal. */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface CreateProxyInput {
  name: string;
  upstream: string;
  /** `host:port`; port 0 picks a free port (the answer carries the real one). */
  listen?: string;
  /** Default true. */
  enabled?: boolean;
}

export interface UpdateProxyInput {
  listen?: string;
  upstream?: string;
  enabled?: boolean;
}

export interface AddToxicInput {
  type: string;
  /** Default `<type>_<stream>`. */
  name?: string;
  /** Default `downstream`. */
  stream?: 'upstream' | 'downstream' | (string & {});
  /** Probability, per connection, that the toxic applies (default 1). */
  toxicity?: number;
  attributes?: Record<string, unknown>;
  /** Faultline only: the server removes the toxic after this many milliseconds. */
  ttl?: number;
}

export interface UpdateToxicInput {
  toxicity?: number;
  /** Merged field by field into the current attributes. */
  attributes?: Record<string, unknown>;
  ttl?: number;
}

/** A request the API refused, or one that never got an answer. */
export class ProxyClientError extends FaultlineError {
  /** HTTP status, or undefined when the server could not be reached or did not answer in time. */
  readonly status: number | undefined;
  /** Toxiproxy's `error` text (e.g. `proxy already exists`), or the network failure. */
  readonly apiMessage: string;
  readonly method: string;
  readonly path: string;
  /** `/populate` only: the proxies the server had already set up when it failed. */
  readonly proxies: ProxyView[] | undefined;
  constructor(
    message: string,
    details: {
      status?: number;
      apiMessage: string;
      method: string;
      path: string;
      proxies?: ProxyView[];
      cause?: unknown;
    },
  ) {
    super('FAULTLINE_ERR_PROXY', message, details.cause === undefined ? {} : { cause: details.cause });
    this.name = 'ProxyClientError';
    this.status = details.status;
    this.apiMessage = details.apiMessage;
    this.method = details.method;
    this.path = details.path;
    this.proxies = details.proxies;
  }
}

const seg = (s: string) => encodeURIComponent(s);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function asToxic(v: unknown): ToxicView | undefined {
  if (!isObject(v) || typeof v.name !== 'string' || typeof v.type !== 'string') return undefined;
  return {
    attributes: isObject(v.attributes) ? v.attributes : {},
    name: v.name,
    type: v.type,
    stream: typeof v.stream === 'string' ? v.stream : 'downstream',
    toxicity: typeof v.toxicity === 'number' ? v.toxicity : 1,
    ...(typeof v.ttl === 'number' ? { ttl: v.ttl } : {}),
  };
}

function asProxy(v: unknown): ProxyView | undefined {
  if (!isObject(v) || typeof v.name !== 'string') return undefined;
  const toxics = Array.isArray(v.toxics) ? v.toxics.map(asToxic) : [];
  if (toxics.some((t) => t === undefined)) return undefined;
  return {
    name: v.name,
    listen: typeof v.listen === 'string' ? v.listen : '',
    upstream: typeof v.upstream === 'string' ? v.upstream : '',
    enabled: v.enabled !== false,
    toxics: toxics as ToxicView[],
  };
}

export class ProxyClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: ProxyClientOptions = {}) {
    this.url = (options.url ?? DEFAULT_PROXY_API_URL).replace(/\/+$/, '');
    this.token = options.token === '' ? undefined : options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** A client configured from FAULTLINE_PROXY_URL and FAULTLINE_PROXY_TOKEN, overridden by `options`. */
  static fromEnv(options: ProxyClientOptions = {}, env: NodeJS.ProcessEnv = process.env): ProxyClient {
    return new ProxyClient({
      url: options.url ?? (env.FAULTLINE_PROXY_URL || undefined),
      token: options.token ?? (env.FAULTLINE_PROXY_TOKEN || undefined),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  }

  /** The Toxiproxy version the server reports (Faultline reports 2.12.0). */
  async version(opts?: CallOptions): Promise<string> {
    const text = await this.call('GET', '/version', 'get version', undefined, opts);
    try {
      const parsed: unknown = JSON.parse(text);
      if (isObject(parsed) && typeof parsed.version === 'string') return parsed.version;
    } catch {
      // very old servers answer the bare version
    }
    return text.trim();
  }

  /** Every proxy, keyed by name. */
  async proxies(opts?: CallOptions): Promise<Record<string, ProxyView>> {
    const data = await this.json('GET', '/proxies', 'list proxies', undefined, opts);
    if (!isObject(data)) throw this.unexpected('GET', '/proxies', 'list proxies');
    return Object.fromEntries(
      Object.entries(data).map(([name, p]) => [name, this.proxy(p, 'GET', '/proxies', 'list proxies')]),
    );
  }

  async createProxy(input: CreateProxyInput, opts?: CallOptions): Promise<ProxyView> {
    const op = `create proxy ${JSON.stringify(input.name)}`;
    return this.proxy(await this.json('POST', '/proxies', op, input, opts), 'POST', '/proxies', op);
  }

  async getProxy(name: string, opts?: CallOptions): Promise<ProxyView> {
    const path = `/proxies/${seg(name)}`;
    const op = `get proxy ${JSON.stringify(name)}`;
    return this.proxy(await this.json('GET', path, op, undefined, opts), 'GET', path, op);
  }

  /** Changes listen, upstream or enabled (POST, which every Toxiproxy 2.x accepts). */
  async updateProxy(name: string, patch: UpdateProxyInput, opts?: CallOptions): Promise<ProxyView> {
    const path = `/proxies/${seg(name)}`;
    const op = `update proxy ${JSON.stringify(name)}`;
    return this.proxy(await this.json('POST', path, op, patch, opts), 'POST', path, op);
  }

  async deleteProxy(name: string, opts?: CallOptions): Promise<void> {
    await this.call(
      'DELETE',
      `/proxies/${seg(name)}`,
      `delete proxy ${JSON.stringify(name)}`,
      undefined,
      opts,
    );
  }

  /**
   * Creates or replaces proxies in one request (existing ones with the same
   * listen and upstream are kept as they are). On failure the error's `proxies`
   * lists those already set up.
   */
  async populate(proxies: CreateProxyInput[], opts?: CallOptions): Promise<ProxyView[]> {
    const data = await this.json('POST', '/populate', 'populate', proxies, opts);
    if (!isObject(data)) throw this.unexpected('POST', '/populate', 'populate');
    if (data.proxies === null || data.proxies === undefined) return [];
    if (!Array.isArray(data.proxies)) throw this.unexpected('POST', '/populate', 'populate');
    return data.proxies.map((p) => this.proxy(p, 'POST', '/populate', 'populate'));
  }

  /** Enables every proxy and removes every toxic (proxies are kept). */
  async reset(opts?: CallOptions): Promise<void> {
    await this.call('POST', '/reset', 'reset', undefined, opts);
  }

  /** The proxy's toxics: upstream ones first, then downstream, each in the order added. */
  async toxics(proxy: string, opts?: CallOptions): Promise<ToxicView[]> {
    const path = `/proxies/${seg(proxy)}/toxics`;
    const op = `list toxics of ${JSON.stringify(proxy)}`;
    const data = await this.json('GET', path, op, undefined, opts);
    if (data === null) return [];
    if (!Array.isArray(data)) throw this.unexpected('GET', path, op);
    return data.map((t) => this.toxic(t, 'GET', path, op));
  }

  async addToxic(proxy: string, input: AddToxicInput, opts?: CallOptions): Promise<ToxicView> {
    const path = `/proxies/${seg(proxy)}/toxics`;
    const op = `add ${input.type} toxic to ${JSON.stringify(proxy)}`;
    return this.toxic(await this.json('POST', path, op, input, opts), 'POST', path, op);
  }

  async getToxic(proxy: string, name: string, opts?: CallOptions): Promise<ToxicView> {
    const path = `/proxies/${seg(proxy)}/toxics/${seg(name)}`;
    const op = `get toxic ${JSON.stringify(name)} of ${JSON.stringify(proxy)}`;
    return this.toxic(await this.json('GET', path, op, undefined, opts), 'GET', path, op);
  }

  /** Changes toxicity and merges attributes (POST, which every Toxiproxy 2.x accepts). */
  async updateToxic(
    proxy: string,
    name: string,
    patch: UpdateToxicInput,
    opts?: CallOptions,
  ): Promise<ToxicView> {
    const path = `/proxies/${seg(proxy)}/toxics/${seg(name)}`;
    const op = `update toxic ${JSON.stringify(name)} of ${JSON.stringify(proxy)}`;
    return this.toxic(await this.json('POST', path, op, patch, opts), 'POST', path, op);
  }

  async removeToxic(proxy: string, name: string, opts?: CallOptions): Promise<void> {
    const path = `/proxies/${seg(proxy)}/toxics/${seg(name)}`;
    await this.call(
      'DELETE',
      path,
      `remove toxic ${JSON.stringify(name)} of ${JSON.stringify(proxy)}`,
      undefined,
      opts,
    );
  }

  /** Prometheus text (on real Toxiproxy only with -proxy-metrics or -runtime-metrics). */
  async metrics(opts?: CallOptions): Promise<string> {
    return this.call('GET', '/metrics', 'get metrics', undefined, opts);
  }

  // --- plumbing -------------------------------------------------------------------------------

  private proxy(v: unknown, method: string, path: string, op: string): ProxyView {
    const p = asProxy(v);
    if (!p) throw this.unexpected(method, path, op);
    return p;
  }

  private toxic(v: unknown, method: string, path: string, op: string): ToxicView {
    const t = asToxic(v);
    if (!t) throw this.unexpected(method, path, op);
    return t;
  }

  private unexpected(method: string, path: string, op: string): ProxyClientError {
    return new ProxyClientError(`${op}: unexpected answer from ${this.url}${path}`, {
      apiMessage: 'unexpected answer',
      method,
      path,
    });
  }

  private async json(method: string, path: string, op: string, body: unknown, opts?: CallOptions) {
    const text = await this.call(method, path, op, body, opts);
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw new ProxyClientError(`${op}: the answer from ${this.url}${path} is not JSON`, {
        apiMessage: 'answer is not JSON',
        method,
        path,
        cause,
      });
    }
  }

  private async call(
    method: string,
    path: string,
    op: string,
    body: unknown,
    opts?: CallOptions,
  ): Promise<string> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = opts?.signal ? anySignal(timeout, opts.signal) : timeout;
    const headers: Record<string, string> = {
      'User-Agent': `faultline/${VERSION}`,
      Accept: 'application/json',
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        redirect: 'manual',
      });
      text = await res.text();
    } catch (cause) {
      const reason = opts?.signal?.aborted
        ? 'the request was cancelled'
        : timeout.aborted
          ? `no answer from ${this.url} within ${this.timeoutMs} ms`
          : `cannot reach the proxy API at ${this.url}: ${describe(cause)}`;
      throw new ProxyClientError(`${op}: ${reason}`, { apiMessage: reason, method, path, cause });
    }
    if (res.status >= 200 && res.status < 300) return text;
    let apiMessage = text.trim() || res.statusText || 'no message';
    let proxies: ProxyView[] | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isObject(parsed) && typeof parsed.error === 'string') apiMessage = parsed.error;
      if (isObject(parsed) && Array.isArray(parsed.proxies)) {
        proxies = parsed.proxies.map(asProxy).filter((p): p is ProxyView => p !== undefined);
      }
    } catch {
      // not JSON: keep the text (e.g. `404 page not found`)
    }
    throw new ProxyClientError(`${op}: HTTP ${res.status}: ${apiMessage}`, {
      status: res.status,
      apiMessage,
      method,
      path,
      ...(proxies ? { proxies } : {}),
    });
  }
}

/** AbortSignal.any, which Node gained in 20.3. */
function anySignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([a, b]);
  const controller = new AbortController();
  for (const s of [a, b]) {
    if (s.aborted) controller.abort(s.reason);
    else s.addEventListener('abort', () => controller.abort(s.reason), { once: true });
  }
  return controller.signal;
}

function describe(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause;
  const inner = cause instanceof Error ? cause : err instanceof Error ? err : undefined;
  if (!inner) return String(err);
  // fetch wraps network failures as `TypeError: fetch failed` with the real error as cause.
  if (inner instanceof AggregateError && inner.errors.length > 0) return describe(inner.errors[0]);
  if (inner.message === 'bad port')
    return 'fetch refuses this port (a browser-blocked port); use another one';
  return inner.message || (inner as NodeJS.ErrnoException).code || inner.name;
}
