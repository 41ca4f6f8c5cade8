/**
 * What every PostgreSQL fault shares: the connection arguments, connections
 * tagged `application_name = 'faultline-<tag>'`, the holds that live in the
 * injecting process, and the revert that works from any process by
 * terminating exactly the backends with that application_name.
 *
 * Credentials never reach the ledger: the undo record holds host, port, user
 * and database only. A password given in `url` is taken out of the URL by the
 * argument schema and kept in this process's memory (so the ledger's copy of
 * the arguments has none); a revert in another process (`faultline recover`,
 * `faultline halt`) takes it from FAULTLINE_PG_PASSWORD, PGPASSWORD or
 * ~/.pgpass, like psql.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import pg from 'pg';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultTarget, UndoRecord } from '../../core/fault.js';
import { abortError, untilAborted } from '../abort.js';

/** Passwords taken out of `url` arguments, by the URL without them (this process only). */
const urlPasswords = new Map<string, string>();

const UrlSchema = z
  .string({ error: 'expected a postgres:// URL' })
  .transform((text, ctx) => {
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a postgres://user@host:port/database URL' });
      return z.NEVER;
    }
    if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
      ctx.addIssue({ code: 'custom', message: `expected a postgres:// URL, got ${u.protocol}//` });
      return z.NEVER;
    }
    if (u.password === '') return text;
    const password = decodeURIComponent(u.password);
    u.password = '';
    const clean = u.toString();
    urlPasswords.set(clean, password);
    return clean;
  })
  .optional()
  .describe(
    'postgres://user@host:port/database (a password in it is used but never stored; prefer PGPASSWORD)',
  );

/** The connection arguments every postgres fault takes (spread into its z.strictObject). */
export const PgConnectionArgs = {
  url: UrlSchema,
  host: z.string().min(1).optional().describe('server host (default: from url, PGHOST, or 127.0.0.1)'),
  port: z
    .number({ error: 'expected a port number' })
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe('server port (default 5432)'),
  user: z.string().min(1).optional().describe('role to connect as (default: PGUSER or the OS user)'),
  database: z.string().min(1).optional().describe('database to connect to (default: PGDATABASE or the user)'),
};

export type PgConnectionInput = {
  url?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  user?: string | undefined;
  database?: string | undefined;
};

/** Where to connect: what the undo record keeps (no password). */
export interface PgConn {
  host: string;
  port: number;
  user: string;
  database: string;
  /** `require` / `verify-full` from the URL's sslmode, else absent. */
  sslmode?: string;
  /** The URL a password came with, to find it again in this process. */
  url?: string;
}

/** Resolves the connection from explicit arguments, then the URL, then the libpq environment variables. */
export function pgConn(a: PgConnectionInput): PgConn {
  const u = a.url ? new URL(a.url) : undefined;
  const fromUrl = (s: string | undefined) => (s ? decodeURIComponent(s) : undefined);
  const envPort = Number(process.env.PGPORT);
  const user = a.user ?? fromUrl(u?.username) ?? process.env.PGUSER ?? userInfo().username;
  const sslmode = u?.searchParams.get('sslmode') ?? undefined;
  return {
    host:
      a.host ??
      (fromUrl(u?.hostname)?.replace(/^\[|\]$/g, '') || undefined) ??
      process.env.PGHOST ??
      '127.0.0.1',
    port:
      a.port ??
      (u?.port ? Number(u.port) : undefined) ??
      (Number.isInteger(envPort) && envPort > 0 ? envPort : 5432),
    user,
    database: a.database ?? (fromUrl(u?.pathname.slice(1)) || undefined) ?? process.env.PGDATABASE ?? user,
    ...(sslmode && sslmode !== 'disable' && sslmode !== 'prefer' && sslmode !== 'allow' ? { sslmode } : {}),
    ...(a.url && urlPasswords.has(a.url) ? { url: a.url } : {}),
  };
}

/** The record's connection part. */
export function connRecord(c: PgConn): UndoRecord {
  return { ...c };
}

export function connFromRecord(r: UndoRecord): PgConn {
  const { host, port, user, database, sslmode, url } = r;
  if (
    typeof host !== 'string' ||
    typeof port !== 'number' ||
    typeof user !== 'string' ||
    typeof database !== 'string'
  ) {
    throw new Error('postgres undo record has no connection (host, port, user, database)');
  }
  return {
    host,
    port,
    user,
    database,
    ...(typeof sslmode === 'string' ? { sslmode } : {}),
    ...(typeof url === 'string' ? { url } : {}),
  };
}

export const describeConn = (c: PgConn) => `postgres://${c.user}@${c.host}:${c.port}/${c.database}`;

export function databaseTarget(c: PgConn, labels?: Record<string, string>): FaultTarget {
  return { type: 'postgres', name: c.database, host: c.host, port: c.port, ...(labels ? { labels } : {}) };
}

/** A fresh tag; every connection of the fault is named `faultline-<tag>`. */
export function newTag(): { tag: string; app: string } {
  const tag = randomBytes(6).toString('hex');
  return { tag, app: `faultline-${tag}` };
}

export function appFromRecord(r: UndoRecord): string {
  if (typeof r.app !== 'string' || !/^faultline-[0-9a-f]+$/.test(r.app)) {
    throw new Error('postgres undo record has no valid application_name');
  }
  return r.app;
}

/** application_name of short-lived connections that resolve, revert and verify. */
export const ADMIN_APP = 'faultline-admin';

/**
 * Server-side lease of every hold: held connections send a statement every
 * PG_LEASE_MS / 3, and the server ends a session idle (in a transaction or
 * not) for PG_LEASE_MS. So a runner that hangs (SIGSTOP, a stuck event loop)
 * releases its holds within the lease; a runner that dies releases them at
 * once (the OS closes its sockets; busy backends notice through
 * client_connection_check_interval).
 */
export const PG_LEASE_MS = Number(process.env.FAULTLINE_PG_LEASE_MS) || 15_000;

export interface ConnectOptions {
  app: string;
  /** statement_timeout of the session. */
  statementTimeoutMs?: number;
  /** Sets idle_in_transaction_session_timeout and idle_session_timeout to the lease. */
  lease?: boolean;
  connectTimeoutMs?: number;
  /** Aborting it closes the connection being opened: connect() fails at once. */
  signal?: AbortSignal | undefined;
}

/** untilAborted() for work on these clients: aborting closes them (a lock wait's backend is then terminated by the revert). */
export function untilAbortedPg<T>(
  signal: AbortSignal | undefined,
  clients: readonly pg.Client[],
  work: Promise<T>,
): Promise<T> {
  return untilAborted(signal, work, () => {
    for (const client of clients) void client.end().catch(() => undefined);
  });
}

function password(c: PgConn): string | undefined {
  return (c.url ? urlPasswords.get(c.url) : undefined) ?? process.env.FAULTLINE_PG_PASSWORD ?? undefined;
}

/** Opens a connection; on any failure the client is closed and the error thrown. */
export async function connectPg(c: PgConn, opts: ConnectOptions): Promise<pg.Client> {
  const pw = password(c);
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user,
    database: c.database,
    ...(pw !== undefined ? { password: pw } : {}),
    ...(c.sslmode ? { ssl: { rejectUnauthorized: c.sslmode === 'verify-full' } } : {}),
    application_name: opts.app,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    keepAlive: true,
    ...(opts.statementTimeoutMs !== undefined ? { statement_timeout: opts.statementTimeoutMs } : {}),
    ...(opts.lease ? { idle_in_transaction_session_timeout: PG_LEASE_MS } : {}),
  });
  // A held connection's backend may be terminated at any time (by our revert
  // from another process, by an operator): that must never crash the runner.
  client.on('error', () => undefined);
  const { signal } = opts;
  if (signal?.aborted) throw abortError(signal);
  const onAbort = () => void client.end().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    if (signal?.aborted) throw abortError(signal);
    // PostgreSQL 14+ settings; older servers simply do without them.
    await client
      .query("SELECT set_config('client_connection_check_interval', '1000', false)")
      .catch(() => undefined);
    if (opts.lease) {
      await client
        .query("SELECT set_config('idle_session_timeout', $1, false)", [String(PG_LEASE_MS)])
        .catch(() => undefined);
    }
  } catch (err) {
    await client.end().catch(() => undefined);
    throw signal?.aborted ? abortError(signal) : err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return client;
}

/** Runs `fn` on a short-lived admin connection. */
export async function withAdmin<T>(
  c: PgConn,
  fn: (client: pg.Client) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const client = await connectPg(c, { app: ADMIN_APP, statementTimeoutMs: 15_000, signal });
  try {
    return await untilAbortedPg(signal, [client], fn(client));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** SQLSTATE 53300 (too_many_connections): "sorry, too many clients already", "remaining connection slots are reserved". */
export function isTooManyConnections(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '53300';
}

/** Connects for revert/verify, retrying a server that is full (our own holds may be letting go). */
async function withAdminRetry<T>(
  c: PgConn,
  fn: (client: pg.Client) => Promise<T>,
  waitMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await withAdmin(c, fn);
    } catch (err) {
      if (!isTooManyConnections(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

// ---------------------------------------------------------------- holds

/** What a fault holds in this process: closed on revert. */
export interface Hold {
  clients: pg.Client[];
  /** Timers and loops to stop before closing the clients. */
  stop?: () => void;
}

const holds = new Map<string, Hold>();

export function registerHold(app: string, hold: Hold): void {
  holds.set(app, hold);
}

/** Keeps a held connection inside its server-side lease (see PG_LEASE_MS). */
export function heartbeat(client: pg.Client): NodeJS.Timeout {
  const timer = setInterval(() => {
    client.query('SELECT 1').catch(() => clearInterval(timer));
  }, PG_LEASE_MS / 3);
  timer.unref();
  return timer;
}

/** Stops and closes what this process holds for `app` (nothing when another process injected it). */
async function releaseLocal(app: string): Promise<void> {
  const hold = holds.get(app);
  if (!hold) return;
  holds.delete(app);
  hold.stop?.();
  await Promise.all(
    hold.clients.map(async (client) => {
      // end() waits for a running query (a pg_sleep): the server-side terminate below ends it.
      await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 200))]);
    }),
  );
}

/**
 * Terminates every backend named `app` (not the admin connection itself) and
 * closes what this process holds. Idempotent: nothing left means reverted.
 */
export async function releaseByApp(record: UndoRecord): Promise<void> {
  const app = appFromRecord(record);
  const c = connFromRecord(record);
  const local = releaseLocal(app);
  await withAdminRetry(c, async (client) => {
    try {
      // PostgreSQL 14+: waits (up to 5 s) until each backend has really gone.
      await client.query(
        'SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
        [app],
      );
    } catch (err) {
      if ((err as { code?: string }).code !== '42883') throw err; // undefined_function: before 14
      await client.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
        [app],
      );
    }
  });
  await local;
}

/** How many backends named `app` the server has. */
export async function countByApp(record: UndoRecord): Promise<number> {
  const app = appFromRecord(record);
  return withAdminRetry(connFromRecord(record), async (client) => {
    const r = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [app],
    );
    return r.rows[0]?.n ?? 0;
  });
}

/** True when no backend named `app` remains (waiting up to `waitMs` for terminated ones to exit). */
export async function goneByApp(record: UndoRecord, waitMs = 3_000): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if ((await countByApp(record)) === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Wraps a failure to connect or act in FAULTLINE_ERR_FAULT with the server's message. */
export function faultError(kind: string, c: PgConn, err: unknown): FaultlineError {
  if (err instanceof FaultlineError) return err;
  return new FaultlineError(
    'FAULTLINE_ERR_FAULT',
    `${kind} ${describeConn(c)}: ${(err as Error)?.message ?? String(err)}`,
    {
      cause: err,
    },
  );
}
