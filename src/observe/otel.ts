/**
 * OpenTelemetry traces of experiment runs, built from the engine's RunEvents
 * and exported over OTLP/HTTP (protobuf or JSON) when the standard
 * `OTEL_EXPORTER_OTLP_*` variables say where. No OpenTelemetry dependency:
 * the OTLP JSON mapping is here, the protobuf encoding in otlp-proto.ts.
 *
 * One trace per run: a root span `faultline run <title>`, a span per phase
 * (child of the root), per activity (child of its phase) and per fault (from
 * injected to reverted). The trace is exported once, at run-end; the export is
 * best-effort (failures go to `onError`, never to the run's outcome) and bounded
 * by OTEL_EXPORTER_OTLP_TIMEOUT. Nothing is read from the environment into the
 * spans but the OTEL_* resource settings: the events and the journal are
 * already redacted (the engine passes every RunEvent through redactEvent(),
 * src/engine/redact.ts, before any listener sees it), so exception messages
 * and reasons carry `***` where a secret value was.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { gzipSync } from 'node:zlib';
import type { ActivityRun, FaultRecord, Journal } from '../core/journal.js';
import type { Activity } from '../core/schema.js';
import { setLongTimeout } from '../core/timers.js';
import type { Phase, RunEvent, RunEventListener } from '../engine/events.js';
import { VERSION } from '../version.js';
import { nonEmpty, tracesMaybeConfigured } from './otel-env.js';
import {
  type Attributes,
  type AttrValue,
  encodeExportTraceRequest,
  type OtlpSpan,
  SPAN_KIND_INTERNAL,
  STATUS_CODE_ERROR,
  STATUS_CODE_UNSET,
  type TraceBatch,
} from './otlp-proto.js';
import { verdictFor } from './run-metrics.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface TraceExporterConfig {
  /** The full traces URL (`.../v1/traces`). */
  url: string;
  headers: Record<string, string>;
  protocol: OtlpProtocol;
  timeoutMs: number;
  compression: 'gzip' | 'none';
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_ENDPOINT = 'http://localhost:4318';
/** Spans and events per run beyond which the rest are dropped (and counted on the root span). */
const MAX_SPANS = 10_000;
const MAX_EVENTS_PER_SPAN = 128;
const MAX_STRING = 4096;

// ------------------------------------------------------------------ configuration

const truthy = (v: string | undefined) => v?.trim().toLowerCase() === 'true';
/** `k=v,k2=v2` (W3C baggage-like; values URL-decoded). Entries without `=` are skipped. */
export function parseOtlpHeaders(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    if (!key) continue;
    let value = raw;
    try {
      value = decodeURIComponent(raw);
    } catch {
      // A stray `%`: keep the value as written.
    }
    out[key] = value;
  }
  return out;
}

/** `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, without doubling the slash. */
function tracesUrlFromBase(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** A URL fit for messages: no credentials, no query. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid URL>';
  }
}

/**
 * Where and how to export traces, from the standard OpenTelemetry variables;
 * undefined when traces are not configured (no OTLP endpoint, and
 * OTEL_TRACES_EXPORTER not `otlp`) or disabled (OTEL_SDK_DISABLED=true,
 * OTEL_TRACES_EXPORTER=none). Throws an Error on a setting it cannot honour
 * (an invalid URL, the grpc protocol).
 */
export function traceExporterFromEnv(env: NodeJS.ProcessEnv): TraceExporterConfig | undefined {
  if (truthy(env.OTEL_SDK_DISABLED) || !tracesMaybeConfigured(env)) return undefined;
  const exporters = nonEmpty(env.OTEL_TRACES_EXPORTER)
    ?.split(',')
    .map((s) => s.trim().toLowerCase());
  if (exporters && !exporters.includes('otlp')) return undefined;
  const tracesEndpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const baseEndpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  // Neither endpoint but OTEL_TRACES_EXPORTER=otlp (explicitly asked for): the spec's default one.
  const url = tracesEndpoint ?? tracesUrlFromBase(baseEndpoint ?? DEFAULT_ENDPOINT);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`the OTLP traces endpoint is not a URL: ${JSON.stringify(displayUrl(url))}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new Error(`the OTLP traces endpoint must be http:// or https://, not ${parsed.protocol}`);

  const protocol = (
    nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ??
    nonEmpty(env.OTEL_EXPORTER_OTLP_PROTOCOL) ??
    'http/protobuf'
  ).toLowerCase();
  if (protocol !== 'http/protobuf' && protocol !== 'http/json')
    throw new Error(`OTLP protocol '${protocol}' is not supported (use http/protobuf or http/json)`);

  const timeoutText =
    nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_TIMEOUT);
  const timeout = timeoutText === undefined ? Number.NaN : Number(timeoutText);
  const timeoutMs = Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_TIMEOUT_MS;

  const compressionText = (
    nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION) ??
    nonEmpty(env.OTEL_EXPORTER_OTLP_COMPRESSION) ??
    'none'
  ).toLowerCase();
  if (compressionText !== 'gzip' && compressionText !== 'none')
    throw new Error(`OTLP compression '${compressionText}' is not supported (use gzip or none)`);

  return {
    url,
    // The traces-specific headers add to (and override) the general ones.
    headers: {
      ...parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS),
      ...parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
    },
    protocol,
    timeoutMs,
    compression: compressionText,
  };
}

/** Resource attributes: OTEL_RESOURCE_ATTRIBUTES, then service.name (OTEL_SERVICE_NAME or `faultline`), version, host. */
export function resourceFromEnv(env: NodeJS.ProcessEnv, host = hostname()): Attributes {
  return {
    ...parseOtlpHeaders(env.OTEL_RESOURCE_ATTRIBUTES),
    'service.name': nonEmpty(env.OTEL_SERVICE_NAME) ?? 'faultline',
    'service.version': VERSION,
    'host.name': host,
    'telemetry.sdk.name': 'faultline',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.version': VERSION,
  };
}

// ------------------------------------------------------------------ OTLP/JSON

type JsonAnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number };

function jsonValue(v: AttrValue): JsonAnyValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Number.isSafeInteger(v)) return { intValue: String(v) };
  return { doubleValue: v };
}

const jsonAttrs = (a: Attributes) => Object.entries(a).map(([key, v]) => ({ key, value: jsonValue(v) }));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The OTLP/JSON ExportTraceServiceRequest: hex ids, int64 as strings, enums as numbers. */
export function toOtlpJson(batch: TraceBatch): unknown {
  return {
    resourceSpans: [
      {
        resource: { attributes: jsonAttrs(batch.resource) },
        scopeSpans: [
          {
            scope: { name: batch.scope.name, version: batch.scope.version },
            spans: batch.spans.map((s) => ({
              traceId: hex(s.traceId),
              spanId: hex(s.spanId),
              ...(s.parentSpanId ? { parentSpanId: hex(s.parentSpanId) } : {}),
              name: s.name,
              kind: s.kind,
              startTimeUnixNano: String(s.startTimeUnixNano),
              endTimeUnixNano: String(s.endTimeUnixNano),
              attributes: jsonAttrs(s.attributes),
              events: s.events.map((e) => ({
                timeUnixNano: String(e.timeUnixNano),
                name: e.name,
                attributes: jsonAttrs(e.attributes),
              })),
              status:
                s.status.code === STATUS_CODE_UNSET && !s.status.message
                  ? {}
                  : { code: s.status.code, ...(s.status.message ? { message: s.status.message } : {}) },
            })),
          },
        ],
      },
    ],
  };
}

// ------------------------------------------------------------------ export

/** POSTs one batch; resolves when the receiver accepted it, rejects with `could not export the trace to <url>: ...`. */
export async function exportTraceBatch(config: TraceExporterConfig, batch: TraceBatch): Promise<void> {
  const json = config.protocol === 'http/json';
  let body: Buffer = json
    ? Buffer.from(JSON.stringify(toOtlpJson(batch)), 'utf8')
    : Buffer.from(encodeExportTraceRequest(batch));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.headers)) headers[k.toLowerCase()] = v;
  headers['content-type'] = json ? 'application/json' : 'application/x-protobuf';
  if (config.compression === 'gzip') {
    body = gzipSync(body);
    headers['content-encoding'] = 'gzip';
  }
  headers['content-length'] = String(body.length);
  headers['user-agent'] = `faultline/${VERSION}`;
  try {
    const { status, text } = await post(config.url, headers, body, config.timeoutMs);
    if (status < 200 || status > 299) {
      const detail = text.trim().slice(0, 200).replace(/\s+/g, ' ');
      throw new Error(`HTTP ${status}${json && detail ? `: ${detail}` : ''}`);
    }
    if (json && text) {
      const rejected = partialRejection(text);
      if (rejected) throw new Error(rejected);
    }
  } catch (err) {
    throw new Error(`could not export the trace to ${displayUrl(config.url)}: ${(err as Error).message}`);
  }
}

/** An OTLP/JSON partial-success answer that rejected spans, as a message. */
function partialRejection(text: string): string | undefined {
  try {
    const p = (
      JSON.parse(text) as { partialSuccess?: { rejectedSpans?: string | number; errorMessage?: string } }
    ).partialSuccess;
    const n = Number(p?.rejectedSpans ?? 0);
    if (n > 0) return `the receiver rejected ${n} span(s)${p?.errorMessage ? `: ${p.errorMessage}` : ''}`;
  } catch {
    // Not JSON: nothing to say.
  }
  return undefined;
}

function post(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      method: 'POST',
      headers,
      agent: false,
    });
    // OTEL_EXPORTER_OTLP_TIMEOUT is the user's: chained past 2^31-1 ms rather than firing at once.
    const timer = setLongTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs, {
      unref: false,
    });
    const done = (fn: () => void) => {
      timer.clear();
      fn();
    };
    req.on('error', (err: NodeJS.ErrnoException) =>
      done(() =>
        reject(
          new Error(
            err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message,
          ),
        ),
      ),
    );
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        // Only the start of an answer is ever shown.
        if (size < 65_536) chunks.push(c);
        size += c.length;
      });
      res.on('end', () =>
        done(() => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })),
      );
      res.on('error', (err) => done(() => reject(err)));
    });
    req.end(body);
  });
}

// ------------------------------------------------------------------ spans

/** ISO-8601 (Chaos Toolkit's `...+00:00` with microseconds) to Unix nanoseconds. */
export function isoToNanos(iso: string | undefined): bigint | undefined {
  if (!iso) return undefined;
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/.exec(iso.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3] ?? 'Z'}`);
  if (!Number.isFinite(ms)) return undefined;
  const frac = (m[2] ?? '').padEnd(9, '0').slice(0, 9);
  return BigInt(ms) * 1_000_000n + BigInt(frac);
}

const nowNanos = () => BigInt(Date.now()) * 1_000_000n;

function attrValue(v: unknown): AttrValue | undefined {
  if (typeof v === 'string') return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (v === undefined || v === null) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    text = String(v);
  }
  return attrValue(text ?? String(v));
}

class SpanBuilder {
  readonly span: OtlpSpan;
  ended = false;
  droppedEvents = 0;

  constructor(traceId: Uint8Array, name: string, start: bigint, parent: SpanBuilder | undefined) {
    this.span = {
      traceId,
      spanId: newId(8),
      ...(parent ? { parentSpanId: parent.span.spanId } : {}),
      name,
      kind: SPAN_KIND_INTERNAL,
      startTimeUnixNano: start,
      endTimeUnixNano: start,
      attributes: {},
      events: [],
      status: { code: STATUS_CODE_UNSET },
    };
  }

  set(attrs: Record<string, unknown>): this {
    for (const [k, v] of Object.entries(attrs)) {
      const value = attrValue(v);
      if (value !== undefined) this.span.attributes[k] = value;
    }
    return this;
  }

  event(name: string, time: bigint, attrs: Record<string, unknown> = {}): void {
    if (this.span.events.length >= MAX_EVENTS_PER_SPAN) {
      this.droppedEvents++;
      return;
    }
    const attributes: Attributes = {};
    for (const [k, v] of Object.entries(attrs)) {
      const value = attrValue(v);
      if (value !== undefined) attributes[k] = value;
    }
    this.span.events.push({ timeUnixNano: time, name, attributes });
  }

  error(message: string | undefined): void {
    this.span.status = {
      code: STATUS_CODE_ERROR,
      ...(message ? { message: attrValue(message) as string } : {}),
    };
  }

  end(time: bigint): void {
    this.span.endTimeUnixNano = time < this.span.startTimeUnixNano ? this.span.startTimeUnixNano : time;
    this.ended = true;
  }
}

function newId(bytes: number): Uint8Array {
  for (;;) {
    const id = randomBytes(bytes);
    if (id.some((b) => b !== 0)) return id;
  }
}

interface RunTrace {
  traceId: Uint8Array;
  runId: string;
  title: string;
  root: SpanBuilder;
  spans: SpanBuilder[];
  droppedSpans: number;
  /** Open phase spans (several `during-hypothesis` checks never overlap, but one overlaps the method). */
  phases: Map<Phase, SpanBuilder>;
  /** Open activity spans by phase + name, oldest first. */
  activities: Map<string, { phase: Phase; span: SpanBuilder }[]>;
  faults: Map<string, SpanBuilder>;
}

export interface RunTracerOptions {
  /** Where to send each finished run's trace; without it, traces only reach `onBatch`. */
  exporter?: TraceExporterConfig;
  /** The environment for the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Export failures (`could not export the trace to <url>: ...`). */
  onError?: (message: string) => void;
  /** Every finished run's batch, before it is exported. */
  onBatch?: (batch: TraceBatch) => void;
}

/**
 * A RunEvent listener that turns each run into one trace and exports it at
 * run-end. Never throws into the engine; `flush()` waits for the exports
 * (each bounded by the exporter's timeout) and ends a run still open.
 */
export class RunTracer {
  readonly #options: RunTracerOptions;
  readonly #pending = new Set<Promise<void>>();
  #run: RunTrace | undefined;

  constructor(options: RunTracerOptions = {}) {
    this.#options = options;
  }

  readonly listener: RunEventListener = (event) => {
    try {
      this.#handle(event);
    } catch (err) {
      // A tracing bug must never break a run.
      this.#options.onError?.(`tracing failed: ${(err as Error).message}`);
    }
  };

  /** Ends a run still open (the engine threw) and waits for every export in flight. */
  async flush(): Promise<void> {
    if (this.#run) this.#finish(this.#run, undefined);
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  #handle(event: RunEvent): void {
    if (event.type === 'run-start') {
      if (this.#run) this.#finish(this.#run, undefined);
      this.#run = this.#start(event.runId, event.title, event.strategies, event.dry);
      return;
    }
    const run = this.#run;
    if (!run) return;
    switch (event.type) {
      case 'phase':
        this.#phase(run, event.phase);
        break;
      case 'activity-start':
        this.#activityStart(run, event.phase, event.activity, event.background);
        break;
      case 'activity-end':
        this.#activityEnd(run, event.phase, event.run, event.reason);
        break;
      case 'hypothesis-end': {
        if (event.phase === 'recovery') {
          run.phases.get('recovery')?.event('faultline.hypothesis', nowNanos(), {
            'faultline.steady_state_met': event.state.steady_state_met,
          });
          break;
        }
        const span = run.phases.get(event.phase);
        if (span) {
          span.set({ 'faultline.steady_state_met': event.state.steady_state_met });
          span.end(nowNanos());
          run.phases.delete(event.phase);
        }
        break;
      }
      case 'fault':
        this.#fault(run, event.action, event.fault);
        break;
      case 'log':
        if (event.level === 'warn' || event.level === 'error') {
          this.#logTarget(run).event('faultline.log', nowNanos(), {
            'faultline.log.level': event.level,
            'faultline.log.message': event.message,
          });
        }
        break;
      case 'run-end':
        if (event.journal.faultline.run_id === run.runId) this.#finish(run, event.journal);
        break;
      default:
        break;
    }
  }

  #start(
    runId: string,
    title: string,
    strategies: { hypothesis: string; rollbacks: string },
    dry: string | null,
  ): RunTrace {
    const traceId = newId(16);
    const root = new SpanBuilder(traceId, `faultline run ${title}`, nowNanos(), undefined);
    const run: RunTrace = {
      traceId,
      runId,
      title,
      root,
      spans: [root],
      droppedSpans: 0,
      phases: new Map(),
      activities: new Map(),
      faults: new Map(),
    };
    this.#common(run, root).set({
      'faultline.hypothesis.strategy': strategies.hypothesis,
      'faultline.rollbacks.strategy': strategies.rollbacks,
      'faultline.dry': dry ?? undefined,
    });
    return run;
  }

  #common(run: RunTrace, span: SpanBuilder): SpanBuilder {
    return span.set({ 'faultline.experiment.title': run.title, 'faultline.run.id': run.runId });
  }

  #child(run: RunTrace, name: string, start: bigint, parent: SpanBuilder): SpanBuilder {
    const span = new SpanBuilder(run.traceId, name, start, parent);
    if (run.spans.length >= MAX_SPANS) run.droppedSpans++;
    else run.spans.push(span);
    return this.#common(run, span);
  }

  #phase(run: RunTrace, phase: Phase): void {
    const now = nowNanos();
    // A recovery phase announces itself, then each of its steady-state checks: one span for all.
    if (phase === 'recovery' && run.phases.has('recovery')) return;
    if (phase !== 'during-hypothesis') {
      for (const [p, span] of run.phases) {
        // The "during" loop starts just before the method and runs alongside it.
        if (p === 'during-hypothesis' && phase === 'method') continue;
        span.end(now);
        run.phases.delete(p);
      }
    }
    run.phases.get(phase)?.end(now);
    run.phases.set(phase, this.#child(run, phase, now, run.root).set({ 'faultline.phase': phase }));
  }

  #activityStart(run: RunTrace, phase: Phase, activity: Activity, background: boolean): void {
    const parent = run.phases.get(phase) ?? run.root;
    const span = this.#child(run, `${activity.type} ${activity.name}`, nowNanos(), parent).set({
      'faultline.phase': phase,
      'faultline.activity.name': activity.name,
      'faultline.activity.type': activity.type,
      'faultline.activity.provider': activity.provider.type,
      'faultline.activity.background': background,
    });
    const key = `${phase}\0${activity.name}`;
    const list = run.activities.get(key) ?? [];
    list.push({ phase, span });
    run.activities.set(key, list);
  }

  #activityEnd(run: RunTrace, phase: Phase, r: ActivityRun, reason: string | undefined): void {
    const key = `${phase}\0${r.activity.name}`;
    const list = run.activities.get(key);
    let span = list?.shift()?.span;
    if (list?.length === 0) run.activities.delete(key);
    if (!span) {
      // An end without a start (should not happen): still show the activity.
      span = this.#child(
        run,
        `${r.activity.type} ${r.activity.name}`,
        nowNanos(),
        run.phases.get(phase) ?? run.root,
      );
    }
    const start = isoToNanos(r.start);
    if (start !== undefined) span.span.startTimeUnixNano = start;
    span.set({
      'faultline.activity.status': r.status,
      'faultline.activity.duration_s': r.duration,
      'faultline.activity.tolerance_met': r.tolerance_met,
      'faultline.activity.reason': reason,
    });
    if (r.status === 'failed') {
      const message = exceptionMessage(r.exception);
      span.error(message);
      span.event('exception', isoToNanos(r.end) ?? nowNanos(), {
        'exception.message': message ?? 'the activity failed',
      });
    }
    span.end(isoToNanos(r.end) ?? nowNanos());
  }

  /** Where a fault span hangs: the one method/rollback action running, else that phase, else the root. */
  #faultParent(run: RunTrace): SpanBuilder {
    const running: SpanBuilder[] = [];
    for (const list of run.activities.values())
      for (const a of list) if (a.phase === 'method' || a.phase === 'rollbacks') running.push(a.span);
    if (running.length === 1 && running[0]) return running[0];
    return run.phases.get('method') ?? run.phases.get('rollbacks') ?? run.root;
  }

  #fault(run: RunTrace, action: 'injected' | 'reverted' | 'revert-failed' | 'expired', f: FaultRecord): void {
    let span = run.faults.get(f.id);
    if (!span) {
      span = this.#child(
        run,
        `fault ${f.kind}`,
        isoToNanos(f.injected_at) ?? nowNanos(),
        this.#faultParent(run),
      );
      run.faults.set(f.id, span);
    }
    this.#faultAttrs(span, f);
    if (action === 'expired') {
      span.set({ 'faultline.fault.expired': true });
      span.event('faultline.fault.expired', nowNanos());
    } else if (action === 'reverted') {
      span.span.status = { code: STATUS_CODE_UNSET };
      span.end(isoToNanos(f.reverted_at) ?? nowNanos());
    } else if (action === 'revert-failed') {
      span.error(f.error ?? 'the revert failed');
      span.end(isoToNanos(f.reverted_at) ?? nowNanos());
    }
  }

  #faultAttrs(span: SpanBuilder, f: FaultRecord): void {
    span.set({
      'faultline.fault.id': f.id,
      'faultline.fault.kind': f.kind,
      'faultline.fault.target': f.target,
      'faultline.fault.irreversible': f.irreversible ?? false,
      'faultline.fault.verified': f.verified,
      'faultline.fault.error': f.error,
    });
  }

  /** Log lines go on the phase running now (not a "during" check), else on the root. */
  #logTarget(run: RunTrace): SpanBuilder {
    let target = run.root;
    for (const [p, span] of run.phases) if (p !== 'during-hypothesis') target = span;
    return target;
  }

  #finish(run: RunTrace, journal: Journal | undefined): void {
    this.#run = undefined;
    const end = (journal && isoToNanos(journal.end)) ?? nowNanos();
    const root = run.root;
    if (journal) {
      const start = isoToNanos(journal.start);
      if (start !== undefined && start < root.span.startTimeUnixNano) root.span.startTimeUnixNano = start;
      this.#journalAttrs(run, journal);
    } else {
      root.set({ 'faultline.run.status': 'unfinished' });
      root.error('the run ended without a journal');
    }
    for (const span of run.spans) {
      if (span.ended || span === root) continue;
      span.set({ 'faultline.unfinished': true });
      span.end(end);
    }
    root.end(end);
    if (run.droppedSpans > 0) root.set({ 'faultline.trace.dropped_spans': run.droppedSpans });
    const droppedEvents = run.spans.reduce((n, s) => n + s.droppedEvents, 0);
    if (droppedEvents > 0) root.set({ 'faultline.trace.dropped_events': droppedEvents });

    const batch: TraceBatch = {
      resource: resourceFromEnv(this.#options.env ?? process.env, journal?.faultline.host),
      scope: { name: 'faultline', version: VERSION },
      spans: run.spans.map((s) => s.span),
    };
    this.#options.onBatch?.(batch);
    const exporter = this.#options.exporter;
    if (!exporter) return;
    const p = exportTraceBatch(exporter, batch).catch((err: Error) => this.#options.onError?.(err.message));
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  #journalAttrs(run: RunTrace, j: Journal): void {
    const root = run.root;
    const unreverted = new Set(j.faultline.unreverted.map((f) => f.id));
    const recovery = j.faultline.recovery as { mttr?: number | null } | undefined;
    const verdict = verdictFor(j);
    root.set({
      'faultline.run.verdict': verdict.kind,
      'faultline.run.status': j.status,
      'faultline.run.deviated': j.deviated,
      'faultline.run.reason': j.faultline.reason,
      'faultline.run.duration_s': j.duration,
      'faultline.faults.count': j.faultline.faults.length,
      'faultline.faults.unreverted': unreverted.size,
      'faultline.recovery.mttr_s': typeof recovery?.mttr === 'number' ? recovery.mttr : undefined,
    });
    // The span is an error whenever Faultline's verdict is not a pass (misses during the method, a failed action...).
    if (verdict.kind !== 'passed') root.error(verdict.reasons[0] ?? `the run ${verdict.kind}`);
    // The journal has the last word on every fault (a revert retried by revertAll, a fault never announced).
    for (const f of j.faultline.faults) {
      let span = run.faults.get(f.id);
      if (!span) {
        span = this.#child(
          run,
          `fault ${f.kind}`,
          isoToNanos(f.injected_at) ?? root.span.startTimeUnixNano,
          root,
        );
        run.faults.set(f.id, span);
      }
      this.#faultAttrs(span, f);
      if (unreverted.has(f.id)) span.error(f.error ?? 'the revert could not be verified');
      const reverted = isoToNanos(f.reverted_at);
      if (reverted !== undefined) span.end(reverted);
    }
    const trip = j.faultline.safeguard as
      | { name?: string; value?: unknown; reason?: string; breached_at?: string; reverted_at?: string }
      | undefined;
    if (trip?.name) {
      root.event('faultline.safeguard', isoToNanos(trip.breached_at) ?? nowNanos(), {
        'faultline.safeguard.name': trip.name,
        'faultline.safeguard.value': trip.value,
        'faultline.safeguard.reason': trip.reason,
        'faultline.safeguard.reverted_at': trip.reverted_at,
      });
    }
  }
}

/** The last message line of a failed activity (`...ActivityFailed: <msg>`), trimmed. */
function exceptionMessage(lines: string[] | undefined): string | undefined {
  const last = lines
    ?.map((l) => l.trim())
    .filter(Boolean)
    .at(-1);
  return last || undefined;
}

export interface Tracing {
  /** Pass as `onEvent` to runExperiment: the tracer, then the given listener. */
  onEvent: RunEventListener;
  /** Await after the run: the export finishes (or times out) before the command reports. */
  flush(): Promise<void>;
  /** Present when traces are exported. */
  tracer?: RunTracer;
}

/**
 * Wraps a run's event listener with a RunTracer when the environment
 * configures OTLP traces; otherwise returns the listener unchanged. Problems
 * (bad settings, failed exports) go to `onError`; none fails the run.
 */
export function attachTracer(
  onEvent: RunEventListener | undefined,
  env: NodeJS.ProcessEnv = process.env,
  onError: (message: string) => void = () => {},
): Tracing {
  const passthrough: RunEventListener = onEvent ?? (() => {});
  let exporter: TraceExporterConfig | undefined;
  try {
    exporter = traceExporterFromEnv(env);
  } catch (err) {
    onError(`OpenTelemetry traces are off: ${(err as Error).message}`);
  }
  if (!exporter) return { onEvent: passthrough, flush: async () => {} };
  const tracer = new RunTracer({ exporter, env, onError });
  return {
    onEvent: (event) => {
      tracer.listener(event);
      passthrough(event);
    },
    flush: () => tracer.flush(),
    tracer,
  };
}
