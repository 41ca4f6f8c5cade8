/**
 * A client of the control plane's API for commands that talk to a running
 * server (`faultline push`, `faultline run --server`): one place that knows
 * the routes and turns the server's `{ error }` answers into FaultlineErrors.
 */
import { FaultlineError } from '../core/errors.js';
import type { ApiError } from './api-schemas.js';
import type { ScheduleInput, ScheduleView } from './schedules/model.js';
import type { ExperimentVersion, Run } from './store.js';

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

interface Answer {
  status: number;
  ok: boolean;
  statusText: string;
  text: string;
  parsed: unknown;
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

  /** One request; the status and the parsed JSON body (undefined when empty or not JSON). */
  private async send(method: string, path: string, body?: unknown): Promise<Answer> {
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
    return { status: res.status, ok: res.ok, statusText: res.statusText, text, parsed };
  }

  /** The server's `{ error }` answer as a FaultlineError: its message and issues, the status. */
  private failure(answer: Answer): FaultlineError {
    const e = (answer.parsed as Partial<ApiError> | undefined)?.error;
    const issues = e?.issues ?? [];
    // Without a token the server's own hint (sign in) does not say how a command line sends one.
    const hint =
      answer.status === 401 && !this.#token
        ? ' (set FAULTLINE_TOKEN to an API token: `faultline serve token add NAME --role operator`)'
        : '';
    return new FaultlineError(
      answer.status === 400 || answer.status === 422 ? 'FAULTLINE_ERR_VALIDATION' : 'FAULTLINE_ERR_STORE',
      `the server at ${this.base.origin} answered ${answer.status}: ${e?.message ?? (answer.text.slice(0, 200) || answer.statusText)}${hint}`,
      { issues: [...issues] },
    );
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.send(method, path, body);
    if (!answer.ok) throw this.failure(answer);
    return answer.parsed as T;
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

  /**
   * Uploads an experiment (POST /api/experiments): `created` is false when the source is identical
   * to the latest version, which the server then answers with instead of storing a new one.
   */
  async uploadExperiment(
    name: string,
    source: string,
    format: 'yaml' | 'json',
  ): Promise<{ experiment: ExperimentVersion; created: boolean }> {
    const answer = await this.send('POST', '/api/experiments', { name, format, source });
    if (!answer.ok) throw this.failure(answer);
    return { experiment: answer.parsed as ExperimentVersion, created: answer.status === 201 };
  }

  /** A schedule with its next fire times (GET /api/schedules/{name}); undefined when there is none. */
  async getSchedule(name: string): Promise<ScheduleView | undefined> {
    const answer = await this.send('GET', `/api/schedules/${encodeURIComponent(name)}`);
    if (answer.status === 404) return undefined;
    if (!answer.ok) throw this.failure(answer);
    return answer.parsed as ScheduleView;
  }

  /**
   * Creates a schedule (POST /api/schedules); undefined when its name is taken (the server's 409),
   * so that a caller can replace it instead.
   */
  async createSchedule(spec: ScheduleInput): Promise<ScheduleView | undefined> {
    const answer = await this.send('POST', '/api/schedules', spec);
    if (answer.status === 409) return undefined;
    if (!answer.ok) throw this.failure(answer);
    return answer.parsed as ScheduleView;
  }

  /** Replaces a schedule's spec, its name kept (PUT /api/schedules/{name}). */
  replaceSchedule(name: string, spec: ScheduleInput): Promise<ScheduleView> {
    return this.request<ScheduleView>('PUT', `/api/schedules/${encodeURIComponent(name)}`, spec);
  }
}
