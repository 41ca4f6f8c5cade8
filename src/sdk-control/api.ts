/**
 * The SDK control endpoint, mounted on the proxy server's control API
 * (src/proxy/api/server.ts) by whoever starts one (sdkControlMount: the CLI's
 * `faultline proxy`, a run's in-process proxies, `faultline/proxy`'s
 * startControlServer), behind the same guards, token and body limits. The
 * proxy takes it as a generic mount, so neither side imports the other:
 *
 *   GET    /faultline/sdk/v1/services                          {services: [...], halted}
 *   GET    /faultline/sdk/v1/services/:service/faults          the SdkControlDocument
 *            ?wait_version=N&timeout_ms=T                        long poll: answers once version > N (or after T)
 *   DELETE /faultline/sdk/v1/services/:service/faults          removes them all: {removed: [ids]}
 *   GET    /faultline/sdk/v1/services/:service/faults/:id      one rule (404 when absent or expired)
 *   PUT|POST /faultline/sdk/v1/services/:service/faults/:id    body: the rule minus id/expires_at, plus ttl_ms
 *   PATCH  /faultline/sdk/v1/services/:service/faults/:id      body {ttl_ms}: renews the lease
 *   POST   /faultline/sdk/v1/services/:service/faults/:id/renew  same
 *   DELETE /faultline/sdk/v1/services/:service/faults/:id      204, or 404 when absent
 *   GET|POST|DELETE /faultline/sdk/v1/halt                     the store's halt: state, halt, release
 *
 * Errors are JSON: `{"error": "<field>: <what is wrong>", "status": N, "field": "<field>"}`.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { MAX_SDK_DELAY_MS, SdkFaultRuleSchema, SERVICE_NAME_RE } from '../sdk/rules.js';
import { MAX_SDK_TTL_MS, SdkControlStore, SdkControlStoreError } from './store.js';

export const SDK_API_PREFIX = '/faultline/sdk/v1';

/** Paths the SDK control API answers (404 JSON for unknown ones below /faultline/sdk/). */
export const SDK_MOUNT_PREFIX = '/faultline/sdk/';

/** Rule ids as they appear in URLs: the fault kind's `fl-<8 hex>`, or an operator's own. */
export const SDK_RULE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Longest long poll, below the server's handler timeout. */
export const DEFAULT_MAX_WAIT_MS = 20_000;

const TtlSchema = z
  .number({ error: 'expected a whole number of milliseconds' })
  .int('expected a whole number of milliseconds')
  .min(1, 'expected at least 1 ms')
  .max(MAX_SDK_TTL_MS, `expected at most ${MAX_SDK_TTL_MS} ms`);

const DelaySchema = z
  .number({ error: 'expected a number of milliseconds' })
  .min(0, 'expected at least 0 ms')
  .max(MAX_SDK_DELAY_MS, `expected at most ${MAX_SDK_DELAY_MS} ms (10 minutes)`);

/** PUT/POST body: the rule minus id and expires_at (the store sets them), plus its lease. */
export const SdkRulePutSchema = SdkFaultRuleSchema.omit({ id: true, expires_at: true }).extend({
  ttl_ms: TtlSchema,
  // The SDK clamps longer delays anyway (docs/security.md#sdk): refuse them here, naming the field.
  latency_ms: DelaySchema.optional(),
  jitter_ms: DelaySchema.optional(),
});
export type SdkRulePut = z.input<typeof SdkRulePutSchema>;

const RenewSchema = z.strictObject({ ttl_ms: TtlSchema });

/** What the API answers; structurally the proxy server's Reply. */
export interface SdkReply {
  status: number;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

const JSON_TYPE = 'application/json';

const json = (value: unknown, status = 200): SdkReply => ({
  status,
  body: JSON.stringify(value),
  contentType: JSON_TYPE,
});

const error = (status: number, message: string, field?: string, headers: Record<string, string> = {}) => ({
  status,
  body: JSON.stringify({ error: message, status, ...(field ? { field } : {}) }),
  contentType: JSON_TYPE,
  headers: { 'X-Content-Type-Options': 'nosniff', ...headers },
});

class BadRequest extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

function parseJsonBody(body: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new BadRequest('body: expected UTF-8 JSON', 'body');
  }
  if (text.trim() === '') throw new BadRequest('body: expected a JSON object, got an empty body', 'body');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`body: invalid JSON: ${(err as Error).message}`, 'body');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequest(
      `body: expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
      'body',
    );
  }
  return value as Record<string, unknown>;
}

function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  let path = issuePath(issue.path);
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const key = String(issue.keys[0]);
    path = path ? `${path}.${key}` : key;
    message = 'unknown field';
  }
  throw new BadRequest(`${path || 'body'}: ${message}`, path || 'body');
}

function checkService(service: string): void {
  if (!SERVICE_NAME_RE.test(service)) {
    throw new BadRequest(
      'service: expected a service name of letters, digits, ".", "_" and "-" (at most 128, starting with a letter or digit)',
      'service',
    );
  }
}

function checkId(id: string): void {
  if (!SDK_RULE_ID_RE.test(id)) {
    throw new BadRequest(
      'id: expected a fault id of letters, digits, ".", "_", ":" and "-" (at most 128, starting with a letter or digit)',
      'id',
    );
  }
}

function queryInt(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const all = query.getAll(name);
  if (all.length === 0) return undefined;
  const raw = all[0]!;
  if (all.length > 1 || !/^\d{1,16}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new BadRequest(`${name}: expected one whole number from ${min} to ${max}`, name);
  }
  return Number(raw);
}

/** The decoded segments after `/faultline/sdk/v1/` (undefined for other paths under /faultline/sdk), and the query. */
function sdkSegments(url: string): { segments: string[] | undefined; query: URLSearchParams } {
  const q = url.indexOf('?');
  const path = (q === -1 ? url : url.slice(0, q)).split('#')[0] ?? '';
  const query = new URLSearchParams(q === -1 ? '' : (url.slice(q + 1).split('#')[0] ?? ''));
  if (!path.startsWith(`${SDK_API_PREFIX}/`)) return { segments: undefined, query };
  try {
    return {
      segments: path
        .slice(SDK_API_PREFIX.length + 1)
        .split('/')
        .map((seg) => decodeURIComponent(seg)),
      query,
    };
  } catch {
    throw new BadRequest('path: invalid percent-encoding', 'path');
  }
}

export interface SdkControlApiOptions {
  /** Longest long poll (default 20 s); keep it under the server's handler timeout. */
  maxWaitMs?: number;
}

export interface SdkControlApi {
  readonly store: SdkControlStore;
  /** True for URLs under /faultline/sdk/: the API answers them (404 JSON when unknown). */
  matches(url: string): boolean;
  /** Whether the request has a body to read first. */
  hasBody(method: string): boolean;
  handle(req: IncomingMessage, method: string, url: string, body: Uint8Array): Promise<SdkReply>;
  /** Answers every pending long poll now (server closing); closes the store if the API created it. */
  close(): void;
}

/** The routes over `store` (a new in-memory store when none is given). */
export function createSdkControlApi(
  store?: SdkControlStore,
  options: SdkControlApiOptions = {},
): SdkControlApi {
  const own = store === undefined;
  const s = store ?? new SdkControlStore();
  const maxWaitMs = Math.max(0, options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
  const closing = new AbortController();

  const longPoll = async (req: IncomingMessage, service: string, query: URLSearchParams) => {
    const wait = queryInt(query, 'wait_version', 0, Number.MAX_SAFE_INTEGER);
    const timeout = queryInt(query, 'timeout_ms', 0, Number.MAX_SAFE_INTEGER);
    if (wait === undefined) {
      if (timeout !== undefined) throw new BadRequest('timeout_ms: only with wait_version', 'timeout_ms');
      return json(s.document(service));
    }
    // The client going away ends the wait (no waiter outlives its connection).
    const gone = new AbortController();
    const onClose = () => gone.abort();
    req.socket.once('close', onClose);
    try {
      const signal = AbortSignal.any([gone.signal, closing.signal]);
      const reply = json(
        await s.waitForChange(service, wait, Math.min(timeout ?? maxWaitMs, maxWaitMs), signal),
      );
      // Answered because the server is closing: do not keep the connection for another request.
      return closing.signal.aborted ? { ...reply, headers: { Connection: 'close' } } : reply;
    } finally {
      req.socket.off('close', onClose);
    }
  };

  type Handler = (
    req: IncomingMessage,
    params: string[],
    body: Uint8Array,
    query: URLSearchParams,
  ) => unknown;
  const routes: { pattern: (string | null)[]; methods: Record<string, Handler> }[] = [
    {
      pattern: ['services'],
      methods: { GET: () => json({ services: s.services(), halted: s.halted }) },
    },
    {
      pattern: ['halt'],
      methods: {
        GET: () => json({ halted: s.halted }),
        POST: () => {
          s.halt();
          return json({ halted: true });
        },
        DELETE: () => {
          s.release();
          return json({ halted: false });
        },
      },
    },
    {
      pattern: ['services', null, 'faults'],
      methods: {
        GET: (req, [service], _b, query) => longPoll(req, service!, query),
        DELETE: (_r, [service]) => json({ removed: s.removeAll(service!) }),
      },
    },
    {
      pattern: ['services', null, 'faults', null],
      methods: {
        GET: (_r, [service, id]) => {
          const rule = s.get(service!, id!);
          return rule ? json(rule) : error(404, 'fault not found', 'id');
        },
        PUT: (_r, params, body) => put(params, body),
        POST: (_r, params, body) => put(params, body),
        PATCH: (_r, params, body) => renew(params, body),
        DELETE: (_r, [service, id]) =>
          s.remove(service!, id!) ? { status: 204 } : error(404, 'fault not found', 'id'),
      },
    },
    {
      pattern: ['services', null, 'faults', null, 'renew'],
      methods: { POST: (_r, params, body) => renew(params, body) },
    },
  ];

  const put = ([service, id]: string[], body: Uint8Array) => {
    const input = parseJsonBody(body);
    if ('id' in input && input.id !== id) {
      throw new BadRequest('id: the body names a different id than the path', 'id');
    }
    if ('expires_at' in input) {
      throw new BadRequest('expires_at: set by the server; send ttl_ms (the lease) instead', 'expires_at');
    }
    const { id: _id, ...rest } = input;
    const { ttl_ms, ...rule } = validate(SdkRulePutSchema, rest);
    const existed = s.get(service!, id!) !== undefined;
    return json(s.put(service!, id!, rule, ttl_ms), existed ? 200 : 201);
  };

  const renew = ([service, id]: string[], body: Uint8Array) => {
    const { ttl_ms } = validate(RenewSchema, parseJsonBody(body));
    const rule = s.renew(service!, id!, ttl_ms);
    return rule ? json(rule) : error(404, 'fault not found (removed or expired)', 'id');
  };

  const handle = async (req: IncomingMessage, method: string, url: string, body: Uint8Array) => {
    try {
      const { segments, query } = sdkSegments(url);
      const route =
        segments &&
        routes.find(
          (r) =>
            r.pattern.length === segments.length &&
            r.pattern.every((p, i) => (p === null ? segments[i] !== '' : p === segments[i])),
        );
      if (!route)
        return error(404, `not found: the SDK control API is under ${SDK_API_PREFIX}/services`, 'path');
      const handler = route.methods[method];
      if (!handler) {
        return error(405, `method ${method} not allowed here`, 'method', {
          Allow: Object.keys(route.methods).join(', '),
        });
      }
      const params = route.pattern.flatMap((p, i) => (p === null ? [segments![i]!] : []));
      if (params[0] !== undefined) checkService(params[0]);
      if (params[1] !== undefined) checkId(params[1]);
      return (await handler(req, params, body, query)) as SdkReply;
    } catch (err) {
      if (err instanceof BadRequest) return error(400, err.message, err.field);
      if (err instanceof SdkControlStoreError) return error(err.status, err.message, err.field);
      throw err;
    }
  };

  return {
    store: s,
    matches: (url) => url.startsWith(SDK_MOUNT_PREFIX),
    hasBody: (method) => method === 'PUT' || method === 'POST' || method === 'PATCH',
    handle,
    close() {
      closing.abort();
      if (own) s.close();
    },
  };
}

/**
 * The SDK control API as a mount of the proxy's control API (its `mounts`
 * option; the shape is the proxy's ControlMount). Each server started with it
 * serves `store`, or a new in-memory store of its own that it closes with it.
 * Long polls answer 5 s before the server's handler timeout (20 s by default).
 *
 * @example
 * const api = await startControlServer({ control: manager, port: 0, mounts: [sdkControlMount()] });
 */
export function sdkControlMount(store?: SdkControlStore): {
  readonly prefix: string;
  start(server: { readonly handlerTimeoutMs: number }): SdkControlApi;
} {
  return {
    prefix: SDK_MOUNT_PREFIX,
    start: ({ handlerTimeoutMs }) =>
      createSdkControlApi(store, { maxWaitMs: Math.max(0, handlerTimeoutMs - 5000) }),
  };
}
