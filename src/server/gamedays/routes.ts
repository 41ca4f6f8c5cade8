/**
 * The game days' API (issue #18 item 5): create one from a plan (YAML or JSON text, or the plan as a
 * JSON object), list and read them, start one, answer its manual checks and decisions, add notes, stop
 * it, watch it live (server-sent events), read its report (HTML or Markdown), and the follow-up actions
 * across game days, open until closed. What happens lives in service.ts; these routes check the
 * request, the caller's right and record who did it (the audit log).
 */

import type { ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { MAX_NOTE_CHARS } from '../../gameday/session.js';
import { ApiError } from '../api-error.js';
import { ErrorSchema, json, jsonBody, MAX_SOURCE_CHARS } from '../api-schemas.js';
import { need, principalOf } from '../auth/access.js';
import { SSE_HEADERS } from '../live.js';
import { pageLimit } from '../query.js';
import type { RouteGroup } from '../route-deps.js';
import { GameDayHub } from './hub.js';
import { FollowUpSchema, GameDayStatusSchema, GameDaySummarySchema, isEnded } from './model.js';
import { GameDayService } from './service.js';
import { GameDayViewSchema } from './view.js';

const errors = {
  400: json(ErrorSchema, 'The request is malformed: its issues say where'),
  404: json(ErrorSchema, 'No such game day (or step, or follow-up)'),
  503: json(ErrorSchema, 'The database is unreachable'),
};

/** Text people type (notes, reasons, follow-ups): trimmed, not empty, bounded, no NUL (PostgreSQL's text refuses it). */
const typed = (max: number, what: string) =>
  z
    .string({ error: `expected ${what}` })
    .trim()
    .min(1, { error: `expected ${what}, got nothing` })
    .max(max, { error: `expected at most ${max} characters` })
    .regex(/^[^\u0000]*$/, { error: 'expected text without NUL characters' });

export const CreateGameDaySchema = z
  .strictObject({
    /** The plan file's text, YAML or JSON. */
    source: z
      .string()
      .min(1, { error: 'expected the plan (YAML or JSON text)' })
      .max(MAX_SOURCE_CHARS)
      .regex(/^[^\u0000]*$/, { error: 'expected text without NUL characters' })
      .optional(),
    /** Or the plan itself as a JSON object. */
    plan: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((b) => (b.source === undefined) !== (b.plan === undefined), {
    error:
      'expected either `source` (the plan as YAML or JSON text) or `plan` (the plan as an object), not both',
  });

const IdSchema = z.string().uuid({ error: 'expected a game day id (a UUID)' });
export const GameDayParamsSchema = z.strictObject({ id: IdSchema });
export const StepParamsSchema = z.strictObject({
  id: IdSchema,
  step: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, { error: "expected a step id (the plan's `id`)" }),
});
export const ConfirmSchema = z.strictObject({
  /** true: done, checked; false: it is not (the step fails, and the rollback plan runs unless the step says continue). */
  ok: z.boolean({ error: 'expected true (confirmed) or false (not)' }),
  note: typed(MAX_NOTE_CHARS, 'a note').optional(),
});
export const CriterionParamsSchema = z.strictObject({
  id: IdSchema,
  criterion: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, {
    error: "expected a success criterion's id (the plan's `id`)",
  }),
});
export const JudgeSchema = z.strictObject({
  met: z.boolean({ error: 'expected true (met) or false (not met)' }),
  note: typed(MAX_NOTE_CHARS, 'a note').optional(),
});
export const DecideSchema = z.strictObject({ choice: typed(500, "an option's label") });
export const NoteSchema = z.strictObject({ text: typed(MAX_NOTE_CHARS, 'the note') });
export const StopGameDaySchema = z.strictObject({ reason: typed(500, 'why it is stopped') });
export const ListGameDaysQuerySchema = z.strictObject({
  status: GameDayStatusSchema.optional(),
  limit: pageLimit(500).optional(),
});
export const ReportQuerySchema = z.strictObject({
  format: z.enum(['html', 'markdown'], { error: 'expected html or markdown' }).optional(),
});
export const FollowUpQuerySchema = z.strictObject({
  /** Default open: what still needs doing. */
  state: z.enum(['open', 'closed', 'all'], { error: 'expected open, closed or all' }).optional(),
  gameday: IdSchema.optional(),
});
export const NewFollowUpSchema = z.strictObject({
  gameday: IdSchema,
  text: typed(2000, 'what is to be done'),
  owner: typed(128, 'who does it').optional(),
});
export const FollowUpParamsSchema = z.strictObject({
  id: z.string().uuid({ error: 'expected a follow-up id (a UUID)' }),
});
export const CloseFollowUpSchema = z.strictObject({ note: typed(2000, 'what was done').optional() });

const eventStream = (description: string) => ({
  content: { 'text/event-stream': { schema: z.string() } },
  description,
});

export const registerGameDayRoutes: RouteGroup = (app, deps) => {
  const hub = new GameDayHub();
  const service = new GameDayService({
    store: deps.store,
    runner: deps.runner,
    home: deps.home,
    serverId: deps.serverId,
    blackout: deps.blackout,
    notify: deps.notify,
    hub,
    ...(deps.onProblem ? { onProblem: deps.onProblem } : {}),
  });
  // Game days a killed server left running; in the background, as the routes may be answering already.
  void service
    .recover()
    .then((ids) => {
      if (ids.length > 0)
        deps.onProblem?.(
          `game days left running by this server's previous life, marked failed: ${ids.join(', ')}`,
        );
    })
    .catch((err: Error) => deps.onProblem?.(`cannot look for game days left running: ${err.message}`));
  deps.onClose(() => service.close('the server is shutting down'));

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('gameday.manage')] as const,
      path: '/api/gamedays',
      summary: 'Create a game day from a plan (YAML or JSON text in `source`, or `plan` as an object)',
      request: jsonBody(CreateGameDaySchema),
      responses: {
        201: json(GameDayViewSchema, 'Created, pending: POST .../start runs it'),
        422: json(
          ErrorSchema,
          'Not a valid plan (every issue with its path, line and column), or an experiment it names is not stored',
        ),
        ...errors,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const source = body.source ?? JSON.stringify(body.plan, null, 2);
      const view = await service.create(source, principalOf(c).actor);
      await deps.audit(c, 'gameday.create', view.id, { name: view.name });
      return c.json(view, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/gamedays',
      summary: 'Game days, newest first',
      request: { query: ListGameDaysQuerySchema },
      responses: { 200: json(z.array(GameDaySummarySchema), 'The game days'), ...errors },
    }),
    async (c) => {
      const { status, limit } = c.req.valid('query');
      const filter = { ...(status ? { status } : {}), ...(limit ? { limit: Number(limit) } : {}) };
      return c.json(await service.store.list(filter), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/gamedays/{id}',
      summary:
        'A game day: its plan, steps (where each stands, who is on it), timeline, criteria and follow-ups',
      request: { params: GameDayParamsSchema },
      responses: { 200: json(GameDayViewSchema, 'The game day'), ...errors },
    }),
    async (c) => c.json(await service.view(c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('gameday.run')] as const,
      path: '/api/gamedays/{id}/start',
      summary: 'Start a pending game day on this server',
      request: { params: GameDayParamsSchema },
      responses: {
        202: json(GameDayViewSchema, 'Started: its timeline runs (watch .../live)'),
        409: json(
          ErrorSchema,
          'Not pending (`not_pending`), the emergency stop is raised (`halted`), a blackout is in force (`blackout`), or an experiment tagged for production has no standing approval (`approval_required`)',
        ),
        ...errors,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const actor = principalOf(c).actor;
      const view = await service.start(id, actor);
      await deps.audit(c, 'gameday.start', id, { name: view.name });
      return c.json(view, 202);
    },
  );

  const waitingErrors = {
    409: json(
      ErrorSchema,
      'The step is not waiting for this (`not_waiting`), the game day is not running (`not_running`) or runs on another server (`not_here`)',
    ),
    ...errors,
  };

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('gameday.run')] as const,
      path: '/api/gamedays/{id}/steps/{step}/confirm',
      summary: 'Confirm a manual step (`ok: false`: it is not so, the step fails)',
      request: { params: StepParamsSchema, ...jsonBody(ConfirmSchema) },
      responses: { 202: json(GameDayViewSchema, 'Confirmed: the game day goes on'), ...waitingErrors },
    }),
    async (c) => {
      const { id, step } = c.req.valid('param');
      const body = c.req.valid('json');
      await service.confirm(id, step, principalOf(c).actor, body);
      await deps.audit(c, 'gameday.confirm', id, {
        step,
        ok: body.ok,
        ...(body.note ? { note: body.note } : {}),
      });
      return c.json(await service.view(id), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('gameday.run')] as const,
      path: '/api/gamedays/{id}/steps/{step}/decide',
      summary: "Answer a decision point with one of its options' labels",
      request: { params: StepParamsSchema, ...jsonBody(DecideSchema) },
      responses: {
        202: json(GameDayViewSchema, 'Decided: the game day follows the option'),
        422: json(ErrorSchema, 'Not one of the options (the message lists them)'),
        ...waitingErrors,
      },
    }),
    async (c) => {
      const { id, step } = c.req.valid('param');
      const { choice } = c.req.valid('json');
      await service.decide(id, step, principalOf(c).actor, choice);
      await deps.audit(c, 'gameday.decide', id, { step, choice });
      return c.json(await service.view(id), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('gameday.run')] as const,
      path: '/api/gamedays/{id}/notes',
      summary:
        "A timestamped note in the game day's timeline, by the caller (the scribe, and anyone taking part)",
      request: { params: GameDayParamsSchema, ...jsonBody(NoteSchema) },
      responses: { 201: json(GameDayViewSchema, 'Noted'), ...errors },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { text } = c.req.valid('json');
      await service.note(id, principalOf(c).actor, text);
      return c.json(await service.view(id), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('gameday.run')] as const,
      path: '/api/gamedays/{id}/stop',
      summary:
        'Stop the game day: the step in progress is interrupted (its run too, faults reverted), then the rollback plan runs; during the rollback, skips the rest of it',
      request: { params: GameDayParamsSchema, ...jsonBody(StopGameDaySchema) },
      responses: {
        202: json(GameDayViewSchema, 'Stopping: it ends once its runs have ended and the rollback is done'),
        409: json(ErrorSchema, 'Not running (`not_running`), or running on another server (`not_here`)'),
        ...errors,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { reason } = c.req.valid('json');
      await service.stop(id, principalOf(c).actor, reason);
      await deps.audit(c, 'gameday.stop', id, { reason });
      return c.json(await service.view(id), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('gameday.run')] as const,
      path: '/api/gamedays/{id}/criteria/{criterion}',
      summary:
        'Judge a manual success criterion (met or not, with a note), during the game day or after it; the latest judgement is its verdict',
      request: { params: CriterionParamsSchema, ...jsonBody(JudgeSchema) },
      responses: {
        200: json(GameDayViewSchema, 'Judged'),
        409: json(
          ErrorSchema,
          'Measured from the runs (`not_manual`), not started, or running on another server',
        ),
        ...errors,
      },
    }),
    async (c) => {
      const { id, criterion } = c.req.valid('param');
      const body = c.req.valid('json');
      await service.judge(id, criterion, principalOf(c).actor, body.met, body.note);
      await deps.audit(c, 'gameday.judge', id, {
        criterion,
        met: body.met,
        ...(body.note ? { note: body.note } : {}),
      });
      return c.json(await service.view(id), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/gamedays/{id}/report',
      summary: "The game day's report: timeline, notes, measurements, each criterion's verdict, follow-ups",
      request: { params: GameDayParamsSchema, query: ReportQuerySchema },
      responses: {
        200: {
          content: { 'text/html': { schema: z.string() }, 'text/markdown': { schema: z.string() } },
          description: 'The report (HTML: a self-contained page; markdown: `?format=markdown`)',
        },
        ...errors,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const format = c.req.valid('query').format ?? 'html';
      const text = await service.report(id, format);
      if (format === 'markdown') return c.body(text, 200, { 'Content-Type': 'text/markdown; charset=utf-8' });
      // As a run's report: self-contained, nothing loaded, sandboxed (notes are other people's text).
      c.header(
        'Content-Security-Policy',
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
      );
      return c.html(text, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/gamedays/{id}/live',
      summary:
        'A game day as it happens (server-sent events): `snapshot`, then `timeline` and `gameday`, then `end`',
      description:
        'First `event: snapshot` (data: the game day as GET answers it, `id`: its last seq), then `event: timeline` per timeline event as it is recorded (data: the event, `id`: its seq), `event: gameday` when its state changes (the game day without its timeline), and `event: end` (the final game day) once it has ended, after which the stream closes. A game day that already ended gets its snapshot and `end` at once. Reconnecting starts again from a snapshot. Comment lines every 15 s keep the connection open.',
      request: { params: GameDayParamsSchema },
      responses: {
        200: eventStream('The game day as server-sent events'),
        409: json(ErrorSchema, 'It runs on another server on this database (`not_here`): watch it there'),
        ...errors,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const g = await service.get(id);
      if (!isEnded(g.status) && g.status !== 'pending' && g.server !== deps.serverId)
        throw new ApiError(
          409,
          'not_here',
          `game day ${id} runs on another server (${g.server ?? 'unknown'}); watch it there`,
        );
      const view = await service.view(id, g);
      const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
      const { viewer, stream } = hub.viewerFor(outgoing);
      // Ended, or the session ended between the read and now: the snapshot is final.
      const ended = isEnded(view.status) && !service.isLive(id);
      hub.attach(id, viewer, view, view.timeline.at(-1)?.seq ?? 0, ended);
      return stream
        ? new Response(stream, { status: 200, headers: { ...SSE_HEADERS } })
        : RESPONSE_ALREADY_SENT;
    },
  );

  // ---------------------------------------------------------------- follow-up actions

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/followups',
      summary: 'Follow-up actions across game days, newest first (default: the open ones)',
      request: { query: FollowUpQuerySchema },
      responses: { 200: json(z.array(FollowUpSchema), 'The follow-up actions'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const state = q.state ?? 'open';
      return c.json(
        await service.store.listFollowUps({
          ...(state !== 'all' ? { state } : {}),
          ...(q.gameday !== undefined ? { gameday: q.gameday } : {}),
          limit: 500,
        }),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('gameday.manage')] as const,
      path: '/api/followups',
      summary: 'A follow-up action of a game day: open until someone closes it',
      request: jsonBody(NewFollowUpSchema),
      responses: { 201: json(FollowUpSchema, 'Created, open'), ...errors },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const g = await service.store.get(body.gameday);
      if (!g)
        throw new ApiError(404, 'not_found', `gameday: no game day ${body.gameday}`, [
          { path: 'gameday', message: `no game day ${body.gameday}` },
        ]);
      const created = await service.store.createFollowUp({
        gameday: body.gameday,
        text: body.text,
        ...(body.owner !== undefined ? { owner: body.owner } : {}),
        createdBy: principalOf(c).actor,
      });
      await deps.audit(c, 'followup.create', created.id, { gameday: body.gameday, text: body.text });
      return c.json({ ...created, gamedayName: g.name, gamedayTitle: g.title }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('gameday.manage')] as const,
      path: '/api/followups/{id}/close',
      summary:
        'Close a follow-up action (what was done in `note`); closing one already closed changes nothing',
      request: {
        params: FollowUpParamsSchema,
        body: { content: { 'application/json': { schema: CloseFollowUpSchema } }, required: false },
      },
      responses: {
        200: json(FollowUpSchema, 'Closed (or it already was: who closed it and when)'),
        ...errors,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = (c.req.valid('json') ?? {}) as z.infer<typeof CloseFollowUpSchema>;
      const by = principalOf(c).actor;
      const done = await service.store.closeFollowUp(id, {
        by,
        at: new Date().toISOString(),
        ...(body.note !== undefined ? { note: body.note } : {}),
      });
      if (!done) throw new ApiError(404, 'not_found', `no follow-up ${id}`);
      if (done.changed)
        await deps.audit(c, 'followup.close', id, {
          gameday: done.followUp.gameday,
          ...(body.note !== undefined ? { note: body.note } : {}),
        });
      return c.json(done.followUp, 200);
    },
  );
};
