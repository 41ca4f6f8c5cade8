/**
 * The machine's PostgreSQL for tests (127.0.0.1:5432, trust auth, database `test`): whether it can be
 * reached, statements as its superuser, and a scratch login role with a schema of its own that a test
 * can take away (NOLOGIN and its connections terminated) and give back, then drop with all it made.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;

/** Runs one statement on `connection` (default: the superuser on `test`). */
export async function pgExec(text: string, connection: pg.ClientConfig | string = PG): Promise<void> {
  const c = new pg.Client(
    typeof connection === 'string'
      ? { connectionString: connection, connectionTimeoutMillis: 5000 }
      : { ...connection, connectionTimeoutMillis: 5000 },
  );
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Why the PostgreSQL tests skip here, or undefined when it answers. */
export async function pgSkipReason(): Promise<string | undefined> {
  try {
    await pgExec('select 1');
    return undefined;
  } catch (err) {
    return `PostgreSQL at 127.0.0.1:5432 (database test) is not reachable: ${(err as Error).message}`;
  }
}

export interface ScratchRole {
  role: string;
  /** A URL for the role (its schema first on its search_path), with `password` in it if given. */
  url(password?: string): string;
  /** The role can no longer log in and its connections are cut: the database is gone for it. */
  disappear(): Promise<void>;
  comeBack(): Promise<void>;
  /** Terminates its connections, drops every schema it made (its own, others it created), then the role. */
  drop(): Promise<void>;
}

/** A login role `<prefix>_<pid>_<random>` with a schema of the same name first on its search_path. */
export async function pgScratchRole(prefix: string): Promise<ScratchRole> {
  const role = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const terminate = () =>
    pgExec(`select pg_terminate_backend(pid) from pg_stat_activity where usename = '${role}'`);
  const drop = async () => {
    await terminate();
    await pgExec(
      `do $$ begin if exists (select from pg_roles where rolname = '${role}') then execute 'drop owned by ${role} cascade'; end if; end $$`,
    );
    await pgExec(`drop role if exists ${role}`);
  };
  try {
    await pgExec(`create role ${role} login`);
    await pgExec(`create schema ${role} authorization ${role}`);
    await pgExec(`alter role ${role} set search_path = ${role}`);
  } catch (err) {
    await drop().catch(() => undefined);
    throw err;
  }
  return {
    role,
    url: (password) => `postgres://${role}${password ? `:${password}` : ''}@127.0.0.1:5432/test`,
    async disappear() {
      await pgExec(`alter role ${role} nologin`);
      await terminate();
    },
    comeBack: () => pgExec(`alter role ${role} login`),
    drop,
  };
}
