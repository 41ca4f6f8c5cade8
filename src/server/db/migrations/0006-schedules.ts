/** SCAFFOLD (issue #18, being written): the schedules tables. */
import type { Kysely, Migration } from 'kysely';
import type { DbKind } from '../tables.js';

export function schedulesMigration(_kind: DbKind): Migration {
  return {
    async up(_db: Kysely<any>) {},
    async down(_db: Kysely<any>) {},
  };
}
