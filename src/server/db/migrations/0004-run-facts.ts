/**
 * History's facts (issue #17 "History and trends"): what each run's journal says about its faults, the
 * targets they touched, its recovery and its safeguards, as columns beside the journal (facts.ts), and
 * one row per (run, target label) in run_targets for the `target` filter, shaped like run_tags (the run's
 * time copied, so a filtered page is one index range newest first). Runs already stored get their facts
 * here, read from their journals in batches (with facts.ts as it is then: a later change to what the
 * facts are needs a migration of its own to compute them again).
 *
 * runs_trends covers everything the trends read (kysely-store.ts trendAggregates), time
 * first: a window of runs is one index range read without touching the rows, whose journals are large.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import { runFacts } from '../facts.js';
import type { DbKind } from '../tables.js';

const BATCH = 500;

export function runFacts0004(_kind: DbKind): Migration {
  return {
    async up(db: Kysely<any>) {
      for (const [col, type] of [
        ['faults', 'integer'],
        ['targets', 'integer'],
        ['recovery_ms', 'double precision'],
        ['safeguard_breached', 'integer'],
        ['unreverted', 'integer'],
      ] as const) {
        await db.schema.alterTable('runs').addColumn(col, type).execute();
      }
      await db.schema
        .createTable('run_targets')
        .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('requested_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('run_targets_pk', ['run_id', 'target'])
        .execute();
      await db.schema
        .createIndex('run_targets_by_time')
        .on('run_targets')
        .columns(['target', 'requested_at', 'run_id'])
        .execute();
      await db.schema
        .createIndex('runs_trends')
        .on('runs')
        .columns([
          'requested_at',
          'verdict',
          'experiment',
          'title',
          'faults',
          'targets',
          'recovery_ms',
          'unreverted',
          'safeguard_breached',
        ])
        .execute();

      let after = '';
      for (;;) {
        const rows: { id: string; requested_at: string; journal: string }[] = await db
          .selectFrom('runs')
          .select(['id', 'requested_at', 'journal'])
          .where('journal', 'is not', null)
          .where('id', '>', after)
          .orderBy('id')
          .limit(BATCH)
          .execute();
        if (rows.length === 0) break;
        after = rows[rows.length - 1]?.id as string;
        const facts = rows.flatMap((r) => {
          let journal: unknown;
          try {
            journal = JSON.parse(r.journal);
          } catch {
            return [];
          }
          const f = runFacts(journal);
          return f ? [{ row: r, f }] : [];
        });
        if (facts.length === 0) continue;
        // One statement per batch, not one per run: 100,000 runs on PostgreSQL over TCP would otherwise
        // be 100,000 round trips at start. VALUES columns are column1.. on both databases, and its
        // parameters are cast because PostgreSQL types them as text.
        await sql`update runs set
            faults = cast(v.column2 as integer),
            targets = cast(v.column3 as integer),
            recovery_ms = cast(v.column4 as double precision),
            safeguard_breached = cast(v.column5 as integer),
            unreverted = cast(v.column6 as integer)
          from (values ${sql.join(
            facts.map(
              ({ row, f }) =>
                sql`(${row.id}, ${String(f.faults)}, ${String(f.targets)}, ${
                  f.recoveryMs === undefined ? null : String(f.recoveryMs)
                }, ${f.safeguardBreached ? '1' : '0'}, ${String(f.unreverted)})`,
            ),
          )}) as v
          where runs.id = v.column1`.execute(db);
        const labels = facts.flatMap(({ row, f }) =>
          f.targetLabels.map((target) => ({ run_id: row.id, target, requested_at: row.requested_at })),
        );
        for (let i = 0; i < labels.length; i += BATCH) {
          await db
            .insertInto('run_targets')
            .values(labels.slice(i, i + BATCH))
            .execute();
        }
      }
    },
  };
}
