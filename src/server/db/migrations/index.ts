/**
 * The registry of migrations, in order: one file per migration, one line here. Names are never
 * renamed or reordered once released (the `kysely_migration` table records them by name, and Kysely's
 * Migrator refuses a database holding a name this list lacks). Each migration is made for its database
 * kind, which is where their DDL differs (json or text, identity or autoincrement).
 */
import type { Migration, MigrationProvider } from 'kysely';
import type { DbKind } from '../tables.js';
import { initial } from './0001-initial.js';
import { auth } from './0002-auth.js';
import { halt } from './0003-halt.js';
import { runFacts0004 } from './0004-run-facts.js';
import { runLinks } from './0005-run-links.js';
import { schedulesMigration } from './0006-schedules.js';
import { blackoutsMigration } from './0007-blackouts.js';
import { approvalsMigration } from './0008-approvals.js';
import { gamedaysMigration } from './0009-gamedays.js';

const MIGRATIONS: readonly [name: string, make: (kind: DbKind) => Migration][] = [
  ['0001-initial', initial],
  ['0002-auth', auth],
  ['0003-halt', halt],
  ['0004-run-facts', runFacts0004],
  ['0005-run-links', runLinks],
  ['0006-schedules', schedulesMigration],
  ['0007-blackouts', blackoutsMigration],
  ['0008-approvals', approvalsMigration],
  ['0009-gamedays', gamedaysMigration],
];

export function migrationProvider(kind: DbKind): MigrationProvider {
  return {
    async getMigrations() {
      return Object.fromEntries(MIGRATIONS.map(([name, make]) => [name, make(kind)]));
    },
  };
}
