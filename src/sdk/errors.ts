/**
 * The errors an injected fault raises. Every one is an `InjectedFault`, so a
 * service (or a test) can tell an injected failure from a real one; `code`
 * says which kind it imitates.
 */
import type { SdkFaultType } from './rules.js';

/** `code` by fault type: what the error imitates. */
export const INJECTED_CODES = {
  exception: 'FAULTLINE_INJECTED',
  reset: 'ECONNRESET',
  timeout: 'ETIMEDOUT',
  http_error: 'FAULTLINE_HTTP_ERROR',
  latency: 'FAULTLINE_INJECTED',
} as const satisfies Record<SdkFaultType, string>;

/**
 * An error raised by an injected fault.
 *
 * @example
 * try { await charge(); } catch (e) { if (e instanceof InjectedFault) console.log(e.ruleId, e.code); }
 */
export class InjectedFault extends Error {
  override name = 'InjectedFault';
  /** `FAULTLINE_INJECTED` (exception), `ECONNRESET` (reset), `ETIMEDOUT` (timeout), `FAULTLINE_HTTP_ERROR` (http_error at a point). */
  readonly code: string;
  readonly faultType: SdkFaultType;
  readonly ruleId: string;
  /** http_error raised at a point or wrapped function (no HTTP response to return there). */
  readonly status?: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Marks the error for code that checks without importing the class. */
  readonly faultline = true;

  constructor(
    faultType: SdkFaultType,
    ruleId: string,
    message: string,
    extra: { status?: number; body?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.code = INJECTED_CODES[faultType];
    this.faultType = faultType;
    this.ruleId = ruleId;
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.body !== undefined) this.body = extra.body;
    if (extra.headers !== undefined) this.headers = extra.headers;
  }
}

/** The error a rule of `type` raises (not for latency, which raises nothing). */
export function injectedError(
  type: SdkFaultType,
  rule: { id: string; message?: string; status?: number; body?: string; headers?: Record<string, string> },
  where: string,
): InjectedFault {
  switch (type) {
    case 'reset':
      return new InjectedFault(
        type,
        rule.id,
        `read ECONNRESET (injected by faultline rule ${rule.id} at ${where})`,
      );
    case 'timeout':
      return new InjectedFault(
        type,
        rule.id,
        `timed out (injected by faultline rule ${rule.id} at ${where})`,
      );
    case 'http_error': {
      const status = rule.status ?? 503;
      return new InjectedFault(
        type,
        rule.id,
        `HTTP ${status} (injected by faultline rule ${rule.id} at ${where})`,
        {
          status,
          ...(rule.body !== undefined ? { body: rule.body } : {}),
          ...(rule.headers !== undefined ? { headers: rule.headers } : {}),
        },
      );
    }
    default:
      return new InjectedFault(
        'exception',
        rule.id,
        rule.message ?? `injected fault (faultline rule ${rule.id} at ${where})`,
      );
  }
}
