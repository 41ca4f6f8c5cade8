/**
 * Schedules (issue #18): the schedules (their spec as JSON beside the columns the servers read), one
 * row per firing keyed (schedule_id, due) — the key is how several servers on one database fire each
 * due time exactly once: the row is inserted in the transaction that queues the run, and the loser of
 * the race gets a unique violation — a single-row revision that moves on every change (what each
 * server polls instead of reading every schedule), and the runs a `replace` policy asked another
 * server to abort.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DbKind } from '../tables.js';

export function schedulesMigration(kind: DbKind): Migration {
  const json = kind === 'postgres' ? 'json' : 'text';
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('schedules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('spec', sql.raw(json), (c) => c.notNull())
        .addColumn('paused', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('revision', 'bigint', (c) => c.notNull())
        .addColumn('cursor', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('schedule_firings')
        .addColumn('schedule_id', 'text', (c) => c.notNull().references('schedules.id').onDelete('cascade'))
        .addColumn('due', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('fired_at', 'text', (c) => c.notNull())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('run_id', 'text')
        .addPrimaryKeyConstraint('schedule_firings_pk', ['schedule_id', 'due'])
        .execute();

      await db.schema
        .createTable('schedule_revision')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('revision', 'bigint', (c) => c.notNull())
        .execute();
      await db.insertInto('schedule_revision').values({ id: 1, revision: 0 }).execute();

      await db.schema
        .createTable('schedule_aborts')
        .addColumn('run_id', 'text', (c) => c.primaryKey())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('schedule_aborts_server').on('schedule_aborts').column('server').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('schedule_aborts').execute();
      await db.schema.dropTable('schedule_revision').execute();
      await db.schema.dropTable('schedule_firings').execute();
      await db.schema.dropTable('schedules').execute();
    },
  };
}
