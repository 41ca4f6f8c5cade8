/**
 * `faultline serve` as a library call: recover what a previous life of this
 * server left (runs it was running are marked interrupted, faults of runners
 * that died are reverted from the ledger), start the run loop and listen.
 * The server's id is kept in $FAULTLINE_HOME per database, so the same server
 * restarted on the same database finds the runs it had claimed.
 *
 * On loopback it answers without sign-in while no user exists (a laptop
 * needs nothing); beyond loopback every request needs a session or a token
 * (auth/), so listening there is refused until an admin user exists to sign
 * in with. TLS is for a proxy in front, or `tls` (a certificate and key).
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { FaultlineError } from '../core/errors.js';
import { ensureDir, writeAtomic } from '../faults/home.js';
import type { RecoveryReport } from '../faults/recovery.js';
import type { FleetConnectOptions } from '../fleet/connect.js';
import { recoverOrphans } from '../lib/faults.js';
import { createApp } from './app.js';
import { BlackoutWatcher } from './blackouts/watcher.js';
import { HaltWatcher } from './halt.js';
import { ServerNotifier } from './notify.js';
import { Runner, removeWorkDirs } from './runner.js';
import { Scheduler } from './schedules/scheduler.js';
import type { Run, Store } from './store.js';

/** The default port: unassigned by IANA, free of the usual developer tools (7474 is Neo4j's HTTP: pick --port when both run). */
export const DEFAULT_PORT = 7474;
export const DEFAULT_HOST = '127.0.0.1';

export interface ServeOptions {
  store: Store;
  /** $FAULTLINE_HOME: the ledger, the halt flag, settings.yaml, and this server's id. */
  home: string;
  /** Default 127.0.0.1; beyond loopback only once the store has an admin user (checkHost). */
  host?: string;
  /** Speak HTTPS with this certificate chain and key (PEM); session cookies are then Secure. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** How long a sign-in lasts (default 12 h). */
  sessionTtlMs?: number;
  /** Failed sign-ins allowed per name and per address (default SIGN_IN_LIMITS in app.ts). */
  signInLimits?: { perUser: number; perAddress: number; windowMs: number };
  /** Default 7474; 0 picks a free one (`url` says which). */
  port?: number;
  env?: NodeJS.ProcessEnv;
  /** The fleet's NATS (`serve --nats`): runs may place faults on agents, and the emergency stop halts them. */
  fleet?: FleetConnectOptions;
  /** How often the run loop looks for runs queued by another server on the same database. */
  pollMs?: number;
  /** How often the emergency stop is read from the database (a halt raised through another server; default 1 s). */
  haltPollMs?: number;
  /** How often schedules changed through another server are read again (default 2 s). */
  schedulePollMs?: number;
  /** How often blackout windows are looked at (default 1 s). */
  blackoutPollMs?: number;
  onProblem?: (message: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  serverId: string;
  /** Runs this server had claimed when it stopped last (killed mid-run), now marked interrupted. */
  interrupted: Run[];
  /** The ledger's faults of runners that died, reverted at start. */
  recovery: RecoveryReport;
  /** Stops claiming runs, interrupts the one running (its faults are reverted) and stops listening. */
  close(): Promise<void>;
}

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|::1|\[::1\])$/i;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/**
 * Refuses an address beyond loopback while `store` has no enabled admin (nobody could sign in to a
 * server that requires sign-in), naming `field` (the CLI's `--host`) and how to create one.
 */
export async function checkHost(host: string, store: Store, field = 'host'): Promise<void> {
  if (isLoopback(host)) return;
  if ((await store.countAdmins()) > 0) return;
  throw new FaultlineError(
    'FAULTLINE_ERR_USAGE',
    `${field} ${host}: beyond loopback every request needs sign-in, and ${store.describe} has no admin user yet; create one first with \`faultline serve user add NAME --role admin\` (same --database), or listen on 127.0.0.1`,
  );
}

/** This server's id on this database: made once, kept in the home. */
export async function serverIdFor(home: string, database: string): Promise<string> {
  const dir = join(home, 'server');
  const file = join(dir, `${createHash('sha256').update(database).digest('hex').slice(0, 16)}.id`);
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (/^[A-Za-z0-9-]{8,64}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = `server-${randomUUID()}`;
  await ensureDir(dir);
  await writeAtomic(file, `${id}\n`);
  return id;
}

/** How long start-up recovery waits for one leftover's revert before reporting it. */
const RECOVERY_REVERT_TIMEOUT_MS = 5_000;

export const INTERRUPTED_AT_RESTART =
  'the server stopped while the run was running (killed or crashed); it was marked interrupted and its faults reverted when the server started again';

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const host = opts.host ?? DEFAULT_HOST;
  const port = opts.port ?? DEFAULT_PORT;
  const { store, home } = opts;
  await checkHost(host, store);
  const serverId = await serverIdFor(home, store.describe);

  // Faults first, then the runs' records: a run is recorded interrupted once its faults are gone.
  const recovery = await recoverOrphans({ home, bounded: true, revertTimeoutMs: RECOVERY_REVERT_TIMEOUT_MS });
  const interrupted = await store.interruptRunsOf(serverId, INTERRUPTED_AT_RESTART);
  await removeWorkDirs(home, serverId);

  const problem = opts.onProblem ? { onProblem: opts.onProblem } : {};
  const notifier = new ServerNotifier({ home, ...problem });
  // Built before the runner it stops, asked by the runner before each claim (the closure reads it then).
  let blackouts: BlackoutWatcher | undefined;
  const runner = new Runner({
    store,
    serverId,
    home,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    ...(opts.fleet ? { fleet: opts.fleet } : {}),
    // While the emergency stop is raised (by any server on this database), or a blackout is in force,
    // queued runs stay queued.
    mayClaim: async () => (await store.getHalt()) === undefined && (await blackouts?.current()) === undefined,
    ...problem,
  });
  blackouts = new BlackoutWatcher({
    store,
    runner,
    home,
    serverId,
    notify: notifier.notify,
    ...(opts.blackoutPollMs !== undefined ? { pollMs: opts.blackoutPollMs } : {}),
    ...problem,
  });
  const scheduler = new Scheduler({
    store,
    runner,
    serverId,
    home,
    blackout: blackouts,
    notify: notifier.notify,
    ...(opts.schedulePollMs !== undefined ? { pollMs: opts.schedulePollMs } : {}),
    ...problem,
  });
  const closers: (() => Promise<void>)[] = [];
  // A halt already raised on the database is applied here before the run loop claims anything and
  // before the API answers; from then on every halt raised or released through any server is followed.
  const watcher = new HaltWatcher({
    store,
    runner,
    home,
    serverId,
    ...(opts.haltPollMs !== undefined ? { pollMs: opts.haltPollMs } : {}),
    ...(opts.onProblem ? { onProblem: opts.onProblem } : {}),
  });
  await watcher.start();
  // A blackout already open is in force before the run loop claims anything.
  await blackouts.start();
  const app = createApp({
    store,
    runner,
    serverId,
    exposed: !isLoopback(host),
    home,
    ...(opts.fleet ? { fleet: opts.fleet } : {}),
    ...(opts.tls ? { tls: true } : {}),
    ...(opts.sessionTtlMs !== undefined ? { sessionTtlMs: opts.sessionTtlMs } : {}),
    ...(opts.signInLimits ? { signInLimits: opts.signInLimits } : {}),
    ...problem,
    notify: notifier.notify,
    blackout: blackouts,
    wakeScheduler: () => scheduler.wake(),
    onClose: (fn) => closers.push(fn),
  });

  const listening = new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        hostname: host,
        port,
        ...(opts.tls
          ? { createServer: createHttpsServer, serverOptions: { cert: opts.tls.cert, key: opts.tls.key } }
          : {}),
      },
      () => resolve(s),
    );
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new FaultlineError(
          'FAULTLINE_ERR_USAGE',
          err.code === 'EADDRINUSE'
            ? `port ${port}: already in use on ${host} (pick another with --port)`
            : `cannot listen on ${host}:${port}: ${err.message}`,
        ),
      ),
    );
  });
  const server = await listening.catch(async (err) => {
    await blackouts.stop();
    await watcher.stop();
    throw err;
  });
  // A client that opens a connection and never finishes its request must not hold a socket forever.
  if ('headersTimeout' in server) {
    server.headersTimeout = 30_000;
    server.requestTimeout = 120_000;
  }
  runner.start();
  scheduler.start();
  const actual = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${urlHost}:${actual}`,
    port: actual,
    serverId,
    interrupted,
    recovery,
    close() {
      closing ??= (async () => {
        await scheduler.stop();
        // Game days in progress are stopped (their runs interrupted, faults reverted) before the runner.
        for (const close of closers) await close().catch((err: Error) => opts.onProblem?.(err.message));
        await blackouts.stop();
        await watcher.stop();
        await runner.stop('the server is shutting down');
        await notifier.flush();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ('closeAllConnections' in server) server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
