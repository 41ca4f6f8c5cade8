/**
 * `postgres.lock_table`: holds `LOCK TABLE <table> IN <mode> MODE` inside an
 * open transaction, so statements that need a conflicting lock wait (lock
 * contention). The table name is always quoted as an identifier, never
 * interpolated raw; the mode comes from a fixed list.
 *
 * Bounds: lock_timeout while acquiring (a table someone else holds makes the
 * inject fail instead of hanging), then the server-side lease of conn.ts
 * (idle_in_transaction_session_timeout against a heartbeat) while holding.
 */
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
  heartbeat,
  newTag,
  PgConnectionArgs,
  pgConn,
  registerHold,
  releaseByApp,
  untilAbortedPg,
} from './conn.js';

export const LOCK_MODES = [
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE',
] as const;

const identifier = (what: string) =>
  z
    .string({ error: `expected a ${what} name` })
    .min(1, `expected a non-empty ${what} name`)
    .refine((s) => Buffer.byteLength(s) <= 63, `expected a ${what} name of at most 63 bytes`)
    .refine((s) => !s.includes('\0'), `a ${what} name cannot contain NUL`);

export const LockTableArgs = z.strictObject({
  ...PgConnectionArgs,
  table: identifier('table').describe(
    'the table to lock, as named (case-sensitive, quoted as an identifier)',
  ),
  schema: identifier('schema').optional().describe('its schema (default: the search_path)'),
  mode: z
    .preprocess(
      (v) =>
        typeof v === 'string'
          ? v
              .trim()
              .toUpperCase()
              .replace(/[_\s]+/g, ' ')
          : v,
      z.enum(LOCK_MODES, { error: `expected one of ${LOCK_MODES.join(', ')}` }),
    )
    .default('EXCLUSIVE')
    .describe('lock mode (default EXCLUSIVE: readers pass, writers wait; ACCESS EXCLUSIVE blocks reads too)'),
  lock_timeout_ms: z
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(1, 'expected at least 1 ms')
    .max(600_000, 'expected at most 600000 ms')
    .default(5000)
    .describe('how long to wait for the lock before giving up (default 5000)'),
});

const qualified = (a: { table: string; schema?: string | undefined }) =>
  a.schema ? `${a.schema}.${a.table}` : a.table;

export const lockTableKind: FaultKind<typeof LockTableArgs> = {
  kind: 'postgres-lock-table',
  args: LockTableArgs,
  expose: {
    group: 'postgres',
    name: 'lock_table',
    doc: 'Holds LOCK TABLE <table> IN <mode> MODE (default EXCLUSIVE) in an open transaction: lock contention.',
  },
  target: (a) => `${describeConn(pgConn(a))} table ${qualified(a)} (${a.mode})`,
  resolveTargets: async (a) => ({ targets: [databaseTarget(pgConn(a), { table: qualified(a) })] }),
  plan: (a) => ({ ...connRecord(pgConn(a)), ...newTag(), table: qualified(a), mode: a.mode }),
  async inject(a, record, signal) {
    const c = connFromRecord(record);
    const app = String(record.app);
    try {
      const client = await connectPg(c, { app, lease: true, signal });
      const hold = { clients: [client], stop: () => undefined as void };
      registerHold(app, hold);
      const name = a.schema
        ? `${client.escapeIdentifier(a.schema)}.${client.escapeIdentifier(a.table)}`
        : client.escapeIdentifier(a.table);
      // Waiting on a lock held elsewhere must not outlast a cancel: the connection is closed
      // and the revert terminates the waiting backend (by its application_name).
      await untilAbortedPg(
        signal,
        hold.clients,
        (async () => {
          await client.query('BEGIN');
          await client.query("SELECT set_config('lock_timeout', $1, true)", [String(a.lock_timeout_ms)]);
          // The mode is one of LOCK_MODES (validated), the name quoted: nothing raw reaches SQL.
          await client.query(`LOCK TABLE ${name} IN ${a.mode} MODE`);
        })(),
      );
      const timer = heartbeat(client);
      hold.stop = () => clearInterval(timer);
    } catch (err) {
      throw faultError('postgres-lock-table', c, err);
    }
  },
  revert: (record) => releaseByApp(record),
  verify: (record) => goneByApp(record),
};
