/**
 * A client of the control plane's API for commands that talk to a running
 * server (`faultline push`, `faultline run --server`): one place that knows
 * the routes and turns the server's `{ error }` answers into FaultlineErrors.
 */
import { FaultlineError } from '../core/errors.js';
import type { ApiError } from './api-schemas.js';
import type { Run } from './store.js';

/** How long one request waits for the server before giving up. */
const REQUEST_TIMEOUT_MS = 30_000;

/** A server URL as given (`http://127.0.0.1:7474`, with or without a trailing slash or `/api`). */
export function serverBase(url: string, field = 'server'): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `${field}: expected the server's http(s) URL, got '${url}'`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new FaultlineError('FAULTLINE_ERR_USAGE', `${field}: expected an http(s) URL, got '${url}'`);
  u.pathname = u.pathname.replace(/\/+$/, '').replace(/\/api$/, '');
  u.search = '';
  u.hash = '';
  return u;
}

export class ServerClient {
  readonly base: URL;
  readonly #token: string | undefined;
  /**
   * `token` (default $FAULTLINE_TOKEN): an API token (`faultline serve token add`), sent as
   * `Authorization: Bearer`, for a server that has users. From the environment rather than a
   * flag, so that it never shows in a process list or a CI log.
   */
  constructor(url: string, field = 'server', token = process.env.FAULTLINE_TOKEN) {
    this.base = serverBase(url, field);
    this.#token = token?.trim() || undefined;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    // A server behind a path prefix keeps it; `//api` would be read as a host.
    const url = `${this.base.origin}${this.base.pathname.replace(/\/+$/, '')}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new FaultlineError(
        'FAULTLINE_ERR_STORE',
        `cannot reach the server at ${this.base.origin}: ${cause}`,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed as Partial<ApiError> | undefined)?.error;
      const issues = e?.issues ?? [];
      throw new FaultlineError(
        res.status === 400 || res.status === 422 ? 'FAULTLINE_ERR_VALIDATION' : 'FAULTLINE_ERR_STORE',
        `the server at ${this.base.origin} answered ${res.status}: ${e?.message ?? (text.slice(0, 200) || res.statusText)}`,
        { issues: [...issues] },
      );
    }
    return parsed as T;
  }

  /** Stores a run made elsewhere from its journal (POST /api/runs/import). */
  pushJournal(
    journal: unknown,
    options: { tags?: readonly string[]; experiment?: string } = {},
  ): Promise<Run> {
    return this.request<Run>('POST', '/api/runs/import', {
      journal,
      ...(options.tags && options.tags.length > 0 ? { tags: [...options.tags] } : {}),
      ...(options.experiment !== undefined ? { experiment: options.experiment } : {}),
    });
  }
}
