/**
 * The JSON Schema (draft 2020-12) of the experiment format, generated from the
 * zod schema so it cannot drift. Editors use it for completion and checks
 * (`faultline schema > experiment.schema.json`).
 */
import { z } from 'zod';
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

/**
 * Returns the experiment JSON Schema as a plain object.
 *
 * @example
 * writeFileSync('experiment.schema.json', JSON.stringify(experimentJsonSchema(), null, 2));
 */
export function experimentJsonSchema(): Record<string, unknown> {
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
  return {
    $schema: $schema ?? 'https://json-schema.org/draft/2020-12/schema',
    $id: EXPERIMENT_SCHEMA_ID,
    title: 'Faultline experiment (Chaos Toolkit format)',
    ...rest,
  };
}
