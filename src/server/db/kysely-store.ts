/**
 * The Store on Kysely: one query layer for SQLite and PostgreSQL. The three places the databases differ
 * in a query are claimQueuedRun (PostgreSQL locks the candidate row FOR UPDATE SKIP LOCKED so racing
 * servers each take a different run; SQLite runs one writer at a time, so its single UPDATE is already
 * atomic), how a unique-key race surfaces (isUniqueViolation), and trendAggregates' bucket of a
 * timestamp (their date functions). Everything else, connections and DDL aside (connect.ts,
 * migrations/), is the same statement on both.
 */
import { createHash } from 'node:crypto';
import { type Kysely, Migrator, sql, type Transaction } from 'kysely';
import { FaultlineError, issuePath } from '../../core/errors.js';
import type { Role } from '../auth/roles.js';
import {
  type ApiToken,
  type AuditEntry,
  type ExperimentSummary,
  type ExperimentVersion,
  emptyTrendCounts,
  type HaltRecord,
  type NewApiToken,
  type NewExperiment,
  type NewRun,
  type NewSession,
  type NewUser,
  type RecoveryFigures,
  type Run,
  type RunFilter,
  RunFilterSchema,
  type RunPage,
  type RunUpdate,
  type RunWithJournal,
  type Session,
  type Store,
  type TrendAggregates,
  type TrendQuery,
  type User,
  type VERDICTS,
} from '../store.js';
import { KyselyApprovalStore } from './approval-store.js';
import { KyselyBlackoutStore } from './blackout-store.js';
import type { Connection } from './connect.js';
import type { StoreContext } from './context.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { storeError } from './errors.js';
import { runFacts } from './facts.js';
import { KyselyGameDayStore } from './gameday-store.js';
import { newRunKey } from './ids.js';
import { migrationProvider } from './migrations/index.js';
import {
  encodeJson,
  factColumns,
  RUN_COLUMNS,
  toAuditEntry,
  toExperimentMeta,
  toExperimentVersion,
  toRun,
  toRunWithJournal,
} from './rows.js';
import { KyselyScheduleStore } from './schedule-store.js';
import type { Database, RunsTable } from './tables.js';

const DEFAULT_PAGE = 50;
const DEFAULT_AUDIT_PAGE = 100;
const MAX_AUDIT_PAGE = 1000;
/** Concurrent uploads of one name race for the next version number: the loser retries this often. */
const VERSION_RETRIES = 16;

const now = () => new Date().toISOString();

/** The tables of migrations/0002-auth.ts, as Kysely sees them (beside tables.ts's, through withTables). */
type AuthTables = {
  users: { name: string; password_hash: string; role: string; created_at: string; disabled: number };
  api_tokens: { name: string; owner: string; role: string; token_hash: string; created_at: string };
  sessions: {
    id_hash: string;
    user_name: string;
    csrf_token: string;
    created_at: string;
    expires_at: string;
  };
};

const toUser = (r: { name: string; role: string; created_at: string; disabled: number }): User => ({
  name: r.name,
  role: r.role as Role,
  createdAt: r.created_at,
  disabled: Number(r.disabled) !== 0,
});

const toToken = (r: { name: string; owner: string; role: string; created_at: string }): ApiToken => ({
  name: r.name,
  owner: r.owner,
  role: r.role as Role,
  createdAt: r.created_at,
});

const USER_COLUMNS = ['name', 'role', 'created_at', 'disabled'] as const;
const TOKEN_COLUMNS = ['name', 'owner', 'role', 'created_at'] as const;

export class KyselyStore implements Store {
  readonly describe: string;
  readonly schedules: KyselyScheduleStore;
  readonly approvals: KyselyApprovalStore;
  readonly blackouts: KyselyBlackoutStore;
  readonly gamedays: KyselyGameDayStore;
  readonly #c: Connection;
  readonly #db: Kysely<Database>;
  readonly #auth: Kysely<Database & AuthTables>;
  #closed = false;

  constructor(connection: Connection) {
    this.#c = connection;
    this.#db = connection.db;
    this.#auth = connection.db.withTables<AuthTables>();
    this.describe = connection.describe;
    const ctx: StoreContext = {
      describe: connection.describe,
      kind: connection.kind,
      db: connection.db,
      run: (what, fn) => this.#run(what, fn),
      insertRun,
      isUniqueViolation,
    };
    this.schedules = new KyselyScheduleStore(ctx);
    this.approvals = new KyselyApprovalStore(ctx);
    this.blackouts = new KyselyBlackoutStore(ctx);
    this.gamedays = new KyselyGameDayStore(ctx);
  }

  /** Runs `fn`, turning whatever the database says into one FAULTLINE_ERR_STORE line. */
  async #run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      throw new FaultlineError(
        'FAULTLINE_ERR_STORE',
        `${what} failed on ${this.describe}: the store is closed`,
      );
    }
    try {
      return await this.#c.exclusive(fn);
    } catch (err) {
      throw storeError(what, this.describe, err, this.#c.password);
    }
  }

  async migrate(): Promise<{ applied: string[] }> {
    return this.#run('migrating the database', async () => {
      const migrator = new Migrator({
        db: this.#db,
        provider: migrationProvider(this.#c.kind),
        ...(this.#c.migrationSchema ? { migrationTableSchema: this.#c.migrationSchema } : {}),
      });
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName;
        throw storeError(
          failed ? `migration ${failed}` : 'migrating the database',
          this.describe,
          error,
          this.#c.password,
        );
      }
      return { applied: (results ?? []).map((r) => r.migrationName) };
    });
  }

  async health(): Promise<{ ok: true } | { ok: false; error: string }> {
    try {
      await this.#run('a health check', async () => {
        await sql`select 1`.execute(this.#db);
      });
      const why = await this.#c.check();
      return why ? { ok: false, error: `${this.describe}: ${why}` } : { ok: true };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // After the operation in progress (SQLite's handle would otherwise close under its transaction).
    await this.#c.exclusive(() => this.#db.destroy());
  }

  async putExperiment(e: NewExperiment): Promise<{ experiment: ExperimentVersion; created: boolean }> {
    const sha256 = createHash('sha256').update(e.source, 'utf8').digest('hex');
    return this.#run(`storing experiment ${e.name}`, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.#db.transaction().execute(async (trx) => {
            const latest = await trx
              .selectFrom('experiment_versions')
              .selectAll()
              .where('name', '=', e.name)
              .orderBy('version', 'desc')
              .limit(1)
              .executeTakeFirst();
            if (latest && latest.sha256 === sha256) {
              return { experiment: toExperimentVersion(latest), created: false };
            }
            const row = {
              name: e.name,
              version: (latest ? Number(latest.version) : 0) + 1,
              format: e.format,
              title: e.title,
              tags: JSON.stringify(e.tags),
              source: e.source,
              sha256,
              created_at: now(),
              created_by: e.createdBy,
            };
            await trx.insertInto('experiment_versions').values(row).execute();
            return { experiment: toExperimentVersion(row), created: true };
          });
        } catch (err) {
          if (attempt < VERSION_RETRIES && isUniqueViolation(err)) continue;
          throw err;
        }
      }
    });
  }

  async listExperiments(): Promise<ExperimentSummary[]> {
    return this.#run('listing experiments', async () => {
      const rows = await this.#db
        .selectFrom('experiment_versions as v')
        .innerJoin(
          (eb) =>
            eb
              .selectFrom('experiment_versions')
              .select((eb) => [
                'name',
                eb.fn.max<number>('version').as('latest'),
                eb.fn.countAll<number>().as('versions'),
              ])
              .groupBy('name')
              .as('m'),
          (join) => join.onRef('m.name', '=', 'v.name').onRef('m.latest', '=', 'v.version'),
        )
        .select([
          'v.name',
          'v.version',
          'v.format',
          'v.title',
          'v.tags',
          'v.sha256',
          'v.created_at',
          'v.created_by',
          'm.versions',
        ])
        .orderBy('v.name')
        .execute();
      return rows.map((r) => ({ ...toExperimentMeta(r), versions: Number(r.versions) }) as ExperimentSummary);
    });
  }

  async getExperiment(name: string, version?: number): Promise<ExperimentVersion | undefined> {
    return this.#run(`reading experiment ${name}`, async () => {
      const row = await this.#db
        .selectFrom('experiment_versions')
        .selectAll()
        .where('name', '=', name)
        .$if(version !== undefined, (q) => q.where('version', '=', version as number))
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? toExperimentVersion(row) : undefined;
    });
  }

  async listExperimentVersions(name: string): Promise<Omit<ExperimentVersion, 'source'>[]> {
    return this.#run(`listing the versions of experiment ${name}`, async () => {
      const rows = await this.#db
        .selectFrom('experiment_versions')
        .select(['name', 'version', 'format', 'title', 'tags', 'sha256', 'created_at', 'created_by'])
        .where('name', '=', name)
        .orderBy('version', 'asc')
        .execute();
      return rows.map((r) => toExperimentMeta(r));
    });
  }

  async createRun(run: NewRun): Promise<Run> {
    return this.#run('creating a run', () => this.#db.transaction().execute((trx) => insertRun(trx, run)));
  }

  async claimQueuedRun(server: string): Promise<Run | undefined> {
    return this.#run('claiming a queued run', async () => {
      const postgres = this.#c.kind === 'postgres';
      const row = await this.#db
        .updateTable('runs')
        .set({ status: 'running', claimed_by: server, started_at: now() })
        .where('id', '=', (eb) =>
          eb
            .selectFrom('runs')
            .select('id')
            .where('status', '=', 'queued')
            .orderBy('requested_at', 'asc')
            .orderBy('id', 'asc')
            .limit(1)
            // The one dialect switch in a query: see the file's comment.
            .$if(postgres, (q) => q.forUpdate().skipLocked()),
        )
        // Under READ COMMITTED a row claimed between the subquery and the update is re-checked here.
        .where('status', '=', 'queued')
        .returning(RUN_COLUMNS)
        .executeTakeFirst();
      return row ? toRun(row) : undefined;
    });
  }

  async updateRun(id: string, update: RunUpdate): Promise<Run | undefined> {
    return this.#run(`updating run ${id}`, async () => {
      const set: Partial<RunsTable> = {};
      if (update.status !== undefined) set.status = update.status;
      if (update.verdict !== undefined) set.verdict = update.verdict;
      if (update.reason !== undefined) set.reason = update.reason;
      if (update.startedAt !== undefined) set.started_at = update.startedAt;
      if (update.finishedAt !== undefined) set.finished_at = update.finishedAt;
      if (update.duration !== undefined) set.duration = update.duration;
      const facts = update.journal === undefined ? undefined : runFacts(update.journal);
      if (update.journal !== undefined) {
        set.journal = encodeJson(update.journal);
        Object.assign(set, factColumns(facts));
      }
      if (Object.keys(set).length === 0) {
        const row = await this.#db
          .selectFrom('runs')
          .select(RUN_COLUMNS)
          .where('id', '=', id)
          .executeTakeFirst();
        return row ? toRun(row) : undefined;
      }
      if (update.journal === undefined) {
        const row = await this.#db
          .updateTable('runs')
          .set(set)
          .where('id', '=', id)
          .returning(RUN_COLUMNS)
          .executeTakeFirst();
        return row ? toRun(row) : undefined;
      }
      // A journal brings its target labels: the run's columns and its run_targets change together.
      return this.#db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('runs')
          .set(set)
          .where('id', '=', id)
          .returning(RUN_COLUMNS)
          .executeTakeFirst();
        if (!row) return undefined;
        await trx.deleteFrom('run_targets').where('run_id', '=', id).execute();
        await insertTargets(trx, row, facts?.targetLabels ?? []);
        return toRun(row);
      });
    });
  }

  async getRun(id: string): Promise<RunWithJournal | undefined> {
    return this.#run(`reading run ${id}`, async () => {
      const row = await this.#db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toRunWithJournal(row) : undefined;
    });
  }

  async listRuns(filter: RunFilter): Promise<RunPage> {
    const parsed = RunFilterSchema.safeParse(filter);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `${issue ? `${issuePath(issue.path) || 'filter'}: ${issue.message}` : 'invalid run filter'}`,
      );
    }
    const f = parsed.data;
    const limit = f.limit ?? DEFAULT_PAGE;
    const after = f.cursor === undefined ? undefined : decodeCursor(f.cursor);
    const tags = [...new Set(f.tags ?? [])];
    // With a target or a tag, the page is read from that label's index range (run_targets and run_tags
    // carry requested_at) and joined to the runs; without one, from the runs' own. Either way the order
    // and the keyset are the same pair of values, under these two names. A target drives when given (it
    // names few runs, a tag many); the other labels are then checked per run.
    const target = f.target;
    const [firstTag, ...otherTags] = target === undefined ? tags : [undefined, ...tags];
    const key =
      firstTag === undefined && target === undefined
        ? { at: sql.ref<string>('runs.requested_at'), id: sql.ref<string>('runs.id') }
        : { at: sql.ref<string>('t.requested_at'), id: sql.ref<string>('t.run_id') };
    return this.#run('listing runs', async () => {
      const rows = await this.#db
        .selectFrom('runs')
        .select(RUN_COLUMNS.map((c) => `runs.${c}` as const))
        .$if(target !== undefined, (q) =>
          q.innerJoin('run_targets as t', 't.run_id', 'runs.id').where('t.target', '=', target as string),
        )
        .$if(firstTag !== undefined, (q) =>
          q.innerJoin('run_tags as t', 't.run_id', 'runs.id').where('t.tag', '=', firstTag as string),
        )
        .$if(otherTags.length > 0, (q) =>
          q.where((eb) =>
            eb.and(
              (otherTags as string[]).map((tag) =>
                eb.exists(
                  eb
                    .selectFrom('run_tags')
                    .select('run_tags.run_id')
                    .whereRef('run_tags.run_id', '=', 'runs.id')
                    .where('run_tags.tag', '=', tag),
                ),
              ),
            ),
          ),
        )
        .$if(f.experiment !== undefined, (q) => q.where('runs.experiment', '=', f.experiment as string))
        .$if(f.status !== undefined, (q) => q.where('runs.status', '=', f.status as string))
        .$if(f.verdict !== undefined, (q) => q.where('runs.verdict', '=', f.verdict as string))
        .$if(f.requestedBy !== undefined, (q) => q.where('runs.requested_by', '=', f.requestedBy as string))
        .$if(f.from !== undefined, (q) => q.where(key.at, '>=', isoUtc(f.from as string)))
        .$if(f.to !== undefined, (q) => q.where(key.at, '<', isoUtc(f.to as string)))
        // Keyset: rows strictly after the cursor in (requested_at desc, id desc). Written as a range on
        // requested_at plus a tie-break rather than a row-value comparison, which SQLite's planner does
        // not turn into an index range.
        .$if(after !== undefined, (q) =>
          q
            .where(key.at, '<=', after?.requestedAt as string)
            .where((eb) =>
              eb.or([eb(key.at, '<', after?.requestedAt as string), eb(key.id, '<', after?.id as string)]),
            ),
        )
        .orderBy(key.at, 'desc')
        .orderBy(key.id, 'desc')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit).map(toRun);
      const last = page[page.length - 1];
      return rows.length > limit && last
        ? { runs: page, next: encodeCursor({ requestedAt: last.requestedAt, id: last.id }) }
        : { runs: page };
    });
  }

  async trendAggregates(q: TrendQuery): Promise<TrendAggregates> {
    const origin = Math.floor(Date.parse(q.origin) / 1000);
    const size = Math.trunc(q.bucketSeconds);
    // A run's bucket from its text timestamp: where the dialects differ (their date functions).
    const bucket =
      this.#c.kind === 'postgres'
        ? sql<number>`(cast(floor(extract(epoch from cast(requested_at as timestamptz))) as bigint) - ${origin}) / ${size}`
        : // better-sqlite3 binds numbers as REAL: cast, or the division is not an integer one.
          sql<number>`(cast(strftime('%s', requested_at) as integer) - cast(${origin} as integer)) / cast(${size} as integer)`;
    const experiment = sql<string>`coalesce(experiment, title)`;
    // Every condition is on runs_trends' columns (0004-run-facts.ts): one index range, no journal read.
    const window = sql`requested_at >= ${isoUtc(q.from)} and requested_at < ${isoUtc(q.to)}
      and verdict is not null${q.experiment === undefined ? sql`` : sql` and ${experiment} = ${q.experiment}`}`;
    return this.#run('computing trends', async () => {
      // One read of the window: grouped by verdict too, with plain aggregates (a CASE per verdict and
      // per figure cost more per row than the few more groups), and each group's recovery times as
      // text (string_agg, on both databases), so the percentiles need no second read and no row per
      // run leaves the database. toCells adds the verdicts up and leaves refused runs out.
      const rows = await sql<CellRow>`
        select ${bucket} as b, ${experiment} as e, verdict, count(*) as n, count(faults) as with_facts,
          sum(faults) as faults, sum(targets) as targets, max(targets) as max_targets,
          sum(case when unreverted > 0 then 1 else 0 end) as left_faults, sum(safeguard_breached) as breaches,
          string_agg(cast(recovery_ms as text), ',') as recoveries
        from runs where ${window}
        -- By position: PostgreSQL would not see the select's expression, parameters renumbered, as the same.
        group by 1, 2, 3`.execute(this.#db);
      return { cells: toCells(rows.rows), recovery: recoveryFigures(rows.rows) };
    });
  }

  async countActiveRuns(): Promise<{ queued: number; running: number }> {
    return this.#run('counting active runs', async () => {
      const rows = await this.#db
        .selectFrom('runs')
        .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
        .where('status', 'in', ['queued', 'running'])
        .groupBy('status')
        .execute();
      const n = (status: string) => Number(rows.find((r) => r.status === status)?.n ?? 0);
      return { queued: n('queued'), running: n('running') };
    });
  }

  async interruptRunsOf(server: string, reason: string): Promise<Run[]> {
    return this.#run(`interrupting the runs of ${server}`, async () => {
      const rows = await this.#db
        .updateTable('runs')
        .set({ status: 'interrupted', verdict: 'interrupted', reason, finished_at: now() })
        .where('claimed_by', '=', server)
        .where('status', '=', 'running')
        .returning(RUN_COLUMNS)
        .execute();
      return rows
        .map(toRun)
        .sort((a, b) => a.requestedAt.localeCompare(b.requestedAt) || a.id.localeCompare(b.id));
    });
  }

  // ------------------------------------------------------------ the emergency stop

  async raiseHalt(halt: { by: string; reason: string }): Promise<{ halt: HaltRecord; created: boolean }> {
    return this.#run('raising the emergency stop', async () => {
      const row = { id: 1, since: now(), by: halt.by, reason: halt.reason };
      // One row at most: a second raise (another server, a double click) keeps the first.
      const inserted = await this.#db
        .insertInto('halt')
        .values(row)
        .onConflict((oc) => oc.column('id').doNothing())
        .returning(['since', 'by', 'reason'])
        .executeTakeFirst();
      if (inserted) return { halt: inserted, created: true };
      const existing = await this.#db
        .selectFrom('halt')
        .select(['since', 'by', 'reason'])
        .where('id', '=', 1)
        .executeTakeFirst();
      // Released between the two statements: raise it again.
      return existing ? { halt: existing, created: false } : this.raiseHalt(halt);
    });
  }

  async getHalt(): Promise<HaltRecord | undefined> {
    return this.#run('reading the emergency stop', () =>
      this.#db.selectFrom('halt').select(['since', 'by', 'reason']).where('id', '=', 1).executeTakeFirst(),
    );
  }

  async releaseHalt(): Promise<boolean> {
    return this.#run('releasing the emergency stop', async () => {
      const result = await this.#db.deleteFrom('halt').where('id', '=', 1).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  // The audit log has an insert and a select here and nothing else: no update or delete path exists.
  async audit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<AuditEntry> {
    return this.#run(`recording ${entry.action} in the audit log`, async () => {
      const row = await this.#db
        .insertInto('audit_log')
        .values({
          at: now(),
          actor: entry.actor,
          action: entry.action,
          subject: entry.subject ?? null,
          detail: encodeJson(entry.detail),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toAuditEntry(row);
    });
  }

  async listAudit(options: { limit?: number; before?: number } = {}): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? DEFAULT_AUDIT_PAGE), 1), MAX_AUDIT_PAGE);
    return this.#run('listing the audit log', async () => {
      const rows = await this.#db
        .selectFrom('audit_log')
        .selectAll()
        .$if(options.before !== undefined, (q) => q.where('id', '<', options.before as number))
        .orderBy('id', 'desc')
        .limit(limit)
        .execute();
      return rows.map(toAuditEntry);
    });
  }

  // ------------------------------------------------------------ people and access
  // Secrets arrive hashed (auth/secrets.ts); what leaves here never carries a hash, except
  // getUserCredentials's, which the sign-in check alone reads.

  async createUser(user: NewUser): Promise<User | undefined> {
    return this.#run(`creating user ${user.name}`, async () => {
      const row = {
        name: user.name,
        password_hash: user.passwordHash,
        role: user.role,
        created_at: now(),
        disabled: 0,
      };
      try {
        await this.#auth.insertInto('users').values(row).execute();
      } catch (err) {
        if (isUniqueViolation(err)) return undefined;
        throw err;
      }
      return toUser(row);
    });
  }

  async listUsers(): Promise<User[]> {
    return this.#run('listing users', async () => {
      const rows = await this.#auth.selectFrom('users').select(USER_COLUMNS).orderBy('name').execute();
      return rows.map(toUser);
    });
  }

  async getUserCredentials(name: string): Promise<{ user: User; passwordHash: string } | undefined> {
    return this.#run('reading a user', async () => {
      const row = await this.#auth
        .selectFrom('users')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst();
      return row ? { user: toUser(row), passwordHash: row.password_hash } : undefined;
    });
  }

  async updateUser(
    name: string,
    change: { role?: Role; disabled?: boolean; passwordHash?: string },
  ): Promise<User | undefined> {
    return this.#run(`updating user ${name}`, async () =>
      this.#auth.transaction().execute(async (trx) => {
        const set: { role?: string; disabled?: number; password_hash?: string } = {};
        if (change.role !== undefined) set.role = change.role;
        if (change.disabled !== undefined) set.disabled = change.disabled ? 1 : 0;
        if (change.passwordHash !== undefined) set.password_hash = change.passwordHash;
        const row =
          Object.keys(set).length === 0
            ? await trx.selectFrom('users').select(USER_COLUMNS).where('name', '=', name).executeTakeFirst()
            : await trx
                .updateTable('users')
                .set(set)
                .where('name', '=', name)
                .returning(USER_COLUMNS)
                .executeTakeFirst();
        // Whoever held the old password, or a disabled user's browser, is signed out.
        if (row && (change.passwordHash !== undefined || change.disabled === true))
          await trx.deleteFrom('sessions').where('user_name', '=', name).execute();
        return row ? toUser(row) : undefined;
      }),
    );
  }

  async deleteUser(name: string): Promise<boolean> {
    return this.#run(`deleting user ${name}`, async () =>
      this.#auth.transaction().execute(async (trx) => {
        await trx.deleteFrom('sessions').where('user_name', '=', name).execute();
        await trx.deleteFrom('api_tokens').where('owner', '=', name).execute();
        const r = await trx.deleteFrom('users').where('name', '=', name).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      }),
    );
  }

  async hasUsers(): Promise<boolean> {
    return this.#run('counting users', async () => {
      const row = await this.#auth.selectFrom('users').select('name').limit(1).executeTakeFirst();
      return row !== undefined;
    });
  }

  async countAdmins(): Promise<number> {
    return this.#run('counting admins', async () => {
      const row = await this.#auth
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('role', '=', 'admin')
        .where('disabled', '=', 0)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    });
  }

  async createToken(token: NewApiToken): Promise<ApiToken | undefined> {
    return this.#run(`creating token ${token.name}`, async () => {
      const row = {
        name: token.name,
        owner: token.owner,
        role: token.role,
        token_hash: token.tokenHash,
        created_at: now(),
      };
      try {
        await this.#auth.insertInto('api_tokens').values(row).execute();
      } catch (err) {
        if (isUniqueViolation(err)) return undefined;
        throw err;
      }
      return toToken(row);
    });
  }

  async listTokens(): Promise<ApiToken[]> {
    return this.#run('listing tokens', async () => {
      const rows = await this.#auth.selectFrom('api_tokens').select(TOKEN_COLUMNS).orderBy('name').execute();
      return rows.map(toToken);
    });
  }

  async findToken(tokenHash: string): Promise<ApiToken | undefined> {
    return this.#run('checking a token', async () => {
      const row = await this.#auth
        .selectFrom('api_tokens')
        .select(TOKEN_COLUMNS)
        .where('token_hash', '=', tokenHash)
        .executeTakeFirst();
      return row ? toToken(row) : undefined;
    });
  }

  async deleteToken(name: string): Promise<boolean> {
    return this.#run(`deleting token ${name}`, async () => {
      const r = await this.#auth.deleteFrom('api_tokens').where('name', '=', name).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async createSession(session: NewSession): Promise<void> {
    return this.#run('creating a session', async () => {
      await this.#auth
        .insertInto('sessions')
        .values({
          id_hash: session.idHash,
          user_name: session.user,
          csrf_token: session.csrfToken,
          created_at: session.createdAt,
          expires_at: session.expiresAt,
        })
        .execute();
    });
  }

  async findSession(idHash: string, at: string): Promise<{ session: Session; user: User } | undefined> {
    return this.#run('checking a session', async () => {
      const row = await this.#auth
        .selectFrom('sessions as s')
        .innerJoin('users as u', 'u.name', 's.user_name')
        .select([
          's.id_hash',
          's.user_name',
          's.csrf_token',
          's.created_at as s_created_at',
          's.expires_at',
          'u.name',
          'u.role',
          'u.created_at',
          'u.disabled',
        ])
        .where('s.id_hash', '=', idHash)
        .where('s.expires_at', '>', at)
        .executeTakeFirst();
      if (!row) return undefined;
      return {
        session: {
          idHash: row.id_hash,
          user: row.user_name,
          csrfToken: row.csrf_token,
          createdAt: row.s_created_at,
          expiresAt: row.expires_at,
        },
        user: toUser(row),
      };
    });
  }

  async deleteSession(idHash: string): Promise<void> {
    return this.#run('ending a session', async () => {
      await this.#auth.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
    });
  }

  async deleteExpiredSessions(at: string): Promise<number> {
    return this.#run('removing expired sessions', async () => {
      const r = await this.#auth.deleteFrom('sessions').where('expires_at', '<=', at).executeTakeFirst();
      return Number(r.numDeletedRows);
    });
  }
}

/**
 * Inserts a run with its tags and targets inside `trx`: createRun's work, exported so a store of its own
 * (a schedule's firing, db/schedule-store.ts) creates the run in the same transaction as its own rows.
 */
export async function insertRun(trx: Transaction<Database>, run: NewRun): Promise<Run> {
  const tags = [...new Set(run.tags)];
  const f = run.finished;
  const facts = f ? runFacts(f.journal) : undefined;
  const key = newRunKey();
  const row: RunsTable = {
    id: key.id,
    experiment: run.experiment ?? null,
    experiment_version: run.experimentVersion ?? null,
    title: run.title,
    tags: JSON.stringify(tags),
    origin: run.origin,
    status: f ? 'finished' : 'queued',
    verdict: f?.verdict ?? null,
    reason: null,
    requested_at: key.requestedAt,
    started_at: f?.startedAt ?? null,
    finished_at: f?.finishedAt ?? null,
    requested_by: run.requestedBy,
    claimed_by: null,
    duration: f?.duration ?? null,
    journal: f ? encodeJson(f.journal) : null,
    ...factColumns(facts),
    schedule_id: run.schedule ?? null,
    approval_id: run.approval ?? null,
    gameday_id: run.gameday ?? null,
    configuration: encodeJson(run.configuration),
  };
  await trx.insertInto('runs').values(row).execute();
  await insertTags(trx, row, tags);
  await insertTargets(trx, row, facts?.targetLabels ?? []);
  return toRun(row);
}

async function insertTargets(
  trx: Transaction<Database>,
  run: Pick<RunsTable, 'id' | 'requested_at'>,
  labels: readonly string[],
): Promise<void> {
  // Batches keep each statement under SQLite's and PostgreSQL's limits on parameters.
  for (let i = 0; i < labels.length; i += 500) {
    await trx
      .insertInto('run_targets')
      .values(
        labels
          .slice(i, i + 500)
          .map((target) => ({ run_id: run.id, target, requested_at: run.requested_at })),
      )
      .execute();
  }
}

async function insertTags(
  trx: Transaction<Database>,
  run: RunsTable,
  tags: readonly string[],
): Promise<void> {
  if (tags.length === 0) return;
  await trx
    .insertInto('run_tags')
    .values(tags.map((tag) => ({ run_id: run.id, tag, requested_at: run.requested_at })))
    .execute();
}

interface CellRow {
  b: number;
  e: string;
  verdict: string;
  n: number;
  with_facts: number;
  faults: number | null;
  targets: number | null;
  max_targets: number | null;
  left_faults: number | null;
  breaches: number | null;
  /** The group's recovery times in ms, comma-separated; null when none measured it. */
  recoveries: string | null;
}

/** trendAggregates' rows, one per (bucket, experiment, verdict), to one cell per (bucket, experiment). */
function toCells(rows: readonly CellRow[]): TrendAggregates['cells'] {
  const cells = new Map<string, TrendAggregates['cells'][number]>();
  for (const r of rows) {
    const bucket = Number(r.b);
    const id = `${bucket}\u0000${r.e}`;
    let cell = cells.get(id);
    if (!cell) {
      cell = {
        bucket,
        experiment: String(r.e),
        counts: emptyTrendCounts(),
      };
      cells.set(id, cell);
    }
    const c = cell.counts;
    const verdict = r.verdict as (typeof VERDICTS)[number];
    if (!(verdict in c.verdicts)) continue;
    c.verdicts[verdict] += Number(r.n);
    // A run refused before it started is a verdict to count, not a run to judge.
    if (verdict === 'refused') continue;
    c.runs += Number(r.n);
    if (verdict === 'passed') c.passed += Number(r.n);
    c.withFacts += Number(r.with_facts);
    c.faults += Number(r.faults ?? 0);
    c.targets += Number(r.targets ?? 0);
    c.maxTargets = Math.max(c.maxTargets, Number(r.max_targets ?? 0));
    c.leftFaults += Number(r.left_faults ?? 0);
    c.safeguardBreaches += Number(r.breaches ?? 0);
  }
  return [...cells.values()];
}

/** Median and p90, interpolated between the ranks around each (as PostgreSQL's percentile_cont), of sorted values. */
export function percentiles(sorted: readonly number[]): RecoveryFigures {
  const n = sorted.length;
  // Position p (n-1) as a whole part and tenths, in integers, so 0.9 x 10 is never 8.999...
  const at = (tenths: number) => {
    const whole = Math.floor((tenths * (n - 1)) / 10);
    const frac = ((tenths * (n - 1)) % 10) / 10;
    const lo = sorted[whole] as number;
    return frac === 0 ? lo : lo + ((sorted[whole + 1] as number) - lo) * frac;
  };
  return { samples: n, median: at(5), p90: at(9) };
}

/** trendAggregates' recovery times, per group as text, to median and p90 overall, per bucket and per experiment. */
function recoveryFigures(rows: readonly CellRow[]): TrendAggregates['recovery'] {
  const all: number[] = [];
  const buckets = new Map<number, number[]>();
  const experiments = new Map<string, number[]>();
  // Loops, not push(...vs): one group may hold more values than a call takes arguments.
  const into = <K>(map: Map<K, number[]>, key: K, vs: readonly number[]) => {
    const list = map.get(key) ?? [];
    map.set(key, list);
    for (const v of vs) list.push(v);
  };
  for (const r of rows) {
    if (r.verdict === 'refused' || r.recoveries === null || r.recoveries === '') continue;
    const vs = r.recoveries.split(',').map(Number);
    for (const v of vs) all.push(v);
    into(buckets, Number(r.b), vs);
    into(experiments, String(r.e), vs);
  }
  const figures = (vs: number[]) => percentiles(vs.sort((a, b) => a - b));
  return {
    ...(all.length > 0 ? { overall: figures(all) } : {}),
    buckets: new Map([...buckets].map(([k, vs]) => [k, figures(vs)])),
    experiments: new Map([...experiments].map(([k, vs]) => [k, figures(vs)])),
  };
}

/** A filter's instant as stored: ISO 8601 in UTC, so text comparison is time comparison. */
function isoUtc(text: string): string {
  return new Date(text).toISOString();
}

/** PostgreSQL's 23505, SQLite's SQLITE_CONSTRAINT_PRIMARYKEY / _UNIQUE. */
function isUniqueViolation(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
