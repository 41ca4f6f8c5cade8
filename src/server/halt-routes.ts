/**
 * The emergency stop's routes (issue #17): GET, POST and DELETE /api/halt.
 * The halt is raised in the database first, so every server on it follows
 * within its poll (halt.ts HaltWatcher) and none claims a queued run; then
 * the server that was asked does its own part at once and says what it did.
 * A database that cannot record the halt does not stop this server's part:
 * stopping must work when things are failing.
 */
import { createRoute } from '@hono/zod-openapi';
import { ApiError } from './api-error.js';
import { ErrorSchema, json } from './api-schemas.js';
import { need, principalOf } from './auth/access.js';
import {
  announceHalt,
  applyHaltHere,
  FLEET_HALT_PREFIX,
  HaltResultSchema,
  HaltStateSchema,
  haltFleetNow,
  haltReasonText,
  haltStateOf,
  RaiseHaltSchema,
  releaseFleetNow,
  releaseHaltHere,
} from './halt.js';
import type { RouteGroup } from './route-deps.js';
import type { HaltRecord } from './store.js';

const errors = {
  400: json(ErrorSchema, 'The request is malformed: its issues say where'),
  503: json(ErrorSchema, 'The database (or the fleet) is unreachable: the message says what was done anyway'),
};

export const registerHaltRoutes: RouteGroup = (app, deps) => {
  const { store, runner } = deps;
  const local = { runner, home: deps.home, serverId: deps.serverId };
  // Who stops or releases the fleet, as its halt key and `faultline fleet` show it.
  const fleetId = `${FLEET_HALT_PREFIX}${deps.serverId}`;

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/halt',
      summary: 'Whether the emergency stop is raised on this database: since when, by whom, why',
      responses: { 200: json(HaltStateSchema, 'The halt in force, or `{halted: false}`'), ...errors },
    }),
    async (c) => c.json(haltStateOf(await store.getHalt()), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('halt')] as const,
      path: '/api/halt',
      summary:
        "Emergency stop: every server on this database stops its runs and reverts its host's faults, the fleet's agents revert theirs; no run starts until released",
      request: { body: { content: { 'application/json': { schema: RaiseHaltSchema } }, required: true } },
      responses: {
        200: json(
          HaltResultSchema,
          'Raised (or already raised: the first halt is kept). What this server did; the other servers follow within their poll',
        ),
        ...errors,
      },
    }),
    async (c) => {
      const { reason } = c.req.valid('json');
      const by = principalOf(c).actor;
      let halt: HaltRecord;
      let created = true;
      let storeError: string | undefined;
      try {
        ({ halt, created } = await store.raiseHalt({ by, reason }));
      } catch (err) {
        storeError = (err as Error)?.message ?? String(err);
        halt = { since: new Date().toISOString(), by, reason };
      }
      // Repeated on a second request too: a revert that failed the first time is tried again.
      const done = await applyHaltHere(local, halt, { force: true, recorded: storeError === undefined });
      const fleet = deps.fleet ? await haltFleetNow(deps.fleet, fleetId, haltReasonText(halt)) : undefined;
      const result = {
        ...haltStateOf(halt),
        runsInterrupted: done.runsInterrupted,
        reverted: done.reverted,
        failed: done.failed,
        ...(fleet ? { fleet } : {}),
      };
      if (storeError !== undefined) {
        deps.onProblem?.(`emergency stop by ${by}: the database could not record it: ${storeError}`);
        throw new ApiError(
          503,
          'store_unavailable',
          `the database could not record the emergency stop (${storeError}), so the other servers on it were not told; on this server ${done.runsInterrupted.length} run(s) were interrupted, ${done.reverted} fault(s) reverted and the host's halt flag raised${done.failed.length > 0 ? `, ${done.failed.length} fault(s) NOT reverted` : ''}${fleet ? (fleet.error ? `; ${fleet.error}` : `; the fleet was halted (${fleet.verified.length} agent(s) confirmed, ${fleet.unconfirmed.length} not)`) : ''}`,
        );
      }
      await deps.audit(c, 'halt', undefined, {
        reason,
        ...(created ? {} : { repeated: true, first: { since: halt.since, by: halt.by } }),
        runsInterrupted: done.runsInterrupted,
        reverted: done.reverted,
        failed: done.failed.length,
        ...(fleet
          ? {
              fleet: {
                verified: fleet.verified.length,
                unconfirmed: fleet.unconfirmed,
                ...(fleet.error ? { error: fleet.error } : {}),
              },
            }
          : {}),
      });
      announceHalt(runner, haltStateOf(halt));
      return c.json(result, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      middleware: [need('halt.release')] as const,
      path: '/api/halt',
      summary:
        "Release the emergency stop: runs may start again on every server (queued ones run), the fleet's agents accept faults again",
      responses: {
        200: json(HaltStateSchema, 'Released (or none was raised): `{halted: false}`'),
        ...errors,
      },
    }),
    async (c) => {
      const was = await store.getHalt();
      const released = await store.releaseHalt();
      // Also one raised here while the database could not record it.
      const host = await releaseHaltHere(local, { any: true });
      const hostReleased = host === 'released';
      let fleetReleased: boolean | undefined;
      let fleetLeft: string | undefined;
      let fleetError: string | undefined;
      if (deps.fleet) {
        try {
          const r = await releaseFleetNow(deps.fleet, fleetId);
          fleetReleased = r.released;
          fleetLeft = r.left;
        } catch (err) {
          fleetError = (err as Error).message;
        }
      }
      if (released || hostReleased || fleetReleased || fleetError !== undefined)
        await deps.audit(c, 'halt.release', undefined, {
          ...(was ? { halt: { since: was.since, by: was.by, reason: was.reason } } : {}),
          database: released,
          host: hostReleased,
          ...(host === 'foreign'
            ? {
                hostLeft:
                  "this host's halt flag was raised by `faultline halt`, not the control plane: it stays",
              }
            : {}),
          ...(deps.fleet ? { fleet: fleetReleased ?? false } : {}),
          ...(fleetLeft !== undefined
            ? { fleetLeft: `the fleet's halt ${fleetLeft} stays (not the control plane's)` }
            : {}),
          ...(fleetError !== undefined ? { fleetError } : {}),
        });
      if (released || hostReleased) announceHalt(runner, { halted: false });
      runner.wake();
      if (fleetError !== undefined)
        throw new ApiError(
          503,
          'fleet_unavailable',
          `the emergency stop was released on the database and this host, but ${fleetError}; try DELETE /api/halt again, or \`faultline halt --fleet --release\``,
        );
      return c.json(haltStateOf(undefined), 200);
    },
  );
};
