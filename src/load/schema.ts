/**
 * The load generator's options as zod schemas (library API and CLI), and the
 * duration syntax shared with the CLI and experiments (`30s`, `500ms`, `2m`).
 * Invalid options are a FaultlineError (FAULTLINE_ERR_VALIDATION) naming each
 * field, never a raw ZodError: the CLI and library callers handle one family.
 */
import { z } from 'zod';
import { FaultlineError, formatIssue, type Issue, issuePath } from '../core/errors.js';

export { parseDuration } from '../core/duration.js';

const httpUrl = z
  .string({ error: 'expected an http(s) URL' })
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'expected an http(s) URL');

export const RequestTemplateSchema = z.strictObject({
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, 'expected an HTTP method')
    .transform((m) => m.toUpperCase())
    .default('GET'),
  url: httpUrl,
  headers: z.record(z.string(), z.string({ error: 'expected header values as strings' })).default({}),
  body: z.string({ error: 'expected the body as a string' }).optional(),
  /** Relative share of the traffic among the templates. */
  weight: z.number({ error: 'expected a positive number' }).positive('expected a positive weight').default(1),
});

export const LoadOptionsSchema = z.strictObject({
  /** Requests per second, sent at fixed intended times whatever the responses do. */
  rate: z
    .number({ error: 'expected requests per second' })
    .positive('expected a positive rate')
    .max(1_000_000),
  /** How long to send; undefined: until stop() or the signal aborts. */
  durationMs: z.number().positive('expected a positive duration').optional(),
  /** Requests in flight at most; a request due while the cap is reached is dropped and counted. */
  concurrency: z
    .number({ error: 'expected a positive integer' })
    .int('expected a positive integer')
    .positive('expected a positive integer')
    .default(1000),
  /**
   * What happens to a request due while `concurrency` requests are in flight:
   * `drop` counts it as dropped (the target is never sent more than the cap);
   * `queue` sends it as soon as a slot frees, its latency still measured from
   * its intended time (wrk2's way: no coordinated omission either way), and
   * counts it as a timeout if it waits longer than `timeoutMs`.
   */
  overflow: z.enum(['drop', 'queue'], { error: "expected 'drop' or 'queue'" }).default('drop'),
  /** A request still unanswered after this long (from its send) counts as a timeout. */
  timeoutMs: z.number().positive('expected a positive timeout').default(10_000),
  requests: z.array(RequestTemplateSchema).min(1, 'expected at least one request template'),
});

export type LoadOptionsInput = z.input<typeof LoadOptionsSchema>;
export type LoadOptions = z.output<typeof LoadOptionsSchema>;
export type RequestTemplate = z.output<typeof RequestTemplateSchema>;

/**
 * The schema's issues as Issue paths after `prefix`; `rename` maps an option
 * to how the caller spells it (an experiment writes `duration`, not `durationMs`).
 */
export function loadOptionIssues(
  error: z.ZodError,
  prefix = '',
  rename: Readonly<Record<string, string>> = {},
): Issue[] {
  return error.issues.map((i) => ({
    path: issuePath(
      i.path.map((p, n) => (n === 0 && typeof p === 'string' ? (rename[p] ?? p) : p)),
      prefix,
    ),
    message: i.message,
  }));
}

/** Validates generator options; throws FAULTLINE_ERR_VALIDATION naming every invalid field. */
export function parseLoadOptions(input: LoadOptionsInput): LoadOptions {
  const parsed = LoadOptionsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = loadOptionIssues(parsed.error);
  throw new FaultlineError(
    'FAULTLINE_ERR_VALIDATION',
    `invalid load options: ${issues.map((i) => formatIssue(i)).join('; ')}`,
    { issues },
  );
}
