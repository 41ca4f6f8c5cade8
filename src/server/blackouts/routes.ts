/**
 * The blackouts API (issue #18): GET /api/blackouts lists every window (the database's and the home's
 * settings file's, read-only here) with whether it is in force and when it next opens, and the blackout
 * in force; POST, PUT and DELETE manage the database's windows (approvers: `blackout.manage`), each
 * audited. A change is followed by every server on the database within its poll, and by this one at
 * once (the watcher looks again when it can: `refresh`).
 */
import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { loadSettings } from '../../experiment/settings.js';
import {
  type BlackoutRule,
  describeRule,
  ruleState,
  settingsBlackouts,
  TIME_WINDOWS_NAME,
} from '../../schedule/blackout.js';
import { ApiError } from '../api-error.js';
import { ErrorSchema, json, jsonBody } from '../api-schemas.js';
import { need, principalOf } from '../auth/access.js';
import { ObjectNameSchema } from '../names.js';
import type { RouteGroup } from '../route-deps.js';
import {
  type BlackoutListing,
  BlackoutListSchema,
  BlackoutUpdateSchema,
  BlackoutWindowSchema,
  type StoredBlackout,
  StoredBlackoutSchema,
} from './model.js';

const errors = {
  400: json(ErrorSchema, 'The request is malformed: its issues say where'),
  503: json(ErrorSchema, 'The database cannot be read'),
};

const ParamsSchema = z.object({ name: ObjectNameSchema });

function listing(
  rule: BlackoutRule,
  source: BlackoutListing['source'],
  now: Date,
  stored?: StoredBlackout,
): BlackoutListing {
  const state = ruleState(now, rule);
  const times = {
    inForce: state.inForce,
    ...(state.until ? { until: state.until.toISOString() } : {}),
    ...(state.nextOpening ? { nextOpening: state.nextOpening.toISOString() } : {}),
    description: describeRule(rule),
  };
  if ('kind' in rule)
    return {
      name: rule.name,
      source,
      kind: 'outside',
      allowed: rule.windows.map((w) => ({ ...w, days: [...w.days] })),
      timezone: rule.windows[0]?.timezone ?? 'UTC',
      ...times,
    };
  return { ...(stored ?? rule), source, kind: 'window', ...times };
}

export const registerBlackoutRoutes: RouteGroup = (app, deps) => {
  const { store } = deps;

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/blackouts',
      summary:
        "Blackout windows (the database's and the settings file's), whether each is in force and when it next opens, and the blackout in force",
      responses: { 200: json(BlackoutListSchema, 'The windows and the blackout in force'), ...errors },
    }),
    async (c) => {
      const now = new Date();
      const stored = await store.blackouts.list();
      let settingsRules: BlackoutRule[] = [];
      let settingsError: string | undefined;
      try {
        settingsRules = settingsBlackouts(await loadSettings(undefined, deps.home));
      } catch (err) {
        settingsError = (err as Error).message;
      }
      const active = await deps.blackout.current();
      return c.json(
        {
          active: active ?? null,
          windows: [
            ...settingsRules.map((r) => listing(r, 'settings', now)),
            ...stored.map((s) => listing(s, 'database', now, s)),
          ],
          ...(settingsError !== undefined ? { settingsError } : {}),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('blackout.manage')] as const,
      path: '/api/blackouts',
      summary:
        'Create a blackout window: while it is in force nothing starts, and when it opens every run is stopped and its faults reverted',
      request: jsonBody(BlackoutWindowSchema),
      responses: {
        201: json(StoredBlackoutSchema, 'Created'),
        409: json(ErrorSchema, 'A window of that name exists (`exists`), here or in the settings file'),
        ...errors,
      },
    }),
    async (c) => {
      const window = c.req.valid('json');
      if (window.name === TIME_WINDOWS_NAME)
        throw new ApiError(409, 'exists', `name: ${TIME_WINDOWS_NAME} is the settings file's time_windows`);
      const created = await store.blackouts.create(window, principalOf(c).actor);
      if (!created)
        throw new ApiError(
          409,
          'exists',
          `name: a blackout window named ${window.name} exists (change it with PUT /api/blackouts/${window.name})`,
        );
      await deps.audit(c, 'blackout.create', window.name, { window });
      await deps.blackout.refresh?.();
      return c.json(created, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      middleware: [need('blackout.manage')] as const,
      path: '/api/blackouts/{name}',
      summary: "Change a blackout window's time zone, periods or reason",
      request: { params: ParamsSchema, ...jsonBody(BlackoutUpdateSchema) },
      responses: {
        200: json(StoredBlackoutSchema, 'Changed'),
        404: json(ErrorSchema, 'No such window in the database'),
        ...errors,
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const fields = c.req.valid('json');
      const was = await store.blackouts.get(name);
      const updated = await store.blackouts.update(name, fields, principalOf(c).actor);
      if (!updated || !was)
        throw new ApiError(404, 'not_found', `no blackout window ${name} in the database`);
      const { createdAt: _c, createdBy: _b, updatedAt: _u, updatedBy: _w, ...before } = was;
      await deps.audit(c, 'blackout.update', name, { before, after: { name, ...fields } });
      await deps.blackout.refresh?.();
      return c.json(updated, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      middleware: [need('blackout.manage')] as const,
      path: '/api/blackouts/{name}',
      summary: 'Delete a blackout window (runs may start again if no other is in force)',
      request: { params: ParamsSchema },
      responses: {
        204: { description: 'Deleted' },
        404: json(ErrorSchema, 'No such window in the database'),
        ...errors,
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const was = await store.blackouts.get(name);
      if (!was || !(await store.blackouts.delete(name)))
        throw new ApiError(404, 'not_found', `no blackout window ${name} in the database`);
      await deps.audit(c, 'blackout.delete', name, { window: was });
      await deps.blackout.refresh?.();
      deps.runner.wake();
      return c.body(null, 204);
    },
  );
};
