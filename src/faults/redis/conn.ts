/**
 * What every Redis fault shares: the connection arguments, connections named
 * `faultline-<tag>` (CLIENT SETNAME) so that a revert from any process can
 * find and kill exactly ours, and the holds that live in the injecting
 * process. The password is read from FAULTLINE_REDIS_PASSWORD or REDISCLI_AUTH
 * (as redis-cli does) and never stored.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultTarget, UndoRecord } from '../../core/fault.js';
import { abortError, untilAborted } from '../abort.js';
import { RespClient, RespError } from './resp.js';

export const RedisConnectionArgs = {
  host: z.string().min(1).default('127.0.0.1').describe('Redis host (default 127.0.0.1)'),
  port: z
    .number({ error: 'expected a port number' })
    .int()
    .min(1)
    .max(65535)
    .default(6379)
    .describe('Redis port (default 6379)'),
  username: z
    .string()
    .min(1)
    .optional()
    .describe('ACL user (the password comes from FAULTLINE_REDIS_PASSWORD or REDISCLI_AUTH)'),
};

export interface RedisConn {
  host: string;
  port: number;
  username?: string;
}

export function redisConn(a: { host: string; port: number; username?: string | undefined }): RedisConn {
  return { host: a.host, port: a.port, ...(a.username !== undefined ? { username: a.username } : {}) };
}

export function connFromRecord(r: UndoRecord): RedisConn {
  if (typeof r.host !== 'string' || typeof r.port !== 'number') {
    throw new Error('redis undo record has no host and port');
  }
  return { host: r.host, port: r.port, ...(typeof r.username === 'string' ? { username: r.username } : {}) };
}

export const describeConn = (c: RedisConn) => `redis://${c.host}:${c.port}`;

export const redisTarget = (c: RedisConn): FaultTarget => ({
  type: 'redis',
  name: `${c.host}:${c.port}`,
  host: c.host,
  port: c.port,
});

/** A fresh tag; the fault's connections are named `faultline-<tag>`. */
export function newName(): { tag: string; name: string } {
  const tag = randomBytes(6).toString('hex');
  return { tag, name: `faultline-${tag}` };
}

export function nameFromRecord(r: UndoRecord): string {
  if (typeof r.name !== 'string' || !/^faultline-[0-9a-f]+$/.test(r.name)) {
    throw new Error('redis undo record has no valid client name');
  }
  return r.name;
}

export function connectRedis(
  c: RedisConn,
  {
    signal,
    ...opts
  }: {
    name?: string;
    connectTimeoutMs?: number;
    commandTimeoutMs?: number;
    /** Aborting it fails the connect at once; a connection that opens anyway is closed. */
    signal?: AbortSignal | undefined;
  } = {},
): Promise<RespClient> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const password = process.env.FAULTLINE_REDIS_PASSWORD ?? process.env.REDISCLI_AUTH;
  const pending = RespClient.connect({
    host: c.host,
    port: c.port,
    ...(c.username !== undefined ? { username: c.username } : {}),
    ...(password ? { password } : {}),
    ...opts,
  });
  return untilAborted(signal, pending, () => {
    pending.then(
      (client) => client.destroy(),
      () => undefined,
    );
  });
}

/** The server refused a connection because maxclients is reached. */
export function isMaxClients(err: unknown): boolean {
  return err instanceof RespError && /max(imum)? number of clients/i.test(err.message);
}

/** Runs `fn` on a short-lived connection, retrying a full server for `waitMs` (our holds may be letting go). */
export async function withRedis<T>(
  c: RedisConn,
  fn: (client: RespClient) => Promise<T>,
  opts: { waitMs?: number; commandTimeoutMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.waitMs ?? 5_000);
  let client: RespClient;
  for (;;) {
    try {
      client = await connectRedis(
        c,
        opts.commandTimeoutMs
          ? { commandTimeoutMs: opts.commandTimeoutMs, connectTimeoutMs: opts.commandTimeoutMs }
          : {},
      );
      break;
    } catch (err) {
      if (!isMaxClients(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn(client);
  } finally {
    client.destroy();
  }
}

export interface ClientInfo {
  id: string;
  name: string;
  cmd: string;
  [field: string]: string;
}

/** Parses CLIENT LIST's reply: one line per client, `key=value` fields. */
export function parseClientList(text: string): ClientInfo[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const info: ClientInfo = { id: '', name: '', cmd: '' };
      for (const field of line.split(' ')) {
        const eq = field.indexOf('=');
        if (eq > 0) info[field.slice(0, eq)] = field.slice(eq + 1);
      }
      return info;
    });
}

export async function clientsNamed(client: RespClient, name: string): Promise<ClientInfo[]> {
  const text = await client.command(['CLIENT', 'LIST']);
  return parseClientList(String(text)).filter((c) => c.name === name);
}

/** Kills every client named `name` by id ("no such client" is fine: it left by itself). */
export async function killNamed(client: RespClient, name: string): Promise<void> {
  for (const info of await clientsNamed(client, name)) {
    try {
      await client.command(['CLIENT', 'KILL', 'ID', info.id]);
    } catch (err) {
      if (!(err instanceof RespError && /no such client/i.test(err.message))) throw err;
    }
  }
}

// ---------------------------------------------------------------- holds

export interface Hold {
  clients: RespClient[];
  stop?: () => void;
}

const holds = new Map<string, Hold>();

export function registerHold(name: string, hold: Hold): void {
  holds.set(name, hold);
}

/** The state a held connection's loop checks: `stopped` turns true, and `timer` is cleared, on revert. */
export interface HoldState {
  stopped: boolean;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Opens the fault's named connection and registers it as this process's hold,
 * so a revert here closes it and stops its loop (a revert elsewhere kills it by name).
 */
export async function openHold(
  kind: string,
  record: UndoRecord,
  signal?: AbortSignal,
): Promise<{ client: RespClient; conn: RedisConn; state: HoldState }> {
  const conn = connFromRecord(record);
  const name = nameFromRecord(record);
  let client: RespClient;
  try {
    client = await connectRedis(conn, { name, signal });
  } catch (err) {
    throw faultError(kind, conn, err);
  }
  const state: HoldState = { stopped: false, timer: undefined };
  registerHold(name, {
    clients: [client],
    stop: () => {
      state.stopped = true;
      // clearTimeout clears an interval too.
      clearTimeout(state.timer);
    },
  });
  return { client, conn, state };
}

/** Stops and closes what this process holds for `name` (nothing when another process injected it). */
export function releaseLocal(name: string): void {
  const hold = holds.get(name);
  if (!hold) return;
  holds.delete(name);
  hold.stop?.();
  for (const c of hold.clients) c.destroy();
}

/** Milliseconds a PING takes on a fresh connection (connect included), or Infinity past `timeoutMs`. */
export async function pingLatency(c: RedisConn, timeoutMs: number): Promise<number> {
  const start = performance.now();
  try {
    await withRedis(c, (client) => client.command(['PING'], { timeoutMs }), {
      waitMs: 0,
      commandTimeoutMs: timeoutMs,
    });
  } catch {
    return Number.POSITIVE_INFINITY;
  }
  return performance.now() - start;
}

export function faultError(kind: string, c: RedisConn, err: unknown): FaultlineError {
  if (err instanceof FaultlineError) return err;
  return new FaultlineError(
    'FAULTLINE_ERR_FAULT',
    `${kind} ${describeConn(c)}: ${(err as Error)?.message ?? String(err)}`,
    {
      cause: err,
    },
  );
}
