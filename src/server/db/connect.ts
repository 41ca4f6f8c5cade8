/**
 * Opens Kysely on either database; the connection-level differences between them live here (the rest of
 * the store is one query layer):
 *
 * - SQLite (better-sqlite3 12): WAL (readers never block the writer), a 5 s busy timeout (several
 *   stores or servers on one file wait for the write lock instead of failing), foreign keys on,
 *   transactions `BEGIN IMMEDIATE` (a transaction that reads then writes takes the write lock at its
 *   start, so two processes never deadlock on the upgrade, which SQLite answers with SQLITE_BUSY at once),
 *   migrations included (TransactionalDdlSqliteAdapter).
 *   A new file is created 0600; the default file's home passes the home's trust rules first.
 * - PostgreSQL (pg's Pool): json/jsonb come back as text like SQLite's (decoded in rows.ts), int8 as a
 *   number; an idle connection the server drops is discarded by the pool, not thrown at the process.
 */
import { constants as fsc } from 'node:fs';
import { access, mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
} from 'kysely';
import pg from 'pg';
import { FaultlineError } from '../../core/errors.js';
import { checkHomeTrusted, distrust } from '../../faults/home.js';
import { storeError } from './errors.js';
import { type DatabaseLocation, describeLocation } from './location.js';
import type { Database, DbKind } from './tables.js';

export interface Connection {
  kind: DbKind;
  db: Kysely<Database>;
  describe: string;
  password?: string;
  /** Where Kysely's migration tables live (PostgreSQL: the connection's own schema). */
  migrationSchema?: string;
  /** A check beyond `select 1`, for what a round trip cannot see: the reason it is unhealthy. */
  check(): Promise<string | undefined>;
  /** Runs one store operation; on SQLite, one at a time per database file in this process (see sqliteLocks). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

const BUSY_TIMEOUT_MS = 5000;
const PG_CONNECT_TIMEOUT_MS = 5000;
const PG_STATEMENT_TIMEOUT_MS = 30_000;

export async function connect(loc: DatabaseLocation): Promise<Connection> {
  return loc.kind === 'sqlite' ? connectSqlite(loc) : connectPostgres(loc);
}

async function connectSqlite(loc: Extract<DatabaseLocation, { kind: 'sqlite' }>): Promise<Connection> {
  const describe = describeLocation(loc);
  const fail = (why: string) => new FaultlineError('FAULTLINE_ERR_STORE', `cannot open ${describe}: ${why}`);
  const dir = dirname(loc.path);
  if (loc.inHome) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await checkHomeTrusted(dir);
    } catch (err) {
      throw fail((err as Error).message);
    }
  }
  const dirStat = await stat(dir).catch(() => undefined);
  if (!dirStat) throw fail(`the directory ${dir} does not exist; create it, or pass another --database`);
  if (!dirStat.isDirectory()) throw fail(`${dir} is not a directory; pass another --database`);
  try {
    await access(dir, fsc.W_OK);
  } catch {
    throw fail(
      `the directory ${dir} is not writable by this user (SQLite writes its WAL beside the file); pass another --database`,
    );
  }
  const fileStat = await stat(loc.path).catch(() => undefined);
  if (fileStat && !fileStat.isFile())
    throw fail(`${loc.path} is not a regular file; pass another --database`);
  // The home's rule for the file in it: runs queued in a database another user can write would run
  // with this user's rights.
  const distrusted = loc.inHome && fileStat ? distrust(loc.path, fileStat) : null;
  if (distrusted) {
    throw fail(
      `untrusted Faultline home: ${distrusted}; fix: chmod 600 ${loc.path} after checking it, or set FAULTLINE_HOME to a directory of your own`,
    );
  }
  if (!fileStat) {
    // Created here, 0600, before SQLite opens it: SQLite gives its -wal and -shm files the same mode.
    const fh = await open(loc.path, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o600).catch((err) => {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw fail(`cannot create the file: ${(err as Error).message}`);
    });
    await fh?.close();
  }
  let raw: BetterSqlite3.Database | undefined;
  try {
    raw = new BetterSqlite3(loc.path, { timeout: BUSY_TIMEOUT_MS });
    raw.pragma('journal_mode = WAL');
    // FULL: a commit is on disk when it returns, so a finished run's journal survives a power loss too
    // (NORMAL would only survive a crash of this process). The store writes a few rows per run.
    raw.pragma('synchronous = FULL');
    raw.pragma('foreign_keys = ON');
    // Planner statistics, as SQLite recommends for long-lived connections: without them it cannot tell
    // a rare tag from an experiment's few aborted runs and may read the wrong index for a filter pair.
    // Bounded work (analysis_limit), and only for tables whose size changed a lot since the last time.
    raw.pragma('analysis_limit = 1000');
    raw.pragma('optimize = 0x10002');
  } catch (err) {
    raw?.close();
    throw storeError('opening the database', describe, err);
  }
  const opened = await stat(loc.path);
  const lockKey = `${opened.dev}:${opened.ino}`;
  return {
    kind: 'sqlite',
    db: new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: raw }) }),
    describe,
    async check() {
      // A round trip on an open SQLite handle succeeds even after its file is deleted or moved away (the
      // handle keeps the old inode): what was written since would be lost, so that is unhealthy too.
      const now = await stat(loc.path).catch(() => undefined);
      if (!now) return `the database file ${loc.path} is gone (moved or deleted); put it back`;
      if (now.ino !== opened.ino || now.dev !== opened.dev) {
        return `the database file ${loc.path} was replaced by another file since it was opened; restart the server`;
      }
      return undefined;
    },
    exclusive: (fn) => inProcessLock(lockKey, fn),
  };
}

/**
 * better-sqlite3 is synchronous: while one store of this process holds a write transaction open across
 * an await, another store on the same file would wait for the lock inside a synchronous call (the busy
 * timeout), blocking the event loop the first one needs to finish: a deadlock until the timeout. So the
 * stores of one process on one file take turns here; other processes wait in SQLite's busy handler.
 */
const sqliteLocks = new Map<string, Promise<unknown>>();

async function inProcessLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = sqliteLocks.get(key) ?? Promise.resolve();
  const mine = previous.then(fn, fn);
  const settled = mine.then(
    () => undefined,
    () => undefined,
  );
  sqliteLocks.set(key, settled);
  try {
    return await mine;
  } finally {
    if (sqliteLocks.get(key) === settled) sqliteLocks.delete(key);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver(this.#config);
  }
  override createAdapter(): SqliteAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/**
 * SQLite's DDL is transactional, but Kysely's adapter says otherwise, so its Migrator would apply
 * migrations with no transaction and no lock: a crash mid-migration would leave half a schema, and two
 * servers starting on a new file at once would both create the tables. Said true, each run of the
 * Migrator is one BEGIN IMMEDIATE transaction: the second server waits, then finds nothing to apply.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

const PG_JSON = 114;
const PG_JSONB = 3802;
const PG_INT8 = 20;

/** json/jsonb as text (rows.ts decodes them as it does SQLite's text), int8 (counts, ids) as numbers. */
const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === PG_JSON || oid === PG_JSONB) return (v: string) => v;
    if (oid === PG_INT8) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

async function connectPostgres(loc: Extract<DatabaseLocation, { kind: 'postgres' }>): Promise<Connection> {
  const describe = describeLocation(loc);
  const pool = new pg.Pool({
    connectionString: loc.url,
    types: pgTypes,
    max: 10,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    // A statement stuck behind a lock (a table locked by hand, or by a postgres fault aimed at this
    // database) fails as FAULTLINE_ERR_STORE instead of hanging the request that made it.
    statement_timeout: PG_STATEMENT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    // Not `faultline-...`: that prefix is what the postgres faults tag their own backends with.
    application_name: 'faultline serve',
  });
  // An idle client whose backend is terminated emits 'error' on the pool; unhandled it would end the
  // process. The pool drops that client; the next query opens a new connection.
  pool.on('error', () => undefined);
  // A checked-out client whose backend ends between its query failing and its release has no pool
  // listener yet: without its own, that late 'error' is an uncaught exception. The pool still discards
  // it at release (it is no longer queryable).
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let schema: string;
  try {
    const res = await db.executeQuery<{ schema: string | null }>(
      CompiledQuery.raw('select current_schema() as schema'),
    );
    const s = res.rows[0]?.schema;
    if (!s) {
      throw new FaultlineError(
        'FAULTLINE_ERR_STORE',
        `cannot use ${describe}: the connection has no schema to create tables in (search_path); set the user's search_path or create its schema`,
      );
    }
    schema = s;
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw storeError('connecting', describe, err, loc.password);
  }
  return {
    kind: 'postgres',
    db,
    describe,
    ...(loc.password ? { password: loc.password } : {}),
    migrationSchema: schema,
    async check() {
      return undefined;
    },
    exclusive: (fn) => fn(),
  };
}
