/**
 * The emergency stop, shared by every server on the database: at most one row (`id` is always 1), so
 * raising a halt twice keeps the first one's time, author and reason.
 */
import type { Kysely, Migration } from 'kysely';
import type { DbKind } from '../tables.js';

export function halt(_kind: DbKind): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('halt')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('since', 'text', (c) => c.notNull())
        .addColumn('by', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('halt').execute();
    },
  };
}
