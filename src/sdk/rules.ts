/**
 * The fault rules the in-process SDK applies, and the document a control
 * endpoint (the proxy server's API, or a file) serves to a service. This file
 * is the contract between the SDK (src/sdk/*) and the control plane
 * (src/sdk-control/*, the `sdk` fault kinds): both sides parse with these schemas.
 *
 * A rule always expires: `expires_at` is the lease the runner renews while it
 * lives, so a service whose control endpoint disappears drops the fault by
 * itself.
 */
import { z } from 'zod';

export const SDK_FAULT_TYPES = ['latency', 'http_error', 'exception', 'reset', 'timeout'] as const;
export type SdkFaultType = (typeof SDK_FAULT_TYPES)[number];

export const SdkMatchSchema = z.strictObject({
  host: z
    .string()
    .min(1)
    .optional()
    .describe('outgoing request host (glob, `*` matches anything), e.g. payments.internal'),
  path: z.string().min(1).optional().describe('outgoing request path (glob), e.g. /v1/charge*'),
  method: z.string().min(1).optional().describe('HTTP method, e.g. POST'),
  point: z.string().min(1).optional().describe('a named failure point (glob), e.g. payments.charge or db.*'),
  labels: z
    .record(z.string(), z.string())
    .optional()
    .describe('labels the failure point or request carries; all must match'),
});
export type SdkMatch = z.output<typeof SdkMatchSchema>;

export const SdkFaultRuleSchema = z.strictObject({
  /** Unique per rule: the control plane's fault id (its ledger id), or one the SDK generates. */
  id: z.string().min(1),
  type: z.enum(SDK_FAULT_TYPES, { error: `expected one of ${SDK_FAULT_TYPES.join(', ')}` }),
  match: SdkMatchSchema.optional().describe(
    'which calls the rule applies to (default: every call the SDK sees)',
  ),
  percentage: z
    .number({ error: 'expected a percentage' })
    .min(0, 'expected a percentage from 0 to 100')
    .max(100, 'expected a percentage from 0 to 100')
    .default(100)
    .describe('share of matching calls affected'),
  /** latency: added delay; timeout: how long the call hangs before failing with a timeout error. */
  latency_ms: z.number().min(0).optional(),
  jitter_ms: z.number().min(0).optional(),
  /** http_error: the response returned instead of calling the upstream. */
  status: z.number().int().min(100).max(599).optional(),
  body: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** exception: the error message thrown. */
  message: z.string().optional(),
  /** ISO-8601: the rule is ignored after this instant (its TTL / lease). */
  expires_at: z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'expected an ISO-8601 time'),
});
export type SdkFaultRule = z.output<typeof SdkFaultRuleSchema>;

/** What a control endpoint serves for one service: `GET <control>/faultline/sdk/v1/services/<name>/faults`, or a file. */
export const SdkControlDocumentSchema = z.strictObject({
  service: z.string().min(1),
  /** Monotonic per service: the SDK applies a document only if its version is newer. */
  version: z.number().int().min(0),
  faults: z.array(SdkFaultRuleSchema),
  /** Set by `faultline halt` or an operator: every fault off at once, whatever `faults` says (and whatever `version` says). */
  halted: z.boolean().optional(),
  /**
   * The serving store's instance id, new at every start: a document from
   * another epoch replaces the SDK's rules whatever its version (a restarted
   * server knows nothing of the rules it served before).
   */
  epoch: z.string().min(1).max(128).optional(),
});
export type SdkControlDocument = z.output<typeof SdkControlDocumentSchema>;

/**
 * The longest delay an SDK rule injects (`latency_ms` + `jitter_ms`, a
 * `timeout`'s hang): 10 minutes. Longer values are clamped to it, so a
 * mistyped or hostile value can neither hang a call for days nor overflow a
 * Node timer (which fires after 1 ms beyond 2^31-1 ms).
 */
export const MAX_SDK_DELAY_MS = 600_000;

/** Service names as they appear in URLs, files and experiments. */
export const SERVICE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
