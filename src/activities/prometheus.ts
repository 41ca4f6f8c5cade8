/**
 * Prometheus as a steady-state source.
 *
 * `faultline.prometheus` probes (`query`, `query_range`) return what a
 * tolerance wants: one number, a list of `{metric, value}`, or a reduced
 * range. Chaos Toolkit's `chaosprometheus.probes` (`query`, `query_interval`)
 * run unchanged: same arguments, configured by `prometheus_base_url`
 * (default `http://localhost:9090`), returning Prometheus' response JSON
 * as-is (`{status, data: {resultType, result}}`), so jsonpath tolerances
 * written for them (`$.data.result[0].value[1]`) keep working.
 */
import { z } from 'zod';
import { ActivityFailed } from '../core/errors.js';
import { defineActivity } from '../engine/builtins.js';
import type { ActivityContext, BuiltinActivity } from '../engine/context.js';
import {
  PrometheusClient,
  PrometheusError,
  type QueryData,
  type QueryResponse,
  sampleCount,
  toMatrix,
  toNumber,
  toVector,
} from '../prometheus/client.js';
import { parseDurationSeconds, parseTime } from '../prometheus/time.js';

const MODULE = 'faultline.prometheus';
const CTK_MODULE = 'chaosprometheus.probes';
const DEFAULT_URL = 'http://localhost:9090';
// Prometheus refuses more than 11,000 points per series; stay well below it.
const AUTO_POINTS = 250;

// `.min(1)` also keeps zod's JSON Schema an anyOf, which `faultline discover` prints as `string | number`.
const time = z
  .union([z.string().min(1), z.number()])
  .describe('now, "5 minutes ago", RFC 3339 or unix seconds');
const seconds = z
  .union([z.number().nonnegative(), z.string()])
  .describe('seconds, or a duration like 30s, 5m');

function baseUrl(url: string | undefined, ctx: ActivityContext): string {
  if (url) return url;
  const configured = ctx.configuration.prometheus_base_url;
  return typeof configured === 'string' && configured ? configured : DEFAULT_URL;
}

function client(url: string, ctx: ActivityContext, timeoutSeconds?: number, verifyTls = true) {
  try {
    return new PrometheusClient({
      baseUrl: baseUrl(url, ctx),
      verifyTls,
      // Prometheus' own timeout bounds the evaluation; leave it room to answer.
      ...(timeoutSeconds !== undefined ? { requestTimeoutMs: timeoutSeconds * 1000 + 5000 } : {}),
    });
  } catch (err) {
    throw new ActivityFailed((err as Error).message, { cause: err });
  }
}

function readTime(value: string | number, field: string, now: Date): Date {
  const parsed = parseTime(value, now);
  if (!parsed) {
    throw new ActivityFailed(
      `failed to parse ${field} ${JSON.stringify(value)}: expected now, "N minutes ago", RFC 3339 or unix seconds`,
    );
  }
  return parsed;
}

function readSeconds(value: string | number, field: string): number {
  const parsed = parseDurationSeconds(value);
  if (parsed === undefined) {
    throw new ActivityFailed(
      `invalid ${field} ${JSON.stringify(value)}: expected seconds or a duration like 30s, 5m`,
    );
  }
  return parsed;
}

/** Client errors become failed activities carrying the client's message (Prometheus' own for bad PromQL). */
async function ask(what: () => Promise<QueryResponse>): Promise<QueryResponse> {
  try {
    return await what();
  } catch (err) {
    if (err instanceof PrometheusError) throw new ActivityFailed(err.message, { cause: err });
    throw err;
  }
}

function convert(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PrometheusError) throw new ActivityFailed(err.message, { cause: err });
    throw err;
  }
}

function instantOutput(data: QueryData, as: 'number' | 'vector' | 'raw' | undefined): unknown {
  if (as === 'raw') return data;
  if (data.resultType === 'string') return as === undefined ? data.result[1] : convert(() => toNumber(data));
  if (as === 'number') return convert(() => toNumber(data));
  if (as === 'vector') return convert(() => toVector(data));
  return sampleCount(data) === 1 ? convert(() => toNumber(data)) : convert(() => toVector(data));
}

const REDUCERS = ['min', 'max', 'avg', 'sum', 'last', 'first', 'count'] as const;
type Reducer = (typeof REDUCERS)[number];

function reduce(data: QueryData, how: Reducer): number {
  const values = (convert(() => toMatrix(data)) as ReturnType<typeof toMatrix>).flatMap((s) =>
    s.values.map(([, v]) => v),
  );
  if (how === 'count') return values.length;
  if (values.length === 0) throw new ActivityFailed('the range query returned no samples');
  switch (how) {
    case 'min':
      return Math.min(...values);
    case 'max':
      return Math.max(...values);
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'first':
      return values[0] as number;
    case 'last':
      return values[values.length - 1] as number;
  }
}

export const prometheusActivities: BuiltinActivity[] = [
  defineActivity({
    module: MODULE,
    func: 'query',
    kind: 'probe',
    doc: 'Runs an instant PromQL query: one sample as a number, else a list of {metric, value} (as: number | vector | raw).',
    arguments: z.object({
      query: z.string().min(1),
      url: z.string().optional(),
      when: time.optional(),
      timeout: seconds.optional(),
      as: z.enum(['number', 'vector', 'raw']).optional(),
      verify_tls: z.boolean().default(true),
    }),
    async run(a, ctx) {
      const timeout = a.timeout === undefined ? undefined : readSeconds(a.timeout, 'timeout');
      const when = a.when === undefined ? undefined : readTime(a.when, 'when', new Date());
      const prom = client(baseUrl(a.url, ctx), ctx, timeout, a.verify_tls);
      const res = await ask(() =>
        prom.query(a.query, {
          signal: ctx.signal,
          ...(when ? { time: when } : {}),
          ...(timeout !== undefined ? { timeout } : {}),
        }),
      );
      return instantOutput(res.data, a.as);
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'query_range',
    kind: 'probe',
    doc: 'Runs a PromQL range query over [start, end] or the last N seconds: a list of {metric, values: [[t, v]]}, or one number with reduce (min, max, avg, ...).',
    arguments: z
      .object({
        query: z.string().min(1),
        url: z.string().optional(),
        start: time.optional(),
        end: time.optional(),
        last: seconds.optional(),
        step: seconds.optional(),
        timeout: seconds.optional(),
        reduce: z.enum(REDUCERS).optional(),
        as: z.enum(['matrix', 'raw']).optional(),
        verify_tls: z.boolean().default(true),
      })
      .refine((a) => (a.start === undefined) !== (a.last === undefined), {
        message: 'give either start (and optionally end) or last (seconds before end)',
        path: ['start'],
      }),
    async run(a, ctx) {
      const now = new Date();
      const timeout = a.timeout === undefined ? undefined : readSeconds(a.timeout, 'timeout');
      const end = a.end === undefined ? now : readTime(a.end, 'end', now);
      const start =
        a.start !== undefined
          ? readTime(a.start, 'start', now)
          : new Date(end.getTime() - readSeconds(a.last ?? 0, 'last') * 1000);
      if (start.getTime() > end.getTime()) {
        throw new ActivityFailed(`start (${start.toISOString()}) is after end (${end.toISOString()})`);
      }
      const span = (end.getTime() - start.getTime()) / 1000;
      const step =
        a.step === undefined ? Math.max(1, Math.ceil(span / AUTO_POINTS)) : readSeconds(a.step, 'step');
      if (step <= 0) throw new ActivityFailed('step must be more than 0 seconds');
      const prom = client(baseUrl(a.url, ctx), ctx, timeout, a.verify_tls);
      const res = await ask(() =>
        prom.queryRange(a.query, {
          start,
          end,
          step,
          signal: ctx.signal,
          ...(timeout !== undefined ? { timeout } : {}),
        }),
      );
      if (a.reduce) return reduce(res.data, a.reduce);
      if (a.as === 'raw') return res.data;
      return convert(() => toMatrix(res.data));
    },
  }),

  // Chaos Toolkit's chaosprometheus.probes: the response JSON as-is, or a failed activity.
  defineActivity({
    module: CTK_MODULE,
    func: 'query',
    kind: 'probe',
    doc: "chaosprometheus' instant query (prometheus_base_url); returns Prometheus' response JSON as-is.",
    arguments: z.object({
      query: z.string(),
      // Python's `if when:`: an empty string means now, so it is accepted here.
      when: z.union([z.string(), z.number()]).nullable().optional(),
      timeout: z.union([z.number().nonnegative(), z.string()]).nullable().optional(),
      verify_tls: z.boolean().default(true),
    }),
    async run(a, ctx) {
      const timeout =
        a.timeout === null || a.timeout === undefined ? undefined : readSeconds(a.timeout, 'timeout');
      // Python's `if when:`: an empty string or 0 means now.
      const when = a.when ? readTime(a.when, 'when', new Date()) : undefined;
      const prom = client(baseUrl(undefined, ctx), ctx, timeout, a.verify_tls);
      return ask(() =>
        prom.query(a.query, {
          signal: ctx.signal,
          ...(when ? { time: when } : {}),
          ...(timeout !== undefined ? { timeout } : {}),
        }),
      );
    },
  }),
  defineActivity({
    module: CTK_MODULE,
    func: 'query_interval',
    kind: 'probe',
    doc: "chaosprometheus' range query from start to end every step seconds; returns Prometheus' response JSON as-is.",
    arguments: z.object({
      query: z.string(),
      start: time,
      end: time,
      step: z.union([z.number().nonnegative(), z.string()]).nullable().default(1),
      timeout: z.union([z.number().nonnegative(), z.string()]).nullable().optional(),
      verify_tls: z.boolean().default(true),
    }),
    async run(a, ctx) {
      const now = new Date();
      const timeout =
        a.timeout === null || a.timeout === undefined ? undefined : readSeconds(a.timeout, 'timeout');
      const start = readTime(a.start, 'start', now);
      const end = readTime(a.end, 'end', now);
      const prom = client(baseUrl(undefined, ctx), ctx, timeout, a.verify_tls);
      // Python's `if step:` leaves a 0 step out, and Prometheus then says why it needs one.
      const step = a.step ? a.step : '';
      return ask(() =>
        prom.queryRange(a.query, {
          start,
          end,
          step,
          signal: ctx.signal,
          ...(timeout !== undefined ? { timeout } : {}),
        }),
      );
    },
  }),
];
