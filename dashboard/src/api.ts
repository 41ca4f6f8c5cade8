/**
 * The dashboard's one way to the server: the JSON API of `faultline serve`, same origin. The shapes are
 * the server's own (src/server/store.ts, type-only), so a change there fails the dashboard's type check
 * instead of a page at run time. Every failure becomes an ApiFailure carrying the server's error code,
 * message and issues (an upload's line and column), or a plain sentence when the server is unreachable.
 */
import type {
  AuditEntry,
  ExperimentSummary,
  ExperimentVersion,
  Run,
  RunPage,
} from '../../src/server/store.js';

export type { AuditEntry, ExperimentSummary, ExperimentVersion, Run, RunPage };
export type RunWithJournal = Run & { journal?: unknown };

export interface Issue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: readonly Issue[] = [],
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiFailure(0, 'unreachable', 'The server cannot be reached. Is `faultline serve` running?');
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string; issues?: Issue[] } } | undefined)
      ?.error;
    throw new ApiFailure(
      res.status,
      error?.code ?? 'http_error',
      error?.message ?? `the server answered ${res.status} ${res.statusText}`,
      error?.issues ?? [],
    );
  }
  return parsed as T;
}

export interface RunFilters {
  experiment?: string;
  status?: string;
  verdict?: string;
  tags?: string;
  from?: string;
  to?: string;
}

const query = (params: Record<string, string | undefined>) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
};

export const api = {
  health: () => call<{ ok: boolean; database: string; server: string }>('GET', '/api/health'),
  experiments: () => call<ExperimentSummary[]>('GET', '/api/experiments'),
  experiment: (name: string, version?: number) =>
    call<ExperimentVersion>(
      'GET',
      `/api/experiments/${encodeURIComponent(name)}${query({ version: version?.toString() })}`,
    ),
  versions: (name: string) =>
    call<Omit<ExperimentVersion, 'source'>[]>('GET', `/api/experiments/${encodeURIComponent(name)}/versions`),
  upload: (name: string, format: 'json' | 'yaml', source: string) =>
    call<ExperimentVersion>('POST', '/api/experiments', { name, format, source }),
  startRun: (experiment: string, version?: number, tags?: string[]) =>
    call<Run>('POST', '/api/runs', {
      experiment,
      ...(version === undefined ? {} : { version }),
      ...(tags && tags.length > 0 ? { tags } : {}),
    }),
  runs: (filters: RunFilters, cursor?: string, limit = 25) =>
    call<RunPage>('GET', `/api/runs${query({ ...filters, cursor, limit: String(limit) })}`),
  run: (id: string) => call<RunWithJournal>('GET', `/api/runs/${encodeURIComponent(id)}`),
  abort: (id: string) => call<Run>('POST', `/api/runs/${encodeURIComponent(id)}/abort`),
  audit: (before?: number, limit = 50) =>
    call<AuditEntry[]>('GET', `/api/audit${query({ before: before?.toString(), limit: String(limit) })}`),
  reportUrl: (id: string) => `/api/runs/${encodeURIComponent(id)}/report`,
};
