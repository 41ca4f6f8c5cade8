/**
 * The HTTP API's request and error shapes, beside the stored shapes of
 * store.ts: the server validates every request with these and the OpenAPI
 * document is generated from them, so the two cannot disagree. Request bodies
 * are strict objects: an unknown field is a 400 naming it, never ignored.
 */
import { z } from 'zod';
import { pageLimit } from './query.js';
import { ExperimentFormatSchema, ExperimentNameSchema, RunStatusSchema, VerdictKindSchema } from './store.js';

/** One problem with a request or an uploaded experiment: where (a dotted path, a line and column) and what. */
export const IssueSchema = z.object({
  path: z.string(),
  message: z.string(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
});

/** Every 4xx and 5xx answer. `code` is stable (`bad_request`, `not_found`, `invalid_experiment`, ...). */
export const ErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(IssueSchema).optional(),
  }),
});
export type ApiError = z.infer<typeof ErrorSchema>;

/** A route's JSON answer, for createRoute's `responses` (every route group declares its answers with it). */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

/** A route's required JSON body, for createRoute's `request`. */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  body: { content: { 'application/json': { schema } }, required: true },
});

/** The largest experiment source the API takes (the CLI's file limit is 10 MiB; an upload is text in JSON). */
export const MAX_SOURCE_CHARS = 4 * 1024 * 1024;

export const UploadExperimentSchema = z.strictObject({
  name: ExperimentNameSchema,
  format: ExperimentFormatSchema,
  source: z.string().min(1, 'expected the experiment source (JSON or YAML text)').max(MAX_SOURCE_CHARS),
});

export const ExperimentParamsSchema = z.strictObject({ name: ExperimentNameSchema });

export const ExperimentQuerySchema = z.strictObject({
  version: z
    .string()
    .regex(/^[1-9][0-9]{0,8}$/, { error: 'expected a version number (1, 2, ...)' })
    .optional(),
});

/** Free text a query compares with stored text: PostgreSQL refuses a NUL in text (a 503, not the caller's 400). */
const queryText = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\u0000]*$/, { error: 'expected text without NUL characters' });

const TagSchema = queryText(128).min(1);

export const StartRunSchema = z.strictObject({
  experiment: ExperimentNameSchema,
  version: z.number().int().positive().optional(),
  tags: z.array(TagSchema).max(64).optional(),
});

export const RunParamsSchema = z.strictObject({
  id: z.string().uuid({ error: 'expected a run id (a UUID)' }),
});

/** GET /api/runs: RunFilterSchema's fields as query parameters (tags comma-separated, limit as text). */
export const RunQuerySchema = z.strictObject({
  experiment: ExperimentNameSchema.optional(),
  status: RunStatusSchema.optional(),
  verdict: VerdictKindSchema.optional(),
  tags: queryText(8192).optional(),
  requestedBy: queryText(256).optional(),
  /** Runs whose faults touched this target (one of its labels, exactly: store.ts RunFilterSchema). */
  target: queryText(512).min(1).optional(),
  from: z.string().datetime({ offset: true }).optional(),
  to: z.string().datetime({ offset: true }).optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, { error: 'expected a number 1-500' })
    .optional(),
  cursor: z.string().max(1024).optional(),
});

/** GET /api/trends: one experiment's or all, over [from, to) (default the last 30 days), by hour, day or week. */
export const TrendsQuerySchema = z.strictObject({
  /** An experiment's name, or a pushed run's title. */
  experiment: queryText(256).min(1).optional(),
  from: z.string().datetime({ offset: true, error: 'expected an ISO 8601 date and time' }).optional(),
  to: z.string().datetime({ offset: true, error: 'expected an ISO 8601 date and time' }).optional(),
  bucket: z.enum(['hour', 'day', 'week'], { error: 'expected hour, day or week' }).optional(),
});

/** GET /api/runs/compare: two runs of one experiment. */
export const CompareQuerySchema = z.strictObject({
  a: z.string({ error: 'expected the id of the first run' }).uuid({ error: 'expected a run id (a UUID)' }),
  b: z.string({ error: 'expected the id of the second run' }).uuid({ error: 'expected a run id (a UUID)' }),
});

/** A journal run elsewhere (`faultline run --server`, `faultline push`), stored as a finished run. */
export const ImportRunSchema = z.strictObject({
  journal: z.record(z.string(), z.unknown()),
  /** The stored experiment it ran, when the pusher knows it. */
  experiment: ExperimentNameSchema.optional(),
  tags: z.array(TagSchema).max(64).optional(),
});

export const AuditQuerySchema = z.strictObject({
  limit: pageLimit(500).optional(),
  before: z
    .string()
    .regex(/^[0-9]{1,15}$/, { error: 'expected an audit entry id' })
    .optional(),
});

export const HealthSchema = z.object({
  ok: z.boolean(),
  database: z.string(),
  server: z.string(),
  error: z.string().optional(),
});
