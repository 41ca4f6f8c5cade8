/**
 * The schedules API (issue #18): create, list (with each schedule's next fire times and last
 * firings), read, replace, delete, pause and resume, and a schedule's firings. Every change is audited
 * and wakes this server's scheduler; the other servers see it at their next poll (scheduler.ts).
 */
import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { ApiError } from '../api-error.js';
import { ErrorSchema, json, jsonBody } from '../api-schemas.js';
import { need, principalOf } from '../auth/access.js';
import { ObjectNameSchema } from '../names.js';
import type { RouteGroup } from '../route-deps.js';
import type { Store } from '../store.js';
import {
  FiringSchema,
  type Schedule,
  ScheduleListSchema,
  ScheduleReplaceSchema,
  type ScheduleSpec,
  ScheduleSpecSchema,
  type ScheduleView,
  ScheduleViewSchema,
  upcoming,
} from './model.js';

/** Fire times a schedule shows (the list and the dashboard). */
const NEXT_FIRES = 5;
/** Firings each schedule of the list carries. */
const LIST_FIRINGS = 3;

const FiringListSchema = z.object({ firings: z.array(FiringSchema) });
const NameParamsSchema = z.object({ name: ObjectNameSchema });
const FiringsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  /** Firings due before this (ISO 8601): the next page. */
  before: z.string().datetime({ offset: true }).optional(),
});

const errors = {
  400: json(ErrorSchema, 'The request is malformed: its issues say where'),
  404: json(ErrorSchema, 'No such schedule'),
  503: json(ErrorSchema, 'The database is unreachable'),
};

const notFound = (name: string) => new ApiError(404, 'not_found', `no schedule ${name}`);

/** The experiment a schedule names must be stored (its version too, when one is named). */
async function requireExperiment(store: Store, spec: ScheduleSpec): Promise<void> {
  if (await store.getExperiment(spec.experiment, spec.version)) return;
  const what = `${spec.experiment}${spec.version === undefined ? '' : ` version ${spec.version}`}`;
  const path =
    spec.version === undefined || !(await store.getExperiment(spec.experiment)) ? 'experiment' : 'version';
  const message = `no experiment ${what} is stored (upload it first: POST /api/experiments)`;
  throw new ApiError(422, 'unknown_experiment', `${path}: ${message}`, [{ path, message }]);
}

export const registerScheduleRoutes: RouteGroup = (app, deps) => {
  const { store } = deps;

  // Each schedule's next fire times, kept while its revision stands and its first due time is ahead:
  // computing them costs about 0.5 ms a schedule, which a list of 10,000 would pay on every request.
  const nextFires = new Map<string, { revision: number; firstDue: number; fires: string[] }>();
  const fires = (s: Schedule, now: Date): string[] => {
    const held = nextFires.get(s.id);
    if (held && held.revision === s.revision && held.firstDue > now.getTime()) return held.fires;
    const next = upcoming(s, NEXT_FIRES, now);
    const entry = { revision: s.revision, firstDue: next[0]?.due ?? 0, fires: next.map((f) => f.at) };
    nextFires.set(s.id, entry);
    return entry.fires;
  };
  const view = async (list: Schedule[], firings: number, all = false) => {
    const now = new Date();
    const recent = await store.schedules.recentFirings(
      list.map((s) => s.id),
      firings,
    );
    if (all) {
      const ids = new Set(list.map((s) => s.id));
      for (const id of nextFires.keys()) if (!ids.has(id)) nextFires.delete(id);
    }
    return list.map((s) => ({ ...s, nextFires: fires(s, now), recentFirings: recent.get(s.id) ?? [] }));
  };
  const one = async (s: Schedule) => (await view([s], LIST_FIRINGS))[0] as ScheduleView;

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('schedule.manage')] as const,
      path: '/api/schedules',
      summary: 'Create a schedule: an experiment run on a cron timing or in Chaos Monkey mode',
      request: jsonBody(ScheduleSpecSchema),
      responses: {
        201: json(ScheduleViewSchema, 'Created'),
        409: json(ErrorSchema, 'The name is taken'),
        422: json(ErrorSchema, 'The experiment (or its version) is not stored'),
        ...errors,
      },
    }),
    async (c) => {
      const spec = c.req.valid('json');
      await requireExperiment(store, spec);
      const created = await store.schedules.create(spec, principalOf(c).actor);
      if (!created)
        throw new ApiError(409, 'name_taken', `name: a schedule named ${spec.name} exists`, [
          { path: 'name', message: `a schedule named ${spec.name} exists` },
        ]);
      await deps.audit(c, 'schedule.create', spec.name, { experiment: spec.experiment, timing: spec.timing });
      deps.wakeScheduler();
      return c.json(await one(created), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/schedules',
      summary: 'Every schedule with its next fire times and its last firings',
      responses: { 200: json(ScheduleListSchema, 'The schedules, by name'), ...errors },
    }),
    async (c) => c.json({ schedules: await view(await store.schedules.list(), LIST_FIRINGS, true) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/schedules/{name}',
      summary: 'One schedule with its next fire times and its last firings',
      request: { params: NameParamsSchema },
      responses: { 200: json(ScheduleViewSchema, 'The schedule'), ...errors },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const s = await store.schedules.get(name);
      if (!s) throw notFound(name);
      return c.json(await one(s), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      middleware: [need('schedule.manage')] as const,
      path: '/api/schedules/{name}',
      summary: 'Replace a schedule’s spec (its name stays; what fell due before the change is not caught up)',
      request: { params: NameParamsSchema, ...jsonBody(ScheduleReplaceSchema) },
      responses: {
        200: json(ScheduleViewSchema, 'Replaced'),
        422: json(ErrorSchema, 'The experiment (or its version) is not stored'),
        ...errors,
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const body = c.req.valid('json');
      if (!(await store.schedules.get(name))) throw notFound(name);
      if (body.name !== undefined && body.name !== name)
        throw new ApiError(400, 'bad_request', `name: expected ${name} (a schedule cannot be renamed)`, [
          { path: 'name', message: `expected ${name} (a schedule cannot be renamed)` },
        ]);
      const spec: ScheduleSpec = { ...body, name };
      await requireExperiment(store, spec);
      const updated = await store.schedules.update(name, spec, principalOf(c).actor);
      if (!updated) throw notFound(name);
      await deps.audit(c, 'schedule.update', name, { experiment: spec.experiment, timing: spec.timing });
      deps.wakeScheduler();
      return c.json(await one(updated), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      middleware: [need('schedule.manage')] as const,
      path: '/api/schedules/{name}',
      summary: 'Delete a schedule and its firings’ records (its runs stay in history)',
      request: { params: NameParamsSchema },
      responses: { 204: { description: 'Deleted' }, ...errors },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      if (!(await store.schedules.delete(name))) throw notFound(name);
      await deps.audit(c, 'schedule.delete', name);
      deps.wakeScheduler();
      return c.body(null, 204);
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.openapi(
      createRoute({
        method: 'post',
        middleware: [need('schedule.manage')] as const,
        path: `/api/schedules/{name}/${action}`,
        summary:
          action === 'pause'
            ? 'Pause a schedule: it fires no more until resumed'
            : 'Resume a schedule: it fires from now on (what fell due while paused is not caught up)',
        request: { params: NameParamsSchema },
        responses: { 200: json(ScheduleViewSchema, action === 'pause' ? 'Paused' : 'Resumed'), ...errors },
      }),
      async (c) => {
        const { name } = c.req.valid('param');
        const s = await store.schedules.setPaused(name, action === 'pause', principalOf(c).actor);
        if (!s) throw notFound(name);
        await deps.audit(c, `schedule.${action}`, name);
        deps.wakeScheduler();
        return c.json(await one(s), 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/schedules/{name}/firings',
      summary:
        'A schedule’s firings, newest first: due, when and where it fired, its run, or why it was skipped or missed',
      request: { params: NameParamsSchema, query: FiringsQuerySchema },
      responses: { 200: json(FiringListSchema, 'The firings'), ...errors },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const q = c.req.valid('query');
      const s = await store.schedules.get(name);
      if (!s) throw notFound(name);
      const firings = await store.schedules.listFirings(s.id, {
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
        ...(q.before !== undefined ? { before: new Date(q.before).toISOString() } : {}),
      });
      return c.json({ firings }, 200);
    },
  );
};
