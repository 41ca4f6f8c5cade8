/**
 * `postgres.exhaust_connections`: holds connections until the server has no
 * free slot (or only `leave`), or exactly `connections` of them, so that an
 * application's pool cannot connect ("too many clients", "remaining
 * connection slots are reserved").
 *
 * The superuser-reserved slots are never taken, even when Faultline connects
 * as a superuser: they are what lets `faultline halt` / `recover` (and an
 * operator) connect to terminate the holds. Applications that connect as a
 * superuser therefore still get in; run them as ordinary roles.
 */
import type pg from 'pg';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind } from '../../core/fault.js';
import {
  connectPg,
  connFromRecord,
  connRecord,
  databaseTarget,
  describeConn,
  faultError,
  goneByApp,
  heartbeat,
  isTooManyConnections,
  newTag,
  PgConnectionArgs,
  pgConn,
  registerHold,
  releaseByApp,
  withAdmin,
} from './conn.js';

const count = (what: string) =>
  z
    .number({ error: `expected a number of ${what}` })
    .int(`expected a whole number of ${what}`)
    .min(0, `expected 0 or more ${what}`)
    .max(10_000, `expected at most 10000 ${what}`);

export const ExhaustConnectionsArgs = z.strictObject({
  ...PgConnectionArgs,
  connections: count('connections')
    .min(1, 'expected at least 1 connection')
    .optional()
    .describe('hold exactly this many connections (default: every free slot but `leave`)'),
  leave: count('slots')
    .optional()
    .describe(
      'slots to leave free for ordinary roles (default 0: the server is full); not with `connections`',
    ),
});

/** Free slots for ordinary roles, not counting the admin connection that asks. */
async function freeSlots(
  c: ReturnType<typeof connFromRecord>,
  signal?: AbortSignal,
): Promise<{ free: number; superuser: boolean }> {
  return withAdmin(
    c,
    async (client) => {
      const r = await client.query<{ max: number; reserved: number; used: number; superuser: boolean }>(
        `SELECT current_setting('max_connections')::int AS max,
              current_setting('superuser_reserved_connections')::int
                + coalesce(current_setting('reserved_connections', true), '0')::int AS reserved,
              (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,
              (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser`,
      );
      const row = r.rows[0]!;
      // `used` counts this admin connection, which closes before the holds open.
      return { free: row.max - row.reserved - (row.used - 1), superuser: row.superuser };
    },
    signal,
  );
}

export const exhaustConnectionsKind: FaultKind<typeof ExhaustConnectionsArgs> = {
  kind: 'postgres-exhaust-connections',
  args: ExhaustConnectionsArgs,
  expose: {
    group: 'postgres',
    name: 'exhaust_connections',
    doc: 'Holds PostgreSQL connections until no slot is free for applications (or `leave` are), like an exhausted pool.',
  },
  target: (a) =>
    `${describeConn(pgConn(a))} (${a.connections !== undefined ? `${a.connections} connections` : `all slots but ${a.leave ?? 0}`})`,
  async resolveTargets(a) {
    if (a.connections !== undefined && a.leave !== undefined) {
      throw new FaultlineError(
        'FAULTLINE_ERR_VALIDATION',
        'postgres-exhaust-connections: leave: give connections or leave, not both',
        {
          issues: [{ path: 'leave', message: 'give connections or leave, not both' }],
        },
      );
    }
    return { targets: [databaseTarget(pgConn(a))] };
  },
  plan: (a) => ({ ...connRecord(pgConn(a)), ...newTag() }),
  async inject(a, record, signal) {
    const c = connFromRecord(record);
    const app = String(record.app);
    const clients: pg.Client[] = [];
    const timers: NodeJS.Timeout[] = [];
    let stopped = false;
    registerHold(app, {
      clients,
      stop: () => {
        stopped = true;
        for (const t of timers) clearInterval(t);
      },
    });
    let full = false;
    const open = async (): Promise<boolean> => {
      try {
        const client = await connectPg(c, { app, lease: true, signal });
        if (stopped) {
          await client.end().catch(() => undefined);
          return false;
        }
        clients.push(client);
        timers.push(heartbeat(client));
        return true;
      } catch (err) {
        if (isTooManyConnections(err)) {
          full = true;
          return false;
        }
        throw err;
      }
    };
    try {
      const { free, superuser } = await freeSlots(c, signal);
      const want = a.connections ?? Math.max(0, free - (a.leave ?? 0));
      // In batches: a server that fills up meanwhile stops us at the first refusal.
      while (clients.length < want && !full && !stopped) {
        const batch = Math.min(20, want - clients.length);
        await Promise.all(Array.from({ length: batch }, open));
      }
      // Ordinary roles cannot take reserved slots: when asked to fill the
      // server, take the slots that freed meanwhile (the admin connection's).
      if (a.connections === undefined && !a.leave && !superuser) {
        for (let extra = 0; extra < 5 && !full && !stopped; extra++) await open();
      }
    } catch (err) {
      throw faultError('postgres-exhaust-connections', c, err);
    }
    if (clients.length === 0) {
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        `postgres-exhaust-connections ${describeConn(c)}: no connection could be held (the server has no free slot)`,
      );
    }
    return { ...record, held: clients.length };
  },
  revert: (record) => releaseByApp(record),
  verify: (record) => goneByApp(record),
};
