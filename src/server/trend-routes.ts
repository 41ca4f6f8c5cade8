/**
 * History's routes (issue #17): trends, the comparison of two runs, and the Prometheus metrics.
 *
 * /metrics serves the trends of a fixed window (METRICS_WINDOW_DAYS) as gauges, so a Prometheus and the
 * Grafana dashboard in docs/grafana-server-dashboard.json see what GET /api/trends says; it is guarded
 * like /api/* (a token is a bearer for Prometheus' `authorization`; loopback with no users is open) and
 * rendered at most once per METRICS_CACHE_MS however many scrape it.
 */
import { createRoute } from '@hono/zod-openapi';
import { Exposition, labels } from '../core/prom-text.js';
import { ApiError } from './api-error.js';
import { CompareQuerySchema, ErrorSchema, json, TrendsQuerySchema } from './api-schemas.js';
import { need } from './auth/access.js';
import type { RouteGroup } from './route-deps.js';
import { type Store, VERDICTS } from './store.js';
import {
  bucketCount,
  buildTrends,
  ComparisonSchema,
  compareRuns,
  experimentKey,
  MAX_BUCKETS,
  summarizeTrends,
  type TrendStats,
  TrendsSchema,
  type TrendWindow,
  trendQuery,
} from './trends.js';

/** The window /metrics reports on, and GET /api/trends' default. */
export const METRICS_WINDOW_DAYS = 30;
/** How long a rendered /metrics is served again (scrapes every few seconds cost one query, not one each). */
export const METRICS_CACHE_MS = 5000;

const DAY_MS = 86_400_000;

const badRequest = (path: string, message: string) =>
  new ApiError(400, 'bad_request', `invalid request: ${path}: ${message}`, [{ path, message }]);

export const registerTrendRoutes: RouteGroup = (app, deps) => {
  const { store } = deps;

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/trends',
      summary:
        'Success rate, recovery (median, p90), blast radius and resilience score per bucket, per experiment and overall, over [from, to) (default the last 30 days, by day)',
      request: { query: TrendsQuerySchema },
      responses: {
        200: json(TrendsSchema, 'The trends'),
        400: json(ErrorSchema, 'The request is malformed: its issues say where'),
        503: json(ErrorSchema, 'The database is unreachable'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const to = q.to === undefined ? new Date() : new Date(q.to);
      const from =
        q.from === undefined ? new Date(to.getTime() - METRICS_WINDOW_DAYS * DAY_MS) : new Date(q.from);
      if (from.getTime() >= to.getTime())
        throw badRequest(q.to === undefined ? 'query.from' : 'query.to', 'expected `from` before `to`');
      const w: TrendWindow = {
        from,
        to,
        bucket: q.bucket ?? 'day',
        ...(q.experiment !== undefined ? { experiment: q.experiment } : {}),
      };
      const n = bucketCount(w);
      if (n > MAX_BUCKETS)
        throw badRequest(
          'query.bucket',
          `[from, to) spans ${n} ${w.bucket}s, more than ${MAX_BUCKETS}: choose a wider bucket or a shorter range`,
        );
      return c.json(buildTrends(w, await store.trendAggregates(trendQuery(w))), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/runs/compare',
      summary: 'Two runs of one experiment side by side: probes by phase, faults, load, recovery',
      request: { query: CompareQuerySchema },
      responses: {
        200: json(ComparisonSchema, 'The comparison'),
        400: json(ErrorSchema, 'a or b is missing or not a run id'),
        404: json(ErrorSchema, 'No such run (the message names which)'),
        409: json(ErrorSchema, 'The two runs are of different experiments'),
        503: json(ErrorSchema, 'The database is unreachable'),
      },
    }),
    async (c) => {
      const { a, b } = c.req.valid('query');
      const [ra, rb] = await Promise.all([store.getRun(a), store.getRun(b)]);
      if (!ra) throw new ApiError(404, 'not_found', `no run ${a} (a)`);
      if (!rb) throw new ApiError(404, 'not_found', `no run ${b} (b)`);
      const ka = experimentKey(ra);
      const kb = experimentKey(rb);
      if (ka !== kb)
        throw new ApiError(
          409,
          'different_experiments',
          `runs of different experiments cannot be compared: a (${a}) is of ${ka}, b (${b}) of ${kb}`,
        );
      return c.json(compareRuns(ra, rb), 200);
    },
  );

  let cached: { at: number; text: Promise<string> } | undefined;
  app.use('/metrics', deps.access.middleware(), need('read'));
  app.get('/metrics', async (c) => {
    const now = Date.now();
    if (!cached || now - cached.at >= METRICS_CACHE_MS) {
      const text = renderMetrics(store, deps.runner.runningIds().length, now);
      cached = { at: now, text };
      // A failed render is not served again: the next scrape tries afresh.
      text.catch(() => {
        if (cached?.text === text) cached = undefined;
      });
    }
    return c.body(await cached.text, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
};

/** One family per figure; the overall series has no `experiment` label, each experiment's has one. */
export async function renderMetrics(store: Store, runningHere: number, now = Date.now()): Promise<string> {
  const out = new Exposition();
  const health = await store.health().catch((err: Error) => ({ ok: false as const, error: err.message }));
  out.family('faultline_server_database_up', 'gauge', 'Whether the database answers (1) or not (0).', [
    ['', health.ok ? 1 : 0],
  ]);
  out.family('faultline_server_runs_running_here', 'gauge', 'Runs this server is executing now.', [
    ['', runningHere],
  ]);
  // Without the database there is nothing more to say; Prometheus alerts on database_up.
  if (!health.ok) return out.toString();

  const [halt, active, agg] = await Promise.all([
    store.getHalt(),
    store.countActiveRuns(),
    store.trendAggregates({
      from: new Date(now - METRICS_WINDOW_DAYS * DAY_MS).toISOString(),
      to: new Date(now).toISOString(),
      origin: new Date(now - METRICS_WINDOW_DAYS * DAY_MS).toISOString(),
      bucketSeconds: METRICS_WINDOW_DAYS * 86_400,
    }),
  ]);
  out.family('faultline_server_halted', 'gauge', 'Whether the emergency stop is raised (1) or not (0).', [
    ['', halt ? 1 : 0],
  ]);
  out.family('faultline_server_runs_running', 'gauge', 'Runs running now, on every server of the database.', [
    ['', active.running],
  ]);
  out.family(
    'faultline_server_runs_queued',
    'gauge',
    'Runs waiting to start, on every server of the database.',
    [['', active.queued]],
  );
  out.family(
    'faultline_server_trend_window_seconds',
    'gauge',
    `The window the faultline_server trend figures cover: runs requested in the last ${METRICS_WINDOW_DAYS} days.`,
    [['', METRICS_WINDOW_DAYS * 86_400]],
  );

  const { overall, experiments } = summarizeTrends(agg);
  const sets: [Record<string, string>, TrendStats][] = [
    [{}, overall],
    ...experiments.map((e): [Record<string, string>, TrendStats] => [{ experiment: e.experiment }, e]),
  ];
  const rows = (pick: (s: TrendStats) => number | null | undefined, extra: Record<string, string> = {}) =>
    sets.flatMap(([l, s]): [string, number][] => {
      const v = pick(s);
      return v === null || v === undefined ? [] : [[labels({ ...l, ...extra }), v]];
    });
  const window = `over the last ${METRICS_WINDOW_DAYS} days; no experiment label: every run`;
  out.family(
    'faultline_server_runs',
    'gauge',
    `Finished runs by verdict, ${window}.`,
    VERDICTS.flatMap((verdict) => rows((s) => s.verdicts[verdict], { verdict })),
  );
  out.family(
    'faultline_server_success_ratio',
    'gauge',
    `Passed runs / runs (refused ones not counted), ${window}.`,
    rows((s) => s.successRate),
  );
  out.family(
    'faultline_server_recovery_seconds',
    'gauge',
    `Time to recover after the faults were reverted, median (quantile 0.5) and p90, over the runs that measured it, ${window}.`,
    [
      ...rows((s) => (s.recoveryMs ? s.recoveryMs.median / 1000 : null), { quantile: '0.5' }),
      ...rows((s) => (s.recoveryMs ? s.recoveryMs.p90 / 1000 : null), { quantile: '0.9' }),
    ],
  );
  out.family(
    'faultline_server_recovery_samples',
    'gauge',
    `Runs that measured their recovery, ${window}.`,
    rows((s) => s.recoveryMs?.samples ?? 0),
  );
  out.family(
    'faultline_server_blast_radius_faults',
    'gauge',
    `Faults per run (mean), ${window}.`,
    rows((s) => s.blastRadius.faults),
  );
  out.family(
    'faultline_server_blast_radius_targets',
    'gauge',
    `Distinct targets per run (mean), ${window}.`,
    rows((s) => s.blastRadius.targets),
  );
  out.family(
    'faultline_server_blast_radius_max_targets',
    'gauge',
    `The most distinct targets one run touched, ${window}.`,
    rows((s) => s.blastRadius.maxTargets),
  );
  out.family(
    'faultline_server_runs_left_faults',
    'gauge',
    `Runs that left a fault unreverted, ${window}.`,
    rows((s) => s.leftFaults),
  );
  out.family(
    'faultline_server_safeguard_breaches',
    'gauge',
    `Runs a safeguard stopped, ${window}.`,
    rows((s) => s.safeguardBreaches),
  );
  out.family(
    'faultline_server_resilience_score',
    'gauge',
    `The resilience score, 0-100 (docs/server.md "Resilience score"), ${window}.`,
    rows((s) => s.resilienceScore),
  );
  return out.toString();
}
