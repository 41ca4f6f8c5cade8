/**
 * The `http` provider, with the behaviour of Chaos Toolkit's (Python requests):
 *  - GET sends `arguments` as the query string; other verbs send a JSON body
 *    only when `headers` has the exact key `Content-Type` set to exactly
 *    `application/json`, and a form (lists as repeated keys) otherwise;
 *  - `timeout` is seconds, or `[connect, read]`; `verify_tls: false` accepts
 *    any certificate; `max_retries` retries connection failures only;
 *  - redirects are followed (up to 30), 4xx and 5xx do not fail;
 *  - the output is `{status, headers, body}`, the body parsed only when the
 *    response Content-Type is exactly `application/json`;
 *  - unlike requests, at most FAULTLINE_MAX_OUTPUT_BYTES (1 MiB) of a body is
 *    read: a longer text body is truncated with a marker, a longer JSON body
 *    fails the activity (half a JSON document is not JSON).
 */
import { Agent, type Dispatcher, request } from 'undici';
import { ActivityFailed } from '../core/errors.js';
import { isDict, pyStr } from '../core/python.js';
import type { HttpProvider } from '../core/schema.js';
import { MAX_TIMER_MS, secondsToMs, setLongTimeout } from '../core/timers.js';
import type { ProviderRunner } from '../engine/context.js';
import { abortedError, maxOutputBytes } from './util.js';

export interface HttpOutput {
  status: number;
  /** Lower-case names (as undici gives them); repeated headers joined with ", " as requests does. */
  headers: Record<string, string>;
  body: unknown;
}

export interface HttpRequestPlan {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

const MAX_REDIRECTS = 30;
// undici's default; requests has none, so only the OS would end a hanging connect.
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Python's `quote_plus`: only letters, digits and `_.-~` stay as they are; space becomes `+`. */
export function quotePlus(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function pairs(data: unknown): [string, unknown][] {
  if (isDict(data)) return Object.entries(data);
  if (Array.isArray(data)) {
    return data.map((item) => {
      if (!Array.isArray(item) || item.length !== 2) {
        throw new ActivityFailed('cannot encode objects that are not 2-tuples');
      }
      return [pyStr(item[0]), item[1]];
    });
  }
  throw new ActivityFailed(`cannot encode ${typeof data} arguments as a form or query string`);
}

/**
 * requests' encoding of `params`/`data`: a string as it is; an object (or a
 * list of pairs) as `k=v&...`, with list values as repeated keys and null
 * values dropped. Values print as Python's `str()` (`True`, `None`).
 */
export function encodeForm(data: unknown): string {
  if (typeof data === 'string') return data;
  const out: string[] = [];
  for (const [key, value] of pairs(data)) {
    const values = Array.isArray(value) ? value : isDict(value) ? Object.keys(value) : [value];
    for (const v of values) {
      if (v === null || v === undefined) continue;
      out.push(`${quotePlus(key)}=${quotePlus(pyStr(v))}`);
    }
  }
  return out.join('&');
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  const lower = name.toLowerCase();
  return Object.keys(headers).some((k) => k.toLowerCase() === lower);
}

function withQuery(url: string, query: string): string {
  if (!query) return url;
  const hash = url.indexOf('#');
  const [base, fragment] = hash < 0 ? [url, ''] : [url.slice(0, hash), url.slice(hash)];
  const sep = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  return `${base}${sep}${query}${fragment}`;
}

/** The request an http provider makes (before redirects). Pure; throws ActivityFailed on bad arguments. */
export function planHttpRequest(provider: HttpProvider): HttpRequestPlan {
  const method = (provider.method ?? 'GET').toUpperCase();
  const given = isDict(provider.headers) ? provider.headers : {};
  const headers: Record<string, string> = {};
  // requests drops headers whose value is None.
  for (const [k, v] of Object.entries(given)) if (v !== null && v !== undefined) headers[k] = pyStr(v);
  if (!hasHeader(headers, 'user-agent')) headers['user-agent'] = 'faultline';
  if (!hasHeader(headers, 'accept')) headers.accept = '*/*';

  const args = provider.arguments;
  const empty = args === null || args === undefined;
  if (method === 'GET') {
    return { method, url: withQuery(provider.url, empty ? '' : encodeForm(args)), headers };
  }
  if (given['Content-Type'] === 'application/json') {
    return empty
      ? { method, url: provider.url, headers }
      : { method, url: provider.url, headers, body: JSON.stringify(args) };
  }
  const body = empty ? '' : encodeForm(args);
  if (!body) return { method, url: provider.url, headers };
  if (typeof args !== 'string' && !hasHeader(headers, 'content-type')) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  return { method, url: provider.url, headers, body };
}

function seconds(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (n === null || n === undefined) return undefined;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new ActivityFailed(
      `invalid http timeout ${JSON.stringify(value)}: expected seconds or [connect, read]`,
    );
  }
  return secondsToMs(n);
}

/**
 * The body, at most `limit` bytes of it: a server that answers without end
 * cannot fill the runner's memory. The rest is not read (the connection is
 * dropped).
 */
async function readCapped(
  body: Dispatcher.ResponseData['body'],
  limit: number,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      body.destroy();
      return { bytes: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { bytes: Buffer.concat(chunks), truncated: false };
}

/** `timeout` as milliseconds: a number applies to both connect and read, `[connect, read]` to each. */
export function httpTimeouts(timeout: unknown): { connectMs?: number; readMs?: number } {
  if (Array.isArray(timeout)) {
    if (timeout.length !== 2) throw new ActivityFailed('an http timeout list must be [connect, read]');
    return { connectMs: seconds(timeout[0]), readMs: seconds(timeout[1]) };
  }
  const ms = seconds(timeout);
  return { connectMs: ms, readMs: ms };
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Errors raised before a connection exists: the only ones `max_retries` retries, as urllib3 does. */
export function isConnectError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && CONNECT_CODES.has(code);
}

function isReadTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return err.errors.map((e) => reasonOf(e)).join('; ');
  if (err instanceof Error) return err.message || String((err as { code?: unknown }).code ?? err.name);
  return String(err);
}

function headerObject(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function decodeText(bytes: Uint8Array, contentType: string | undefined): string {
  const charset = /charset\s*=\s*"?([^;"\s]+)/i.exec(contentType ?? '')?.[1];
  if (charset) {
    try {
      return new TextDecoder(charset).decode(bytes);
    } catch {
      // unknown label: fall back to utf-8, like requests when detection fails
    }
  }
  return new TextDecoder().decode(bytes);
}

/** requests' `rebuild_method`: a 303 (and, as browsers do, a 302) becomes GET; a 301 turns POST into GET. */
function redirectMethod(status: number, method: string): string {
  if ((status === 303 || status === 302) && method !== 'HEAD') return 'GET';
  if (status === 301 && method === 'POST') return 'GET';
  return method;
}

function withoutHeaders(headers: Record<string, string>, names: string[]): Record<string, string> {
  const drop = new Set(names);
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !drop.has(k.toLowerCase())));
}

export const httpProvider: ProviderRunner<HttpProvider> = {
  type: 'http',
  // As Chaos Toolkit: the URL, headers and timeout take `${name}` values too (never method or verify_tls).
  substituted: ['url', 'headers', 'timeout'],
  // A dynamic configuration value read over http is the response body.
  dynamicValue: (output) => (output as Partial<HttpOutput> | null)?.body,

  async run(provider, ctx) {
    const { signal } = ctx;
    if (signal.aborted) throw abortedError(signal, 'http activity');
    let plan = planHttpRequest(provider);
    const { connectMs, readMs } = httpTimeouts(provider.timeout);
    const limit = maxOutputBytes();
    // undici's timers overflow past 2^31-1 ms as Node's do (a 3,000,000 s timeout would fire at
    // once): such a timeout is enforced by one long timer over the whole exchange instead.
    const tooLong = (ms: number | undefined) => ms !== undefined && ms > MAX_TIMER_MS;
    const long = tooLong(connectMs) || tooLong(readMs) ? new AbortController() : undefined;
    const longTimer =
      long &&
      setLongTimeout(
        () => long.abort(new ActivityFailed('activity took too long to complete')),
        Math.max(connectMs ?? 0, readMs ?? 0),
      );
    const requestSignal = long ? AbortSignal.any([signal, long.signal]) : signal;
    const retries =
      typeof provider.max_retries === 'number' && provider.max_retries > 0 ? provider.max_retries : 0;
    const agent = new Agent({
      connect: {
        timeout: tooLong(connectMs) ? 0 : (connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
        rejectUnauthorized: provider.verify_tls !== false,
      },
      // 0 disables undici's own 300 s defaults: requests has no read timeout unless one is given.
      headersTimeout: tooLong(readMs) ? 0 : (readMs ?? 0),
      bodyTimeout: tooLong(readMs) ? 0 : (readMs ?? 0),
    });

    const send = async (): Promise<Dispatcher.ResponseData> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await request(plan.url, {
            dispatcher: agent,
            method: plan.method as Dispatcher.HttpMethod,
            headers: plan.headers,
            body: plan.body,
            signal: requestSignal,
          });
        } catch (err) {
          if (signal.aborted || !isConnectError(err) || attempt >= retries) throw err;
        }
      }
    };

    try {
      for (let redirects = 0; ; redirects++) {
        const res = await send();
        const location = res.headers.location;
        if ([301, 302, 303, 307, 308].includes(res.statusCode) && typeof location === 'string') {
          await res.body.dump();
          if (redirects >= MAX_REDIRECTS) throw new ActivityFailed(`exceeded ${MAX_REDIRECTS} redirects`);
          const from = new URL(plan.url);
          const to = new URL(location, from);
          const method = redirectMethod(res.statusCode, plan.method);
          let headers = plan.headers;
          let body = plan.body;
          if (res.statusCode !== 307 && res.statusCode !== 308) {
            headers = withoutHeaders(headers, ['content-length', 'content-type', 'transfer-encoding']);
            body = undefined;
          }
          if (to.hostname !== from.hostname) headers = withoutHeaders(headers, ['authorization']);
          plan = { method, url: to.href, headers, ...(body === undefined ? {} : { body }) };
          continue;
        }
        const { bytes, truncated } = await readCapped(res.body, limit);
        const headers = headerObject(res.headers);
        const contentType = headers['content-type'];
        let body: unknown;
        if (truncated && contentType === 'application/json') {
          throw new ActivityFailed(
            `the response from ${plan.url} is larger than ${limit} bytes (FAULTLINE_MAX_OUTPUT_BYTES): not parsed as JSON`,
          );
        }
        if (truncated) {
          body = `${decodeText(bytes, contentType)}\n[faultline: output truncated: kept the first ${limit} bytes of a longer body (FAULTLINE_MAX_OUTPUT_BYTES)]`;
          ctx.log('warn', `http response body truncated to ${limit} bytes`);
        } else if (contentType === 'application/json') {
          const text = new TextDecoder().decode(bytes);
          try {
            body = JSON.parse(text);
          } catch (err) {
            throw new ActivityFailed(
              `the response from ${plan.url} is not valid JSON: ${(err as Error).message}`,
            );
          }
        } else body = decodeText(bytes, contentType);
        const output: HttpOutput = { status: res.statusCode, headers, body };
        return output;
      }
    } catch (err) {
      if (signal.aborted) throw abortedError(signal, 'http activity');
      if (long?.signal.aborted) throw long.signal.reason;
      if (err instanceof ActivityFailed) throw err;
      if (isReadTimeout(err)) throw new ActivityFailed('activity took too long to complete', { cause: err });
      if ((err as { code?: unknown })?.code === 'UND_ERR_INVALID_ARG') {
        throw new ActivityFailed(`invalid http request to ${provider.url}: ${reasonOf(err)}`, { cause: err });
      }
      throw new ActivityFailed(`failed to connect to ${provider.url}: ${reasonOf(err)}`, { cause: err });
    } finally {
      longTimer?.clear();
      await agent.destroy().catch(() => {});
    }
  },
};
