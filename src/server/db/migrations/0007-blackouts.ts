/**
 * Blackout windows kept on the control plane (blackouts/model.ts): one row per named window. Its
 * periods (`dates`, `weekly`) and `reason` are one JSON text column, decoded and validated by the
 * window's schema on the way out, since nothing queries inside them: every server reads the whole
 * (small) table at each poll and does the arithmetic itself.
 */
import type { Kysely, Migration } from 'kysely';
import type { DbKind } from '../tables.js';

export function blackoutsMigration(_kind: DbKind): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('blackouts')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('timezone', 'text', (c) => c.notNull())
        .addColumn('periods', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('blackouts').execute();
    },
  };
}
