/**
 * Where the control plane's database is (`faultline serve --database`): a SQLite file (the default,
 * `<home>/faultline.db`, a plain path or `sqlite:///abs/path.db`) or a PostgreSQL URL. Pure, so the
 * parsing and the password redaction (every message and `Store.describe` name the database through
 * `redactUrl`, never with its password) are unit-tested without a database.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { FaultlineError } from '../../core/errors.js';

export type DatabaseLocation =
  | {
      kind: 'sqlite';
      path: string /** The default file in the Faultline home (its trust rules apply). */;
      inHome: boolean;
    }
  | {
      kind: 'postgres';
      url: string /** The URL without its password, for messages. */;
      redacted: string;
      password?: string;
    };

const POSTGRES = /^postgres(?:ql)?:\/\//i;
const SQLITE = /^sqlite:\/\//i;
const OTHER_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Parses `--database`: undefined is `<home>/faultline.db`. Throws FAULTLINE_ERR_USAGE (exit 2) for
 * what it cannot be, naming the flag and what is expected, with any password removed.
 *
 * @example parseDatabase('postgres://app:pw@db:5432/faultline', home) // { kind: 'postgres', redacted: 'postgres://app@db:5432/faultline', ... }
 */
export function parseDatabase(database: string | undefined, home: string): DatabaseLocation {
  if (database === undefined || database === '') {
    return { kind: 'sqlite', path: join(home, 'faultline.db'), inHome: true };
  }
  if (POSTGRES.test(database)) {
    let url: URL;
    try {
      url = new URL(database);
    } catch {
      throw usage(
        `--database: ${redactUrl(database)} is not a valid URL; expected postgres://user[:password]@host[:port]/database`,
      );
    }
    const password = url.password
      ? decodeURIComponent(url.password)
      : (url.searchParams.get('password') ?? undefined);
    return {
      kind: 'postgres',
      url: database,
      redacted: redactUrl(database),
      ...(password ? { password } : {}),
    };
  }
  if (SQLITE.test(database)) {
    let path = database.replace(SQLITE, '');
    try {
      path = decodeURIComponent(path);
    } catch {
      throw usage(`--database: ${database} has a malformed %-escape; expected sqlite:///absolute/path.db`);
    }
    if (!isAbsolute(path)) {
      throw usage(
        `--database: ${database} is not an absolute path; expected sqlite:///absolute/path.db (three slashes) or a plain path`,
      );
    }
    return { kind: 'sqlite', path: resolve(path), inHome: false };
  }
  if (OTHER_SCHEME.test(database)) {
    throw usage(
      `--database: ${redactUrl(database)} is not supported; expected a file path, sqlite:///path.db or postgres://user@host/database`,
    );
  }
  return { kind: 'sqlite', path: resolve(database), inHome: false };
}

/**
 * The URL with its password removed (userinfo and a `password` query parameter); text that is not a
 * URL loses everything between `://` and an `@`, so a password never survives a parse error.
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text.replace(/(:\/\/[^/@:]*):[^/@]*@/, '$1@');
  }
  if (url.password) url.password = '';
  if (url.searchParams.has('password')) url.searchParams.set('password', '***');
  // new URL keeps 'user:@host' when the password is emptied on some inputs: drop the stray colon.
  return url.toString().replace(/(:\/\/[^/@:]*):@/, '$1@');
}

/** What `Store.describe` says: the kind and where. */
export function describeLocation(loc: DatabaseLocation): string {
  return loc.kind === 'sqlite' ? `sqlite ${loc.path}` : `postgres ${loc.redacted}`;
}

function usage(message: string): FaultlineError {
  return new FaultlineError('FAULTLINE_ERR_USAGE', message);
}
