/**
 * The control plane's HTTP API: every route declared with its zod schemas
 * (store.ts, api-schemas.ts), which validate the request and generate the
 * OpenAPI document at /api/openapi.json, and one error mapping for the whole
 * server: every 4xx and 5xx is `{ error: { code, message, issues? } }`, and
 * nothing the server did not mean to say (a stack, a driver's message with a
 * password) reaches a response.
 *
 * There is no sign-in yet, so the API refuses what a browser could be tricked
 * into sending: a Host that is not loopback (DNS rebinding) and an Origin that
 * is not loopback (a page on another site); bodies must be JSON (a form post
 * is refused, so no CSRF without a preflight the server never allows).
 */
import { tmpdir } from 'node:os';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { FaultlineError, type Issue, issuePath } from '../core/errors.js';
import { decideVerdict } from '../core/verdict.js';
import { parseJournal, renderReport } from '../report/index.js';
import { VERSION } from '../version.js';
import {
  AuditQuerySchema,
  ErrorSchema,
  ExperimentParamsSchema,
  ExperimentQuerySchema,
  HealthSchema,
  ImportRunSchema,
  RunParamsSchema,
  RunQuerySchema,
  StartRunSchema,
  UploadExperimentSchema,
} from './api-schemas.js';
import { checkExperimentSource } from './experiments.js';
import type { Runner } from './runner.js';
import {
  AuditEntrySchema,
  ExperimentSummarySchema,
  ExperimentVersionSchema,
  type RunFilter,
  RunFilterSchema,
  RunPageSchema,
  RunSchema,
  RunWithJournalSchema,
  type Store,
} from './store.js';

/** Requests larger than this are refused with 413 before they are read whole. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

/** Who did it, until there are users (the next increment): the server answers loopback only. */
const ACTOR = 'local';

export interface AppOptions {
  store: Store;
  runner: Runner;
  serverId: string;
  /** Something the operator should see in the server's output (an unexpected error, never sent to a client). */
  onProblem?: (message: string) => void;
}

class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly issues?: Issue[],
  ) {
    super(message);
  }
}

function errorBody(code: string, message: string, issues?: readonly Issue[]) {
  return { error: { code, message, ...(issues && issues.length > 0 ? { issues: [...issues] } : {}) } };
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

const errors = {
  400: json(ErrorSchema, 'The request is malformed: its issues say where'),
  404: json(ErrorSchema, 'No such experiment, version or run'),
  413: json(ErrorSchema, `The body is larger than ${MAX_BODY_BYTES} bytes`),
  503: json(ErrorSchema, 'The database is unreachable'),
};

const jsonBody = <T extends z.ZodType>(schema: T) => ({
  body: { content: { 'application/json': { schema } }, required: true },
});

const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

/** Whether an Origin header names a page served from this machine (or no page: a non-browser client). */
function loopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK_HOST.test(u.host);
  } catch {
    return false;
  }
}

/**
 * The API as a Hono app (the server listens with @hono/node-server; tests can also call
 * `app.request()`).
 */
export function createApp(opts: AppOptions): OpenAPIHono {
  const { store, runner } = opts;
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (result.success) return;
      const issues = result.error.issues.map((i) => ({
        path: issuePath(i.path as PropertyKey[], result.target === 'json' ? '' : result.target),
        message: i.message,
      }));
      const first = issues[0];
      return c.json(
        errorBody(
          'bad_request',
          `invalid request: ${first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'rejected'}`,
          issues,
        ),
        400,
      );
    },
  });

  app.use('*', async (c, next) => {
    const host = c.req.header('host') ?? '';
    if (!LOOPBACK_HOST.test(host))
      throw new ApiError(
        403,
        'forbidden_host',
        'the server answers requests to localhost or a loopback address only (it has no sign-in yet)',
      );
    const origin = c.req.header('origin');
    if (origin !== undefined && !loopbackOrigin(origin))
      throw new ApiError(403, 'forbidden_origin', 'requests from pages of other sites are refused');
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Cache-Control', 'no-store');
  });
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json(errorBody('too_large', `the body is larger than ${MAX_BODY_BYTES} bytes`), 413),
    }),
  );

  const audit = (c: Context, action: string, subject?: string, detail?: Record<string, unknown>) =>
    store
      .audit({
        actor: ACTOR,
        action,
        ...(subject !== undefined ? { subject } : {}),
        ...(detail ? { detail } : {}),
      })
      .then(() => c);

  // ---------------------------------------------------------------- experiments

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/experiments',
      summary: 'Upload an experiment: a new version, or the latest when identical',
      request: jsonBody(UploadExperimentSchema),
      responses: {
        200: json(ExperimentVersionSchema, 'Identical to the latest version: that version'),
        201: json(ExperimentVersionSchema, 'Stored as a new version'),
        422: json(ErrorSchema, 'Not a valid experiment, or it holds inline secret values'),
        ...errors,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const label = `${body.name}.${body.format}`;
      const checked = await checkExperimentSource(body.source, body.format, label, tmpdir());
      if (!checked.ok) {
        // Inline secrets get a code of their own: the fix is to move the value out, not to edit the format.
        const secrets = checked.issues.some((i) => i.message.startsWith('an inline secret value'));
        throw new ApiError(
          422,
          secrets ? 'inline_secret' : 'invalid_experiment',
          `${label}: ${checked.issues.length} problem${checked.issues.length === 1 ? '' : 's'}`,
          checked.issues,
        );
      }
      const { experiment, created } = await store.putExperiment({
        name: body.name,
        format: body.format,
        title: checked.experiment.title,
        tags: checked.experiment.tags,
        source: body.source,
        createdBy: ACTOR,
      });
      await audit(c, 'experiment.upload', body.name, { version: experiment.version, created });
      return c.json(experiment, created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/experiments',
      summary: 'Every experiment, with its latest version',
      responses: { 200: json(z.array(ExperimentSummarySchema), 'The experiments'), ...errors },
    }),
    async (c) => c.json(await store.listExperiments(), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/experiments/{name}',
      summary: 'An experiment: its latest version, or `?version=N`',
      request: { params: ExperimentParamsSchema, query: ExperimentQuerySchema },
      responses: { 200: json(ExperimentVersionSchema, 'The version with its source'), ...errors },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const { version } = c.req.valid('query');
      const found = await store.getExperiment(name, version === undefined ? undefined : Number(version));
      if (!found)
        throw new ApiError(
          404,
          'not_found',
          `no experiment ${name}${version === undefined ? '' : ` version ${version}`}`,
        );
      return c.json(found, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/experiments/{name}/versions',
      summary: "An experiment's versions, without their sources",
      request: { params: ExperimentParamsSchema },
      responses: {
        200: json(z.array(ExperimentVersionSchema.omit({ source: true })), 'Its versions'),
        ...errors,
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const versions = await store.listExperimentVersions(name);
      if (versions.length === 0) throw new ApiError(404, 'not_found', `no experiment ${name}`);
      return c.json(versions, 200);
    },
  );

  // ---------------------------------------------------------------- runs

  const requireHealthy = async () => {
    const health = await store.health();
    if (!health.ok)
      throw new ApiError(
        503,
        'unhealthy',
        `the database is unreachable; new runs are refused: ${health.error}`,
      );
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/runs',
      summary: 'Queue a run of a stored experiment (its latest version unless `version`)',
      request: jsonBody(StartRunSchema),
      responses: { 202: json(RunSchema, 'Queued'), ...errors },
    }),
    async (c) => {
      const body = c.req.valid('json');
      await requireHealthy();
      const experiment = await store.getExperiment(body.experiment, body.version);
      if (!experiment)
        throw new ApiError(
          404,
          'not_found',
          `no experiment ${body.experiment}${body.version === undefined ? '' : ` version ${body.version}`}`,
        );
      const run = await store.createRun({
        experiment: experiment.name,
        experimentVersion: experiment.version,
        title: experiment.title,
        tags: [...new Set([...experiment.tags, ...(body.tags ?? [])])],
        origin: 'server',
        requestedBy: ACTOR,
      });
      await audit(c, 'run.start', run.id, { experiment: experiment.name, version: experiment.version });
      runner.wake();
      return c.json(run, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/runs',
      summary: 'Runs, newest first, filtered (tags comma-separated: runs carrying every one)',
      request: { query: RunQuerySchema },
      responses: { 200: json(RunPageSchema, 'A page of runs; `next` is the cursor of the next'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const tags = q.tags
        ?.split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
      const filter = RunFilterSchema.safeParse({
        ...q,
        tags: tags && tags.length > 0 ? tags : undefined,
        limit: q.limit === undefined ? undefined : Number(q.limit),
      });
      if (!filter.success)
        throw new ApiError(
          400,
          'bad_request',
          'invalid run filter',
          filter.error.issues.map((i) => ({
            path: issuePath(i.path as PropertyKey[], 'query'),
            message: i.message,
          })),
        );
      return c.json(await store.listRuns(filter.data as RunFilter), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/runs/import',
      summary: 'Store a run made elsewhere (`faultline run --server`, `faultline push`) from its journal',
      request: jsonBody(ImportRunSchema),
      responses: {
        201: json(RunSchema, 'Stored, finished, with the verdict its journal gives'),
        422: json(ErrorSchema, 'Not a run journal'),
        ...errors,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const parsed = parseJournal(body.journal);
      if (!parsed.ok)
        throw new ApiError(
          422,
          'invalid_journal',
          'not a run journal',
          parsed.issues.map((i) => ({ ...i, path: i.path ? `journal.${i.path}` : 'journal' })),
        );
      const journal = parsed.journal;
      const verdict = decideVerdict(journal);
      const journalTags = Array.isArray(journal.experiment.tags)
        ? journal.experiment.tags.filter((t): t is string => typeof t === 'string')
        : [];
      const run = await store.createRun({
        ...(body.experiment !== undefined ? { experiment: body.experiment } : {}),
        title: journal.experiment.title,
        tags: [...new Set([...journalTags, ...(body.tags ?? [])])],
        origin: 'push',
        requestedBy: ACTOR,
        finished: {
          verdict: verdict.kind,
          startedAt: journal.start,
          finishedAt: journal.end,
          duration: journal.duration,
          // Stored as pushed (the pusher's engine redacted it), not as normalised for the report.
          journal: body.journal,
        },
      });
      await audit(c, 'run.push', run.id, { verdict: verdict.kind });
      return c.json(run, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/runs/{id}',
      summary: 'A run with its journal',
      request: { params: RunParamsSchema },
      responses: { 200: json(RunWithJournalSchema, 'The run'), ...errors },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const run = await store.getRun(id);
      if (!run) throw new ApiError(404, 'not_found', `no run ${id}`);
      return c.json(run, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/runs/{id}/report',
      summary: "A run's HTML report, rendered from its stored journal",
      request: { params: RunParamsSchema },
      responses: {
        200: {
          content: { 'text/html': { schema: z.string() } },
          description: 'The report (a self-contained page)',
        },
        ...errors,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const run = await store.getRun(id);
      if (!run) throw new ApiError(404, 'not_found', `no run ${id}`);
      if (run.journal === undefined || run.journal === null)
        throw new ApiError(
          404,
          'no_journal',
          `run ${id} has no journal (${run.status}${run.reason ? `: ${run.reason}` : ''})`,
        );
      const parsed = parseJournal(run.journal);
      if (!parsed.ok) throw new ApiError(404, 'no_journal', `run ${id}: its stored journal cannot be read`);
      // The report is self-contained (inline styles and SVG, no script): a pushed journal is someone
      // else's text, so the page may load nothing and runs sandboxed (an opaque origin the API refuses).
      c.header(
        'Content-Security-Policy',
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
      );
      return c.html(renderReport('html', [parsed.journal]), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/runs/{id}/abort',
      summary: 'Interrupt a run (its faults are reverted) or cancel a queued one',
      request: { params: RunParamsSchema },
      responses: {
        202: json(RunSchema, 'Interrupting: the run ends `interrupted` once its faults are reverted'),
        200: json(RunSchema, 'It was queued: it will not run'),
        409: json(ErrorSchema, 'It is not queued or running here'),
        ...errors,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const run = await store.getRun(id);
      if (!run) throw new ApiError(404, 'not_found', `no run ${id}`);
      const reason = `aborted by ${ACTOR} through the API`;
      if (runner.abort(id, reason, run.status === 'running' && run.claimedBy === opts.serverId)) {
        await audit(c, 'run.abort', id);
        const { journal: _journal, ...summary } = run;
        return c.json(summary, 202);
      }
      if (run.status === 'queued') {
        const updated = await store.updateRun(id, {
          status: 'interrupted',
          verdict: 'interrupted',
          reason: `${reason} before it started`,
          finishedAt: new Date().toISOString(),
        });
        await audit(c, 'run.abort', id, { queued: true });
        const { journal: _journal, ...summary } = run;
        return c.json(updated ?? summary, 200);
      }
      throw new ApiError(
        409,
        'not_running',
        run.status === 'running'
          ? `run ${id} is running on another server (${run.claimedBy ?? 'unknown'}); abort it there`
          : `run ${id} is ${run.status}: nothing to abort`,
      );
    },
  );

  // ---------------------------------------------------------------- health, audit, the document

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/health',
      summary: "The server's and its database's health",
      responses: {
        200: json(HealthSchema, 'Healthy'),
        503: json(
          HealthSchema.extend(ErrorSchema.shape),
          'The database is unreachable: new runs are refused',
        ),
      },
    }),
    async (c) => {
      const health = await store.health().catch((err: Error) => ({ ok: false as const, error: err.message }));
      const base = { database: store.describe, server: opts.serverId };
      if (health.ok) return c.json({ ok: true, ...base }, 200);
      return c.json(
        {
          ok: false,
          ...base,
          error: errorBody('unhealthy', `the database is unreachable: ${health.error}`).error,
        },
        503,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/audit',
      summary: 'The audit log, newest first (`before`: entries older than that id)',
      request: { query: AuditQuerySchema },
      responses: { 200: json(z.array(AuditEntrySchema), 'Audit entries'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const limit = q.limit === undefined ? undefined : Number(q.limit);
      if (limit !== undefined && (limit < 1 || limit > 500))
        throw new ApiError(400, 'bad_request', 'query.limit: expected a number 1-500', [
          { path: 'query.limit', message: 'expected a number 1-500' },
        ]);
      return c.json(
        await store.listAudit({
          ...(limit !== undefined ? { limit } : {}),
          ...(q.before !== undefined ? { before: Number(q.before) } : {}),
        }),
        200,
      );
    },
  );

  app.doc('/api/openapi.json', {
    openapi: '3.0.3',
    info: {
      title: 'Faultline control plane',
      version: VERSION,
      description:
        'The API of `faultline serve`. No sign-in yet: the server listens on loopback only. Errors: `{ error: { code, message, issues? } }`.',
    },
  });

  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));

  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json(errorBody(err.code, err.message, err.issues), err.status);
    if (err instanceof HTTPException) {
      const status = err.status as ContentfulStatusCode;
      const code =
        status === 415
          ? 'unsupported_media_type'
          : status === 413
            ? 'too_large'
            : status < 500
              ? 'bad_request'
              : 'internal';
      const message =
        status === 415
          ? 'expected a JSON body (Content-Type: application/json)'
          : /malformed json/i.test(err.message)
            ? 'the body is not valid JSON'
            : err.message || 'the request was refused';
      return c.json(errorBody(code, message), status);
    }
    if (err instanceof FaultlineError) {
      if (err.code === 'FAULTLINE_ERR_STORE')
        return c.json(errorBody('store_unavailable', `the database failed: ${err.message}`), 503);
      if (err.exitCode === 2) return c.json(errorBody('bad_request', err.message, err.issues), 400);
    }
    opts.onProblem?.(
      `internal error on ${c.req.method} ${c.req.path}: ${(err as Error)?.stack ?? String(err)}`,
    );
    return c.json(errorBody('internal', 'internal error (the server log has the details)'), 500);
  });

  return app;
}
