/**
 * `faultline serve`: opens the store, starts the control plane (server/server.ts)
 * and prints its URL; Ctrl-C or SIGTERM stops it after the run it is running
 * has been interrupted and its faults reverted (a second signal exits at once).
 * With `--nats` (and the other NATS flags of the fleet commands) its runs place
 * `targets:` faults on the fleet's agents and its emergency stop halts them.
 *
 * `faultline serve user|token ...` work on the store directly (not through a
 * running server), so the first admin can be made before the server starts,
 * by someone who can open its database. Passwords come from a prompt that
 * does not echo, or from stdin (`--password-stdin`): never from a flag, which
 * other users could read in the process list and which stays in shell history.
 *
 * The store and the server are imported when a command runs, not when main.ts registers these
 * commands: every other command would otherwise load both databases' drivers at start.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { FaultlineError } from '../core/errors.js';
import { faultlineHome } from '../faults/home.js';
import type { FleetConnectOptions } from '../fleet/connect.js';
import { LOCAL_ACTOR } from '../server/auth/access.js';
import { ROLES, type Role } from '../server/auth/roles.js';
import { PasswordSchema } from '../server/auth/schemas.js';
import { hashPassword, newToken, secretHash } from '../server/auth/secrets.js';
import type { RunningServer } from '../server/server.js';
import { type Store, TokenNameSchema, UserNameSchema } from '../server/store.js';
import { NATS_DETAIL_FLAGS, type NatsFlags, natsConnectOptions, natsFlagName } from './nats-options.js';
import { type Output, printText } from './output.js';
import { waitForSignal } from './wait-signal.js';

export interface ServeFlags extends NatsFlags {
  host?: string;
  port?: string;
  database?: string;
  tlsCert?: string;
  tlsKey?: string;
}

function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535)
    throw new FaultlineError('FAULTLINE_ERR_USAGE', `--port: expected a port number 0-65535, got '${value}'`);
  return Number(value);
}

async function readTls(flags: ServeFlags): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (flags.tlsCert === undefined && flags.tlsKey === undefined) return undefined;
  if (flags.tlsCert === undefined || flags.tlsKey === undefined)
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `${flags.tlsCert === undefined ? '--tls-cert' : '--tls-key'}: expected with ${flags.tlsCert === undefined ? '--tls-key' : '--tls-cert'} (a PEM certificate chain and its key)`,
    );
  const read = async (flag: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `${flag} ${path}: cannot read it: ${(err as Error).message}`,
      );
    }
  };
  return { cert: await read('--tls-cert', flags.tlsCert), key: await read('--tls-key', flags.tlsKey) };
}

/**
 * The fleet's NATS from `--nats` and its companions, or undefined: without `--nats` the server never
 * connects to NATS ($FAULTLINE_NATS_URL alone does not make a server a fleet controller).
 */
export function serveFleet(
  flags: NatsFlags,
  env: NodeJS.ProcessEnv = process.env,
): FleetConnectOptions | undefined {
  if (flags.nats === undefined) {
    const stray = NATS_DETAIL_FLAGS.find((k) => flags[k] !== undefined);
    if (stray)
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `${natsFlagName(stray)}: only with --nats (the fleet's NATS URL, e.g. --nats nats://127.0.0.1:4222)`,
      );
    return undefined;
  }
  const urls = flags.nats
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  if (urls.length === 0)
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--nats: expected one or more NATS URLs (nats://host:4222, comma-separated), got '${flags.nats}'`,
    );
  const bad = urls.find((u) => !/^(?:(?:nats|tls|ws|wss):\/\/)?[^\s/]+(?::\d{1,5})?\/?$/i.test(u));
  if (bad)
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--nats: '${bad.replace(/\/\/[^/@\s]+@/, '//***@')}' is not a NATS URL (expected nats://host:4222)`,
    );
  return natsConnectOptions(flags, `faultline-serve-${hostname()}-${process.pid}`, env);
}

export async function serveCommand(flags: ServeFlags, out: Output): Promise<number> {
  const { openStore } = await import('../server/db/index.js');
  const { checkHost, DEFAULT_HOST, DEFAULT_PORT, startServer } = await import('../server/server.js');
  const host = flags.host ?? DEFAULT_HOST;
  const port = flags.port === undefined ? DEFAULT_PORT : parsePort(flags.port);
  const tls = await readTls(flags);
  const fleet = serveFleet(flags);
  const home = faultlineHome();
  const store = await openStore({
    home,
    ...(flags.database !== undefined ? { database: flags.database } : {}),
  });
  let server: RunningServer | undefined;
  try {
    await checkHost(host, store, '--host');
    server = await startServer({
      store,
      home,
      host,
      port,
      ...(tls ? { tls } : {}),
      ...(fleet ? { fleet } : {}),
      onProblem: (message) => out.warn(message),
    });
    for (const run of server.interrupted)
      out.warn(`run ${run.id} (${run.title}) was running when the server stopped: marked interrupted`);
    for (const r of server.recovery.reverted) out.warn(`reverted a leftover fault: ${r.kind} on ${r.target}`);
    for (const r of server.recovery.failed)
      out.warn(`could not revert a leftover fault: ${r.kind} on ${r.target}: ${r.error ?? 'unknown error'}`);
    out.summary(`faultline serve: listening on ${server.url} (database: ${store.describe})`);
    out.info(`API: ${server.url}/api, OpenAPI document: ${server.url}/api/openapi.json`);
    if (fleet) {
      // Said at start rather than at the first run or halt that needs the fleet; the server runs either way.
      const problem = await fleetProblem(fleet);
      if (problem)
        out.warn(
          `--nats: ${problem}; runs with \`targets:\` fail and the emergency stop cannot halt the fleet until it answers`,
        );
      else
        out.info(
          'fleet: connected to NATS; runs place `targets:` faults on agents, the emergency stop halts them',
        );
    }
    if (!(await store.hasUsers()) && !tls && host === DEFAULT_HOST)
      out.info(
        'no users: requests from this machine are the anonymous admin `local`; `faultline serve user add NAME --role admin` makes sign-in required',
      );
    const signals = waitForSignal((sig) =>
      out.warn(`${sig} again: exiting now; a running run's faults are reverted by \`faultline recover\``),
    );
    const sig = await signals.promise;
    out.info(`${sig}: stopping (a running run is interrupted and its faults reverted first)`);
    await server.close();
    signals.dispose();
    return 0;
  } finally {
    await server?.close();
    await store.close();
  }
}

/** Why the fleet's NATS cannot be used now, or undefined when a controller can open on it. */
async function fleetProblem(fleet: FleetConnectOptions): Promise<string | undefined> {
  const { FleetController } = await import('../fleet/controller.js');
  try {
    const ctl = await FleetController.open({ ...fleet, reconnect: false });
    await ctl.close({ leave: true });
    return undefined;
  } catch (err) {
    return ((err as Error)?.message ?? String(err)).replace(/\/\/[^/@\s]+@/g, '//***@');
  }
}

// ------------------------------------------------------------------ users and tokens

export interface StoreFlags {
  database?: string;
}

async function withStore<T>(flags: StoreFlags, fn: (store: Store) => Promise<T>): Promise<T> {
  const { openStore } = await import('../server/db/index.js');
  const store = await openStore({
    home: faultlineHome(),
    ...(flags.database !== undefined ? { database: flags.database } : {}),
  });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** `--role`, checked here rather than at registration (main.ts registers without loading the roles). */
function parseRole(value: string): Role {
  if ((ROLES as readonly string[]).includes(value)) return value as Role;
  throw new FaultlineError(
    'FAULTLINE_ERR_USAGE',
    `--role: expected one of ${ROLES.join(', ')}, got '${value}'`,
  );
}

function parseName(schema: typeof UserNameSchema | typeof TokenNameSchema, value: string): string {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `NAME '${value}': ${r.error.issues[0]?.message ?? 'invalid'}`,
    );
  return r.data;
}

/** Reads a line from the terminal without echoing it (raw mode: each key arrives as typed). */
function askHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let chars: string[] = [];
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(chars.join(''));
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          reject(new FaultlineError('FAULTLINE_ERR_USAGE', 'password: cancelled, no user was added'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') chars = chars.slice(0, -1);
        else if (ch === '\u0015') chars = [];
        else if (ch >= ' ') chars.push(ch);
      }
    };
    stdin.on('data', onData);
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function readPassword(name: string, passwordStdin: boolean): Promise<string> {
  let password: string;
  let source: string;
  if (passwordStdin) {
    // One trailing line end is the end of `echo`, not part of the password.
    password = (await readStdin()).replace(/\r?\n$/, '');
    source = '--password-stdin';
  } else if (process.stdin.isTTY) {
    password = await askHidden(`password for ${name}: `);
    const again = await askHidden('the same password again: ');
    if (again !== password)
      throw new FaultlineError('FAULTLINE_ERR_USAGE', 'password: the two entries differ; no user was added');
    source = 'password';
  } else {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      'password: stdin is not a terminal to ask on; pass the password on stdin with --password-stdin',
    );
  }
  const checked = PasswordSchema.safeParse(password);
  if (!checked.success)
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `${source}: ${checked.error.issues[0]?.message ?? 'invalid'}`,
    );
  return password;
}

export async function userAddCommand(
  nameArg: string,
  flags: StoreFlags & { role: string; passwordStdin?: boolean },
  out: Output,
): Promise<number> {
  const name = parseName(UserNameSchema, nameArg);
  const role = parseRole(flags.role);
  const password = await readPassword(name, flags.passwordStdin ?? false);
  const passwordHash = await hashPassword(password);
  return withStore(flags, async (store) => {
    const user = await store.createUser({ name, role, passwordHash });
    if (!user)
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `NAME '${name}': a user with that name exists in ${store.describe}`,
      );
    await store.audit({
      actor: LOCAL_ACTOR,
      action: 'user.create',
      subject: name,
      detail: { role: user.role, via: 'cli' },
    });
    out.summary(`user ${name} added (${user.role}) in ${store.describe}`);
    return 0;
  });
}

export async function userListCommand(flags: StoreFlags & { json?: boolean }, _out: Output): Promise<number> {
  return withStore(flags, async (store) => {
    const users = await store.listUsers();
    if (flags.json) {
      printText(`${JSON.stringify(users, null, 2)}\n`);
      return 0;
    }
    const rows = [
      ['NAME', 'ROLE', 'CREATED', 'STATE'],
      ...users.map((u) => [u.name, u.role, u.createdAt, u.disabled ? 'disabled' : 'enabled']),
    ];
    printText(table(rows));
    return 0;
  });
}

export async function tokenAddCommand(
  nameArg: string,
  flags: StoreFlags & { role: string; owner?: string },
  out: Output,
): Promise<number> {
  const name = parseName(TokenNameSchema, nameArg);
  const role = parseRole(flags.role);
  return withStore(flags, async (store) => {
    let owner = LOCAL_ACTOR;
    if (flags.owner !== undefined) {
      const found = await store.getUserCredentials(flags.owner);
      if (!found)
        throw new FaultlineError(
          'FAULTLINE_ERR_USAGE',
          `--owner ${flags.owner}: no such user in ${store.describe}`,
        );
      owner = found.user.name;
    }
    const secret = newToken();
    const token = await store.createToken({ name, owner, role, tokenHash: secretHash(secret) });
    if (!token)
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `NAME '${name}': a token with that name exists in ${store.describe}`,
      );
    await store.audit({
      actor: LOCAL_ACTOR,
      action: 'token.create',
      subject: name,
      detail: { role: token.role, owner, via: 'cli' },
    });
    // The token alone on stdout (for `TOKEN=$(faultline serve token add ...)`); the note on stderr.
    printText(`${secret}\n`);
    out.summary(
      `token ${name} (${token.role}, owner ${owner}) added in ${store.describe}: it is shown this once; send it as Authorization: Bearer <token>`,
    );
    return 0;
  });
}

export async function tokenListCommand(
  flags: StoreFlags & { json?: boolean },
  _out: Output,
): Promise<number> {
  return withStore(flags, async (store) => {
    const tokens = await store.listTokens();
    if (flags.json) {
      printText(`${JSON.stringify(tokens, null, 2)}\n`);
      return 0;
    }
    printText(
      table([
        ['NAME', 'ROLE', 'OWNER', 'CREATED'],
        ...tokens.map((t) => [t.name, t.role, t.owner, t.createdAt]),
      ]),
    );
    return 0;
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map(
      (r) =>
        `${r
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}
