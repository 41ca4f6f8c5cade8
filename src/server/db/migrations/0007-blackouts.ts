/** SCAFFOLD (issue #18, being written): the blackouts tables. */
import type { Kysely, Migration } from 'kysely';
import type { DbKind } from '../tables.js';

export function blackoutsMigration(_kind: DbKind): Migration {
  return {
    async up(_db: Kysely<any>) {},
    async down(_db: Kysely<any>) {},
  };
}
