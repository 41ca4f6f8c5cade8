/**
 * The live view's routes (issue #17): server-sent events of a run as it runs (`/api/runs/{id}/live`)
 * and of the server (`/api/live`: runs queued, started and ended; the emergency stop). The hub
 * (live.ts, `runner.live`) holds the state and the viewers; these routes only decide what a request
 * gets: a run here (resumed from Last-Event-ID when it can be), a run that ended (a snapshot and its
 * end at once), a run queued (a snapshot, then its events once it starts here), or an error in JSON.
 */
import type { ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { ApiError } from './api-error.js';
import { ErrorSchema, json, RunParamsSchema } from './api-schemas.js';
import { need } from './auth/access.js';
import { type LiveHub, type LiveSink, SSE_HEADERS } from './live.js';
import { initialLiveState, type LiveState } from './live-state.js';
import type { RouteGroup } from './route-deps.js';
import type { Run } from './store.js';

const eventStream = (description: string) => ({
  content: { 'text/event-stream': { schema: z.string() } },
  description,
});

/** Last-Event-ID as a browser's EventSource sends it back: the `id:` of the last event it got, a seq. */
const LiveHeadersSchema = z.object({
  'last-event-id': z
    .string()
    .regex(/^\d{1,15}$/, { error: 'expected the id of an event this stream sent (a whole number)' })
    .optional(),
});

/**
 * A viewer for this request: written straight to Node's response when there is one (@hono/node-server
 * gives it as `c.env.outgoing`), else a web stream returned as the body (app.request() in tests).
 */
function viewerFor(hub: LiveHub, c: Context): { viewer: LiveSink; answer: () => Response } {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (outgoing) {
    const viewer = hub.responseViewer(outgoing);
    return {
      viewer,
      answer: () => {
        viewer.open();
        // The response is written already: node-server sends nothing more for it.
        return RESPONSE_ALREADY_SENT;
      },
    };
  }
  const viewer = hub.viewer();
  return { viewer, answer: () => new Response(viewer.stream, { status: 200, headers: { ...SSE_HEADERS } }) };
}

function summaryOf(run: Run & { journal?: unknown }): Run {
  const { journal: _journal, ...summary } = run;
  return summary;
}

export const registerLiveRoutes: RouteGroup = (app, deps) => {
  const { store, runner, serverId } = deps;
  const hub = runner.live;

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/runs/{id}/live',
      summary: 'A run as it happens (server-sent events): `snapshot`, then `live` envelopes, then `end`',
      description:
        'First `event: snapshot` (data: the LiveState so far, `id`: its seq), then one `event: live` per engine event (data: `{seq, at, event}`, `id`: seq), and `event: end` (data: the stored run) when it ends, after which the stream closes. Reconnecting with `Last-Event-ID` resumes after that event (or starts again from a snapshot when it is too old). A run that already ended gets its snapshot and `end` at once; a queued run its snapshot, then its events once it starts. Comment lines every 15 s keep the connection open.',
      request: { params: RunParamsSchema, headers: LiveHeadersSchema },
      responses: {
        200: eventStream('The run as server-sent events'),
        400: json(ErrorSchema, 'The run id or Last-Event-ID is malformed'),
        404: json(ErrorSchema, 'No such run'),
        409: json(ErrorSchema, 'The run is running on another server on this database (`not_here`)'),
        503: json(ErrorSchema, 'The database is unreachable'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const header = c.req.valid('header')['last-event-id'];
      const lastEventId = header === undefined ? undefined : Number(header);
      const { viewer, answer } = viewerFor(hub, c);
      // Running here, or ended here a short while ago: the hub has it all.
      if (hub.attach(id, viewer, lastEventId)) return answer();
      const stored = await store.getRun(id);
      if (!stored) throw new ApiError(404, 'not_found', `no run ${id}`);
      const run = summaryOf(stored);
      if (run.status === 'running' && run.claimedBy !== serverId)
        throw new ApiError(
          409,
          'not_here',
          `run ${id} is running on another server (${run.claimedBy ?? 'unknown'}); watch it there`,
        );
      if (run.status === 'queued' || run.status === 'running') {
        hub.wait(run, viewer, async () => {
          const now = await store.getRun(id);
          if (!now) return 'gone';
          if (now.status === 'queued') return 'wait';
          if (now.status === 'running') return now.claimedBy === serverId ? 'wait' : 'gone';
          return summaryOf(now);
        });
        return answer();
      }
      // Ended before this server kept its events (another server's, a pushed one, or long ago).
      const state: LiveState = {
        ...initialLiveState(run.id, run.title),
        status: run.status,
        ...(run.verdict !== undefined ? { verdict: run.verdict } : {}),
        ...(run.reason !== undefined ? { reason: run.reason } : {}),
      };
      hub.ended(viewer, state, run);
      return answer();
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/live',
      summary: "The server's events (server-sent events): `halt` first, then `run` and `halt` as they happen",
      description:
        "First `event: halt` (data: the emergency stop's state), then `event: run` (data: a run) each time a run of this server is queued, starts or ends, and `event: halt` when the emergency stop is raised or released. Comment lines every 15 s keep the connection open.",
      responses: {
        200: eventStream("The server's events"),
        503: json(ErrorSchema, 'The database is unreachable'),
      },
    }),
    async (c) => {
      const halt = await store.getHalt();
      const { viewer, answer } = viewerFor(hub, c);
      hub.attachServer(viewer, {
        type: 'halt',
        halt: halt
          ? { halted: true, since: halt.since, by: halt.by, reason: halt.reason }
          : { halted: false },
      });
      return answer();
    },
  );
};
