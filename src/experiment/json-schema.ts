/**
 * The JSON Schema (draft 2020-12) of the experiment format, generated from the
 * zod schema so it cannot drift. Editors use it for completion and checks
 * (`faultline schema > experiment.schema.json`).
 */
import { z } from 'zod';
import { runsBuiltins } from '../core/builtin-providers.js';
import {
  ActivityRefSchema,
  ActivitySchema,
  ControlSchema,
  ExperimentSchema,
  FullActivitySchema,
  HypothesisSchema,
  ProviderSchema,
  ToleranceSchema,
} from '../core/schema.js';

export const EXPERIMENT_SCHEMA_ID = 'https://faultline.dev/schema/experiment.json';

type Meta = Record<string, unknown>;

/** Names for the shared definitions, so editors show `Activity` rather than an inlined blob. */
const DEFINITIONS: [z.ZodType, Meta][] = [
  [ActivitySchema, { id: 'ActivityOrRef', title: 'An activity or a reference to one' }],
  [FullActivitySchema, { id: 'Activity', title: 'Activity (probe or action)' }],
  [ActivityRefSchema, { id: 'ActivityRef', title: 'Reference to a named activity' }],
  [ProviderSchema, { id: 'Provider', title: 'Provider' }],
  [ToleranceSchema, { id: 'Tolerance', title: 'Tolerance' }],
  [ControlSchema, { id: 'Control', title: 'Control' }],
  [HypothesisSchema, { id: 'SteadyStateHypothesis', title: 'Steady-state hypothesis' }],
];

/** What the schema needs of a built-in activity (engine/context.ts's BuiltinActivity has it). */
export interface ActivityArguments {
  module: string;
  func: string;
  doc?: string;
  /** The zod object schema its `arguments` are validated with. */
  arguments: z.ZodType;
}

/** A `${name}` string: checked once substituted, at run time, so accepted wherever a value goes. */
const PLACEHOLDER = {
  type: 'string',
  pattern: '\\$\\{[^}]+\\}',
  description: 'a reference to a configuration value or a secret, substituted at run time',
};

/** Every value under `properties` (and list items) may also be a `${name}` reference. */
function allowPlaceholders(schema: Meta): Meta {
  const out: Meta = { ...schema };
  if (out.properties && typeof out.properties === 'object') {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Record<string, Meta>).map(([k, v]) => [k, orPlaceholder(v)]),
    );
  }
  if (out.items && typeof out.items === 'object') out.items = orPlaceholder(out.items as Meta);
  return out;
}

function orPlaceholder(schema: Meta): Meta {
  // The description stays on top, where editors look for it.
  const { description, ...rest } = allowPlaceholders(schema);
  return {
    ...(description !== undefined ? { description } : {}),
    anyOf: [rest, { $ref: '#/$defs/Placeholder' }],
  };
}

/**
 * `arguments` of every built-in activity, as if/then on module + func: an editor
 * completes and checks the arguments once the activity is named; an unknown module
 * or func is left to `faultline validate`, which says what is available.
 */
function builtinArguments(activities: Iterable<ActivityArguments>): Meta {
  const rules: Meta[] = [];
  for (const a of activities) {
    const { $schema: _, ...args } = z.toJSONSchema(a.arguments, {
      target: 'draft-2020-12',
      io: 'input',
      unrepresentable: 'any',
    }) as Meta;
    rules.push({
      if: {
        properties: { module: { const: a.module }, func: { const: a.func } },
        required: ['module', 'func'],
      },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, never awaited
      then: {
        properties: {
          arguments: { ...allowPlaceholders(args), ...(a.doc ? { description: a.doc } : {}) },
        },
      },
    });
  }
  return { title: 'Arguments of the built-in activities', allOf: rules };
}

/** Points the providers that run built-ins at the argument rules. */
function addBuiltinArguments(schema: Meta, activities: Iterable<ActivityArguments>): void {
  const defs = schema.$defs as Record<string, Meta>;
  const provider = defs.Provider as Meta;
  const branches = (provider.oneOf ?? provider.anyOf) as Meta[];
  for (const branch of branches) {
    const type = ((branch.properties as Record<string, Meta> | undefined)?.type as Meta | undefined)?.const;
    if (typeof type === 'string' && runsBuiltins(type)) branch.allOf = [{ $ref: '#/$defs/BuiltinArguments' }];
  }
  defs.BuiltinArguments = builtinArguments(activities);
  defs.Placeholder = PLACEHOLDER;
}

/**
 * Returns the experiment JSON Schema as a plain object. With `activities`
 * (the CLI passes every built-in), the `arguments` of each are described too.
 *
 * @example
 * writeFileSync('experiment.schema.json', JSON.stringify(experimentJsonSchema(), null, 2));
 */
export function experimentJsonSchema(
  opts: { activities?: Iterable<ActivityArguments> } = {},
): Record<string, unknown> {
  const names = new Map<unknown, Meta>(DEFINITIONS);
  // Definition names layered over the schema's own descriptions; toJSONSchema only calls get().
  const metadata = {
    get: (schema: unknown) => {
      const own = z.globalRegistry.get(schema as z.ZodType) as Meta | undefined;
      const name = names.get(schema);
      return own || name ? { ...own, ...name } : undefined;
    },
  } as unknown as z.core.$ZodRegistry<Meta>;
  const generated = z.toJSONSchema(ExperimentSchema, {
    target: 'draft-2020-12',
    io: 'input',
    // The lazy probe tolerance and any future transform must not abort generation.
    unrepresentable: 'any',
    metadata,
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  if (opts.activities) addBuiltinArguments(rest, opts.activities);
  return {
    $schema: $schema ?? 'https://json-schema.org/draft/2020-12/schema',
    $id: EXPERIMENT_SCHEMA_ID,
    title: 'Faultline experiment (Chaos Toolkit format)',
    ...rest,
  };
}
