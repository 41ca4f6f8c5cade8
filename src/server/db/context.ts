/**
 * What a feature's own store (db/schedule-store.ts, approval-store.ts, blackout-store.ts,
 * gameday-store.ts) is given by KyselyStore: the database, the one way to run an operation (on SQLite
 * one at a time per file, every failure as one FAULTLINE_ERR_STORE line without the password), and the
 * run insert, so a feature that creates runs (a schedule firing) does it in its own transaction. Each
 * feature's tables are its own (`db.withTables<…>()` beside tables.ts's, as the auth tables are).
 */
import type { Kysely, Transaction } from 'kysely';
import type { NewRun, Run } from '../store.js';
import type { Database, DbKind } from './tables.js';

export interface StoreContext {
  readonly describe: string;
  readonly kind: DbKind;
  readonly db: Kysely<Database>;
  /** Runs one store operation: `what` names it in the error ("firing schedule nightly"). */
  run<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /** Inserts a queued run (with its tags) inside `trx`, as Store.createRun does. */
  insertRun(trx: Transaction<Database>, run: NewRun): Promise<Run>;
  /** Whether `err` is a unique-key violation on this database (a race another server won). */
  isUniqueViolation(err: unknown): boolean;
}
