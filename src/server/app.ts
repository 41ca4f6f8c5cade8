/**
 * The control plane's HTTP API: every route declared with its zod schemas
 * (store.ts, api-schemas.ts), which validate the request and generate the
 * OpenAPI document at /api/openapi.json, and one error mapping for the whole
 * server: every 4xx and 5xx is `{ error: { code, message, issues? } }`, and
 * nothing the server did not mean to say (a stack, a driver's message with a
 * password) reaches a response.
 *
 * Every route names the action it takes (auth/roles.ts) and is refused with
 * 401/403 unless the caller's role allows it (auth/access.ts: sessions,
 * tokens, and the anonymous `local` while the server is on loopback with no
 * users). The API also refuses what a browser could be tricked into sending:
 * on loopback, a Host that is not loopback (DNS rebinding); an Origin of
 * another site; bodies that are not JSON (a form post); and a change made
 * with a session cookie without the session's CSRF token.
 */
import { tmpdir } from 'node:os';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { FaultlineError, issuePath } from '../core/errors.js';
import { decideVerdict } from '../core/verdict.js';
import { faultlineHome } from '../faults/home.js';
import type { FleetConnectOptions } from '../fleet/connect.js';
import { parseJournal, renderReport } from '../report/index.js';
import { VERSION } from '../version.js';
import { ApiError, errorBody } from './api-error.js';
import {
  AuditQuerySchema,
  ErrorSchema,
  ExperimentParamsSchema,
  ExperimentQuerySchema,
  HealthSchema,
  ImportRunSchema,
  json,
  jsonBody,
  RunParamsSchema,
  RunQuerySchema,
  StartRunSchema,
  UploadExperimentSchema,
} from './api-schemas.js';
import { approvalForRun } from './approvals/gate.js';
import { lifecyclesOf, withLifecycle } from './approvals/lifecycle.js';
import { LifecycleSchema } from './approvals/model.js';
import { registerApprovalRoutes } from './approvals/routes.js';
import { Access, type AuthEnv, need, principalOf, SESSION_COOKIE } from './auth/access.js';
import { SignInLimiter } from './auth/rate-limit.js';
import { registerAuthRoutes } from './auth/routes.js';
import { refuseDuringBlackout } from './blackouts/refuse.js';
import { registerBlackoutRoutes } from './blackouts/routes.js';
import { mountDashboard } from './dashboard.js';
import { checkExperimentSource } from './experiments.js';
import { registerGameDayRoutes } from './gamedays/routes.js';
import { refuseWhileHalted } from './halt.js';
import { registerHaltRoutes } from './halt-routes.js';
import { registerLiveRoutes } from './live-routes.js';
import type { RouteDeps } from './route-deps.js';
import type { Runner } from './runner.js';
import { registerScheduleRoutes } from './schedules/routes.js';
import type { BlackoutGate, Notify } from './services.js';
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
import { registerTrendRoutes } from './trend-routes.js';

/** Requests larger than this are refused with 413 before they are read whole. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

/** Failed sign-ins allowed per user name, and per client address, within SIGN_IN_WINDOW_MS. */
export const SIGN_IN_LIMITS = { perUser: 5, perAddress: 20, windowMs: 15 * 60 * 1000 } as const;

export interface AppOptions {
  store: Store;
  runner: Runner;
  serverId: string;
  /** Something the operator should see in the server's output (an unexpected error, never sent to a client). */
  onProblem?: (message: string) => void;
  /**
   * The server listens beyond loopback: every route but health and sign-in needs a session or a token,
   * and any Host is answered (the DNS-rebinding check is for the anonymous loopback case).
   */
  exposed?: boolean;
  /** The server speaks TLS itself: session cookies are Secure. */
  tls?: boolean;
  /** How long a sign-in lasts (default 12 h). */
  sessionTtlMs?: number;
  /** Failed sign-ins allowed before a name or an address must wait (default SIGN_IN_LIMITS). */
  signInLimits?: { perUser: number; perAddress: number; windowMs: number };
  /** $FAULTLINE_HOME (the emergency stop reverts this host's ledger); default from the environment. */
  home?: string;
  /** The fleet's NATS, when the server drives one: the emergency stop halts it too. */
  fleet?: FleetConnectOptions;
  /** Notifications to the settings file's webhooks (default: none sent). */
  notify?: Notify;
  /** Whether a blackout is in force (default: never). */
  blackout?: BlackoutGate;
  /** Wakes the scheduler after a schedule changed. */
  wakeScheduler?: () => void;
  /** Registers work to finish when the server closes. */
  onClose?: (fn: () => Promise<void>) => void;
}

const errors = {
  400: json(ErrorSchema, 'The request is malformed: its issues say where'),
  404: json(ErrorSchema, 'No such experiment, version or run'),
  413: json(ErrorSchema, `The body is larger than ${MAX_BODY_BYTES} bytes`),
  503: json(ErrorSchema, 'The database is unreachable'),
};

/** An experiment as the API shows it: with its lifecycle state (approvals/model.ts). */
const withLifecycleSchema = <T extends z.ZodObject>(schema: T) =>
  schema.extend({ lifecycle: LifecycleSchema });

/**
 * Refuses text a run's columns cannot hold: PostgreSQL's text refuses NUL, which would be the database's
 * 503 for what is the caller's mistake (SQLite would take it: both refuse it, so both agree).
 */
function storable(field: string, value: string): void {
  if (value.includes('\u0000'))
    throw new ApiError(400, 'bad_request', `${field}: expected text without NUL characters`, [
      { path: field, message: 'expected text without NUL characters' },
    ]);
}

const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

/**
 * Whether an Origin header names a page this server may take requests from: a page of this server
 * (the Host asked for, or the host a proxy in front says it was asked for), or on loopback any page
 * served from this machine.
 */
function allowedOrigin(origin: string, hosts: readonly string[], exposed: boolean): boolean {
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
    const host = u.host.toLowerCase();
    return hosts.some((h) => h.toLowerCase() === host) || (!exposed && LOOPBACK_HOST.test(u.host));
  } catch {
    return false;
  }
}

/**
 * The API as a Hono app (the server listens with @hono/node-server; tests can also call
 * `app.request()`).
 */
export function createApp(opts: AppOptions): OpenAPIHono<AuthEnv> {
  const { store, runner } = opts;
  const exposed = opts.exposed ?? false;
  const access = new Access({ store, exposed });
  const limiter = new SignInLimiter(opts.signInLimits ?? SIGN_IN_LIMITS);
  const app = new OpenAPIHono<AuthEnv>({
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
    // On loopback the anonymous `local` may be answered, so a page on another site that rebinds its
    // name to 127.0.0.1 must not be; beyond loopback every request needs credentials anyway.
    if (!exposed && !LOOPBACK_HOST.test(host))
      throw new ApiError(
        403,
        'forbidden_host',
        'the server answers requests to localhost or a loopback address only (it listens on loopback)',
      );
    const origin = c.req.header('origin');
    const forwarded = c.req.header('x-forwarded-host')?.split(',')[0]?.trim();
    if (origin !== undefined && !allowedOrigin(origin, forwarded ? [host, forwarded] : [host], exposed))
      throw new ApiError(403, 'forbidden_origin', 'requests from pages of other sites are refused');
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    // The dashboard's files say how long they keep (hashed assets for a year, its page never).
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });
  app.use('/api/*', access.middleware());
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json(errorBody('too_large', `the body is larger than ${MAX_BODY_BYTES} bytes`), 413),
    }),
  );

  // The actor is who the request authenticated as; a failed sign-in has none (`anonymous`).
  const audit = (c: Context, action: string, subject?: string, detail?: Record<string, unknown>) =>
    store
      .audit({
        actor: (c.get('principal') as { actor: string } | undefined)?.actor ?? 'anonymous',
        action,
        ...(subject !== undefined ? { subject } : {}),
        ...(detail ? { detail } : {}),
      })
      .then(() => c);

  const deps: RouteDeps = {
    store,
    runner,
    access,
    serverId: opts.serverId,
    home: opts.home ?? faultlineHome(),
    ...(opts.fleet ? { fleet: opts.fleet } : {}),
    audit,
    ...(opts.onProblem ? { onProblem: opts.onProblem } : {}),
    notify: opts.notify ?? (() => {}),
    blackout: opts.blackout ?? { current: async () => undefined },
    wakeScheduler: opts.wakeScheduler ?? (() => {}),
    onClose: opts.onClose ?? (() => {}),
  };
  // Before app.ts's own routes: Hono tries routes in the order they are added, and a group's
  // /api/runs/compare must not be taken for /api/runs/{id}.
  for (const group of [
    registerLiveRoutes,
    registerHaltRoutes,
    registerTrendRoutes,
    registerScheduleRoutes,
    registerBlackoutRoutes,
    registerApprovalRoutes,
    registerGameDayRoutes,
  ])
    group(app, deps);

  // ---------------------------------------------------------------- experiments

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('experiment.upload')] as const,
      path: '/api/experiments',
      summary: 'Upload an experiment: a new version, or the latest when identical',
      request: jsonBody(UploadExperimentSchema),
      responses: {
        200: json(
          withLifecycleSchema(ExperimentVersionSchema),
          'Identical to the latest version: that version',
        ),
        201: json(
          withLifecycleSchema(ExperimentVersionSchema),
          'Stored as a new version (a new version needs its own approval when tagged for production)',
        ),
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
      storable('source: title', checked.experiment.title);
      for (const [i, t] of checked.experiment.tags.entries()) storable(`source: tags[${i}]`, t);
      const { experiment, created } = await store.putExperiment({
        name: body.name,
        format: body.format,
        title: checked.experiment.title,
        tags: checked.experiment.tags,
        source: body.source,
        createdBy: principalOf(c).actor,
      });
      await audit(c, 'experiment.upload', body.name, { version: experiment.version, created });
      return c.json(await withLifecycle(store, deps.home, experiment), created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/experiments',
      summary: "Every experiment, with its latest version and that version's lifecycle state",
      responses: {
        200: json(z.array(withLifecycleSchema(ExperimentSummarySchema)), 'The experiments'),
        ...errors,
      },
    }),
    async (c) => {
      const experiments = await store.listExperiments();
      const states = await lifecyclesOf(store, deps.home, experiments);
      return c.json(
        experiments.map((e, i) => ({ ...e, lifecycle: states[i] as z.infer<typeof LifecycleSchema> })),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/experiments/{name}',
      summary: 'An experiment: its latest version, or `?version=N`, with its lifecycle state',
      request: { params: ExperimentParamsSchema, query: ExperimentQuerySchema },
      responses: {
        200: json(withLifecycleSchema(ExperimentVersionSchema), 'The version with its source'),
        ...errors,
      },
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
      return c.json(await withLifecycle(store, deps.home, found), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
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
      middleware: [need('run.start')] as const,
      path: '/api/runs',
      summary: 'Queue a run of a stored experiment (its latest version unless `version`)',
      request: jsonBody(StartRunSchema),
      responses: {
        202: json(RunSchema, 'Queued'),
        409: json(
          ErrorSchema,
          'The emergency stop is raised (`halted`: who raised it and why), a blackout is in force (`blackout`), or the experiment is tagged for production and no approval of this version is valid (`approval_required`: how to ask for one)',
        ),
        ...errors,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      await requireHealthy();
      await refuseWhileHalted(store);
      await refuseDuringBlackout(deps.blackout);
      const experiment = await store.getExperiment(body.experiment, body.version);
      if (!experiment)
        throw new ApiError(
          404,
          'not_found',
          `no experiment ${body.experiment}${body.version === undefined ? '' : ` version ${body.version}`}`,
        );
      const actor = principalOf(c).actor;
      // Last of the checks: a one-run approval is used up here, so nothing after may refuse the run.
      const { approval } = await approvalForRun(store, deps.home, experiment, {
        standing: false,
        actor,
        notify: deps.notify,
      });
      const run = await store.createRun({
        experiment: experiment.name,
        experimentVersion: experiment.version,
        title: experiment.title,
        tags: [...new Set([...experiment.tags, ...(body.tags ?? [])])],
        origin: 'server',
        requestedBy: actor,
        ...(approval !== undefined ? { approval } : {}),
      });
      await audit(c, 'run.start', run.id, {
        experiment: experiment.name,
        version: experiment.version,
        ...(approval !== undefined ? { approval } : {}),
      });
      runner.notifyQueued(run);
      return c.json(run, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
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
      middleware: [need('run.push')] as const,
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
      storable('journal.experiment.title', journal.experiment.title);
      for (const [i, t] of journalTags.entries()) storable(`journal.experiment.tags[${i}]`, t);
      const run = await store.createRun({
        ...(body.experiment !== undefined ? { experiment: body.experiment } : {}),
        title: journal.experiment.title,
        tags: [...new Set([...journalTags, ...(body.tags ?? [])])],
        origin: 'push',
        requestedBy: principalOf(c).actor,
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
      middleware: [need('read')] as const,
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
      middleware: [need('read')] as const,
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
      middleware: [need('run.abort')] as const,
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
      const { journal: _journal, ...summary } = run;
      const stopped = await runner.abortOrCancel(
        summary,
        `aborted by ${principalOf(c).actor} through the API`,
      );
      if (stopped?.kind === 'interrupting') {
        await audit(c, 'run.abort', id);
        return c.json(summary, 202);
      }
      if (stopped?.kind === 'cancelled') {
        await audit(c, 'run.abort', id, { queued: true });
        return c.json(stopped.run ?? summary, 200);
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
      security: [],
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
      middleware: [need('read')] as const,
      path: '/api/audit',
      summary: 'The audit log, newest first (`before`: entries older than that id)',
      request: { query: AuditQuerySchema },
      responses: { 200: json(z.array(AuditEntrySchema), 'Audit entries'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const limit = q.limit === undefined ? undefined : Number(q.limit);
      return c.json(
        await store.listAudit({
          ...(limit !== undefined ? { limit } : {}),
          ...(q.before !== undefined ? { before: Number(q.before) } : {}),
        }),
        200,
      );
    },
  );

  registerAuthRoutes(app, {
    store,
    access,
    limiter,
    ...(opts.sessionTtlMs !== undefined ? { sessionTtlMs: opts.sessionTtlMs } : {}),
    ...(opts.tls ? { tls: true } : {}),
    audit,
  });

  // The document is read like everything else (a viewer may), through a route of its own.
  app.use('/api/openapi.json', need('read'));
  app.openAPIRegistry.registerComponent('securitySchemes', 'token', { type: 'http', scheme: 'bearer' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'session', {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE,
  });
  app.doc('/api/openapi.json', {
    security: [{ token: [] }, { session: [] }],
    openapi: '3.0.3',
    info: {
      title: 'Faultline control plane',
      version: VERSION,
      description:
        'The API of `faultline serve`. Sign in with POST /api/session (a cookie, and a CSRF token for changes) or send an API token (`Authorization: Bearer <token>`); on loopback with no users, requests are the anonymous admin `local`. Errors: `{ error: { code, message, issues? } }`.',
    },
  });

  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));

  app.onError((err, c) => {
    if (err instanceof ApiError) {
      for (const [name, value] of Object.entries(err.headers ?? {})) c.header(name, value);
      return c.json(errorBody(err.code, err.message, err.issues), err.status);
    }
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

  // The dashboard's page and assets (public files: what they show comes from the API, which signs in).
  mountDashboard(app);
  return app;
}
