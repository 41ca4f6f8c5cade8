/** SCAFFOLD (issue #18, being written): the approvals tables. */
import type { Kysely, Migration } from 'kysely';
import type { DbKind } from '../tables.js';

export function approvalsMigration(_kind: DbKind): Migration {
  return {
    async up(_db: Kysely<any>) {},
    async down(_db: Kysely<any>) {},
  };
}
