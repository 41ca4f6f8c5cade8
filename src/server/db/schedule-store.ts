/**
 * The ScheduleStore on Kysely (one set of statements for SQLite and PostgreSQL). A firing is claimed by
 * inserting its (schedule_id, due) row first in the transaction that also applies the concurrency
 * policy, queues the run (ctx.insertRun), advances the schedule's cursor and trims its history: the
 * server that loses the race gets a unique violation and the whole transaction, run included, is
 * undone. Every change to a schedule moves the one-row revision the servers poll.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import {
  type ActiveRun,
  concurrencyDecision,
  type Firing,
  type FiringRequest,
  type FiringResult,
  type Schedule,
  type ScheduleSpec,
  type ScheduleStore,
} from '../schedules/model.js';
import type { StoreContext } from './context.js';
import { decodeJson } from './rows.js';
import type { Database } from './tables.js';

interface SchedulesTable {
  id: string;
  name: string;
  spec: string;
  paused: number;
  revision: number | string;
  cursor: string;
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
}

interface FiringsTable {
  schedule_id: string;
  due: string;
  at: string;
  fired_at: string;
  server: string;
  outcome: string;
  reason: string | null;
  run_id: string | null;
}

/** The tables of migrations/0006-schedules.ts, beside tables.ts's. */
type ScheduleTables = {
  schedules: SchedulesTable;
  schedule_firings: FiringsTable;
  schedule_revision: { id: number; revision: number | string };
  schedule_aborts: { run_id: string; server: string; reason: string; at: string };
};
type Db = Database & ScheduleTables;

const DEFAULT_FIRINGS_PAGE = 100;
const MAX_FIRINGS_PAGE = 1000;
/** ids per `in (...)` list: under both databases' limits on parameters. */
const ID_BATCH = 500;
/** Rows per multi-row statement: 8 parameters each, under both databases' limits. */
const ROW_BATCH = 100;

function toSchedule(r: SchedulesTable): Schedule {
  // The spec is stored as the schema's output (validated, defaults filled): read as it is, since
  // validating again (every cron expression parsed) would cost a list of 10,000 schedules seconds.
  const spec = decodeJson(r.spec) as Omit<ScheduleSpec, 'name' | 'paused'>;
  return {
    name: r.name,
    ...spec,
    paused: Number(r.paused) !== 0,
    id: r.id,
    revision: Number(r.revision),
    cursor: r.cursor,
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
  };
}

function toFiring(r: FiringsTable): Firing {
  return {
    schedule: r.schedule_id,
    due: r.due,
    at: r.at,
    firedAt: r.fired_at,
    server: r.server,
    outcome: r.outcome as Firing['outcome'],
    ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.run_id !== null ? { run: r.run_id } : {}),
  };
}

/** The spec as stored: everything but the name and the paused state, which are columns. */
function specText(spec: ScheduleSpec): string {
  const { name: _name, paused: _paused, ...rest } = spec;
  return JSON.stringify(rest);
}

async function bump(trx: Transaction<Db>): Promise<number> {
  const row = await trx
    .updateTable('schedule_revision')
    .set((eb) => ({ revision: eb('revision', '+', 1) }))
    .where('id', '=', 1)
    .returning('revision')
    .executeTakeFirstOrThrow();
  return Number(row.revision);
}

export class KyselyScheduleStore implements ScheduleStore {
  readonly #db: Kysely<Db>;

  constructor(readonly ctx: StoreContext) {
    this.#db = ctx.db.withTables<ScheduleTables>();
  }

  async create(spec: ScheduleSpec, by: string, now = new Date()): Promise<Schedule | undefined> {
    return this.ctx.run(`creating schedule ${spec.name}`, async () => {
      try {
        return await this.#db.transaction().execute(async (trx) => {
          const at = now.toISOString();
          const row: SchedulesTable = {
            id: randomUUID(),
            name: spec.name,
            spec: specText(spec),
            paused: spec.paused ? 1 : 0,
            revision: await bump(trx),
            cursor: at,
            created_at: at,
            created_by: by,
            updated_at: at,
            updated_by: by,
          };
          await trx.insertInto('schedules').values(row).execute();
          return toSchedule(row);
        });
      } catch (err) {
        if (this.ctx.isUniqueViolation(err)) return undefined;
        throw err;
      }
    });
  }

  async list(): Promise<Schedule[]> {
    return this.ctx.run('listing schedules', async () => {
      const rows = await this.#db.selectFrom('schedules').selectAll().orderBy('name').execute();
      return rows.map(toSchedule);
    });
  }

  async get(name: string): Promise<Schedule | undefined> {
    return this.ctx.run(`reading schedule ${name}`, async () => {
      const row = await this.#db
        .selectFrom('schedules')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst();
      return row ? toSchedule(row) : undefined;
    });
  }

  async getByIds(ids: readonly string[]): Promise<Schedule[]> {
    if (ids.length === 0) return [];
    return this.ctx.run('reading schedules', async () => {
      const out: Schedule[] = [];
      for (let i = 0; i < ids.length; i += ID_BATCH) {
        const rows = await this.#db
          .selectFrom('schedules')
          .selectAll()
          .where('id', 'in', ids.slice(i, i + ID_BATCH))
          .execute();
        for (const r of rows) out.push(toSchedule(r));
      }
      return out;
    });
  }

  /** Changes a schedule's columns in a transaction that moves the revision; the cursor moves to `now`. */
  async #change(
    what: string,
    name: string,
    set: Partial<Pick<SchedulesTable, 'spec' | 'paused'>>,
    by: string,
    now: Date,
  ): Promise<Schedule | undefined> {
    return this.ctx.run(what, () =>
      this.#db.transaction().execute(async (trx) => {
        const at = now.toISOString();
        const row = await trx
          .updateTable('schedules')
          // The cursor moves to now: what fell due while paused, or under the old timing, is not caught up.
          .set({ ...set, revision: await bump(trx), cursor: at, updated_at: at, updated_by: by })
          .where('name', '=', name)
          .returningAll()
          .executeTakeFirst();
        return row ? toSchedule(row) : undefined;
      }),
    );
  }

  update(name: string, spec: ScheduleSpec, by: string, now = new Date()): Promise<Schedule | undefined> {
    return this.#change(
      `changing schedule ${name}`,
      name,
      { spec: specText(spec), paused: spec.paused ? 1 : 0 },
      by,
      now,
    );
  }

  async setPaused(
    name: string,
    paused: boolean,
    by: string,
    now = new Date(),
  ): Promise<Schedule | undefined> {
    return this.#change(
      `${paused ? 'pausing' : 'resuming'} schedule ${name}`,
      name,
      { paused: paused ? 1 : 0 },
      by,
      now,
    );
  }

  async delete(name: string): Promise<boolean> {
    return this.ctx.run(`deleting schedule ${name}`, () =>
      this.#db.transaction().execute(async (trx) => {
        const r = await trx.deleteFrom('schedules').where('name', '=', name).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return false;
        await bump(trx);
        return true;
      }),
    );
  }

  async revision(): Promise<number> {
    return this.ctx.run('reading the schedules revision', async () => {
      const row = await this.#db
        .selectFrom('schedule_revision')
        .select('revision')
        .where('id', '=', 1)
        .executeTakeFirst();
      return Number(row?.revision ?? 0);
    });
  }

  async revisions(): Promise<{ id: string; revision: number }[]> {
    return this.ctx.run('listing schedule revisions', async () => {
      const rows = await this.#db.selectFrom('schedules').select(['id', 'revision']).execute();
      return rows.map((r) => ({ id: r.id, revision: Number(r.revision) }));
    });
  }

  async recordFirings(reqs: readonly FiringRequest[]): Promise<FiringResult[]> {
    if (reqs.length === 0) return [];
    const names = [...new Set(reqs.map((r) => r.schedule.name))];
    return this.ctx.run(`firing schedule${names.length > 1 ? 's' : ''} ${names.slice(0, 3).join(', ')}`, () =>
      this.#db.transaction().execute(async (trx) => {
        // Claims in one order on every server (schedule id, then due): two servers' batches on
        // PostgreSQL then wait for each other's rows in the same order and never deadlock.
        const order = reqs
          .map((req, i) => ({ req, i, row: firingRow(req) }))
          .sort((x, y) => compareKeys(x.row, y.row));
        // The claims, set-based (a burst of schedules is a few statements, not a few per firing):
        // nothing is inserted where another server has the (schedule, due); on PostgreSQL a claim in
        // flight in another transaction is waited for, then this one does nothing.
        const claimed = new Set<string>();
        for (let i = 0; i < order.length; i += ROW_BATCH) {
          const rows = await trx
            .insertInto('schedule_firings')
            .values(order.slice(i, i + ROW_BATCH).map((o) => o.row))
            .onConflict((oc) => oc.columns(['schedule_id', 'due']).doNothing())
            .returning(['schedule_id', 'due'])
            .execute();
          for (const r of rows) claimed.add(keyOf(r));
        }
        // The schedules' runs still queued or running, for the concurrency policy of those that fire.
        const firing = order.filter(
          (o) => claimed.has(keyOf(o.row)) && o.req.outcome === 'fired' && o.req.run,
        );
        const active = await activeRuns(trx, [...new Set(firing.map((o) => o.row.schedule_id))]);
        /** Runs this call queued, per schedule: previous runs for a firing on time, not for a catch-up. */
        const queued = new Map<string, ActiveRun[]>();
        const changed: FiringsTable[] = [];
        const results: FiringResult[] = new Array(reqs.length);
        for (const { req, i, row } of order) {
          if (!claimed.has(keyOf(row))) {
            results[i] = { taken: true };
            continue;
          }
          const s = req.schedule;
          let run: Awaited<ReturnType<StoreContext['insertRun']>> | undefined;
          let replaced: ActiveRun[] = [];
          if (req.outcome === 'fired' && req.run) {
            const mine = queued.get(s.id) ?? [];
            const previous = [...(active.get(s.id) ?? []), ...(req.catchUp ? [] : mine)];
            const decision = concurrencyDecision(s.concurrencyPolicy, previous);
            if (!decision.fire) {
              row.outcome = 'skipped';
              row.reason = decision.reason;
            } else {
              replaced = decision.replace;
              await this.#replace(trx, s, replaced, req.firedAt);
              // Replaced runs are no longer previous runs of the next firing in this call.
              if (replaced.length > 0) {
                active.delete(s.id);
                mine.length = 0;
              }
              run = await this.ctx.insertRun(trx as unknown as Transaction<Database>, {
                experiment: req.run.experiment,
                experimentVersion: req.run.experimentVersion,
                title: req.run.title,
                tags: req.run.tags,
                origin: 'schedule',
                requestedBy: `schedule:${s.name}`,
                schedule: s.id,
                ...(req.run.approval !== undefined ? { approval: req.run.approval } : {}),
                ...(req.run.configuration !== undefined ? { configuration: req.run.configuration } : {}),
              });
              row.run_id = run.id;
              mine.push({ id: run.id, status: 'queued' });
              queued.set(s.id, mine);
            }
            changed.push(row);
          }
          results[i] = { taken: false, firing: toFiring(row), ...(run ? { run } : {}), replaced };
        }
        await settle(trx, changed);
        // Every schedule of the call: its cursor moves to its newest due (a taken one included: it is
        // dealt with), and its history is trimmed.
        const newest = new Map<string, { s: Schedule; due: string }>();
        for (const { req, row } of order) newest.set(req.schedule.id, { s: req.schedule, due: row.due });
        await advance(trx, [...newest.values()]);
        return results;
      }),
    );
  }

  /**
   * The `replace` policy: a queued run is cancelled here; a running one is aborted by the server
   * running it (the scheduler does it when that is this one; another server reads schedule_aborts).
   */
  async #replace(trx: Transaction<Db>, s: Schedule, runs: readonly ActiveRun[], at: Date): Promise<void> {
    const reason = `replaced by a newer run of schedule ${s.name} (concurrency policy replace)`;
    for (const r of runs) {
      const cancelled = await trx
        .updateTable('runs')
        .set({ status: 'interrupted', verdict: 'interrupted', reason, finished_at: at.toISOString() })
        .where('id', '=', r.id)
        .where('status', '=', 'queued')
        .executeTakeFirst();
      if (Number(cancelled.numUpdatedRows) > 0) {
        r.status = 'queued';
        continue;
      }
      // Claimed since it was read: it runs (or is about to) on the server that claimed it.
      const claimed = await trx
        .selectFrom('runs')
        .select(['claimed_by', 'status'])
        .where('id', '=', r.id)
        .executeTakeFirst();
      if (claimed?.status !== 'running' || !claimed.claimed_by) continue;
      r.status = 'running';
      r.claimedBy = claimed.claimed_by;
      await trx
        .insertInto('schedule_aborts')
        .values({ run_id: r.id, server: claimed.claimed_by, reason, at: at.toISOString() })
        .onConflict((oc) => oc.column('run_id').doNothing())
        .execute();
    }
  }

  async listFirings(
    scheduleId: string,
    options: { limit?: number; before?: string } = {},
  ): Promise<Firing[]> {
    const limit = Math.min(Math.max(options.limit ?? DEFAULT_FIRINGS_PAGE, 1), MAX_FIRINGS_PAGE);
    return this.ctx.run('listing firings', async () => {
      const rows = await this.#db
        .selectFrom('schedule_firings')
        .selectAll()
        .where('schedule_id', '=', scheduleId)
        .$if(options.before !== undefined, (q) => q.where('due', '<', options.before as string))
        .orderBy('due', 'desc')
        .limit(limit)
        .execute();
      return rows.map(toFiring);
    });
  }

  async recentFirings(scheduleIds: readonly string[], n: number): Promise<Map<string, Firing[]>> {
    const out = new Map<string, Firing[]>();
    if (scheduleIds.length === 0) return out;
    return this.ctx.run('listing recent firings', async () => {
      // The newest n of each schedule in one statement per batch of ids (a window over the primary
      // key's order), not one query per schedule: the list of 10,000 schedules reads them at once.
      for (let i = 0; i < scheduleIds.length; i += ID_BATCH) {
        const rows = await this.#db
          .selectFrom((eb) =>
            eb
              .selectFrom('schedule_firings')
              .selectAll()
              .select(sql<number>`row_number() over (partition by schedule_id order by due desc)`.as('k'))
              .where('schedule_id', 'in', scheduleIds.slice(i, i + ID_BATCH))
              .as('f'),
          )
          .selectAll()
          .where('k', '<=', n)
          .orderBy('schedule_id')
          .orderBy('due', 'desc')
          .execute();
        for (const r of rows) {
          const list = out.get(r.schedule_id) ?? [];
          list.push(toFiring(r));
          out.set(r.schedule_id, list);
        }
      }
      return out;
    });
  }

  async takeAbortRequests(server: string): Promise<{ run: string; reason: string }[]> {
    return this.ctx.run('reading abort requests', async () => {
      const rows = await this.#db
        .deleteFrom('schedule_aborts')
        .where('server', '=', server)
        .returning(['run_id', 'reason'])
        .execute();
      return rows.map((r) => ({ run: r.run_id, reason: r.reason }));
    });
  }
}

/** A firing's row as first claimed (its outcome settled after the concurrency policy). */
function firingRow(req: FiringRequest): FiringsTable {
  return {
    schedule_id: req.schedule.id,
    due: req.fire.due.toISOString(),
    at: req.fire.at.toISOString(),
    fired_at: req.firedAt.toISOString(),
    server: req.server,
    outcome: req.outcome,
    reason: req.reason ?? null,
    run_id: null,
  };
}

const keyOf = (r: { schedule_id: string; due: string }) => `${r.schedule_id}\u0000${r.due}`;

function compareKeys(x: FiringsTable, y: FiringsTable): number {
  const a = keyOf(x);
  const b = keyOf(y);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The runs of these schedules still queued or running, oldest first (what the concurrency policy looks at). */
async function activeRuns(
  trx: Transaction<Db>,
  scheduleIds: readonly string[],
): Promise<Map<string, ActiveRun[]>> {
  const out = new Map<string, ActiveRun[]>();
  for (let i = 0; i < scheduleIds.length; i += ID_BATCH) {
    const rows = await trx
      .selectFrom('runs')
      .select(['id', 'status', 'claimed_by', 'schedule_id'])
      .where('schedule_id', 'in', scheduleIds.slice(i, i + ID_BATCH))
      .where('status', 'in', ['queued', 'running'])
      .orderBy('requested_at')
      .execute();
    for (const r of rows) {
      const list = out.get(r.schedule_id as string) ?? [];
      list.push({
        id: r.id,
        status: r.status as ActiveRun['status'],
        ...(r.claimed_by !== null ? { claimedBy: r.claimed_by } : {}),
      });
      out.set(r.schedule_id as string, list);
    }
  }
  return out;
}

/**
 * The outcome of the firings the concurrency policy decided (skipped, or fired with their run), in one
 * statement per batch. VALUES columns are column1.. on both databases (SQLite 3.33+ and PostgreSQL
 * update from a VALUES list).
 */
async function settle(trx: Transaction<Db>, rows: readonly FiringsTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROW_BATCH) {
    const batch = rows.slice(i, i + ROW_BATCH);
    await sql`update schedule_firings set
        outcome = v.column3,
        reason = v.column4,
        run_id = v.column5
      from (values ${sql.join(batch.map((r) => sql`(${r.schedule_id}, ${r.due}, ${r.outcome}, ${r.reason}, ${r.run_id})`))}) as v
      where schedule_firings.schedule_id = v.column1 and schedule_firings.due = v.column2`.execute(trx);
  }
}

/**
 * Each schedule's cursor moves forward to its newest due (never back: a slower server's older firing
 * does not move it), and its history keeps its newest `historyLimit` firings: one statement each per batch.
 */
async function advance(trx: Transaction<Db>, list: readonly { s: Schedule; due: string }[]): Promise<void> {
  for (let i = 0; i < list.length; i += ROW_BATCH) {
    const batch = list.slice(i, i + ROW_BATCH);
    await sql`update schedules set cursor = v.column2
      from (values ${sql.join(batch.map(({ s, due }) => sql`(${s.id}, ${due})`))}) as v
      where schedules.id = v.column1 and schedules.cursor < v.column2`.execute(trx);
    await sql`delete from schedule_firings where (schedule_id, due) in (
        select schedule_id, due from (
          select f.schedule_id, f.due,
            row_number() over (partition by f.schedule_id order by f.due desc) as k,
            cast(v.column2 as integer) as keep
          from schedule_firings f
          join (values ${sql.join(batch.map(({ s }) => sql`(${s.id}, ${String(s.historyLimit)})`))}) as v
            on f.schedule_id = v.column1
        ) ranked where k > keep
      )`.execute(trx);
  }
}
