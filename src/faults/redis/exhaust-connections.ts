/**
 * `redis.exhaust_connections`: opens connections (named `faultline-<tag>`)
 * until the server reaches maxclients (or `leave` slots are free), or exactly
 * `connections` of them, so new clients get "max number of clients reached".
 *
 * Revert closes this process's sockets and, from a fresh connection (retried
 * while the server is full), kills by id every client with our name: that
 * also covers a hung runner. A dead runner's sockets were closed by its OS.
 */
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind } from '../../core/fault.js';
import {
  clientsNamed,
  connectRedis,
  connFromRecord,
  describeConn,
  faultError,
  isMaxClients,
  killNamed,
  nameFromRecord,
  newName,
  type RedisConn,
  RedisConnectionArgs,
  redisConn,
  redisTarget,
  registerHold,
  releaseLocal,
  withRedis,
} from './conn.js';
import type { RespClient } from './resp.js';

const count = (what: string) =>
  z
    .number({ error: `expected a number of ${what}` })
    .int(`expected a whole number of ${what}`)
    .min(0, `expected 0 or more ${what}`)
    .max(100_000, `expected at most 100000 ${what}`);

export const RedisExhaustArgs = z.strictObject({
  ...RedisConnectionArgs,
  connections: count('connections')
    .min(1, 'expected at least 1 connection')
    .optional()
    .describe('open exactly this many connections (default: up to maxclients but `leave`)'),
  leave: count('slots').optional().describe('client slots to leave free (default 0); not with `connections`'),
});

/** Free client slots (maxclients - connected), not counting the connection that asks. */
async function freeSlots(c: RedisConn): Promise<number> {
  return withRedis(c, async (client) => {
    let max: number;
    try {
      const reply = await client.command(['CONFIG', 'GET', 'maxclients']);
      max = Array.isArray(reply) ? Number(reply[1]) : Number.NaN;
    } catch (err) {
      throw new FaultlineError(
        'FAULTLINE_ERR_UNSUPPORTED',
        `redis-exhaust-connections ${describeConn(c)}: cannot read maxclients (${(err as Error).message}); give \`connections\``,
      );
    }
    const info = String(await client.command(['INFO', 'clients']));
    const connected = Number(/connected_clients:(\d+)/.exec(info)?.[1]);
    if (!Number.isFinite(max) || !Number.isFinite(connected))
      throw new Error('cannot read maxclients and connected_clients');
    return max - (connected - 1);
  });
}

export const redisExhaustConnectionsKind: FaultKind<typeof RedisExhaustArgs> = {
  kind: 'redis-exhaust-connections',
  args: RedisExhaustArgs,
  expose: {
    group: 'redis',
    name: 'exhaust_connections',
    doc: 'Opens Redis connections up to maxclients (or `leave` free), so new clients are refused.',
  },
  target: (a) =>
    `${describeConn(redisConn(a))} (${a.connections !== undefined ? `${a.connections} connections` : `all slots but ${a.leave ?? 0}`})`,
  async resolveTargets(a) {
    if (a.connections !== undefined && a.leave !== undefined) {
      throw new FaultlineError(
        'FAULTLINE_ERR_VALIDATION',
        'redis-exhaust-connections: leave: give connections or leave, not both',
        {
          issues: [{ path: 'leave', message: 'give connections or leave, not both' }],
        },
      );
    }
    return { targets: [redisTarget(redisConn(a))] };
  },
  plan: (a) => ({ ...redisConn(a), ...newName() }),
  async inject(a, record, signal) {
    const c = connFromRecord(record);
    const name = nameFromRecord(record);
    const clients: RespClient[] = [];
    let stopped = false;
    registerHold(name, {
      clients,
      stop: () => {
        stopped = true;
      },
    });
    let full = false;
    const open = async (): Promise<void> => {
      try {
        const client = await connectRedis(c, { name, signal });
        if (stopped) client.destroy();
        else clients.push(client);
      } catch (err) {
        if (!isMaxClients(err)) throw err;
        full = true;
      }
    };
    try {
      const want = a.connections ?? Math.max(0, (await freeSlots(c)) - (a.leave ?? 0));
      while (clients.length < want && !full && !stopped) {
        await Promise.all(Array.from({ length: Math.min(50, want - clients.length) }, open));
      }
      // Asked to fill the server: take slots freed meanwhile (the one that asked, clients that left).
      if (a.connections === undefined && !a.leave) {
        for (let extra = 0; extra < 5 && !full && !stopped; extra++) await open();
      }
    } catch (err) {
      throw faultError('redis-exhaust-connections', c, err);
    }
    if (clients.length === 0) {
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        `redis-exhaust-connections ${describeConn(c)}: no connection could be opened (the server is full)`,
      );
    }
    return { ...record, held: clients.length };
  },
  async revert(record) {
    const name = nameFromRecord(record);
    releaseLocal(name);
    await withRedis(connFromRecord(record), (client) => killNamed(client, name));
  },
  async verify(record) {
    const name = nameFromRecord(record);
    return withRedis(
      connFromRecord(record),
      async (client) => (await clientsNamed(client, name)).length === 0,
    );
  },
};
