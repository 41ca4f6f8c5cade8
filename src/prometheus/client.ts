/**
 * A small typed client for the Prometheus HTTP API (instant and range
 * queries), with the conversions steady-state probes need: a single sample as
 * a number, a vector as `{metric, value}` items, a matrix as
 * `{metric, values: [[t, v], ...]}` items.
 *
 * @example
 * const prom = new PrometheusClient({ baseUrl: 'http://localhost:9090' });
 * const res = await prom.query('sum(rate(http_requests_total{code=~"5.."}[1m]))');
 * const errorsPerSecond = toNumber(res.data);
 */
import { Agent, request } from 'undici';

/** Prometheus' label set of one series. */
export type Metric = Record<string, string>;
/** `[unix seconds, "value"]`, as Prometheus sends it. */
export type RawSample = [number, string];

export type QueryData =
  | { resultType: 'scalar'; result: RawSample }
  | { resultType: 'string'; result: RawSample }
  | { resultType: 'vector'; result: { metric: Metric; value: RawSample }[] }
  | { resultType: 'matrix'; result: { metric: Metric; values: RawSample[] }[] };

/** The response JSON of a successful query, as-is. */
export interface QueryResponse {
  status: 'success';
  data: QueryData;
  warnings?: string[];
  infos?: string[];
}

/** A time Prometheus accepts: a Date, unix seconds, or a string passed through (RFC 3339 or unix seconds). */
export type PromTime = Date | number | string;

export interface RequestOptions {
  signal?: AbortSignal;
  /** Prometheus' own evaluation timeout, in seconds (its `timeout` parameter). */
  timeout?: number;
}

export interface PrometheusClientOptions {
  /** For example `http://localhost:9090` (a path prefix such as `/prometheus` is kept). */
  baseUrl: string;
  /** Client-side deadline for one request. Default 30 s. */
  requestTimeoutMs?: number;
  /** `false` accepts any TLS certificate. */
  verifyTls?: boolean;
  headers?: Record<string, string>;
}

export type PrometheusErrorKind = 'connection' | 'timeout' | 'aborted' | 'http' | 'query' | 'response';

/** Every failure of the client: `kind` says which, the message says it plainly. */
export class PrometheusError extends Error {
  readonly kind: PrometheusErrorKind;
  /** HTTP status, when Prometheus answered. */
  readonly status: number | undefined;
  /** Prometheus' `errorType` (`bad_data`, `timeout`, `execution`, ...), when it gave one. */
  readonly errorType: string | undefined;
  /** The response body, when there was one. */
  readonly body: string | undefined;
  constructor(
    kind: PrometheusErrorKind,
    message: string,
    extra: { status?: number; errorType?: string; body?: string; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'PrometheusError';
    this.kind = kind;
    this.status = extra.status;
    this.errorType = extra.errorType;
    this.body = extra.body;
  }
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** A PromTime as a query parameter: unix seconds with millisecond precision, or the string as given. */
export function formatPromTime(time: PromTime): string {
  if (time instanceof Date) return (time.getTime() / 1000).toFixed(3);
  if (typeof time === 'number') return String(time);
  return time;
}

function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return err.errors.map((e) => reasonOf(e)).join('; ');
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return err.message || String(code ?? err.name);
  }
  return String(err);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class PrometheusClient {
  readonly baseUrl: string;
  private readonly requestTimeoutMs: number;
  private readonly verifyTls: boolean;
  private readonly headers: Record<string, string>;

  constructor(options: PrometheusClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new PrometheusError('connection', `invalid Prometheus URL ${JSON.stringify(options.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PrometheusError('connection', `invalid Prometheus URL ${options.baseUrl}: expected http(s)`);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.verifyTls = options.verifyTls ?? true;
    this.headers = { accept: 'application/json', 'user-agent': 'faultline', ...options.headers };
  }

  /** `GET /api/v1/query`: an instant query, at `time` (default: now, Prometheus' clock). */
  query(promql: string, options: RequestOptions & { time?: PromTime } = {}): Promise<QueryResponse> {
    const params: Record<string, string> = { query: promql };
    if (options.time !== undefined) params.time = formatPromTime(options.time);
    return this.get('/api/v1/query', params, options);
  }

  /** `GET /api/v1/query_range`: a range query from `start` to `end` every `step` seconds. */
  queryRange(
    promql: string,
    options: RequestOptions & { start: PromTime; end: PromTime; step: number | string },
  ): Promise<QueryResponse> {
    const params: Record<string, string> = {
      query: promql,
      start: formatPromTime(options.start),
      end: formatPromTime(options.end),
      step: String(options.step),
    };
    return this.get('/api/v1/query_range', params, options);
  }

  private async get(
    path: string,
    params: Record<string, string>,
    options: RequestOptions,
  ): Promise<QueryResponse> {
    if (options.timeout !== undefined) params.timeout = String(options.timeout);
    const url = `${this.baseUrl}${path}?${new URLSearchParams(params).toString()}`;
    const deadline = AbortSignal.timeout(this.requestTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const agent = new Agent({
      connect: { timeout: Math.min(this.requestTimeoutMs, 10_000), rejectUnauthorized: this.verifyTls },
    });
    let status: number;
    let text: string;
    try {
      const res = await request(url, { dispatcher: agent, headers: this.headers, signal });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      if (options.signal?.aborted) {
        throw new PrometheusError('aborted', `the Prometheus query was interrupted`, { cause: err });
      }
      if (deadline.aborted) {
        throw new PrometheusError(
          'timeout',
          `Prometheus at ${this.baseUrl} did not answer within ${this.requestTimeoutMs} ms`,
          { cause: err },
        );
      }
      throw new PrometheusError(
        'connection',
        `cannot reach Prometheus at ${this.baseUrl}: ${reasonOf(err)}`,
        {
          cause: err,
        },
      );
    } finally {
      await agent.destroy().catch(() => {});
    }
    return this.decode(status, text);
  }

  private decode(status: number, text: string): QueryResponse {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (isRecord(json) && json.status === 'error') {
      const errorType = typeof json.errorType === 'string' ? json.errorType : undefined;
      const message = typeof json.error === 'string' ? json.error : 'no error message';
      throw new PrometheusError(
        'query',
        `Prometheus rejected the query (HTTP ${status}${errorType ? `, ${errorType}` : ''}): ${message}`,
        { status, body: text, ...(errorType ? { errorType } : {}) },
      );
    }
    if (status < 200 || status > 299) {
      const snippet = text.length > 300 ? `${text.slice(0, 300)}...` : text;
      throw new PrometheusError(
        'http',
        `Prometheus at ${this.baseUrl} answered HTTP ${status}${snippet.trim() ? `: ${snippet.trim()}` : ''}`,
        { status, body: text },
      );
    }
    if (!isRecord(json) || json.status !== 'success' || !isRecord(json.data)) {
      throw new PrometheusError(
        'response',
        `the answer from ${this.baseUrl} is not a Prometheus API response (is the URL a Prometheus server?)`,
        { status, body: text },
      );
    }
    return json as unknown as QueryResponse;
  }
}

/** A Prometheus sample value as a number: `"NaN"`, `"+Inf"` and `"-Inf"` included. */
export function sampleValue(value: string): number {
  if (value === '+Inf' || value === 'Inf') return Number.POSITIVE_INFINITY;
  if (value === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(value);
}

/** How many samples a result holds (a scalar is one; a matrix counts its series). */
export function sampleCount(data: QueryData): number {
  if (data.resultType === 'scalar' || data.resultType === 'string') return 1;
  return data.result.length;
}

/**
 * A scalar, or a vector of exactly one sample, as a number. Anything else
 * throws: a steady state should not silently read "no data" as 0.
 */
export function toNumber(data: QueryData): number {
  if (data.resultType === 'scalar') return sampleValue(data.result[1]);
  if (data.resultType === 'vector') {
    const [only, ...rest] = data.result;
    if (only && rest.length === 0) return sampleValue(only.value[1]);
    throw new PrometheusError(
      'response',
      only
        ? `the query returned ${data.result.length} series, not one number (aggregate it, e.g. sum(...))`
        : 'the query returned no samples',
    );
  }
  throw new PrometheusError('response', `the query returned a ${data.resultType}, not one number`);
}

export interface VectorItem {
  metric: Metric;
  value: number;
}
export interface MatrixItem {
  metric: Metric;
  values: [number, number][];
}

/** A vector (or a scalar, as one item with no labels) as `{metric, value}` items. */
export function toVector(data: QueryData): VectorItem[] {
  if (data.resultType === 'scalar') return [{ metric: {}, value: sampleValue(data.result[1]) }];
  if (data.resultType === 'vector') {
    return data.result.map((s) => ({ metric: s.metric, value: sampleValue(s.value[1]) }));
  }
  throw new PrometheusError('response', `the query returned a ${data.resultType}, not a vector`);
}

/** A matrix as `{metric, values: [[t, v], ...]}` items. */
export function toMatrix(data: QueryData): MatrixItem[] {
  if (data.resultType === 'matrix') {
    return data.result.map((s) => ({
      metric: s.metric,
      values: s.values.map(([t, v]): [number, number] => [t, sampleValue(v)]),
    }));
  }
  throw new PrometheusError('response', `the query returned a ${data.resultType}, not a matrix`);
}
