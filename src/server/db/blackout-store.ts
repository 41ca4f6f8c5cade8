/**
 * The BlackoutStore on Kysely (blackouts/model.ts), one set of statements for both databases. A name
 * taken by a concurrent create is the unique key's to refuse (the loser gets undefined, the API's 409).
 */
import type { Kysely } from 'kysely';
import { FaultlineError } from '../../core/errors.js';
import type { BlackoutWindow } from '../../schedule/blackout.js';
import {
  type BlackoutStore,
  type BlackoutUpdate,
  type StoredBlackout,
  StoredBlackoutSchema,
} from '../blackouts/model.js';
import type { StoreContext } from './context.js';
import type { Database } from './tables.js';

/** The table of migrations/0007-blackouts.ts. */
interface BlackoutsTable {
  name: string;
  timezone: string;
  /** JSON: `{dates?, weekly?, reason?}`. */
  periods: string;
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
}

type Tables = Database & { blackouts: BlackoutsTable };

const periodsOf = (w: BlackoutUpdate): string =>
  JSON.stringify({
    ...(w.dates ? { dates: w.dates } : {}),
    ...(w.weekly ? { weekly: w.weekly } : {}),
    ...(w.reason !== undefined ? { reason: w.reason } : {}),
  });

function toBlackout(r: BlackoutsTable): StoredBlackout {
  const parsed = StoredBlackoutSchema.safeParse({
    name: r.name,
    timezone: r.timezone,
    ...(JSON.parse(r.periods) as object),
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
  });
  // Written through the same schema, so this is a database edited by hand (or a time zone this Node lacks).
  if (!parsed.success)
    throw new FaultlineError(
      'FAULTLINE_ERR_STORE',
      `blackout window ${r.name} in the database is invalid: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
    );
  return parsed.data;
}

export class KyselyBlackoutStore implements BlackoutStore {
  readonly #db: Kysely<Tables>;

  constructor(readonly ctx: StoreContext) {
    this.#db = ctx.db.withTables<{ blackouts: BlackoutsTable }>();
  }

  async create(w: BlackoutWindow, by: string): Promise<StoredBlackout | undefined> {
    const at = new Date().toISOString();
    const row: BlackoutsTable = {
      name: w.name,
      timezone: w.timezone,
      periods: periodsOf(w),
      created_at: at,
      created_by: by,
      updated_at: at,
      updated_by: by,
    };
    return this.ctx.run(`creating blackout window ${w.name}`, async () => {
      try {
        await this.#db.insertInto('blackouts').values(row).execute();
      } catch (err) {
        if (this.ctx.isUniqueViolation(err)) return undefined;
        throw err;
      }
      return toBlackout(row);
    });
  }

  async list(): Promise<StoredBlackout[]> {
    return this.ctx.run('listing blackout windows', async () => {
      const rows = await this.#db.selectFrom('blackouts').selectAll().orderBy('name').execute();
      return rows.map(toBlackout);
    });
  }

  async get(name: string): Promise<StoredBlackout | undefined> {
    return this.ctx.run(`reading blackout window ${name}`, async () => {
      const row = await this.#db
        .selectFrom('blackouts')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst();
      return row ? toBlackout(row) : undefined;
    });
  }

  async update(name: string, w: BlackoutUpdate, by: string): Promise<StoredBlackout | undefined> {
    return this.ctx.run(`changing blackout window ${name}`, async () => {
      const row = await this.#db
        .updateTable('blackouts')
        .set({
          timezone: w.timezone,
          periods: periodsOf(w),
          updated_at: new Date().toISOString(),
          updated_by: by,
        })
        .where('name', '=', name)
        .returningAll()
        .executeTakeFirst();
      return row ? toBlackout(row) : undefined;
    });
  }

  async delete(name: string): Promise<boolean> {
    return this.ctx.run(`deleting blackout window ${name}`, async () => {
      const r = await this.#db.deleteFrom('blackouts').where('name', '=', name).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }
}
