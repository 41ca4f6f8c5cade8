/**
 * The GameDayStore on Kysely (migrations/0009-gamedays.ts): the same statements on SQLite and
 * PostgreSQL. A timeline event's seq is the next one of its game day, read and written in one
 * transaction that holds the game day's row (a note through one server while another runs the game
 * day wait for each other); the primary key is the backstop, and a collision reads again.
 */
import type { Kysely } from 'kysely';
import {
  emptySnapshot,
  type FollowUp,
  type GameDayStatus,
  type GameDayStore,
  type GameDaySummary,
  type GameDayUpdate,
  type NewFollowUp,
  type NewGameDay,
  type NewTimelineEvent,
  type StoredGameDay,
  type TimelineEvent,
} from '../gamedays/model.js';
import type { StoreContext } from './context.js';
import { newRunKey } from './ids.js';
import { decodeJson, encodeJson } from './rows.js';
import type { Database } from './tables.js';

interface GameDaysTable {
  id: string;
  name: string;
  title: string;
  source: string;
  plan: string;
  status: string;
  created_by: string;
  created_at: string;
  started_by: string | null;
  started_at: string | null;
  ended_at: string | null;
  reason: string | null;
  claimed_by: string | null;
  snapshot: string;
}

interface GameDayEventsTable {
  gameday_id: string;
  seq: number;
  at: string;
  type: string;
  step: string | null;
  by: string | null;
  text: string | null;
  data: string | null;
}

interface FollowUpsTable {
  id: string;
  gameday_id: string;
  text: string;
  owner: string | null;
  state: string;
  created_by: string;
  created_at: string;
  closed_by: string | null;
  closed_at: string | null;
  close_note: string | null;
}

type GameDayTables = {
  gamedays: GameDaysTable;
  gameday_events: GameDayEventsTable;
  followups: FollowUpsTable;
};

const SUMMARY_COLUMNS = [
  'id',
  'name',
  'title',
  'status',
  'created_by',
  'created_at',
  'started_by',
  'started_at',
  'ended_at',
  'reason',
  'claimed_by',
] as const;

/** A seq race lost to another server: read the last seq again this many times. */
const APPEND_RETRIES = 8;
const DEFAULT_LIST = 100;
const MAX_LIST = 500;

const limitOf = (n: number | undefined) => Math.min(Math.max(1, n ?? DEFAULT_LIST), MAX_LIST);

function toSummary(r: Pick<GameDaysTable, (typeof SUMMARY_COLUMNS)[number]>): GameDaySummary {
  return {
    id: r.id,
    name: r.name,
    title: r.title,
    status: r.status as GameDayStatus,
    createdBy: r.created_by,
    createdAt: r.created_at,
    ...(r.started_by !== null ? { startedBy: r.started_by } : {}),
    ...(r.started_at !== null ? { startedAt: r.started_at } : {}),
    ...(r.ended_at !== null ? { endedAt: r.ended_at } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.claimed_by !== null ? { server: r.claimed_by } : {}),
  };
}

function toGameDay(r: GameDaysTable): StoredGameDay {
  return {
    ...toSummary(r),
    source: r.source,
    plan: decodeJson(r.plan) as Record<string, unknown>,
    snapshot: { ...emptySnapshot(), ...(decodeJson(r.snapshot) as object) },
  };
}

function toEvent(r: GameDayEventsTable): TimelineEvent {
  return {
    seq: Number(r.seq),
    at: r.at,
    type: r.type as TimelineEvent['type'],
    ...(r.step !== null ? { step: r.step } : {}),
    ...(r.by !== null ? { by: r.by } : {}),
    ...(r.text !== null ? { text: r.text } : {}),
    ...(r.data !== null ? { data: decodeJson(r.data) as Record<string, unknown> } : {}),
  };
}

function toFollowUp(
  r: FollowUpsTable & { gameday_name?: string | null; gameday_title?: string | null },
): FollowUp {
  return {
    id: r.id,
    gameday: r.gameday_id,
    ...(r.gameday_name ? { gamedayName: r.gameday_name } : {}),
    ...(r.gameday_title ? { gamedayTitle: r.gameday_title } : {}),
    text: r.text,
    ...(r.owner !== null ? { owner: r.owner } : {}),
    state: r.state as FollowUp['state'],
    createdBy: r.created_by,
    createdAt: r.created_at,
    ...(r.closed_by !== null ? { closedBy: r.closed_by } : {}),
    ...(r.closed_at !== null ? { closedAt: r.closed_at } : {}),
    ...(r.close_note !== null ? { closeNote: r.close_note } : {}),
  };
}

function updateSet(u: GameDayUpdate): Partial<GameDaysTable> {
  return {
    ...(u.status !== undefined ? { status: u.status } : {}),
    ...(u.snapshot !== undefined ? { snapshot: JSON.stringify(u.snapshot) } : {}),
    ...(u.endedAt !== undefined ? { ended_at: u.endedAt } : {}),
    ...(u.reason !== undefined ? { reason: u.reason } : {}),
  };
}

function followUpRow(f: NewFollowUp): FollowUpsTable {
  const { id, requestedAt } = newRunKey();
  return {
    id,
    gameday_id: f.gameday,
    text: f.text,
    owner: f.owner ?? null,
    state: 'open',
    created_by: f.createdBy,
    created_at: requestedAt,
    closed_by: null,
    closed_at: null,
    close_note: null,
  };
}

export class KyselyGameDayStore implements GameDayStore {
  readonly #ctx: StoreContext;
  readonly #db: Kysely<Database & GameDayTables>;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    this.#db = ctx.db.withTables<GameDayTables>();
  }

  async create(g: NewGameDay): Promise<StoredGameDay> {
    const { id, requestedAt } = newRunKey();
    const row: GameDaysTable = {
      id,
      name: g.name,
      title: g.title,
      source: g.source,
      plan: JSON.stringify(g.plan),
      status: 'pending',
      created_by: g.createdBy,
      created_at: requestedAt,
      started_by: null,
      started_at: null,
      ended_at: null,
      reason: null,
      claimed_by: null,
      snapshot: JSON.stringify(emptySnapshot()),
    };
    await this.#ctx.run(`storing game day ${g.name}`, () =>
      this.#db.insertInto('gamedays').values(row).execute(),
    );
    return toGameDay(row);
  }

  async get(id: string): Promise<StoredGameDay | undefined> {
    return this.#ctx.run(`reading game day ${id}`, async () => {
      const row = await this.#db.selectFrom('gamedays').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toGameDay(row) : undefined;
    });
  }

  async list(filter: { status?: GameDayStatus; limit?: number } = {}): Promise<GameDaySummary[]> {
    return this.#ctx.run('listing game days', async () => {
      const rows = await this.#db
        .selectFrom('gamedays')
        .select(SUMMARY_COLUMNS)
        .$if(filter.status !== undefined, (q) => q.where('status', '=', filter.status as string))
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limitOf(filter.limit))
        .execute();
      return rows.map(toSummary);
    });
  }

  async claim(
    id: string,
    start: { by: string; server: string; at: string },
  ): Promise<StoredGameDay | undefined> {
    return this.#ctx.run(`starting game day ${id}`, async () => {
      // One statement: a second request (or server) finds it no longer pending and gets nothing.
      const row = await this.#db
        .updateTable('gamedays')
        .set({ status: 'running', started_by: start.by, started_at: start.at, claimed_by: start.server })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .returningAll()
        .executeTakeFirst();
      return row ? toGameDay(row) : undefined;
    });
  }

  async update(id: string, u: GameDayUpdate): Promise<void> {
    const set = updateSet(u);
    if (Object.keys(set).length === 0) return;
    await this.#ctx.run(`recording game day ${id}`, () =>
      this.#db.updateTable('gamedays').set(set).where('id', '=', id).execute(),
    );
  }

  async end(
    id: string,
    u: GameDayUpdate,
    followUps: readonly Omit<NewFollowUp, 'gameday'>[],
  ): Promise<FollowUp[]> {
    const set = updateSet(u);
    const rows = followUps.map((f) => followUpRow({ ...f, gameday: id }));
    await this.#ctx.run(`recording the end of game day ${id}`, () =>
      this.#db.transaction().execute(async (trx) => {
        if (Object.keys(set).length > 0)
          await trx.updateTable('gamedays').set(set).where('id', '=', id).execute();
        if (rows.length > 0) await trx.insertInto('followups').values(rows).execute();
      }),
    );
    return rows.map(toFollowUp);
  }

  async appendEvents(id: string, events: readonly NewTimelineEvent[]): Promise<TimelineEvent[]> {
    if (events.length === 0) return [];
    return this.#ctx.run(`recording the timeline of game day ${id}`, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.#db.transaction().execute(async (trx) => {
            // The game day's row locked first on PostgreSQL: appends to one timeline wait for each
            // other instead of colliding (SQLite's transactions already take the write lock at BEGIN).
            if (this.#ctx.kind === 'postgres')
              await trx.selectFrom('gamedays').select('id').where('id', '=', id).forUpdate().execute();
            const last = await trx
              .selectFrom('gameday_events')
              .select((eb) => eb.fn.max('seq').as('seq'))
              .where('gameday_id', '=', id)
              .executeTakeFirst();
            const from = Number(last?.seq ?? 0);
            const rows: GameDayEventsTable[] = events.map((e, i) => ({
              gameday_id: id,
              seq: from + i + 1,
              at: e.at,
              type: e.type,
              step: e.step ?? null,
              by: e.by ?? null,
              text: e.text ?? null,
              data: encodeJson(e.data),
            }));
            await trx.insertInto('gameday_events').values(rows).execute();
            return rows.map(toEvent);
          });
        } catch (err) {
          if (attempt >= APPEND_RETRIES || !this.#ctx.isUniqueViolation(err)) throw err;
        }
      }
    });
  }

  async timeline(id: string, afterSeq = 0): Promise<TimelineEvent[]> {
    return this.#ctx.run(`reading the timeline of game day ${id}`, async () => {
      const rows = await this.#db
        .selectFrom('gameday_events')
        .selectAll()
        .where('gameday_id', '=', id)
        .where('seq', '>', afterSeq)
        .orderBy('seq', 'asc')
        .execute();
      return rows.map(toEvent);
    });
  }

  async abandonOf(server: string, reason: string, at: string): Promise<string[]> {
    const rows = await this.#ctx.run('finding the game days this server left running', () =>
      this.#db
        .updateTable('gamedays')
        .set({ status: 'failed', reason, ended_at: at })
        .where('claimed_by', '=', server)
        .where('status', 'in', ['running', 'stopping', 'rolling-back'])
        .returning('id')
        .execute(),
    );
    for (const { id } of rows) await this.appendEvents(id, [{ at, type: 'gameday.ended', text: reason }]);
    return rows.map((r) => r.id);
  }

  async createFollowUp(f: NewFollowUp): Promise<FollowUp> {
    const row = followUpRow(f);
    await this.#ctx.run('storing a follow-up action', () =>
      this.#db.insertInto('followups').values(row).execute(),
    );
    return toFollowUp(row);
  }

  #followUps() {
    return this.#db
      .selectFrom('followups')
      .innerJoin('gamedays', 'gamedays.id', 'followups.gameday_id')
      .selectAll('followups')
      .select(['gamedays.name as gameday_name', 'gamedays.title as gameday_title']);
  }

  async listFollowUps(
    filter: { state?: FollowUp['state']; gameday?: string; limit?: number } = {},
  ): Promise<FollowUp[]> {
    return this.#ctx.run('listing follow-up actions', async () => {
      const rows = await this.#followUps()
        .$if(filter.state !== undefined, (q) => q.where('followups.state', '=', filter.state as string))
        .$if(filter.gameday !== undefined, (q) =>
          q.where('followups.gameday_id', '=', filter.gameday as string),
        )
        .orderBy('followups.created_at', 'desc')
        .orderBy('followups.id', 'desc')
        .limit(limitOf(filter.limit))
        .execute();
      return rows.map(toFollowUp);
    });
  }

  async getFollowUp(id: string): Promise<FollowUp | undefined> {
    return this.#ctx.run(`reading follow-up ${id}`, async () => {
      const row = await this.#followUps().where('followups.id', '=', id).executeTakeFirst();
      return row ? toFollowUp(row) : undefined;
    });
  }

  async closeFollowUp(
    id: string,
    close: { by: string; at: string; note?: string },
  ): Promise<{ followUp: FollowUp; changed: boolean } | undefined> {
    const changed = await this.#ctx.run(`closing follow-up ${id}`, async () => {
      const r = await this.#db
        .updateTable('followups')
        .set({ state: 'closed', closed_by: close.by, closed_at: close.at, close_note: close.note ?? null })
        .where('id', '=', id)
        .where('state', '=', 'open')
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    });
    const followUp = await this.getFollowUp(id);
    return followUp ? { followUp, changed } : undefined;
  }
}
