/**
 * The game-day plan file (issue #18 item 5): objective, hypothesis, participants in roles, a timeline of
 * steps (an experiment, a manual check someone confirms, a wait, a decision point), measurable success
 * criteria and a rollback plan. One zod schema is the source of the TypeScript types, the validation (with
 * each issue's path, line and column), the JSON Schema (`faultline gameday schema`) and the docs.
 * Cross-references the schema cannot express (step ids unique, owners, decision targets, criteria naming
 * experiment steps) are checked after it, with the same issue shape.
 */
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { FaultlineError, type Issue } from '../core/errors.js';
import { ObjectNameSchema } from '../core/names.js';
import { parseText, type TextFormat } from '../core/parse.js';
import type { PositionOf } from '../core/positions.js';
import { documentIssues } from '../experiment/validate.js';

/** The roles the issue names; a step's owner is a participant's name or one of these. */
export const PARTICIPANT_ROLES = ['incident-commander', 'technical-lead', 'observer', 'scribe'] as const;
export type ParticipantRole = (typeof PARTICIPANT_ROLES)[number];

/** Where a decision option may lead besides a step id. */
export const DECISION_TARGETS = ['rollback', 'end'] as const;

const StepIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, {
    error: 'expected a step id: 1-64 letters, digits, _ or -, starting with a letter or digit',
  })
  .refine((id) => !(DECISION_TARGETS as readonly string[]).includes(id), {
    error: `a step id may not be ${DECISION_TARGETS.map((t) => `"${t}"`).join(' or ')} (decision targets)`,
  });

// YAML reads an unquoted yes, no, on, off, y or n as a boolean: say so rather than "expected a string, got true".
const TextSchema = z
  .string({
    error: (issue) =>
      typeof issue.input === 'boolean'
        ? 'expected text (quote it: YAML reads yes, no, on, off, y and n as true or false)'
        : undefined,
  })
  .trim()
  .min(1);

/** `30s`, `2m`, `1h`, `500ms` or a number of seconds; kept as written (the plan round-trips unchanged). */
const DURATION_WORDS = "expected a positive duration such as '30s', '2m', '1h' or a number of seconds";
export const PlanDurationSchema = z
  .union([z.string(), z.number()], { error: DURATION_WORDS })
  .refine((v) => parseDuration(v) !== undefined, { error: DURATION_WORDS })
  .meta({ description: "A positive duration: '500ms', '30s', '2m', '1h' or a number of seconds." });
export type PlanDuration = z.output<typeof PlanDurationSchema>;

/** Milliseconds of a duration the schema accepted. */
export function durationMs(d: PlanDuration): number {
  const ms = parseDuration(d);
  if (ms === undefined) throw new RangeError(`not a duration: ${String(d)}`);
  return ms;
}

const ParticipantSchema = z
  .strictObject({
    name: z.string().regex(/^[^\s].{0,63}$/u, { error: 'expected a name of 1-64 characters' }),
    role: z.enum(PARTICIPANT_ROLES),
    contact: z.string().max(200).optional().meta({ description: 'How to reach them (chat handle, phone).' }),
  })
  .meta({ description: 'Someone taking part, in one of the roles.' });

const stepBase = {
  id: StepIdSchema.meta({ description: 'Unique within the plan (steps and rollback steps).' }),
  title: TextSchema.optional().meta({ description: 'What the step is, as the timeline shows it.' }),
  owner: z
    .string()
    .min(1)
    .optional()
    .meta({ description: "Who does the step: a participant's name or a role (incident-commander, ...)." }),
  on_failure: z.enum(['rollback', 'continue']).default('rollback').meta({
    description:
      'When the step fails (its run fails or is refused, a check is answered no): run the rollback plan (default) or go on.',
  }),
};

const ExperimentStepSchema = z
  .strictObject({
    ...stepBase,
    kind: z.literal('experiment'),
    experiment: z.string().min(1).meta({
      description:
        "The experiment: with `faultline gameday run`, a file path relative to the plan (or an http(s) URL); on the server, a stored experiment's name.",
    }),
    version: z.number().int().positive().optional().meta({
      description: "On the server: the stored experiment's version (default: the latest).",
    }),
    configuration: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: "Values overriding the experiment's configuration for this step." }),
  })
  .meta({ description: 'Runs an experiment (the settings file, safeguards and policies apply).' });

const ManualStepSchema = z
  .strictObject({
    ...stepBase,
    kind: z.literal('manual'),
    instructions: TextSchema.optional().meta({ description: 'What to do or check before confirming.' }),
  })
  .meta({ description: 'A check or an action someone confirms (yes/no, with a note).' });

const WaitStepSchema = z
  .strictObject({ ...stepBase, kind: z.literal('wait'), duration: PlanDurationSchema })
  .meta({ description: 'Waits (the system soaks); a stop ends the wait.' });

const DecisionOptionSchema = z.strictObject({
  label: TextSchema,
  // biome-ignore lint/suspicious/noThenProperty: the plan file's key (issue #18); a string, so never a thenable
  then: z.string().min(1).optional().meta({
    description:
      'Where this choice leads: a step id (of the same list), "rollback" (run the rollback plan and end) or "end"; default: the next step.',
  }),
});

const DecisionStepSchema = z
  .strictObject({
    ...stepBase,
    kind: z.literal('decision'),
    question: TextSchema,
    options: z.array(DecisionOptionSchema).min(2, { error: 'a decision needs at least 2 options' }).max(20),
  })
  .meta({ description: 'A decision point: the owner picks an option, which may jump, roll back or end.' });

export const GameDayStepSchema = z.discriminatedUnion(
  'kind',
  [ExperimentStepSchema, ManualStepSchema, WaitStepSchema, DecisionStepSchema],
  { error: 'expected a step kind: "experiment", "manual", "wait" or "decision"' },
);

const stepFields = { step: StepIdSchema.meta({ description: 'The experiment step whose run is measured.' }) };

const MeasureSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('recovery_time'), ...stepFields, max: PlanDurationSchema }).meta({
      description:
        "Met when the run recovered (journal faultline.recovery: the experiment needs runtime.recovery) within `max` of the faults' revert.",
    }),
    z
      .strictObject({
        kind: z.literal('error_rate'),
        ...stepFields,
        max: z
          .number()
          .min(0)
          .max(1)
          .meta({ description: 'The highest share of failed requests, 0..1 (0.01 = 1%).' }),
      })
      .meta({
        description: "Met when the run's load (faultline.load) failed at most `max` of its requests.",
      }),
    z
      .strictObject({
        kind: z.literal('verdict'),
        ...stepFields,
        equals: z
          .enum(['passed', 'deviated', 'failed', 'aborted', 'interrupted', 'refused'])
          .default('passed'),
      })
      .meta({ description: "Met when the run's verdict is `equals` (default passed: the hypothesis held)." }),
    z
      .strictObject({
        kind: z.literal('probe'),
        ...stepFields,
        probe: TextSchema.meta({ description: 'The steady-state probe (its name).' }),
        phase: z.enum(['before', 'after']).default('after'),
        field: z.string().min(1).optional().meta({
          description:
            "A dotted path into the probe's output (an http probe's `status`), default the whole output.",
        }),
        min: z.number().optional(),
        max: z.number().optional(),
        equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
      })
      .refine((m) => m.min !== undefined || m.max !== undefined || m.equals !== undefined, {
        error: 'a probe measure needs min, max or equals',
      })
      .meta({ description: "Compares a steady-state probe's value in the run's journal." }),
    z
      .strictObject({ kind: z.literal('manual') })
      .meta({ description: 'Judged by the participants at the end (met or not, with a note).' }),
  ],
  { error: 'expected a measure kind: "recovery_time", "error_rate", "verdict", "probe" or "manual"' },
);

const CriterionSchema = z.strictObject({
  id: StepIdSchema,
  description: TextSchema,
  measure: MeasureSchema,
});

const FollowUpSchema = z.union(
  [TextSchema, z.strictObject({ text: TextSchema, owner: z.string().min(1).optional() })],
  { error: 'expected a follow-up: its text, or { text, owner }' },
);

/**
 * A game-day plan.
 *
 * @example
 * const parsed = parsePlan(await readFile('gameday.yaml', 'utf8'), 'gameday.yaml');
 * if (!parsed.ok) for (const i of parsed.issues) console.error(formatIssue(i, 'gameday.yaml'));
 */
export const GameDayPlanSchema = z
  .strictObject({
    name: ObjectNameSchema.meta({ description: "The game day's name: letters, digits, ., _ or -." }),
    title: TextSchema,
    objective: TextSchema.meta({ description: 'What the game day is for.' }),
    hypothesis: TextSchema.meta({ description: 'What the team expects to hold.' }),
    participants: z.array(ParticipantSchema).min(1, { error: 'a game day needs at least one participant' }),
    steps: z.array(GameDayStepSchema).min(1, { error: 'a game day needs at least one step' }),
    success_criteria: z.array(CriterionSchema).default([]),
    rollback: z
      .strictObject({
        description: TextSchema.optional(),
        steps: z.array(GameDayStepSchema).default([]),
      })
      .optional()
      .meta({ description: 'Run after a stop, a failed step or a decision to roll back.' }),
    follow_ups: z
      .array(FollowUpSchema)
      .default([])
      .meta({ description: 'Follow-up actions known up front.' }),
  })
  .meta({ title: 'Faultline game-day plan' });

export type GameDayPlan = z.output<typeof GameDayPlanSchema>;
export type GameDayStep = GameDayPlan['steps'][number];
export type ExperimentStep = Extract<GameDayStep, { kind: 'experiment' }>;
export type ManualStep = Extract<GameDayStep, { kind: 'manual' }>;
export type WaitStep = Extract<GameDayStep, { kind: 'wait' }>;
export type DecisionStep = Extract<GameDayStep, { kind: 'decision' }>;
export type SuccessCriterion = GameDayPlan['success_criteria'][number];
export type Measure = SuccessCriterion['measure'];

export const GAMEDAY_SCHEMA_ID = 'https://faultline.dev/schemas/gameday-plan.schema.json';

/** The plan's JSON Schema (draft 2020-12), for editors and the docs. */
export function planJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(GameDayPlanSchema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return {
    $schema: $schema ?? 'https://json-schema.org/draft/2020-12/schema',
    $id: GAMEDAY_SCHEMA_ID,
    ...rest,
  };
}

type Path = (string | number)[];
interface RawIssue {
  path: Path;
  message: string;
}

/** The checks across fields: ids, owners, decision targets, criteria's steps. */
export function crossChecks(plan: GameDayPlan): RawIssue[] {
  const out: RawIssue[] = [];
  const names = new Set(plan.participants.map((p) => p.name));
  const seenNames = new Set<string>();
  plan.participants.forEach((p, i) => {
    if (seenNames.has(p.name))
      out.push({ path: ['participants', i, 'name'], message: `"${p.name}" is listed twice` });
    seenNames.add(p.name);
  });
  const roles = new Set<string>(plan.participants.map((p) => p.role));
  const lists: [string[], GameDayStep[]][] = [
    [['steps'], plan.steps],
    [['rollback', 'steps'], plan.rollback?.steps ?? []],
  ];
  const ids = new Map<string, GameDayStep>();
  for (const [base, steps] of lists) {
    steps.forEach((s, i) => {
      if (ids.has(s.id))
        out.push({
          path: [...base, i, 'id'],
          message: `step id "${s.id}" is used twice (ids are unique across steps and rollback steps)`,
        });
      else ids.set(s.id, s);
      if (s.owner !== undefined && !names.has(s.owner) && !roles.has(s.owner)) {
        const isRole = (PARTICIPANT_ROLES as readonly string[]).includes(s.owner);
        out.push({
          path: [...base, i, 'owner'],
          message: isRole
            ? `no participant has the role "${s.owner}"`
            : `"${s.owner}" is neither a participant (${[...names].join(', ')}) nor a role (${PARTICIPANT_ROLES.join(', ')})`,
        });
      }
    });
  }
  for (const [base, steps] of lists) {
    const local = new Set(steps.map((s) => s.id));
    const inRollback = base.length > 1;
    steps.forEach((s, i) => {
      if (s.kind !== 'decision') return;
      s.options.forEach((o, j) => {
        const path = [...base, i, 'options', j, 'then'];
        if (o.then === undefined || o.then === 'end') return;
        if (o.then === 'rollback') {
          if (inRollback)
            out.push({
              path,
              message: 'a rollback step cannot lead to "rollback" (the rollback plan is already running)',
            });
        } else if (!local.has(o.then)) {
          out.push({
            path,
            message: `"${o.then}" is not one of the ${inRollback ? 'rollback steps' : 'steps'} (expected one of their ids, "rollback" or "end")`,
          });
        }
      });
    });
  }
  const critIds = new Set<string>();
  plan.success_criteria.forEach((c, i) => {
    if (critIds.has(c.id))
      out.push({ path: ['success_criteria', i, 'id'], message: `criterion id "${c.id}" is used twice` });
    critIds.add(c.id);
    if (c.measure.kind === 'manual') return;
    const step = ids.get(c.measure.step);
    if (!step)
      out.push({
        path: ['success_criteria', i, 'measure', 'step'],
        message: `no step has the id "${c.measure.step}"`,
      });
    else if (step.kind !== 'experiment')
      out.push({
        path: ['success_criteria', i, 'measure', 'step'],
        message: `step "${step.id}" is a ${step.kind} step; a ${c.measure.kind} criterion measures an experiment step's run`,
      });
  });
  plan.follow_ups.forEach((f, i) => {
    if (typeof f === 'object' && f.owner !== undefined && !names.has(f.owner) && !roles.has(f.owner))
      out.push({
        path: ['follow_ups', i, 'owner'],
        message: `"${f.owner}" is neither a participant nor a role of this plan`,
      });
  });
  return out;
}

/**
 * The schema's issues and the cross-checks' as experiments word and position theirs (documentIssues).
 * Unknown keys are errors here (a plan has no extension points), named at the key itself.
 */
function planIssues(
  raw: unknown,
  positionOf: PositionOf,
  error: z.ZodError | undefined,
  extra: RawIssue[],
): Issue[] {
  const unknown: RawIssue[] = [];
  const rest: z.core.$ZodIssue[] = [];
  for (const i of error?.issues ?? []) {
    if (i.code !== 'unrecognized_keys') rest.push(i);
    else
      for (const key of i.keys)
        unknown.push({
          path: [...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), key],
          message: 'unknown key (not part of the game-day plan format)',
        });
  }
  return documentIssues(raw, positionOf, rest.length > 0 ? new z.ZodError(rest) : undefined, [
    ...unknown,
    ...extra,
  ]);
}

/** Validates an already parsed plan (a server body), issues without positions unless `positionOf` is given. */
export function validatePlan(
  raw: unknown,
  positionOf: PositionOf = () => undefined,
): { ok: true; plan: GameDayPlan } | { ok: false; issues: Issue[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return {
      ok: false,
      issues: planIssues(raw, positionOf, undefined, [
        { path: [], message: 'expected an object (the game-day plan) at the top level' },
      ]),
    };
  }
  const parsed = GameDayPlanSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, issues: planIssues(raw, positionOf, parsed.error, []) };
  const cross = crossChecks(parsed.data);
  if (cross.length > 0) return { ok: false, issues: planIssues(raw, positionOf, undefined, cross) };
  return { ok: true, plan: parsed.data };
}

/** What parsePlanDocument gives: the plan and where each of its values is written (for later issues). */
export type ParsedPlanDocument =
  | { ok: true; plan: GameDayPlan; positionOf: PositionOf }
  | { ok: false; issues: Issue[] };

/** Like parsePlan, with the document's positions kept for checks made afterwards (experiment files). */
export function parsePlanDocument(text: string, label: string): ParsedPlanDocument {
  const format: TextFormat = /^\s*\{/.test(text) ? 'json' : 'yaml';
  let value: unknown;
  let positionOf: PositionOf;
  try {
    ({ value, positionOf } = parseText(text, format, label));
  } catch (err) {
    if (err instanceof FaultlineError) return { ok: false, issues: [...err.issues] };
    throw err;
  }
  const r = validatePlan(value, positionOf);
  return r.ok ? { ...r, positionOf } : r;
}

/**
 * Parses YAML or JSON text (JSON when it starts with `{`), then validates it. Parse errors come back as
 * issues with their line and column, never thrown.
 *
 * @example
 * const r = parsePlan('name: x\n...', 'gameday.yaml');
 * if (!r.ok) r.issues.forEach((i) => console.error(formatIssue(i, 'gameday.yaml')));
 */
export function parsePlan(
  text: string,
  label: string,
): { ok: true; plan: GameDayPlan } | { ok: false; issues: Issue[] } {
  const r = parsePlanDocument(text, label);
  return r.ok ? { ok: true, plan: r.plan } : r;
}

/** The participants an owner names: the one so named, else everyone in that role (none: an unknown owner). */
export function participantsFor(plan: GameDayPlan, owner: string | undefined): string[] {
  if (owner === undefined) return [];
  const named = plan.participants.filter((p) => p.name === owner);
  return (named.length > 0 ? named : plan.participants.filter((p) => p.role === owner)).map((p) => p.name);
}
