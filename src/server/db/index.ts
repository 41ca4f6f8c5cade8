/**
 * The control plane's storage, opened and migrated: `openStore({ database, home })` is what
 * `faultline serve` calls at start.
 *
 * @example
 * const store = await openStore({ home: faultlineHome() });                       // $FAULTLINE_HOME/faultline.db
 * const team = await openStore({ home, database: 'postgres://app@db/faultline' }); // a shared PostgreSQL
 */
import type { Store } from '../store.js';
import { connect } from './connect.js';
import { KyselyStore } from './kysely-store.js';
import { parseDatabase } from './location.js';

export { decodeCursor, encodeCursor } from './cursor.js';
export { type DatabaseLocation, describeLocation, parseDatabase, redactUrl } from './location.js';

export interface OpenStoreOptions {
  /** `--database`: a SQLite path, `sqlite:///abs/path.db` or `postgres://...`; default `<home>/faultline.db`. */
  database?: string;
  /** $FAULTLINE_HOME. */
  home: string;
}

/**
 * Opens the database and applies the migrations it lacks. Throws FAULTLINE_ERR_USAGE for a `database`
 * it cannot parse, FAULTLINE_ERR_STORE for one it cannot open, reach or migrate (naming it without its
 * password, and what to do).
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const store = new KyselyStore(await connect(parseDatabase(options.database, options.home)));
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}
