/**
 * `redis.client_pause`: CLIENT PAUSE, ALL (every command waits) or WRITE
 * (writes wait, reads pass), for the fault's whole duration.
 *
 * The pause is issued in slices of `slice_ms` that the injecting process
 * renews without a gap, so the server ends the pause by itself at most a
 * slice or two after the runner dies or hangs. ALL-mode renewals are
 * themselves paused, so two are kept queued on the keeper connection: when a
 * slice ends the server runs the queued renewal first (and queues the next
 * one at the head of the line) before any other waiting client.
 *
 * Revert stops the renewals, closes the keeper and sends CLIENT UNPAUSE.
 * Redis 7.0 runs no command during an ALL pause, CLIENT UNPAUSE included, so
 * there the pause ends when the current slice does (at most `slice_ms`);
 * a WRITE pause ends at once.
 *
 * Redis has one pause per server, so two pause faults cannot be layered: the
 * first to end would lift the other's (CLIENT UNPAUSE). A pause fault on a
 * server that is already paused (by another fault, another run, or by hand) is
 * refused up front, and its failed injection reverts nothing.
 */
import { z } from 'zod';
import type { FaultKind } from '../../core/fault.js';
import {
  clientsNamed,
  connFromRecord,
  describeConn,
  faultError,
  killNamed,
  nameFromRecord,
  newName,
  openHold,
  RedisConnectionArgs,
  redisConn,
  redisTarget,
  releaseLocal,
  withRedis,
} from './conn.js';
import { RespConnectionError } from './resp.js';

export const ClientPauseArgs = z.strictObject({
  ...RedisConnectionArgs,
  mode: z
    .preprocess(
      (v) => (typeof v === 'string' ? v.toUpperCase() : v),
      z.enum(['ALL', 'WRITE'], { error: 'expected ALL or WRITE' }),
    )
    .default('ALL')
    .describe('ALL: every command waits (default); WRITE: only writes wait'),
  slice_ms: z
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(100, 'expected at least 100 ms')
    .max(60_000, 'expected at most 60000 ms')
    .default(1000)
    .describe('the pause is renewed in slices this long: how long it outlives a dead runner (default 1000)'),
});

/** How long the pre-check waits for an answer before it takes the server for paused. */
const PAUSE_PROBE_MS = 1000;

/** A command that a WRITE pause holds and an ALL pause too, harmless (nobody subscribes). */
const probe = (name: string) => ['PUBLISH', `${name}:probe`, ''];

export const clientPauseKind: FaultKind<typeof ClientPauseArgs> = {
  kind: 'redis-client-pause',
  args: ClientPauseArgs,
  expose: {
    group: 'redis',
    name: 'client_pause',
    doc: 'Pauses Redis clients (CLIENT PAUSE, ALL or WRITE) for the duration; released by CLIENT UNPAUSE.',
  },
  target: (a) => `${describeConn(redisConn(a))} (pause ${a.mode})`,
  resolveTargets: async (a) => ({ targets: [redisTarget(redisConn(a))] }),
  plan: (a) => ({ ...redisConn(a), ...newName(), mode: a.mode, slice_ms: a.slice_ms }),
  async inject(a, record) {
    // The session reverts a failed injection with this very record: nothing is ours yet.
    record.owned = false;
    const conn = connFromRecord(record);
    // PUBLISH waits under either pause mode; an answer within a second means none is in force.
    const paused = await withRedis(conn, (client) => client.command(probe(nameFromRecord(record))), {
      waitMs: 0,
      commandTimeoutMs: PAUSE_PROBE_MS,
    }).then(
      () => false,
      (err) => {
        if (err instanceof RespConnectionError && /timed? ?out|no answer|within/i.test(err.message))
          return true;
        throw faultError('redis-client-pause', conn, err);
      },
    );
    if (paused) {
      throw new Error(
        `${describeConn(conn)} is already paused (another client_pause fault, another run, or CLIENT PAUSE by hand): ` +
          'two pauses cannot be layered, since ending one would lift the other; refused',
      );
    }
    record.owned = true;
    const { client: keeper, conn: c, state } = await openHold('redis-client-pause', record);
    const pause = ['CLIENT', 'PAUSE', String(a.slice_ms), a.mode];
    try {
      await keeper.command(pause);
    } catch (err) {
      throw faultError('redis-client-pause', c, err);
    }
    if (a.mode === 'WRITE') {
      // CLIENT PAUSE is not a write: renewals run at once and extend the pause.
      state.timer = setInterval(() => {
        keeper.command(pause).catch(() => clearInterval(state.timer));
      }, a.slice_ms / 3);
    } else {
      // Each renewal waits for the slice to end. Two are kept queued: when the
      // first runs, the server reads the second from the same connection at
      // once and queues it ahead of every client the slice held back.
      const renew = (): void => {
        if (state.stopped || keeper.closed) return;
        keeper.command(pause, { timeoutMs: 0 }).then(renew, () => undefined);
      };
      renew();
      renew();
    }
  },
  async revert(record) {
    if (record.owned === false) return;
    const c = connFromRecord(record);
    const name = nameFromRecord(record);
    releaseLocal(name);
    const slice = Number(record.slice_ms) || 1000;
    // During an ALL pause these wait for the current slice (or two, when a
    // hung runner's renewals are queued) to end.
    await withRedis(
      c,
      async (client) => {
        // A keeper in another (hung) process would renew the pause: kill it first.
        await killNamed(client, name);
        await client.command(['CLIENT', 'UNPAUSE']);
      },
      { commandTimeoutMs: 3 * slice + 2000 },
    ).catch((err) => {
      if (!(err instanceof RespConnectionError)) throw err;
      throw new Error(`redis-client-pause ${describeConn(c)}: CLIENT UNPAUSE got no answer: ${err.message}`);
    });
  },
  async verify(record) {
    if (record.owned === false) return true;
    const c = connFromRecord(record);
    const name = nameFromRecord(record);
    try {
      return await withRedis(
        c,
        async (client) => {
          await client.command(probe(name));
          // No keeper of ours left to renew it.
          return (await clientsNamed(client, name)).length === 0;
        },
        { waitMs: 0, commandTimeoutMs: 1000 },
      );
    } catch (err) {
      if (err instanceof RespConnectionError) return false; // still paused
      throw err;
    }
  },
};
