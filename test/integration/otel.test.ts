/**
 * OpenTelemetry traces of real runs, exported over OTLP/HTTP (JSON and
 * protobuf) to a local receiver on port 0: span tree, ids, attributes, times,
 * statuses, headers, and a failed export that changes nothing in the run.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadBuiltinActivities } from '../../src/compose.js';
import type { Experiment } from '../../src/core/schema.js';
import type { RunEvent } from '../../src/engine/events.js';
import { exitCodeFor } from '../../src/engine/run.js';
import { runExperiment } from '../../src/lib/run.js';
import { attachTracer, traceExporterFromEnv } from '../../src/observe/otel.js';
import { tempHome } from '../helpers/home.js';
import {
  type DecodedRequest,
  type DecodedSpan,
  decodeExportTraceRequest,
  type Value,
} from '../helpers/protobuf.js';
import { statusServer, type TestServer } from '../helpers/server.js';

await loadBuiltinActivities();

const FIXTURES = fileURLToPath(new URL('../fixtures/engine/', import.meta.url));

let home: Awaited<ReturnType<typeof tempHome>>;
let app: TestServer;
before(async () => {
  home = await tempHome();
  app = await statusServer(200);
});
after(async () => {
  await app.close();
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
});

// ------------------------------------------------------------------ the receiver

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

async function receiver(
  answer: (req: IncomingMessage, res: ServerResponse) => void = (req, res) => {
    const json = req.headers['content-type'] === 'application/json';
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
    res.end(json ? '{}' : '');
  },
): Promise<{ url: string; requests: Received[]; close(): Promise<void> }> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ------------------------------------------------------------------ OTLP/JSON, read into the decoder's shape

interface JsonKv {
  key: string;
  value: { stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number };
}
function jsonAttrs(list: JsonKv[] | undefined): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const { key, value } of list ?? []) {
    out[key] =
      value.stringValue ??
      value.boolValue ??
      (value.intValue !== undefined ? Number(value.intValue) : undefined) ??
      value.doubleValue;
  }
  return out;
}
function fromJson(body: Buffer): DecodedRequest {
  const doc = JSON.parse(body.toString('utf8'));
  assert.equal(doc.resourceSpans.length, 1);
  const rs = doc.resourceSpans[0];
  assert.equal(rs.scopeSpans.length, 1);
  const ss = rs.scopeSpans[0];
  return {
    resource: jsonAttrs(rs.resource.attributes),
    scope: ss.scope,
    spans: ss.spans.map((s: any): DecodedSpan => {
      // OTLP/JSON: ids are hex strings, int64 nanoseconds are decimal strings.
      assert.match(s.traceId, /^[0-9a-f]{32}$/);
      assert.match(s.spanId, /^[0-9a-f]{16}$/);
      assert.equal(typeof s.startTimeUnixNano, 'string');
      assert.equal(typeof s.endTimeUnixNano, 'string');
      return {
        traceId: s.traceId,
        spanId: s.spanId,
        ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
        name: s.name,
        kind: s.kind,
        start: BigInt(s.startTimeUnixNano),
        end: BigInt(s.endTimeUnixNano),
        attributes: jsonAttrs(s.attributes),
        events: (s.events ?? []).map((e: any) => ({
          time: BigInt(e.timeUnixNano),
          name: e.name,
          attributes: jsonAttrs(e.attributes),
        })),
        status: { code: s.status?.code ?? 0, ...(s.status?.message ? { message: s.status.message } : {}) },
      };
    }),
  };
}

// ------------------------------------------------------------------ the experiment

function experiment(marker: string): Experiment {
  return {
    title: 'traced checkout',
    description: 'a marker fault, a probe, a failing action',
    'steady-state-hypothesis': {
      title: 'healthy',
      probes: [
        {
          type: 'probe',
          name: 'app-up',
          tolerance: 200,
          provider: { type: 'http', url: app.url, timeout: 2 },
        },
      ],
    },
    method: [
      {
        type: 'action',
        name: 'inject',
        provider: {
          type: 'faultline',
          module: 'faultline.marker',
          func: 'create',
          arguments: { path: marker },
        },
      },
      { type: 'probe', name: 'sees-app', provider: { type: 'http', url: app.url, timeout: 2 } },
      {
        type: 'action',
        name: 'boom',
        provider: { type: 'node', module: './probes.mjs', func: 'fail', arguments: { message: 'kaboom' } },
      },
      {
        type: 'action',
        name: 'heal',
        provider: {
          type: 'faultline',
          module: 'faultline.marker',
          func: 'remove',
          arguments: { path: marker },
        },
      },
    ],
  };
}

async function tracedRun(env: NodeJS.ProcessEnv, exp: Experiment, onEvent?: (e: RunEvent) => void) {
  const errors: string[] = [];
  const tracing = attachTracer(onEvent, env, (m) => errors.push(m));
  const journal = await runExperiment(exp, { baseDir: FIXTURES, home: home.home, onEvent: tracing.onEvent });
  const t0 = Date.now();
  await tracing.flush();
  return { journal, errors, flushMs: Date.now() - t0, enabled: tracing.tracer !== undefined };
}

const byName = (spans: DecodedSpan[], name: string) => {
  const found = spans.filter((s) => s.name === name);
  assert.ok(found.length > 0, `a span named ${name} (have: ${spans.map((s) => s.name).join(', ')})`);
  return found;
};
const one = (spans: DecodedSpan[], name: string) => {
  const found = byName(spans, name);
  assert.equal(found.length, 1, `one span named ${name}`);
  return found[0] as DecodedSpan;
};

/** What both protocols must show for the experiment above. */
function checkTrace(req: DecodedRequest, runId: string) {
  assert.equal(req.resource['service.name'], 'checkout-chaos');
  assert.equal(typeof req.resource['service.version'], 'string');
  assert.ok(req.resource['host.name'], 'host.name');
  assert.equal(req.scope.name, 'faultline');
  const spans = req.spans;
  assert.equal(new Set(spans.map((s) => s.traceId)).size, 1, 'one trace id');
  assert.equal(new Set(spans.map((s) => s.spanId)).size, spans.length, 'distinct span ids');
  for (const s of spans) {
    assert.equal(s.attributes['faultline.run.id'], runId, `${s.name}: run id`);
    assert.equal(s.attributes['faultline.experiment.title'], 'traced checkout', `${s.name}: title`);
    assert.equal(s.kind, 1, 'internal spans');
    assert.ok(s.end >= s.start, `${s.name} ends after it starts`);
  }
  const roots = spans.filter((s) => s.parentSpanId === undefined);
  assert.equal(roots.length, 1, 'one root');
  const root = roots[0] as DecodedSpan;
  assert.equal(root.name, 'faultline run traced checkout');
  assert.equal(root.attributes['faultline.run.status'], 'completed');
  assert.equal(root.attributes['faultline.run.deviated'], false);

  const before = one(spans, 'before-hypothesis');
  const method = one(spans, 'method');
  const afterH = one(spans, 'after-hypothesis');
  for (const phase of [before, method, afterH]) {
    assert.equal(phase.parentSpanId, root.spanId, `${phase.name} is a child of the run`);
    assert.ok(phase.start >= root.start && phase.end <= root.end, `${phase.name} inside the run`);
  }
  assert.equal(before.attributes['faultline.steady_state_met'], true);
  assert.ok(before.end <= method.start && method.end <= afterH.start, 'phases in order');

  const probes = byName(spans, 'probe app-up');
  assert.equal(probes.length, 2);
  assert.deepEqual(probes.map((p) => p.parentSpanId).sort(), [before.spanId, afterH.spanId].sort());
  for (const p of probes) assert.equal(p.attributes['faultline.activity.tolerance_met'], true);

  for (const name of ['action inject', 'probe sees-app', 'action boom', 'action heal']) {
    const a = one(spans, name);
    assert.equal(a.parentSpanId, method.spanId, `${name} is a child of the method`);
    assert.ok(a.start >= method.start && a.end <= method.end, `${name} inside the method`);
  }
  const boom = one(spans, 'action boom');
  assert.equal(boom.status.code, 2, 'a failed activity is an error');
  assert.match(boom.status.message ?? '', /kaboom/);
  assert.equal(boom.attributes['faultline.activity.status'], 'failed');
  assert.ok(
    boom.events.some(
      (e) => e.name === 'exception' && /kaboom/.test(String(e.attributes['exception.message'])),
    ),
  );
  assert.equal(one(spans, 'probe sees-app').status.code, 0);

  const fault = one(spans, 'fault marker-file');
  assert.equal(fault.attributes['faultline.fault.kind'], 'marker-file');
  assert.match(String(fault.attributes['faultline.fault.target']), /otel\.marker$/);
  assert.equal(fault.attributes['faultline.fault.verified'], true);
  assert.equal(fault.attributes['faultline.fault.irreversible'], false);
  assert.equal(fault.status.code, 0);
  assert.equal(
    fault.parentSpanId,
    one(spans, 'action inject').spanId,
    'the fault hangs under the action that injected it',
  );
  assert.ok(
    fault.start >= method.start && fault.end <= method.end,
    'the fault window lies inside the method',
  );
  assert.ok(fault.end >= one(spans, 'action heal').start, 'the fault lasts until the heal');
}

const baseEnv = { OTEL_SERVICE_NAME: 'checkout-chaos' };

test('OTLP/JSON: one trace per run, a span per phase, activity and fault', async () => {
  const rx = await receiver();
  try {
    const marker = join(home.home, 'otel.marker');
    const { journal, errors } = await tracedRun(
      { ...baseEnv, OTEL_EXPORTER_OTLP_ENDPOINT: `${rx.url}/`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
      experiment(marker),
    );
    assert.deepEqual(errors, []);
    assert.equal(journal.status, 'completed');
    assert.equal(rx.requests.length, 1, 'exported once, at run-end');
    const r = rx.requests[0] as Received;
    assert.equal(r.url, '/v1/traces', 'the base endpoint gets /v1/traces, without a double slash');
    assert.equal(r.headers['content-type'], 'application/json');
    checkTrace(fromJson(r.body), journal.faultline.run_id);
  } finally {
    await rx.close();
  }
});

test('OTLP/protobuf (the default): the same trace, decoded from the wire format; headers arrive', async () => {
  const rx = await receiver();
  try {
    const marker = join(home.home, 'otel.marker');
    const { journal, errors } = await tracedRun(
      {
        ...baseEnv,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${rx.url}/custom/traces`,
        // Ignored: the traces endpoint is used as it is.
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s%3Dcr%20et, x-tenant=acme',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=checkout',
      },
      experiment(marker),
    );
    assert.deepEqual(errors, []);
    assert.equal(rx.requests.length, 1);
    const r = rx.requests[0] as Received;
    assert.equal(r.url, '/custom/traces');
    assert.equal(r.headers['content-type'], 'application/x-protobuf');
    assert.equal(r.headers['x-api-key'], 's=cr et', 'values are URL-decoded');
    assert.equal(r.headers['x-tenant'], 'checkout', 'the traces headers override the general ones');
    checkTrace(decodeExportTraceRequest(r.body), journal.faultline.run_id);
  } finally {
    await rx.close();
  }
});

test('a safeguard trip and error logs become span events; the run span is an error', async () => {
  const rx = await receiver();
  try {
    const marker = join(home.home, 'sg.marker');
    const alarm = join(home.home, 'sg.alarm');
    const exp: Experiment = {
      title: 'guarded',
      description: 'd',
      safeguards: [
        {
          type: 'probe',
          name: 'no-alarm',
          tolerance: true,
          frequency: 0.1,
          provider: { type: 'node', module: './probes.mjs', func: 'fileAbsent', arguments: { path: alarm } },
        },
      ],
      method: [
        {
          type: 'action',
          name: 'inject',
          provider: {
            type: 'faultline',
            module: 'faultline.marker',
            func: 'create',
            arguments: { path: marker },
          },
          pauses: { after: 30 },
        },
      ],
    };
    const { journal, errors } = await tracedRun(
      { ...baseEnv, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${rx.url}/v1/traces` },
      exp,
      (e) => {
        if (e.type === 'activity-end' && e.run.activity.name === 'inject')
          setTimeout(() => void writeFile(alarm, 'x'), 200);
      },
    );
    assert.deepEqual(errors, []);
    assert.equal(journal.status, 'interrupted');
    const { spans } = decodeExportTraceRequest((rx.requests[0] as Received).body);
    const root = spans.find((s) => s.parentSpanId === undefined) as DecodedSpan;
    assert.equal(root.status.code, 2);
    assert.match(root.status.message ?? '', /safeguard 'no-alarm'/);
    assert.equal(root.attributes['faultline.run.status'], 'interrupted');
    const trip = root.events.find((e) => e.name === 'faultline.safeguard');
    assert.ok(trip, 'a faultline.safeguard event');
    assert.equal(trip.attributes['faultline.safeguard.name'], 'no-alarm');
    assert.ok(trip.time >= root.start && trip.time <= root.end);
    const logs = spans.flatMap((s) => s.events.filter((e) => e.name === 'faultline.log'));
    assert.ok(
      logs.some(
        (e) =>
          e.attributes['faultline.log.level'] === 'error' &&
          /breached/.test(String(e.attributes['faultline.log.message'])),
      ),
      'the breach log line',
    );
    const fault = spans.find((s) => s.name === 'fault marker-file') as DecodedSpan;
    assert.equal(fault.attributes['faultline.fault.verified'], true);
    assert.ok(fault.end <= root.end);
  } finally {
    await rx.close();
  }
});

test('an unreachable endpoint is reported and changes nothing in the run', async () => {
  const closed = await receiver();
  const url = `${closed.url}/v1/traces`;
  await closed.close();
  const marker = join(home.home, 'otel.marker');
  const { journal, errors } = await tracedRun(
    { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url, OTEL_EXPORTER_OTLP_TIMEOUT: '2000' },
    experiment(marker),
  );
  assert.equal(journal.status, 'completed');
  // The verdict is the run's own: its action 'boom' fails on purpose (a failed action fails the verdict, issue #12 18a).
  assert.equal(exitCodeFor(journal), 1);
  assert.deepEqual(journal.faultline.verdict?.reasons, ["action 'boom' failed: RuntimeError: kaboom"]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.startsWith(`could not export the trace to ${url}: `), true, errors[0]);
  assert.match(errors[0] ?? '', /ECONNREFUSED/);
});

test('a receiver that does not answer is given up after OTEL_EXPORTER_OTLP_TIMEOUT; an HTTP error is reported', async () => {
  const silent = await receiver(() => {});
  const failing = await receiver((_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end('{"message":"overloaded"}');
  });
  try {
    const exp: Experiment = {
      title: 'tiny',
      description: 'd',
      method: [{ type: 'probe', name: 'p', provider: { type: 'http', url: app.url, timeout: 2 } }],
    };
    const slow = await tracedRun(
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${silent.url}/v1/traces`, OTEL_EXPORTER_OTLP_TIMEOUT: '300' },
      exp,
    );
    assert.equal(slow.journal.status, 'completed');
    assert.ok(slow.flushMs < 2000, `waited ${slow.flushMs} ms`);
    assert.match(slow.errors[0] ?? '', /could not export the trace to .*: timed out after 300 ms/);
    assert.equal(silent.requests.length, 1, 'the request arrived; no answer came');

    const bad = await tracedRun(
      {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${failing.url}/v1/traces`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
      exp,
    );
    assert.equal(bad.journal.status, 'completed');
    assert.match(
      bad.errors[0] ?? '',
      /could not export the trace to .*: HTTP 503: \{"message":"overloaded"\}/,
    );
  } finally {
    await silent.close();
    await failing.close();
  }
});

test('not configured or disabled: no tracer, nothing sent', async () => {
  assert.equal(traceExporterFromEnv({}), undefined);
  assert.equal(
    traceExporterFromEnv({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_HEADERS: 'a=b' }),
    undefined,
  );
  const rx = await receiver();
  try {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url };
    assert.equal(traceExporterFromEnv({ ...endpoint, OTEL_SDK_DISABLED: 'true' }), undefined);
    assert.equal(traceExporterFromEnv({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }), undefined);
    assert.deepEqual(traceExporterFromEnv(endpoint), {
      url: `${rx.url}/v1/traces`,
      headers: {},
      protocol: 'http/protobuf',
      timeoutMs: 10_000,
      compression: 'none',
    });
    // Asked for by name without an endpoint: the spec's default.
    assert.equal(
      traceExporterFromEnv({ OTEL_TRACES_EXPORTER: 'otlp' })?.url,
      'http://localhost:4318/v1/traces',
    );
    assert.throws(
      () => traceExporterFromEnv({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
      /'grpc' is not supported/,
    );

    const exp: Experiment = {
      title: 'tiny',
      description: 'd',
      method: [{ type: 'probe', name: 'p', provider: { type: 'http', url: app.url, timeout: 2 } }],
    };
    for (const env of [
      {},
      { ...endpoint, OTEL_SDK_DISABLED: 'TRUE' },
      { ...endpoint, OTEL_TRACES_EXPORTER: 'none' },
    ]) {
      const seen: string[] = [];
      const r = await tracedRun(env, exp, (e) => seen.push(e.type));
      assert.equal(r.enabled, false);
      assert.deepEqual(r.errors, []);
      assert.equal(seen.at(-1), 'run-end', 'the wrapped listener still gets every event');
    }
    // A setting that cannot be honoured turns traces off with a message; the run goes on.
    const grpc = await tracedRun({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, exp);
    assert.equal(grpc.enabled, false);
    assert.equal(grpc.journal.status, 'completed');
    assert.match(
      grpc.errors[0] ?? '',
      /^OpenTelemetry traces are off: OTLP protocol 'grpc' is not supported/,
    );
    assert.equal(rx.requests.length, 0);
  } finally {
    await rx.close();
  }
});
