/**
 * Approvals of experiments tagged for production (approvals/model.ts): one row per request, naming the
 * experiment version it approves and its author (the four-eyes rule is checked against the version's
 * author as it was when the request was made). `standing` is an integer 0/1 on both databases, as
 * `users.disabled` is. The indexes are those of the three queries that run often: the gate's search for
 * a usable approval of one version, the expiry sweep (approved, by expiry), and the list by state.
 */
import type { Kysely, Migration } from 'kysely';
import type { DbKind } from '../tables.js';

export function approvalsMigration(_kind: DbKind): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('approvals')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('experiment', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('author', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('standing', 'integer', (c) => c.notNull())
        .addColumn('expires_in', 'integer', (c) => c.notNull())
        .addColumn('comment', 'text')
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('requested_at', 'text', (c) => c.notNull())
        .addColumn('decided_by', 'text')
        .addColumn('decided_at', 'text')
        .addColumn('decision_comment', 'text')
        .addColumn('expires_at', 'text')
        .addColumn('used_at', 'text')
        .addColumn('used_by', 'text')
        .addForeignKeyConstraint('approvals_version', ['experiment', 'version'], 'experiment_versions', [
          'name',
          'version',
        ])
        .execute();
      await db.schema
        .createIndex('approvals_by_version')
        .on('approvals')
        .columns(['experiment', 'version', 'state', 'expires_at'])
        .execute();
      await db.schema
        .createIndex('approvals_by_expiry')
        .on('approvals')
        .columns(['state', 'expires_at'])
        .execute();
      await db.schema
        .createIndex('approvals_by_state')
        .on('approvals')
        .columns(['state', 'requested_at'])
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('approvals').execute();
    },
  };
}
