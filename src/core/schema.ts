/**
 * The experiment format, as zod schemas: the single source of the TypeScript
 * types, of validation (with a path for every issue) and of the JSON Schema
 * that `faultline schema` prints. The format is Chaos Toolkit's: unknown keys
 * are kept and ignored, as Chaos Toolkit does, so existing files run unchanged.
 */

import { z } from 'zod';
import { BlastRadiusSchema } from './blast-radius.js';
import { parseDuration } from './duration.js';
import { TargetsSchema } from './fleet.js';

const nonEmpty = (what: string) =>
  z.string({ error: `${what}: expected a non-empty string` }).min(1, `${what}: expected a non-empty string`);

/** `${name}`: a whole-string reference to a configuration or secret value. */
export const VAR_REF = /^\$\{[_a-zA-Z][_a-zA-Z0-9]*\}$/;
const varRef = z.string().regex(VAR_REF, 'expected a number or a "${name}" reference');
const numberOrVar = z.union([z.number(), varRef], {
  error: 'expected a number or a "${name}" reference',
});

// ---------------------------------------------------------------- providers

export const HttpProviderSchema = z.looseObject({
  type: z.literal('http'),
  url: nonEmpty('a HTTP activity must have a URL'),
  method: z.string().optional().describe('HTTP verb, default GET (upper-cased)'),
  headers: z.record(z.string(), z.unknown(), { error: 'expected headers as a mapping' }).optional(),
  arguments: z
    .unknown()
    .optional()
    .describe(
      'GET: query string; other verbs: JSON body when Content-Type is application/json, otherwise a form',
    ),
  timeout: z
    .union([z.number().positive(), z.tuple([z.number().positive(), z.number().positive()]), varRef], {
      error: 'expected seconds as a number or [connect, read]',
    })
    .optional(),
  verify_tls: z.boolean().optional(),
  expected_status: z.unknown().optional().describe('ignored, as in Chaos Toolkit'),
  max_retries: z.number().int().min(0).optional(),
});

export const ProcessProviderSchema = z.looseObject({
  type: z.literal('process'),
  path: nonEmpty('a process activity must have a path'),
  arguments: z
    .union([z.string(), z.array(z.unknown()), z.record(z.string(), z.unknown())], {
      error: "expected a string (run through a shell) or a list (exec'd directly)",
    })
    .optional(),
  timeout: z.number().positive({ error: 'expected a positive number of seconds' }).optional(),
});

export const NodeProviderSchema = z.looseObject({
  type: z.literal('node'),
  module: nonEmpty('module'),
  func: z.string().min(1).optional().describe('exported function name; default "default"'),
  arguments: z.record(z.string(), z.unknown(), { error: 'expected an object' }).optional(),
});

/** Chaos Toolkit's python provider: only modules Faultline implements natively run. */
export const PythonProviderSchema = z.looseObject({
  type: z.literal('python'),
  module: nonEmpty('a Python activity must have a module path'),
  func: nonEmpty('a Python activity must have a function name'),
  arguments: z.record(z.string(), z.unknown(), { error: 'expected an object' }).optional(),
  secrets: z.array(z.string()).optional(),
  // Not in Chaos Toolkit: a Python call that runs longer is interrupted (its worker stopped and restarted).
  timeout: z.number().positive({ error: 'expected a positive number of seconds' }).optional(),
});

/** Faultline's built-in activities (listed by `faultline discover`). */
export const BuiltinProviderSchema = z.looseObject({
  type: z.literal('faultline'),
  module: nonEmpty('module'),
  func: nonEmpty('func'),
  arguments: z.record(z.string(), z.unknown(), { error: 'expected an object' }).optional(),
});

/**
 * Every provider type, one line each: the union (discriminated by `type`), its
 * message, the provider types (`ProviderType`) and, through them, the lazy
 * loaders in providers/index.ts (which must name every type here) derive from it.
 */
export const PROVIDER_SCHEMAS = [
  HttpProviderSchema,
  ProcessProviderSchema,
  NodeProviderSchema,
  PythonProviderSchema,
  BuiltinProviderSchema,
] as const;

/** The provider types, in the list's order. */
export const PROVIDER_TYPES = PROVIDER_SCHEMAS.map((s) => s.shape.type.value);

// Provider types whose module + func name a built-in activity: one zod-free list (the halt path reads it).
export { BUILTIN_PROVIDER_TYPES } from './builtin-providers.js';

/** `a, b or c`: how messages list alternatives. */
export function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

export const ProviderSchema = z.discriminatedUnion('type', PROVIDER_SCHEMAS, {
  error: `expected a provider type of ${orList(PROVIDER_TYPES)}`,
});

// ---------------------------------------------------------------- controls

export const ControlProviderSchema = z.looseObject({
  type: z.enum(['node', 'python'], { error: 'expected a control provider type of node or python' }),
  module: nonEmpty('module'),
  arguments: z.record(z.string(), z.unknown()).optional(),
  secrets: z.array(z.string()).optional(),
});

export const ControlSchema = z.looseObject({
  name: nonEmpty('a control must have a name'),
  provider: ControlProviderSchema.optional(),
  ref: z.string().min(1).optional(),
  scope: z.enum(['before', 'after'], { error: "scope must be 'before' or 'after'" }).optional(),
  automatic: z.boolean().optional(),
});

// ---------------------------------------------------------------- tolerances

const RangeToleranceSchema = z.looseObject({
  type: z.literal('range'),
  range: z.tuple([z.number(), z.number()], { error: 'expected a range of two numbers [lower, upper]' }),
  target: z.string().optional(),
});
const RegexToleranceSchema = z.looseObject({
  type: z.literal('regex'),
  pattern: z.string({ error: 'a regex tolerance must have a string `pattern`' }),
  target: z.string().optional(),
});
const JsonPathToleranceSchema = z.looseObject({
  type: z.literal('jsonpath'),
  path: z.string({ error: 'a jsonpath tolerance must have a `path`' }).min(1, 'JSON path cannot be empty'),
  target: z.string().optional(),
  count: z.number().int().min(0).optional(),
  expect: z.unknown().optional(),
});
// A probe used as a tolerance; declared lazily because it is itself an activity.
const ProbeToleranceSchema: z.ZodType<ProbeTolerance> = z.lazy(() =>
  z.looseObject({
    type: z.literal('probe'),
    name: nonEmpty('an activity must have a name'),
    provider: ProviderSchema,
  }),
);
export interface ProbeTolerance {
  type: 'probe';
  name: string;
  provider: Provider;
  [k: string]: unknown;
}

/** Faultline: relative to the probe's value when first checked (normally before the method). */
const BaselineToleranceSchema = z.looseObject({
  type: z.literal('baseline'),
  max_ratio: z.number().min(0).optional().describe('at most this many times the baseline'),
  min_ratio: z.number().min(0).optional().describe('at least this many times the baseline'),
  within: z.number().min(0).optional().describe('at most this fraction away from the baseline (0.1 = 10%)'),
  target: z.string().optional(),
});

/**
 * Every tolerance kind, in Chaos Toolkit's dispatch order: the value kinds by
 * their JSON type (booleans before integers), the object kinds by `type`. One
 * line each: the union, its message and validation's list of object types
 * derive from it; engine/tolerances/index.ts gives each kind its evaluation
 * (and must name every kind here).
 */
export const TOLERANCE_SCHEMAS = {
  boolean: { noun: 'a boolean', schema: z.boolean() },
  integer: { noun: 'an integer', schema: z.int() },
  string: { noun: 'a string', schema: z.string() },
  list: { noun: 'a list', schema: z.array(z.unknown()) },
  range: { schema: RangeToleranceSchema },
  regex: { schema: RegexToleranceSchema },
  jsonpath: { schema: JsonPathToleranceSchema },
  probe: { schema: ProbeToleranceSchema },
  baseline: { schema: BaselineToleranceSchema },
} as const satisfies Record<string, { noun?: string; schema: z.ZodType }>;

export type ToleranceKindName = keyof typeof TOLERANCE_SCHEMAS;
type ValueToleranceName = {
  [K in ToleranceKindName]: (typeof TOLERANCE_SCHEMAS)[K] extends { noun: string } ? K : never;
}[ToleranceKindName];
type ObjectToleranceName = Exclude<ToleranceKindName, ValueToleranceName>;

const toleranceEntries = Object.entries(TOLERANCE_SCHEMAS) as [
  ToleranceKindName,
  { noun?: string; schema: z.ZodType },
][];

/** The `type` of every object tolerance (`range`, `regex`, ...), in the list's order. */
export const OBJECT_TOLERANCE_TYPES = toleranceEntries
  .filter(([, k]) => k.noun === undefined)
  .map(([name]) => name) as ObjectToleranceName[];

/** "a boolean, ..., a list, or an object of type range, ... or baseline": every kind, for messages. */
export const TOLERANCE_KINDS_TEXT = `${toleranceEntries
  .flatMap(([, k]) => (k.noun === undefined ? [] : [k.noun]))
  .join(', ')}, or an object of type ${orList(OBJECT_TOLERANCE_TYPES)}`;

type ObjectSchemas = {
  [K in ObjectToleranceName]: (typeof TOLERANCE_SCHEMAS)[K]['schema'];
}[ObjectToleranceName];

// A plain union (not discriminated by `type`): the probe branch is lazy, and the JSON Schema keeps its shape.
export const ObjectToleranceSchema = z.union(
  OBJECT_TOLERANCE_TYPES.map((t) => TOLERANCE_SCHEMAS[t].schema) as unknown as readonly [
    ObjectSchemas,
    ...ObjectSchemas[],
  ],
);

type ValueSchemas = {
  [K in ValueToleranceName]: (typeof TOLERANCE_SCHEMAS)[K]['schema'];
}[ValueToleranceName];

export const ToleranceSchema = z
  .union(
    [
      ...(toleranceEntries
        .filter(([, k]) => k.noun !== undefined)
        .map(([, k]) => k.schema) as ValueSchemas[]),
      ObjectToleranceSchema,
    ] as unknown as readonly [
      ValueSchemas | typeof ObjectToleranceSchema,
      ...(ValueSchemas | typeof ObjectToleranceSchema)[],
    ],
    { error: `expected ${TOLERANCE_KINDS_TEXT}` },
  )
  .describe('what the probe output must be for the steady state to hold');

// ---------------------------------------------------------------- activities

export const PausesSchema = z.looseObject({
  before: numberOrVar.optional(),
  after: numberOrVar.optional(),
});

export const ActivityRefSchema = z.looseObject({
  ref: nonEmpty('reference to activity must be a non-empty string'),
});

export const FullActivitySchema = z.looseObject({
  type: z.enum(['probe', 'action'], { error: 'expected an activity type of probe or action' }),
  name: nonEmpty('an activity must have a name'),
  provider: ProviderSchema,
  tolerance: ToleranceSchema.optional(),
  pauses: PausesSchema.optional(),
  background: z.boolean({ error: 'activity background must be a boolean' }).optional(),
  controls: z.array(ControlSchema).optional(),
  timeout: z.number({ error: 'activity timeout must be a number' }).optional(),
  /** Faultline: run this fault action on the fleet's agents the block picks, not on this host (docs/fleet.md). */
  targets: TargetsSchema.optional(),
});

export const ActivitySchema = z.union([ActivityRefSchema, FullActivitySchema], {
  error: 'expected an activity (type, name, provider) or a reference {ref: name}',
});

// ---------------------------------------------------------------- configuration and secrets

export const EnvValueSchema = z.looseObject({
  type: z.literal('env'),
  key: nonEmpty('key'),
  default: z.unknown().optional(),
  env_var_type: z.enum(['int', 'float', 'str', 'bytes', 'bool', 'json']).optional(),
});

export const ConfigurationSchema = z
  .record(z.string(), z.unknown())
  .describe(
    'values by name: literals, {type: env, key, default?, env_var_type?}, or a probe that fills the value at run start',
  );
export const SecretsSchema = z.record(
  z.string(),
  z.record(z.string(), z.unknown(), { error: 'a secret scope must be an object' }),
  {
    error: 'secrets must be an object of scopes',
  },
);

// ---------------------------------------------------------------- experiment

export const HYPOTHESIS_STRATEGIES = [
  'default',
  'before-method-only',
  'after-method-only',
  'during-method-only',
  'continuously',
  'skip',
] as const;
export const ROLLBACK_STRATEGIES = ['default', 'always', 'never', 'deviated'] as const;
export const DRY_MODES = ['probes', 'actions', 'activities', 'pause'] as const;

/** A proxy the run starts in-process (Faultline's `proxies:` key). */
const hostPort = z
  .string({ error: 'expected host:port' })
  .refine((v) => /^.*:\d+$/.test(v) || v.includes('$'), 'expected host:port (or a ${name} reference)');
export const ProxyDeclarationSchema = z.looseObject({
  name: nonEmpty('a proxy must have a name'),
  upstream: hostPort,
  listen: hostPort.optional().describe('host:port to listen on (default 127.0.0.1:0: a free port)'),
  enabled: z.boolean().optional(),
});

/** Traffic the run sends for its whole duration (Faultline's `load:` key; see src/load/resource.ts). */
const seconds = z.union([z.number().positive('expected a positive number of seconds'), z.string()], {
  error: "expected seconds or a duration such as '30s', '500ms', '2m'",
});
export const LoadDeclarationSchema = z.strictObject({
  rate: z.number({ error: 'expected requests per second' }).positive('expected a positive rate'),
  duration: seconds.optional().describe('stop sending after this long (default: until the run ends)'),
  concurrency: z.number().int().positive('expected a positive integer').optional(),
  overflow: z
    .enum(['drop', 'queue'], { error: "expected 'drop' or 'queue'" })
    .optional()
    .describe(
      "a request due at the concurrency cap: 'drop' it (default) or 'queue' it for the next free slot",
    ),
  timeout: seconds.optional().describe('per request (default 10 s)'),
  requests: z
    .array(
      z.strictObject({
        method: z.string().optional(),
        url: nonEmpty('expected an http(s) URL'),
        headers: z.record(z.string(), z.string()).optional(),
        body: z.string().optional(),
        weight: z.number().positive('expected a positive weight').optional(),
      }),
    )
    .min(1, 'expected at least one request'),
});

/** A safeguard: a probe with a tolerance, run before, once in the background, or every `frequency` seconds. */
export const SafeguardSchema = FullActivitySchema.extend({
  tolerance: ToleranceSchema,
  frequency: z
    .number()
    .min(0.1, 'expected at least 0.1 seconds')
    .optional()
    .describe('seconds between checks'),
});

export const HypothesisSchema = z.looseObject({
  title: nonEmpty('hypothesis requires a title'),
  probes: z.array(ActivitySchema).optional(),
  controls: z.array(ControlSchema).optional(),
});

const durationSchema = z.union([
  z.number().positive('expected a positive number of seconds'),
  z
    .string()
    .refine((v) => parseDuration(v) !== undefined, "expected a duration such as '500ms', '90s', '10m'"),
]);

export const RuntimeSchema = z.looseObject({
  recovery: z
    .looseObject({
      deadline: durationSchema.describe(
        'how long the steady state may take to hold again after the faults are reverted',
      ),
      interval: durationSchema.optional().describe('between two checks (default 1s)'),
    })
    .optional()
    .describe('Faultline: measure the time to recover (MTTR) after the faults are reverted'),
  max_duration: z
    .union([
      z.number().positive('expected a positive number of seconds'),
      z
        .string()
        .refine((v) => parseDuration(v) !== undefined, "expected a duration such as '90s', '10m' or '1h'"),
    ])
    .optional()
    .describe('Faultline: the run is interrupted (and every fault reverted) when it lasts longer than this'),
  rollbacks: z.looseObject({ strategy: z.enum(ROLLBACK_STRATEGIES).optional() }).optional(),
  hypothesis: z
    .looseObject({
      // `continously` is Chaos Toolkit's accepted misspelling.
      strategy: z.enum([...HYPOTHESIS_STRATEGIES, 'continously']).optional(),
      frequency: z.number().positive().optional(),
      fail_fast: z.boolean().optional(),
      max_misses: z
        .number()
        .int('expected a whole number of checks')
        .min(0, 'expected 0 or more checks')
        .optional()
        .describe(
          'Faultline: checks during the method that may miss the steady state and the run still pass (default 0)',
        ),
      max_miss_ratio: z
        .number()
        .min(0, 'expected a ratio between 0 and 1')
        .max(1, 'expected a ratio between 0 and 1')
        .optional()
        .describe(
          'Faultline: share of the checks during the method that may miss the steady state and the run still pass, 0..1 (default 0)',
        ),
      warmup: durationSchema
        .optional()
        .describe(
          'Faultline: before the method, check the steady state again until it holds or this long has passed (e.g. 30s)',
        ),
    })
    .optional(),
});

export const ExperimentSchema = z
  .looseObject({
    version: z.unknown().optional(),
    title: nonEmpty('experiment requires a title'),
    description: nonEmpty('experiment requires a description'),
    tags: z.array(nonEmpty('experiment tags must be non-empty strings')).optional(),
    configuration: ConfigurationSchema.optional(),
    secrets: SecretsSchema.optional(),
    extensions: z
      .array(z.looseObject({ name: nonEmpty('all extensions require a non-empty name') }))
      .optional(),
    contributions: z.record(z.string(), z.unknown()).optional(),
    controls: z.array(ControlSchema).optional(),
    'steady-state-hypothesis': HypothesisSchema.optional(),
    method: z.array(ActivitySchema, {
      error:
        'an experiment requires a method, which can be empty for only checking the steady state hypothesis',
    }),
    rollbacks: z.array(ActivitySchema).optional(),
    runtime: RuntimeSchema.optional(),
    dry: z.unknown().optional(),
    proxies: z
      .array(ProxyDeclarationSchema)
      .optional()
      .describe('Faultline: proxies started in-process for the run (Chaos Toolkit ignores this key)'),
    safeguards: z
      .array(SafeguardSchema)
      .optional()
      .describe('Faultline: probes that stop the run the moment their tolerance is breached'),
    load: LoadDeclarationSchema.optional().describe(
      'Faultline: HTTP traffic sent for the whole run; read by faultline.load probes',
    ),
    blast_radius: BlastRadiusSchema.optional().describe(
      'Faultline: how far the run may reach (max targets, max percentage, allowed and blocked targets), checked before anything is injected',
    ),
    blastRadius: BlastRadiusSchema.optional().describe(
      'the same as blast_radius, in camelCase (maxTargets, maxPercentage, allowedNamespaces, blockedNamespaces)',
    ),
  })
  .describe('A Faultline (Chaos Toolkit format) chaos experiment');

export type HttpProvider = z.infer<typeof HttpProviderSchema>;
export type ProcessProvider = z.infer<typeof ProcessProviderSchema>;
export type NodeProvider = z.infer<typeof NodeProviderSchema>;
export type PythonProvider = z.infer<typeof PythonProviderSchema>;
export type BuiltinProvider = z.infer<typeof BuiltinProviderSchema>;
export type Provider = z.infer<typeof ProviderSchema>;
export type ProviderType = Provider['type'];
export type Control = z.infer<typeof ControlSchema>;
export type Tolerance = z.infer<typeof ToleranceSchema>;
export type ActivityRef = z.infer<typeof ActivityRefSchema>;
export type Activity = z.infer<typeof FullActivitySchema>;
export type ActivityOrRef = z.infer<typeof ActivitySchema>;
export type Hypothesis = z.infer<typeof HypothesisSchema>;
export type ProxyDeclaration = z.infer<typeof ProxyDeclarationSchema>;
export type LoadDeclaration = z.infer<typeof LoadDeclarationSchema>;
export type Experiment = z.infer<typeof ExperimentSchema>;
export type HypothesisStrategy = (typeof HYPOTHESIS_STRATEGIES)[number];
export type RollbackStrategy = (typeof ROLLBACK_STRATEGIES)[number];
export type DryMode = (typeof DRY_MODES)[number];
export type Configuration = Record<string, unknown>;
export type Secrets = Record<string, Record<string, unknown>>;

export function isRef(a: ActivityOrRef): a is ActivityRef {
  return typeof (a as ActivityRef).ref === 'string' && (a as Activity).type === undefined;
}
