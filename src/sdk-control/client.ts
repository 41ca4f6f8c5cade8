/**
 * A small client for the SDK control endpoint (./api.ts), used by the `sdk`
 * fault kinds and activities. Depends on nothing but the global fetch.
 *
 * Every failure is an SdkControlError with the HTTP status (undefined when no
 * answer came) and, for network failures, the error code (`ECONNREFUSED`...).
 *
 * @example
 * const client = SdkControlClient.fromEnv({ url: 'http://127.0.0.1:8474' });
 * await client.put('checkout', 'fl-1a2b3c4d', { type: 'http_error', status: 503, ttl_ms: 15_000 });
 * await client.remove('checkout', 'fl-1a2b3c4d');
 */
import { FaultlineError } from '../core/errors.js';
import type { SdkControlDocument, SdkFaultRule } from '../sdk/rules.js';
import { VERSION } from '../version.js';
import { SDK_API_PREFIX, type SdkRulePut } from './api.js';
import type { SdkServiceSummary } from './store.js';

export const DEFAULT_SDK_CONTROL_URL = 'http://127.0.0.1:8474';

/** The control URL when an experiment names none: FAULTLINE_SDK_CONTROL_URL, FAULTLINE_PROXY_URL, or 127.0.0.1:8474. */
export function defaultSdkControlUrl(): string {
  return process.env.FAULTLINE_SDK_CONTROL_URL || process.env.FAULTLINE_PROXY_URL || DEFAULT_SDK_CONTROL_URL;
}

export class SdkControlError extends FaultlineError {
  readonly status: number | undefined;
  /** The network error's code when the server could not be reached (ECONNREFUSED, ...). */
  readonly errno: string | undefined;
  readonly field: string | undefined;
  constructor(
    message: string,
    details: { status?: number; errno?: string; field?: string; cause?: unknown } = {},
  ) {
    super('FAULTLINE_ERR_PROXY', message, details.cause === undefined ? {} : { cause: details.cause });
    this.name = 'SdkControlError';
    this.status = details.status;
    this.errno = details.errno;
    this.field = details.field;
  }
}

export interface SdkControlClientOptions {
  url?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Per request (default 10 s; long polls add their own wait). */
  timeoutMs?: number;
}

const seg = encodeURIComponent;

function errnoOf(err: unknown): string | undefined {
  for (let e: unknown = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export class SdkControlClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: SdkControlClientOptions = {}) {
    this.url = (options.url ?? DEFAULT_SDK_CONTROL_URL).replace(/\/+$/, '');
    this.#token = options.token || undefined;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The token from FAULTLINE_PROXY_TOKEN (never stored anywhere). */
  static fromEnv(options: Omit<SdkControlClientOptions, 'token'> = {}): SdkControlClient {
    return new SdkControlClient({ ...options, token: process.env.FAULTLINE_PROXY_TOKEN || undefined });
  }

  async #call<T>(
    method: string,
    path: string,
    body?: unknown,
    opts: { signal?: AbortSignal; extraMs?: number } = {},
  ): Promise<{ status: number; value: T }> {
    const timeout = AbortSignal.timeout(this.#timeoutMs + (opts.extraMs ?? 0));
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const what = `${method} ${SDK_API_PREFIX}${path}`;
    let res: Response;
    try {
      res = await fetch(`${this.url}${SDK_API_PREFIX}${path}`, {
        method,
        signal,
        headers: {
          'user-agent': `faultline/${VERSION}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      const errno = timeout.aborted ? 'ETIMEDOUT' : errnoOf(err);
      throw new SdkControlError(
        `SDK control API ${this.url}: ${what}: ${timeout.aborted ? 'no answer in time' : `cannot reach it (${errno ?? (err as Error).message})`}`,
        { errno, cause: err },
      );
    }
    const text = await res.text().catch(() => '');
    let value: unknown;
    try {
      value = text === '' ? undefined : JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (!res.ok) {
      const e = (value ?? {}) as { error?: unknown; field?: unknown };
      const message = typeof e.error === 'string' ? e.error : text.slice(0, 200) || res.statusText;
      throw new SdkControlError(`SDK control API ${this.url}: ${what}: ${res.status} ${message}`, {
        status: res.status,
        ...(typeof e.field === 'string' ? { field: e.field } : {}),
      });
    }
    return { status: res.status, value: value as T };
  }

  async document(
    service: string,
    opts: { waitVersion?: number; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<SdkControlDocument> {
    const q =
      opts.waitVersion === undefined
        ? ''
        : `?wait_version=${opts.waitVersion}${opts.timeoutMs === undefined ? '' : `&timeout_ms=${opts.timeoutMs}`}`;
    return (
      await this.#call<SdkControlDocument>('GET', `/services/${seg(service)}/faults${q}`, undefined, {
        ...(opts.signal ? { signal: opts.signal } : {}),
        extraMs: opts.waitVersion === undefined ? 0 : (opts.timeoutMs ?? 20_000),
      })
    ).value;
  }

  async services(): Promise<{ services: SdkServiceSummary[]; halted: boolean }> {
    return (await this.#call<{ services: SdkServiceSummary[]; halted: boolean }>('GET', '/services')).value;
  }

  async get(service: string, id: string): Promise<SdkFaultRule> {
    return (await this.#call<SdkFaultRule>('GET', `/services/${seg(service)}/faults/${seg(id)}`)).value;
  }

  async put(service: string, id: string, rule: SdkRulePut, opts: { signal?: AbortSignal } = {}) {
    return (await this.#call<SdkFaultRule>('PUT', `/services/${seg(service)}/faults/${seg(id)}`, rule, opts))
      .value;
  }

  async renew(service: string, id: string, ttlMs: number): Promise<SdkFaultRule> {
    return (
      await this.#call<SdkFaultRule>('POST', `/services/${seg(service)}/faults/${seg(id)}/renew`, {
        ttl_ms: ttlMs,
      })
    ).value;
  }

  async remove(service: string, id: string): Promise<void> {
    await this.#call('DELETE', `/services/${seg(service)}/faults/${seg(id)}`);
  }

  async removeAll(service: string): Promise<string[]> {
    return (await this.#call<{ removed: string[] }>('DELETE', `/services/${seg(service)}/faults`)).value
      .removed;
  }

  async halt(): Promise<void> {
    await this.#call('POST', '/halt');
  }

  async release(): Promise<void> {
    await this.#call('DELETE', '/halt');
  }
}
