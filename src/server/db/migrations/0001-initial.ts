/**
 * The first schema: experiment versions, runs (the columns lists filter and sort on, the journal whole),
 * their tags, and the append-only audit log, with the indexes of listRuns' filters: each is
 * (filter column(s), requested_at, id) so a filtered page is an index range read newest first.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DbKind } from '../tables.js';

export function initial(kind: DbKind): Migration {
  // PostgreSQL's json (checked, kept as written), not jsonb: jsonb reorders keys and refuses "\u0000",
  // which a process's output in a journal may hold; nothing queries inside these documents.
  const json = kind === 'postgres' ? 'json' : 'text';
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('experiment_versions')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('tags', sql.raw(json), (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('experiment_versions_pk', ['name', 'version'])
        .execute();

      await db.schema
        .createTable('runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('experiment', 'text')
        .addColumn('experiment_version', 'integer')
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('tags', sql.raw(json), (c) => c.notNull())
        .addColumn('origin', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('verdict', 'text')
        .addColumn('reason', 'text')
        .addColumn('requested_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('claimed_by', 'text')
        .addColumn('duration', 'double precision')
        .addColumn('journal', sql.raw(json))
        .execute();
      const byTime = ['requested_at', 'id'];
      await db.schema.createIndex('runs_requested').on('runs').columns(byTime).execute();
      for (const col of ['experiment', 'status', 'verdict', 'requested_by']) {
        await db.schema
          .createIndex(`runs_${col}`)
          .on('runs')
          .columns([col, ...byTime])
          .execute();
      }
      // Experiment and verdict together is the dashboard's most common pair (an experiment's failures).
      await db.schema
        .createIndex('runs_experiment_verdict')
        .on('runs')
        .columns(['experiment', 'verdict', ...byTime])
        .execute();
      await db.schema.createIndex('runs_claimed').on('runs').columns(['claimed_by', 'status']).execute();

      // requested_at is copied here so a tag filter reads one index range newest first (tag, then time)
      // and joins each hit to its run, instead of probing the tag for every run in time order.
      await db.schema
        .createTable('run_tags')
        .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('requested_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('run_tags_pk', ['run_id', 'tag'])
        .execute();
      await db.schema
        .createIndex('run_tags_by_time')
        .on('run_tags')
        .columns(['tag', 'requested_at', 'run_id'])
        .execute();

      await db.schema
        .createTable('audit_log')
        .addColumn('id', kind === 'postgres' ? 'bigint' : 'integer', (c) =>
          kind === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement(),
        )
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('subject', 'text')
        .addColumn('detail', sql.raw(json))
        .execute();
      // Append-only held by the database too, not only by the store having no such statement: an
      // UPDATE or DELETE of an audit entry, from anything, fails.
      if (kind === 'postgres') {
        await sql`create function audit_log_append_only() returns trigger language plpgsql as $$
          begin raise exception 'the audit log is append-only'; end $$`.execute(db);
        await sql`create trigger audit_log_append_only before update or delete or truncate on audit_log
          for each statement execute function audit_log_append_only()`.execute(db);
      } else {
        for (const op of ['update', 'delete']) {
          await sql`create trigger ${sql.raw(`audit_log_no_${op}`)} before ${sql.raw(op)} on audit_log
            begin select raise(abort, 'the audit log is append-only'); end`.execute(db);
        }
      }
    },
  };
}
