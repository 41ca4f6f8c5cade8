/**
 * Game days (issue #18, gamedays/model.ts): one row per game day (its plan as given and as validated
 * JSON, its status, who started it and on which server, the session's last snapshot as JSON), its
 * timeline as rows appended while it happens (one per event, numbered per game day, so the live stream
 * and a note added later continue one sequence), and follow-up actions, open until closed, listed
 * across game days (open ones newest first is the dashboard's list).
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DbKind } from '../tables.js';

export function gamedaysMigration(kind: DbKind): Migration {
  // As 0001: PostgreSQL's json keeps the text as written; nothing queries inside these documents.
  const json = kind === 'postgres' ? 'json' : 'text';
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('gamedays')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('plan', sql.raw(json), (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('started_by', 'text')
        .addColumn('started_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('reason', 'text')
        .addColumn('claimed_by', 'text')
        .addColumn('snapshot', sql.raw(json), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('gamedays_created').on('gamedays').columns(['created_at', 'id']).execute();
      await db.schema
        .createIndex('gamedays_status')
        .on('gamedays')
        .columns(['status', 'created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('gamedays_claimed')
        .on('gamedays')
        .columns(['claimed_by', 'status'])
        .execute();

      await db.schema
        .createTable('gameday_events')
        .addColumn('gameday_id', 'text', (c) => c.notNull().references('gamedays.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('step', 'text')
        .addColumn('by', 'text')
        .addColumn('text', 'text')
        .addColumn('data', sql.raw(json))
        .addPrimaryKeyConstraint('gameday_events_pk', ['gameday_id', 'seq'])
        .execute();

      await db.schema
        .createTable('followups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('gameday_id', 'text', (c) => c.notNull().references('gamedays.id').onDelete('cascade'))
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('owner', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('closed_by', 'text')
        .addColumn('closed_at', 'text')
        .addColumn('close_note', 'text')
        .execute();
      await db.schema
        .createIndex('followups_state')
        .on('followups')
        .columns(['state', 'created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('followups_gameday')
        .on('followups')
        .columns(['gameday_id', 'created_at'])
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('followups').execute();
      await db.schema.dropTable('gameday_events').execute();
      await db.schema.dropTable('gamedays').execute();
    },
  };
}
