/**
 * The fleet's pure shapes that the experiment format and the engine need: an
 * activity's `targets:` block (Kubernetes label selectors and Chaos Mesh's
 * modes) and what happened to a fault on one agent (the journal records one
 * per target). The wire protocol (src/fleet/protocol.ts) and the selection
 * logic (src/fleet/select.ts) build on them.
 */
import { z } from 'zod';

export const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
export const MODES = ['one', 'all', 'fixed', 'fixed-percent', 'random-max-percent'] as const;
export type Mode = (typeof MODES)[number];

/** Kubernetes' label key: an optional DNS prefix and `/`, then a name of letters, digits, `-`, `_`, `.`. */
export const KEY_PATTERN =
  /^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** Kubernetes' label value: empty, or letters, digits, `-`, `_`, `.` starting and ending alphanumeric. */
export const VALUE_PATTERN = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

const LabelKeySchema = z.string().regex(KEY_PATTERN, {
  error: 'expected a label key (letters, digits, -, _, . up to 63, with an optional prefix/)',
});
const LabelValueSchema = z.string().regex(VALUE_PATTERN, {
  error: 'expected a label value (up to 63 letters, digits, -, _, ., starting and ending alphanumeric)',
});

export const SelectorRequirementSchema = z
  .strictObject({
    key: LabelKeySchema,
    operator: z.enum(OPERATORS, { error: `expected one of ${OPERATORS.join(', ')}` }),
    values: z.array(LabelValueSchema).optional(),
  })
  .superRefine((r, ctx) => {
    const n = r.values?.length ?? 0;
    if ((r.operator === 'In' || r.operator === 'NotIn') && n === 0) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: `${r.operator} needs at least one value` });
    }
    if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && n > 0) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: `${r.operator} takes no values` });
    }
  });
export type SelectorRequirement = z.output<typeof SelectorRequirementSchema>;

export const LabelSelectorSchema = z.strictObject({
  matchLabels: z.record(LabelKeySchema, LabelValueSchema).optional(),
  matchExpressions: z.array(SelectorRequirementSchema).optional(),
});
export type LabelSelector = z.output<typeof LabelSelectorSchema>;

/** A number, or a string of digits as Chaos Mesh writes it (`value: "30"`); anything else stays as is, refused below. */
const numeric = z.preprocess(
  (v) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
  z.number({ error: 'expected a whole number (or a string of one, as Chaos Mesh writes it)' }),
);

/**
 * An experiment activity's (or the CLI's) `targets:` block. `value` may be a
 * number or a numeric string (Chaos Mesh writes `value: "30"`).
 */
export const TargetsSchema = z
  .strictObject({
    selector: LabelSelectorSchema,
    mode: z.enum(MODES, { error: `expected one of ${MODES.join(', ')}` }),
    value: numeric.optional(),
  })
  .superRefine((t, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', path: ['value'], message });
    if (t.mode === 'one' || t.mode === 'all') {
      if (t.value !== undefined) issue(`mode ${t.mode} takes no value`);
      return;
    }
    if (t.value === undefined) {
      issue(`mode ${t.mode} needs a value (${t.mode === 'fixed' ? 'how many agents' : 'a percentage'})`);
      return;
    }
    if (!Number.isInteger(t.value)) issue('expected a whole number (as Chaos Mesh)');
    else if (t.mode === 'fixed' && t.value < 1) issue('expected at least 1 agent');
    else if (t.mode !== 'fixed' && (t.value < 1 || t.value > 100))
      issue('expected a whole percentage from 1 to 100');
  });
export type Targets = z.output<typeof TargetsSchema>;

/** What happened to one fault on one agent: what the journal records per target. */
export const FleetFaultSchema = z.object({
  id: z.string(),
  agent: z.string(),
  kind: z.string(),
  target: z.string().optional(),
  state: z.enum(['active', 'reverted', 'failed', 'refused']),
  injectedAt: z.string().optional(),
  revertedAt: z.string().optional(),
  verified: z.boolean().optional(),
  /** Why it was refused, failed, or reverted by the agent itself (lease expired, halt, ttl). */
  reason: z.string().optional(),
  error: z.string().optional(),
});
export type FleetFault = z.infer<typeof FleetFaultSchema>;
