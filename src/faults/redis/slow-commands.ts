/**
 * `redis.slow_commands`: makes every command slow by keeping the server busy.
 * A dedicated connection (named `faultline-<tag>`) runs a Lua script that
 * busy-waits `block_ms`, once every `every_ms`: while it runs, Redis serves
 * nobody else, so commands wait up to `block_ms` (`block_ms` = `every_ms`:
 * the server is unavailable).
 *
 * Each script ends by itself after `block_ms`; the loop lives in the runner,
 * so it stops when the runner dies. Keep `block_ms` under the server's
 * busy-reply-threshold (default 5000 ms): beyond it other clients get BUSY
 * errors instead of waiting. Revert stops the loop; from any process it kills
 * our connection and, when our script is the one running, SCRIPT KILL.
 */
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind } from '../../core/fault.js';
import { untilAborted } from '../abort.js';
import {
  clientsNamed,
  connFromRecord,
  describeConn,
  faultError,
  killNamed,
  nameFromRecord,
  newName,
  openHold,
  pingLatency,
  RedisConnectionArgs,
  redisConn,
  redisTarget,
  releaseLocal,
  withRedis,
} from './conn.js';
import { RespError } from './resp.js';

const ms = (what: string, max: number) =>
  z
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(1, 'expected at least 1 ms')
    .max(max, `expected at most ${max} ms`)
    .describe(what);

export const SlowCommandsArgs = z.strictObject({
  ...RedisConnectionArgs,
  block_ms: ms('how long the server is busy each time, in ms (default 100)', 60_000).default(100),
  every_ms: ms(
    'how often it is made busy, in ms (at least block_ms; default 2 x block_ms)',
    600_000,
  ).optional(),
});

/** Busy-waits ARGV[1] ms by the server's clock; reads nothing, writes nothing. */
const SCRIPT = `local function now() local t = redis.call('TIME') return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 end
local stop = now() + tonumber(ARGV[1])
while now() < stop do end
return 1`;

const period = (a: { block_ms: number; every_ms?: number | undefined }) => a.every_ms ?? 2 * a.block_ms;

/** A fresh PING slower than this means the server is still being slowed. */
const NORMAL_PING_MS = 250;

export const slowCommandsKind: FaultKind<typeof SlowCommandsArgs> = {
  kind: 'redis-slow-commands',
  args: SlowCommandsArgs,
  expose: {
    group: 'redis',
    name: 'slow_commands',
    doc: 'Keeps Redis busy in a Lua busy-wait for block_ms every every_ms, so every command waits.',
  },
  target: (a) => `${describeConn(redisConn(a))} (busy ${a.block_ms} ms every ${period(a)} ms)`,
  async resolveTargets(a) {
    if (period(a) < a.block_ms) {
      throw new FaultlineError(
        'FAULTLINE_ERR_VALIDATION',
        'redis-slow-commands: every_ms: expected at least block_ms',
        {
          issues: [{ path: 'every_ms', message: 'expected at least block_ms' }],
        },
      );
    }
    return { targets: [redisTarget(redisConn(a))] };
  },
  plan: (a) => ({ ...redisConn(a), ...newName(), block_ms: a.block_ms, every_ms: period(a) }),
  async inject(a, record, signal) {
    const { client, conn: c, state } = await openHold('redis-slow-commands', record, signal);
    const once = () =>
      client.command(['EVAL', SCRIPT, '0', String(a.block_ms)], { timeoutMs: a.block_ms + 10_000 });
    let started = performance.now();
    try {
      // The first run proves scripting works here (it can be disabled, or the script refused).
      // Cancelled: the connection closes at once; the revert ends the script (SCRIPT KILL).
      await untilAborted(signal, once(), () => client.destroy());
    } catch (err) {
      throw faultError('redis-slow-commands', c, err);
    }
    const loop = (): void => {
      if (state.stopped) return;
      state.timer = setTimeout(
        () => {
          started = performance.now();
          once().then(loop, () => undefined); // closed or killed: the fault's revert
        },
        Math.max(0, period(a) - (performance.now() - started)),
      );
    };
    loop();
  },
  async revert(record) {
    const c = connFromRecord(record);
    const name = nameFromRecord(record);
    releaseLocal(name);
    const block = Number(record.block_ms) || 0;
    await withRedis(
      c,
      async (client) => {
        // Answered between scripts, or while one runs past busy-reply-threshold:
        // only then can SCRIPT KILL matter, and only our long scripts get there
        // (`cmd` is the last command, so a short one of ours proves nothing).
        const ours = await clientsNamed(client, name);
        if (block >= 1000 && ours.some((o) => o.cmd === 'eval')) {
          await client.command(['SCRIPT', 'KILL']).catch((err) => {
            if (!(err instanceof RespError && err.prefix === 'NOTBUSY')) throw err;
          });
        }
        await killNamed(client, name);
      },
      { commandTimeoutMs: block + 5_000 },
    );
  },
  async verify(record) {
    const c = connFromRecord(record);
    const name = nameFromRecord(record);
    const left = await withRedis(c, async (client) => (await clientsNamed(client, name)).length, {
      commandTimeoutMs: (Number(record.block_ms) || 0) + 5_000,
    });
    return left === 0 && (await pingLatency(c, 2_000)) < NORMAL_PING_MS;
  },
};
