/**
 * The dashboard's one way to the server: the JSON API of `faultline serve`, same origin. The shapes are
 * the server's own (src/server/store.ts, type-only), so a change there fails the dashboard's type check
 * instead of a page at run time. Every failure becomes an ApiFailure carrying the server's error code,
 * message and issues (an upload's line and column), or a plain sentence when the server is unreachable.
 *
 * Who is asking lives here too (`session`): the CSRF token of a signed-in session is kept in memory only
 * (the cookie is HttpOnly, and a reload asks `GET /api/session` for the token again) and goes with every
 * change; a 401 from any call means the page must sign in, whatever page made the call.
 */
import type { z } from 'zod';
import { allows, type Permission, type Role } from '../../src/server/auth/roles.js';
import type { SessionInfoSchema } from '../../src/server/auth/schemas.js';
import type { HaltResult, HaltState } from '../../src/server/halt.js';
import type { LiveEnvelope, LiveState } from '../../src/server/live-state.js';
import type {
  AuditEntry,
  ExperimentSummary,
  ExperimentVersion,
  Run,
  RunPage,
} from '../../src/server/store.js';
import type { Comparison, Trends } from '../../src/server/trends.js';

export type {
  AuditEntry,
  Comparison,
  ExperimentSummary,
  ExperimentVersion,
  HaltResult,
  HaltState,
  LiveEnvelope,
  LiveState,
  Role,
  Run,
  RunPage,
  Trends,
};
export type RunWithJournal = Run & { journal?: unknown };
export type SessionInfo = z.infer<typeof SessionInfoSchema>;

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

/** Any error as an ApiFailure, for the pages' error boxes (a thrown non-API error says what it was). */
export const failure = (err: unknown): ApiFailure =>
  err instanceof ApiFailure ? err : new ApiFailure(0, 'client', String((err as Error)?.message ?? err));

const SAFE = new Set(['GET', 'HEAD']);

/**
 * One API call with the session's CSRF token; rejects with ApiFailure (the server's code, message and
 * issues). Pages with calls of their own (schedules, approvals, game days) use it as `request`.
 */
export async function call<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrfToken !== undefined && !SAFE.has(method)) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
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
    const failure = new ApiFailure(
      res.status,
      error?.code ?? 'http_error',
      error?.message ?? `the server answered ${res.status} ${res.statusText}`,
      error?.issues ?? [],
    );
    // A wrong password is the sign-in form's own answer; any other 401 means nobody is signed in.
    if (res.status === 401 && !(method === 'POST' && path === SESSION)) signedOut();
    // Signing in from another tab replaced the session this page knew: fetch its token, try once more.
    if (res.status === 403 && failure.code === 'csrf' && !retried) {
      await session.check();
      if (who.state === 'signed-in') return call<T>(method, path, body, true);
    }
    throw failure;
  }
  return parsed as T;
}

// ------------------------------------------------------------------ who is asking

const SESSION = '/api/session';

/** Where the page stands: asking the server, unable to ask, needing a sign-in, or someone. */
export type Who =
  | { state: 'checking' }
  | { state: 'failed'; error: ApiFailure }
  /** `ended`: this page had a session and it is gone (signed out elsewhere, expired, user changed). */
  | { state: 'signed-out'; ended: boolean }
  | { state: 'signed-in'; info: Omit<SessionInfo, 'csrfToken'> };

let who: Who = { state: 'checking' };
let csrfToken: string | undefined;
const listeners = new Set<(w: Who) => void>();

function set(next: Who): void {
  who = next;
  for (const l of listeners) l(next);
}

function signedIn({ csrfToken: token, ...info }: SessionInfo): void {
  csrfToken = token;
  set({ state: 'signed-in', info });
}

function signedOut(ended?: boolean): void {
  csrfToken = undefined;
  if (who.state === 'signed-out') return;
  set({
    state: 'signed-out',
    ended: ended ?? (who.state === 'signed-in' && who.info.kind === 'session'),
  });
}

export const session = {
  current: (): Who => who,
  /** Calls `listener` on every change; returns the way to stop. */
  subscribe(listener: (w: Who) => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  /** Asks the server who this page is (`local` on loopback without users, or the session's user). */
  async check(): Promise<void> {
    try {
      signedIn(await call<SessionInfo>('GET', SESSION));
    } catch (err) {
      if (who.state === 'signed-out') return;
      set({
        state: 'failed',
        error: err instanceof ApiFailure ? err : new ApiFailure(0, 'client', String(err)),
      });
    }
  },
  /** Throws the server's answer (a wrong password, too many attempts) for the form to show. */
  async signIn(name: string, password: string): Promise<void> {
    signedIn(await call<SessionInfo>('POST', SESSION, { name, password }));
  },
  async signOut(): Promise<void> {
    await call<unknown>('DELETE', SESSION);
    signedOut(false);
  },
};

/**
 * Whether whoever the page is may take `action`: what the page offers (the server refuses anyway).
 * Nobody signed in may do nothing.
 */
export function can(w: Who, action: Permission): boolean {
  if (w.state !== 'signed-in') return false;
  return allows(w.info.role as Role, action);
}

export interface RunFilters {
  experiment?: string;
  status?: string;
  verdict?: string;
  tags?: string;
  from?: string;
  to?: string;
  /** Runs whose faults touched a target matching this text. */
  target?: string;
}

export interface TrendQuery {
  experiment?: string;
  from?: string;
  to?: string;
  bucket?: 'hour' | 'day' | 'week';
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
  halt: () => call<HaltState>('GET', '/api/halt'),
  raiseHalt: (reason: string) => call<HaltResult>('POST', '/api/halt', { reason }),
  releaseHalt: () => call<HaltState>('DELETE', '/api/halt'),
  trends: (q: TrendQuery) => call<Trends>('GET', `/api/trends${query({ ...q })}`),
  compare: (a: string, b: string) => call<Comparison>('GET', `/api/runs/compare${query({ a, b })}`),
  liveUrl: (id: string) => `/api/runs/${encodeURIComponent(id)}/live`,
  reportUrl: (id: string) => `/api/runs/${encodeURIComponent(id)}/report`,
};
