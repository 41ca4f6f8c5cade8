/**
 * The fleet's pure shapes that the experiment format and the engine need: an
 * activity's `targets:` block (Kubernetes label selectors and Chaos Mesh's
 * modes) and what happened to a fault on one agent (the journal records one
 * per target). The wire protocol (src/fleet/protocol.ts) and the selection
 * logic (src/fleet/select.ts) build on them.
 */
import { z } from 'zod';
import { FaultlineError } from './errors.js';

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
export const TargetsSchema = z.preprocess(
  // YAML 1.1 (how experiments are read, as PyYAML does) reads a bare `on:` key as the boolean true,
  // so `targets: {on: workloads}` arrives as {true: workloads}: take it as the `on` it was written as.
  (v) => {
    if (
      typeof v !== 'object' ||
      v === null ||
      Array.isArray(v) ||
      !Object.hasOwn(v, 'true') ||
      Object.hasOwn(v, 'on')
    )
      return v;
    const { true: on, ...rest } = v as Record<string, unknown>;
    return { ...rest, on };
  },
  z
    .strictObject({
      selector: LabelSelectorSchema,
      mode: z.enum(MODES, { error: `expected one of ${MODES.join(', ')}` }),
      value: numeric.optional(),
      /**
       * What the selector and mode pick: agents by their labels (default), or the workloads the
       * agents host (src/core/workload.ts) by theirs, as Chaos Mesh picks pods; `namespaces`
       * implies workloads.
       */
      on: z.enum(['agents', 'workloads'], { error: "expected 'agents' or 'workloads'" }).optional(),
      /** Workloads in these namespaces only (Chaos Mesh's `selector.namespaces`, Litmus' `appns`). */
      namespaces: z
        .array(
          z.string().regex(/^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/, {
            error: 'expected a namespace (lowercase letters, digits and -, at most 63)',
          }),
        )
        .min(1, { error: 'expected at least one namespace' })
        .optional(),
      /** Workloads by name (`name` or `namespace/name`): Chaos Mesh's `selector.pods`, Istio's `hosts`. */
      names: z.array(z.string().min(1).max(127)).min(1).optional(),
      /** Workloads on these agents only (Chaos Mesh's `selector.nodes`). */
      agentNames: z.array(z.string().min(1).max(64)).min(1).optional(),
      /** Workloads on agents whose labels match (Chaos Mesh's `selector.nodeSelectors`). */
      agentSelector: LabelSelectorSchema.optional(),
      /**
       * The other end, for faults between two sets (Chaos Mesh's `target` and `externalTargets`):
       * workloads picked the same way, and/or fixed addresses. The fault is placed on each picked
       * workload once per peer address, scoped to the traffic with that peer (src/fleet/workloads.ts).
       */
      peers: z
        .strictObject({
          selector: LabelSelectorSchema.optional(),
          namespaces: z.array(z.string().min(1).max(63)).min(1).optional(),
          names: z.array(z.string().min(1).max(127)).min(1).optional(),
          mode: z.enum(MODES, { error: `expected one of ${MODES.join(', ')}` }).optional(),
          value: numeric.optional(),
          /** IP addresses, CIDRs or host names (resolved by the agent) outside the fleet. */
          addresses: z.array(z.string().min(1).max(253)).optional(),
        })
        .optional(),
    })
    .superRefine((t, ctx) => {
      const issue = (message: string) => ctx.addIssue({ code: 'custom', path: ['value'], message });
      if (t.on === 'agents') {
        for (const k of ['namespaces', 'names', 'agentNames', 'agentSelector', 'peers'] as const) {
          if (t[k] !== undefined)
            ctx.addIssue({
              code: 'custom',
              path: [k],
              message: `${k} selects workloads: not with on: 'agents'`,
            });
        }
      }
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
    }),
);
export type Targets = z.output<typeof TargetsSchema>;

/** Whether a `targets:` block picks workloads (the agents' hosted workloads) rather than agents. */
export const onWorkloads = (t: Pick<Targets, 'on' | 'namespaces' | 'names' | 'peers'>): boolean =>
  t.on === 'workloads' ||
  (t.on === undefined && (t.namespaces !== undefined || t.names !== undefined || t.peers !== undefined));

/** What happened to one fault on one agent: what the journal records per target. */
export const FleetFaultSchema = z.object({
  id: z.string(),
  agent: z.string(),
  kind: z.string(),
  target: z.string().optional(),
  /** The workload it was aimed at (`namespace/name`), when the targets picked workloads. */
  workload: z.string().optional(),
  state: z.enum(['active', 'reverted', 'failed', 'refused']),
  injectedAt: z.string().optional(),
  revertedAt: z.string().optional(),
  verified: z.boolean().optional(),
  /** Why it was refused, failed, or reverted by the agent itself (lease expired, halt, ttl). */
  reason: z.string().optional(),
  error: z.string().optional(),
});
export type FleetFault = z.infer<typeof FleetFaultSchema>;

const MAX_SELECTOR_LENGTH = 4096;

function shown(text: string): string {
  const cut = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  return JSON.stringify(cut);
}

/**
 * Parses Kubernetes' selector syntax: comma-separated requirements, each
 * `key=value`, `key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`,
 * `key` (exists) or `!key` (does not exist). Equalities become matchLabels;
 * `!=` becomes NotIn. Throws FAULTLINE_ERR_USAGE naming `field` and the text.
 */
/** Kubernetes' selector text (moved here from fleet/select.ts so manifest translators can read Litmus' `applabel`). */
export function parseSelector(text: string, field = 'selector'): LabelSelector {
  const fail = (why: string): never => {
    throw new FaultlineError('FAULTLINE_ERR_USAGE', `${field}: selector ${shown(text)}: ${why}`);
  };
  if (typeof text !== 'string') fail('expected a string');
  if (text.length > MAX_SELECTOR_LENGTH) fail(`longer than ${MAX_SELECTOR_LENGTH} characters`);
  const key = (k: string, part: string) => {
    if (!KEY_PATTERN.test(k)) fail(`'${part}': '${k}' is not a label key (letters, digits, -, _, .)`);
    return k;
  };
  const value = (v: string, part: string) => {
    if (!VALUE_PATTERN.test(v)) fail(`'${part}': '${v}' is not a label value (letters, digits, -, _, .)`);
    return v;
  };
  const matchLabels: Record<string, string> = {};
  const matchExpressions: SelectorRequirement[] = [];
  for (const raw of splitTopLevel(text, fail)) {
    const part = raw.trim();
    if (part === '') {
      if (text.trim() === '') break;
      fail('an empty requirement (two commas, or a comma at an end)');
    }
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    if (set) {
      const values = set[3]!.split(',').map((v) => value(v.trim(), part));
      if (values.length === 0 || (values.length === 1 && values[0] === ''))
        fail(`'${part}': expected values`);
      matchExpressions.push({ key: key(set[1]!, part), operator: set[2] === 'in' ? 'In' : 'NotIn', values });
      continue;
    }
    const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (eq) {
      const k = key(eq[1]!, part);
      const v = value(eq[3]!.trim(), part);
      if (eq[2] === '!=') matchExpressions.push({ key: k, operator: 'NotIn', values: [v] });
      else if (Object.hasOwn(matchLabels, k) && matchLabels[k] !== v) fail(`'${k}' cannot equal two values`);
      else matchLabels[k] = v;
      continue;
    }
    if (part.startsWith('!')) {
      matchExpressions.push({ key: key(part.slice(1).trim(), part), operator: 'DoesNotExist' });
      continue;
    }
    if (/^\S+$/.test(part)) {
      matchExpressions.push({ key: key(part, part), operator: 'Exists' });
      continue;
    }
    fail(`'${part}': expected key=value, key!=value, key in (a,b), key notin (a,b), key or !key`);
  }
  return {
    ...(Object.keys(matchLabels).length ? { matchLabels } : {}),
    ...(matchExpressions.length ? { matchExpressions } : {}),
  };
}

/** Splits on commas outside parentheses; unbalanced parentheses fail. */
function splitTopLevel(text: string, fail: (why: string) => never): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') {
      if (++depth > 1) fail('nested parentheses');
    } else if (c === ')') {
      if (--depth < 0) fail("a ')' without its '('");
    } else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) fail("a '(' without its ')'");
  parts.push(text.slice(start));
  return parts;
}

/**
 * Whether any activity of an experiment runs on the fleet (has `targets:`). Here, not beside
 * runFleet (lib/fleet-run.ts): a run that uses no fleet does not load the fleet's code.
 */
export function usesFleet(experiment: {
  method?: readonly unknown[];
  rollbacks?: readonly unknown[];
}): boolean {
  const lists = [experiment.method, experiment.rollbacks];
  return lists.some((list) =>
    (list ?? []).some((a) => typeof a === 'object' && a !== null && 'targets' in a),
  );
}
