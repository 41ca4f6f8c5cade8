/**
 * `sdk.enable_fault`: a fault rule for the in-process SDK of a service,
 * published on the SDK control endpoint of a Faultline proxy server
 * (src/sdk-control/api.ts); the service's SDK polls it and applies the rule.
 *
 * Like a proxy toxic, the rule lives in a server under a lease: the server
 * (and the SDK) drop it at `expires_at`, which the session renews every
 * leaseMs / 3 while the runner lives, never past the fault's own TTL. So it
 * goes through the ledger, is reverted (DELETE) when the run ends, on halt or
 * by recovery, and expires by itself within the lease if the runner dies.
 *
 * The control store is in memory: a server that refuses connections holds no
 * rules, so revert and verify count ECONNREFUSED as "gone". The API token is
 * read from FAULTLINE_PROXY_TOKEN, never stored.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { FaultKind, FaultTarget, UndoRecord } from '../../core/fault.js';
import { MAX_SDK_DELAY_MS, SDK_FAULT_TYPES, SdkMatchSchema, SERVICE_NAME_RE } from '../../sdk/rules.js';
import { defaultSdkControlUrl, SdkControlClient, SdkControlError } from '../../sdk-control/client.js';

/**
 * The rule's server-side lease: the rule is dropped this long after the last
 * renewal. FAULTLINE_SDK_LEASE_MS overrides it (tests use a short one).
 */
export const SDK_LEASE_MS = Number(process.env.FAULTLINE_SDK_LEASE_MS) || 15_000;

export const ServiceName = z
  .string({ error: 'expected a service name' })
  .regex(
    SERVICE_NAME_RE,
    'expected a service name of letters, digits, ".", "_" and "-" (at most 128, starting with a letter or digit)',
  )
  .describe('the service, as its SDK names itself (e.g. checkout)');

export const ApiUrl = z
  .string()
  .url('expected an http(s) URL, e.g. http://127.0.0.1:8474')
  .refine((v) => /^https?:\/\//i.test(v), 'expected an http(s) URL, e.g. http://127.0.0.1:8474')
  .default(defaultSdkControlUrl)
  .describe(
    'the control server (`faultline proxy`); default FAULTLINE_SDK_CONTROL_URL, FAULTLINE_PROXY_URL or http://127.0.0.1:8474',
  );

const Args = z.strictObject({
  service: ServiceName,
  api_url: ApiUrl,
  type: z
    .enum(SDK_FAULT_TYPES, { error: `expected one of ${SDK_FAULT_TYPES.join(', ')}` })
    .describe(`what the SDK does to matching calls: ${SDK_FAULT_TYPES.join(', ')}`),
  match: SdkMatchSchema.optional().describe(
    'which calls: host, path, method, point (globs) and labels; default every call the SDK sees',
  ),
  percentage: z
    .number({ error: 'expected a percentage' })
    .min(0, 'expected a percentage from 0 to 100')
    .max(100, 'expected a percentage from 0 to 100')
    .default(100)
    .describe('share of matching calls affected (default 100)'),
  latency_ms: z
    .number()
    .min(0)
    .max(MAX_SDK_DELAY_MS, `expected at most ${MAX_SDK_DELAY_MS} ms (10 minutes)`)
    .optional()
    .describe('latency: added delay; timeout: how long the call hangs'),
  jitter_ms: z
    .number()
    .min(0)
    .max(MAX_SDK_DELAY_MS, `expected at most ${MAX_SDK_DELAY_MS} ms (10 minutes)`)
    .optional()
    .describe('latency: random extra delay up to this'),
  status: z.number().int().min(100).max(599).optional().describe('http_error: the response status, e.g. 503'),
  body: z.string().optional().describe('http_error: the response body'),
  headers: z.record(z.string(), z.string()).optional().describe('http_error: response headers'),
  message: z.string().optional().describe('exception: the error message thrown'),
});
type Args = z.output<typeof Args>;

export const client = (record: UndoRecord) => SdkControlClient.fromEnv({ url: String(record.api_url) });

/** True when the error means the rule is not there: 404, or no server listening (its store is in memory). */
export function sdkRuleGone(err: unknown): boolean {
  return err instanceof SdkControlError && (err.status === 404 || err.errno === 'ECONNREFUSED');
}

export function sdkTarget(service: string, apiUrl: string): FaultTarget {
  let host: string | undefined;
  let port: number | undefined;
  try {
    const u = new URL(apiUrl);
    host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  } catch {
    // validated already; a target without an address is still a target
  }
  return { type: 'sdk', name: service, ...(host ? { host } : {}), ...(port ? { port } : {}) };
}

/** A fresh rule id: `fl-<8 hex>`. */
export const newSdkRuleId = () => `fl-${randomBytes(4).toString('hex')}`;

export const sdkEnableFaultKind: FaultKind<typeof Args> = {
  kind: 'sdk-enable-fault',
  args: Args,
  expose: {
    group: 'sdk',
    name: 'enable_fault',
    doc: "Makes a service's in-process SDK inject a fault (latency, http_error, exception, reset, timeout) into matching calls, through the SDK control endpoint; removed when the fault ends.",
  },
  leaseMs: SDK_LEASE_MS,
  target: (a) => `${a.service}: ${a.type} @ ${a.api_url}`,
  resolveTargets: async (a) => ({ targets: [sdkTarget(a.service, a.api_url)] }),
  plan: (a) => ({ api_url: a.api_url, service: a.service, id: newSdkRuleId() }),
  async inject(a: Args, record, signal, ctx) {
    const { service, api_url: _url, ...rule } = a;
    const ttlMs = ctx?.ttlMs ?? SDK_LEASE_MS;
    await client(record).put(
      service,
      String(record.id),
      { ...rule, ttl_ms: Math.max(1, Math.round(Math.min(ttlMs, SDK_LEASE_MS))) },
      signal ? { signal } : {},
    );
    // Renewals never extend the rule past the fault's own end.
    return { ...record, ends_at: Date.now() + ttlMs };
  },
  async renew(record, leaseMs) {
    const left = typeof record.ends_at === 'number' ? record.ends_at - Date.now() : leaseMs;
    const ttl = Math.round(Math.min(leaseMs, left));
    if (ttl < 1) return;
    await client(record).renew(String(record.service), String(record.id), ttl);
  },
  async revert(record) {
    try {
      await client(record).remove(String(record.service), String(record.id));
    } catch (err) {
      if (!sdkRuleGone(err)) throw err;
    }
  },
  async verify(record) {
    try {
      const doc = await client(record).document(String(record.service));
      return !doc.faults.some((f) => f.id === record.id);
    } catch (err) {
      if (sdkRuleGone(err)) return true;
      throw err;
    }
  },
};
