/**
 * `postgres.terminate_backends`: pg_terminate_backend for the backends of an
 * application name, a user and/or a database (what a failover or an
 * operator's kill does to an application). Irreversible: the application must
 * reconnect by itself, which is what the experiment checks.
 *
 * Never terminated: the connection Faultline uses to do it, any other
 * Faultline connection (application_name faultline-*), and non-client
 * backends (autovacuum, walsender, background workers).
 */
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind, FaultTarget, ResolvedTargets } from '../../core/fault.js';
import {
  connFromRecord,
  connRecord,
  describeConn,
  faultError,
  newTag,
  type PgConn,
  PgConnectionArgs,
  pgConn,
  withAdmin,
} from './conn.js';

export const TerminateBackendsArgs = z.strictObject({
  ...PgConnectionArgs,
  application_name: z
    .string()
    .min(1)
    .optional()
    .describe('terminate backends with this application_name (exact)'),
  backend_user: z.string().min(1).optional().describe('terminate backends of this role'),
  backend_database: z.string().min(1).optional().describe('terminate backends connected to this database'),
  count: z
    .number({ error: 'expected a number of backends' })
    .int('expected a whole number of backends')
    .min(1, 'expected at least 1 backend')
    .optional()
    .describe('terminate at most this many of the matching backends, oldest first (default: all)'),
});
type Args = z.output<typeof TerminateBackendsArgs>;

interface Backend {
  pid: number;
  datname: string | null;
  usename: string | null;
  application_name: string;
  backend_start: string;
}

function selector(a: Args): string {
  const parts = [
    a.application_name !== undefined ? `application_name=${a.application_name}` : '',
    a.backend_user !== undefined ? `user=${a.backend_user}` : '',
    a.backend_database !== undefined ? `database=${a.backend_database}` : '',
  ].filter(Boolean);
  return parts.join(' ');
}

async function matching(c: PgConn, a: Args): Promise<Backend[]> {
  return withAdmin(c, async (client) => {
    const r = await client.query<Backend>(
      `SELECT pid, datname, usename, application_name, backend_start::text AS backend_start
         FROM pg_stat_activity
        WHERE backend_type = 'client backend'
          AND pid <> pg_backend_pid()
          AND application_name NOT LIKE 'faultline-%'
          AND ($1::text IS NULL OR application_name = $1)
          AND ($2::text IS NULL OR usename = $2)
          AND ($3::text IS NULL OR datname = $3)
        ORDER BY backend_start, pid`,
      [a.application_name ?? null, a.backend_user ?? null, a.backend_database ?? null],
    );
    return r.rows;
  });
}

const toTarget = (c: PgConn, b: Backend): FaultTarget => ({
  type: 'postgres',
  name: `${b.datname ?? ''}/${b.application_name}`,
  host: c.host,
  port: c.port,
  pid: b.pid,
  ...(b.usename ? { labels: { user: b.usename } } : {}),
});

export const terminateBackendsKind: FaultKind<typeof TerminateBackendsArgs> = {
  kind: 'postgres-terminate-backends',
  args: TerminateBackendsArgs,
  irreversible: true,
  expose: {
    group: 'postgres',
    name: 'terminate_backends',
    doc: 'Terminates the PostgreSQL backends of an application_name, user and/or database (pg_terminate_backend).',
  },
  target: (a) => `${describeConn(pgConn(a))} backends ${selector(a)}`,
  async resolveTargets(a): Promise<ResolvedTargets> {
    if (
      a.application_name === undefined &&
      a.backend_user === undefined &&
      a.backend_database === undefined
    ) {
      const message = 'give at least one of application_name, backend_user, backend_database';
      throw new FaultlineError(
        'FAULTLINE_ERR_VALIDATION',
        `postgres-terminate-backends: application_name: ${message}`,
        {
          issues: [{ path: 'application_name', message }],
        },
      );
    }
    const c = pgConn(a);
    let found: Backend[];
    try {
      found = await matching(c, a);
    } catch (err) {
      throw faultError('postgres-terminate-backends', c, err);
    }
    if (found.length === 0) {
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        `postgres-terminate-backends ${describeConn(c)}: no backend matches ${selector(a)}`,
      );
    }
    const picked = found.slice(0, a.count ?? found.length);
    return { targets: picked.map((b) => toTarget(c, b)), candidates: found.length };
  },
  plan(a, resolved) {
    // The pids picked by resolveTargets; inject re-checks each against the selector.
    return {
      ...connRecord(pgConn(a)),
      ...newTag(),
      backends: (resolved?.targets ?? []).map((t) => ({ pid: t.pid ?? 0, name: t.name })),
    };
  },
  async inject(a, record, signal) {
    const c = connFromRecord(record);
    const pids = (record.backends as { pid: number }[]).map((b) => b.pid);
    try {
      const terminated = await withAdmin(
        c,
        async (client) => {
          // Re-checked against the selector at the moment of the kill (a pid may have been reused).
          // MATERIALIZED: the filters apply before pg_terminate_backend is called on anything.
          const r = await client.query<{ pid: number }>(
            `WITH m AS MATERIALIZED (
             SELECT pid FROM pg_stat_activity
              WHERE pid = ANY($1::int[])
                AND backend_type = 'client backend'
                AND pid <> pg_backend_pid()
                AND application_name NOT LIKE 'faultline-%'
                AND ($2::text IS NULL OR application_name = $2)
                AND ($3::text IS NULL OR usename = $3)
                AND ($4::text IS NULL OR datname = $4))
           SELECT pid FROM m WHERE pg_terminate_backend(pid)`,
            [pids, a.application_name ?? null, a.backend_user ?? null, a.backend_database ?? null],
          );
          return r.rows.map((row) => row.pid);
        },
        signal,
      );
      return { ...record, terminated };
    } catch (err) {
      throw faultError('postgres-terminate-backends', c, err);
    }
  },
  // Irreversible: nothing to undo, and nothing Faultline holds.
  revert: async () => undefined,
  verify: async () => true,
};
