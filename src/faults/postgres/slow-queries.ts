/**
 * `postgres.slow_queries`: N connections each run `pg_sleep` back to back,
 * holding N backends busy (connection slots, and the server's attention),
 * so that a pool sharing the server sees fewer free backends.
 * Every statement is bounded by statement_timeout; see conn.ts for the lease
 * and the revert by application_name.
 */
import type pg from 'pg';
import { z } from 'zod';
import type { FaultKind } from '../../core/fault.js';
import {
  connectPg,
  connFromRecord,
  connRecord,
  databaseTarget,
  describeConn,
  faultError,
  goneByApp,
  newTag,
  PgConnectionArgs,
  pgConn,
  registerHold,
  releaseByApp,
} from './conn.js';

export const SlowQueriesArgs = z.strictObject({
  ...PgConnectionArgs,
  connections: z
    .number({ error: 'expected a number of connections' })
    .int('expected a whole number of connections')
    .min(1, 'expected at least 1 connection')
    .max(1000, 'expected at most 1000 connections')
    .default(5)
    .describe('how many backends run pg_sleep (default 5)'),
  sleep_ms: z
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(10, 'expected at least 10 ms')
    .max(600_000, 'expected at most 600000 ms')
    .default(1000)
    .describe('how long each pg_sleep statement lasts, in ms (default 1000); they run back to back'),
});

/** statement_timeout beyond each pg_sleep: a statement never outlives this. */
const STATEMENT_MARGIN_MS = 5_000;

export const slowQueriesKind: FaultKind<typeof SlowQueriesArgs> = {
  kind: 'postgres-slow-queries',
  args: SlowQueriesArgs,
  expose: {
    group: 'postgres',
    name: 'slow_queries',
    doc: 'Keeps N PostgreSQL backends busy in back-to-back pg_sleep statements.',
  },
  target: (a) => `${describeConn(pgConn(a))} (${a.connections} x pg_sleep)`,
  resolveTargets: async (a) => ({ targets: [databaseTarget(pgConn(a))] }),
  plan: (a) => ({ ...connRecord(pgConn(a)), ...newTag(), connections: a.connections, sleep_ms: a.sleep_ms }),
  async inject(a, record, signal) {
    const c = connFromRecord(record);
    const app = String(record.app);
    const clients: pg.Client[] = [];
    let stopped = false;
    // Registered before connecting: a revert during inject closes what was opened.
    registerHold(app, {
      clients,
      stop: () => {
        stopped = true;
      },
    });
    const sleepS = a.sleep_ms / 1000;
    const loop = async (client: pg.Client) => {
      while (!stopped) {
        try {
          await client.query('SELECT pg_sleep($1)', [sleepS]);
        } catch {
          return; // terminated or closed: the fault's revert, or an operator's
        }
      }
    };
    try {
      await Promise.all(
        Array.from({ length: a.connections }, async () => {
          const client = await connectPg(c, {
            app,
            statementTimeoutMs: a.sleep_ms + STATEMENT_MARGIN_MS,
            lease: true,
            signal,
          });
          clients.push(client);
          if (stopped) await client.end().catch(() => undefined);
        }),
      );
    } catch (err) {
      throw faultError('postgres-slow-queries', c, err);
    }
    for (const client of clients) void loop(client);
  },
  revert: (record) => releaseByApp(record),
  verify: (record) => goneByApp(record),
};
