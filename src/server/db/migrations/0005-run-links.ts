/**
 * Continuous chaos (issue #18): what started a run, beside who did. A run queued by a schedule names it
 * (`schedule_id`: the concurrency policy and the history limit count a schedule's runs), a run a game
 * day started names the game day, a run of an experiment tagged for production names the approval that
 * allowed it, and `configuration` holds the values the run is given over its experiment's (a Chaos
 * Monkey schedule's targets picked at random), as JSON text.
 */
import type { Kysely, Migration } from 'kysely';
import type { DbKind } from '../tables.js';

export function runLinks(_kind: DbKind): Migration {
  return {
    async up(db: Kysely<any>) {
      for (const col of ['schedule_id', 'approval_id', 'gameday_id', 'configuration'] as const)
        await db.schema.alterTable('runs').addColumn(col, 'text').execute();
      await db.schema.createIndex('runs_by_schedule').on('runs').columns(['schedule_id', 'status']).execute();
      await db.schema.createIndex('runs_by_gameday').on('runs').columns(['gameday_id']).execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropIndex('runs_by_gameday').execute();
      await db.schema.dropIndex('runs_by_schedule').execute();
      for (const col of ['configuration', 'gameday_id', 'approval_id', 'schedule_id'] as const)
        await db.schema.alterTable('runs').dropColumn(col).execute();
    },
  };
}
