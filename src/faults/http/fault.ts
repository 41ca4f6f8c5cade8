/**
 * `http.fault`: HTTP faults on the requests a Faultline proxy forwards to a
 * service (inbound: what Istio's VirtualService faults, Chaos Mesh's
 * HTTPChaos and Litmus's pod-http-* do to a pod's requests). The in-process
 * SDK (`sdk.enable_fault`) faults the calls a service makes (outbound); this
 * one faults the calls a service receives, from the proxy in front of it.
 *
 * It is one toxic on that proxy, through the proxy-toxic machinery
 * (faults/proxy.ts): ledgered, under a server-side lease, removed on revert,
 * verified gone. What each type becomes:
 *   latency    -> http_delay  {delay: latency_ms, jitter: jitter_ms, percentage, match}
 *   http_error -> http_abort  {status, body, headers, percentage, match}
 *   reset      -> reset_peer  {timeout: 0} on the upstream stream, toxicity = percentage / 100:
 *                 whole connections (the proxy cannot reset one request of a keep-alive
 *                 connection), so it takes no match.
 * A workload's `proxy` entry fills `api_url` and `proxy` (src/fleet/workloads.ts).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { FaultKind, UndoRecord } from '../../core/fault.js';
import { PROXY_LEASE_MS, proxyToxicKind } from '../proxy.js';

export const HTTP_FAULT_TYPES = ['latency', 'http_error', 'reset'] as const;
/** The proxy's toxic attributes are ints of milliseconds; ten minutes, as the SDK's limit. */
export const MAX_HTTP_DELAY_MS = 600_000;

const Ms = (what: string) =>
  z
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(0, 'expected milliseconds from 0')
    .max(MAX_HTTP_DELAY_MS, `expected at most ${MAX_HTTP_DELAY_MS} ms (10 minutes)`)
    .optional()
    .describe(what);

export const HttpMatchSchema = z.strictObject({
  path: z
    .string()
    .min(1)
    .optional()
    .describe('request path, a glob where `*` matches anything and `?` one character, e.g. /api/*'),
  path_prefix: z.string().min(1).optional().describe('request path starting with this, e.g. /api/'),
  path_regex: z.string().min(1).optional().describe('request path matching this RE2 regular expression'),
  method: z
    .string()
    .regex(/^[A-Za-z]{1,16}(?:,[A-Za-z]{1,16})*$/, {
      error: 'expected an HTTP method, e.g. GET (or GET,POST)',
    })
    .optional()
    .describe('HTTP method, or a comma-separated list'),
  header: z
    .strictObject({
      name: z.string().min(1).describe('request header name'),
      value: z.string().optional().describe('RE2 regular expression its value matches (absent: any value)'),
    })
    .optional()
    .describe('only requests carrying this header'),
});
export type HttpMatch = z.output<typeof HttpMatchSchema>;

export const HttpFaultArgs = z.strictObject({
  api_url: z
    .string({ error: 'expected the proxy control API URL, e.g. http://127.0.0.1:8474' })
    .url('expected an http(s) URL, e.g. http://127.0.0.1:8474')
    .refine((v) => /^https?:\/\//i.test(v), 'expected an http(s) URL, e.g. http://127.0.0.1:8474')
    .describe("the proxy's control API (`faultline proxy`); a workload's `proxy.api_url` fills it"),
  proxy: z
    .string({ error: 'expected the name of the proxy in front of the service' })
    .min(1)
    .max(128)
    .describe("the proxy in front of the service; a workload's `proxy.name` fills it"),
  type: z
    .enum(HTTP_FAULT_TYPES, { error: `expected one of ${HTTP_FAULT_TYPES.join(', ')}` })
    .describe(
      'latency: hold requests; http_error: answer them with `status` without reaching the service; reset: reset whole connections',
    ),
  percentage: z
    .number({ error: 'expected a percentage' })
    .min(0, 'expected a percentage from 0 to 100')
    .max(100, 'expected a percentage from 0 to 100')
    .default(100)
    .describe('share of matching requests affected (reset: of connections); default 100'),
  latency_ms: Ms('latency: milliseconds each affected request is held'),
  jitter_ms: Ms('latency: random extra milliseconds, uniformly in [-jitter, +jitter]'),
  status: z
    .number()
    .int()
    .min(100)
    .max(599, 'expected an HTTP status from 100 to 599')
    .optional()
    .describe('http_error: the status answered (default 503)'),
  body: z.string().max(65_536).optional().describe('http_error: the response body'),
  headers: z.record(z.string(), z.string()).optional().describe('http_error: extra response headers'),
  match: HttpMatchSchema.optional().describe('which requests (default every request); not with reset'),
});
export type HttpFaultArgs = z.output<typeof HttpFaultArgs>;

/** RE2 source for a glob: `*` any run, `?` one character, everything else literal. */
export function globRegex(glob: string): string {
  let out = '^';
  for (const ch of glob) {
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else out += /[\\^$.|+()[\]{}]/.test(ch) ? `\\${ch}` : ch;
  }
  return `${out}$`;
}

/** The proxy's request-match attributes for `match` (proxy/http/match.ts). */
export function matchAttributes(m: HttpMatch | undefined): Record<string, string> {
  if (!m) return {};
  if (m.path !== undefined && m.path_regex !== undefined) {
    throw new Error('arguments.match: give path (a glob) or path_regex, not both');
  }
  const out: Record<string, string> = {};
  if (m.method !== undefined) out.method = m.method.toUpperCase();
  if (m.path_prefix !== undefined) out.path_prefix = m.path_prefix;
  if (m.path !== undefined) out.path_regex = globRegex(m.path);
  if (m.path_regex !== undefined) out.path_regex = m.path_regex;
  if (m.header) {
    out.header_name = m.header.name;
    if (m.header.value !== undefined) out.header_value = m.header.value;
  }
  return out;
}

export interface ToxicPlan {
  type: string;
  stream: 'upstream';
  toxicity: number;
  attributes: Record<string, unknown>;
}

/** The toxic a fault adds (pure: unit-tested). Throws naming the argument when the combination cannot be. */
export function toxicFor(a: HttpFaultArgs): ToxicPlan {
  const match = matchAttributes(a.match);
  const only = (type: string, fields: (keyof HttpFaultArgs)[]) => {
    const extra = fields.filter((f) => a[f] !== undefined);
    if (extra.length) throw new Error(`arguments.${extra[0]}: not a ${type} argument`);
  };
  if (a.type === 'latency') {
    only('latency', ['status', 'body', 'headers']);
    if (a.latency_ms === undefined)
      throw new Error('arguments.latency_ms: expected milliseconds for latency');
    return {
      type: 'http_delay',
      stream: 'upstream',
      toxicity: 1,
      attributes: { delay: a.latency_ms, jitter: a.jitter_ms ?? 0, percentage: a.percentage, ...match },
    };
  }
  if (a.type === 'http_error') {
    only('http_error', ['latency_ms', 'jitter_ms']);
    return {
      type: 'http_abort',
      stream: 'upstream',
      toxicity: 1,
      attributes: {
        status: a.status ?? 503,
        ...(a.body !== undefined ? { body: a.body } : {}),
        ...(a.headers !== undefined ? { headers: a.headers } : {}),
        percentage: a.percentage,
        ...match,
      },
    };
  }
  only('reset', ['latency_ms', 'jitter_ms', 'status', 'body', 'headers', 'match']);
  // The toxic is chosen per connection (toxicity), so `percentage` counts connections here.
  return { type: 'reset_peer', stream: 'upstream', toxicity: a.percentage / 100, attributes: { timeout: 0 } };
}

/** A fresh toxic name per fault: two faults of one type on one proxy (a route's several matches) never collide. */
export const newToxicName = (type: string) => `faultline_http_${type}_${randomBytes(4).toString('hex')}`;

function toxicArgs(a: HttpFaultArgs, name: string, ttlMs?: number) {
  const t = toxicFor(a);
  return {
    api_url: a.api_url,
    proxy: a.proxy,
    toxic: { name, type: t.type, stream: t.stream, toxicity: t.toxicity, attributes: t.attributes },
    ...(ttlMs !== undefined ? { ttl_ms: Math.max(1, Math.round(ttlMs)) } : {}),
  };
}

export const httpFaultKind: FaultKind<typeof HttpFaultArgs> = {
  kind: 'http-fault',
  args: HttpFaultArgs,
  expose: {
    group: 'http',
    name: 'fault',
    doc: 'HTTP faults on the requests a Faultline proxy forwards to a service (latency, http_error with a status, connection reset), for a share of the requests matching path, method or header; removed when the fault ends.',
  },
  leaseMs: PROXY_LEASE_MS,
  renew: (record, leaseMs) => proxyToxicKind.renew!(record, leaseMs),
  target: (a) => `${a.proxy} @ ${a.api_url}: ${a.type}`,
  resolveTargets: (a) => proxyToxicKind.resolveTargets!(toxicArgs(a, 'x')),
  plan(a) {
    // Checked here, before the ledger holds anything: a bad combination is refused up front.
    toxicFor(a);
    const record = proxyToxicKind.plan(toxicArgs(a, newToxicName(a.type))) as UndoRecord;
    return { ...record, type: a.type };
  },
  async inject(a, record, signal, ctx) {
    const args = toxicArgs(a, String(record.name), ctx?.ttlMs);
    return (await proxyToxicKind.inject(args, record, signal)) ?? record;
  },
  revert: (record: UndoRecord) => proxyToxicKind.revert(record),
  verify: (record: UndoRecord) => proxyToxicKind.verify(record),
};
