/**
 * A game day as the API shows it (GET /api/gamedays/{id}, the live stream's frames): the stored game
 * day, its timeline and follow-ups, and the plan's steps with where each stands, worked out from the
 * timeline (started, waiting for someone, its outcome) and who is on it (the participants its owner
 * names: a name, or everyone in a role). The dashboard draws this as it is.
 */
import { z } from 'zod';
import {
  CriterionResultSchema,
  FollowUpSchema,
  GameDaySummarySchema,
  StepRunSchema,
  type StoredGameDay,
  type TimelineEvent,
  TimelineEventSchema,
  WaitingForSchema,
} from './model.js';

export const STEP_STATES = [
  'pending',
  'running',
  'waiting',
  'ok',
  'deviated',
  'failed',
  'interrupted',
] as const;

export const StepViewSchema = z.object({
  id: z.string(),
  kind: z.enum(['experiment', 'manual', 'wait', 'decision']),
  /** In the timeline, or in the rollback plan. */
  phase: z.enum(['timeline', 'rollback']),
  title: z.string().optional(),
  /** The owner as the plan says it (a participant's name or a role). */
  owner: z.string().optional(),
  /** The participants that owner names. */
  people: z.array(z.string()),
  state: z.enum(STEP_STATES),
  /** Why it failed, was interrupted or skipped. */
  reason: z.string().optional(),
  /** The last run this step started. */
  runId: z.string().optional(),
  experiment: z.string().optional(),
  version: z.number().int().optional(),
  instructions: z.string().optional(),
  duration: z.union([z.string(), z.number()]).optional(),
  question: z.string().optional(),
  options: z.array(z.string()).optional(),
});
export type StepView = z.infer<typeof StepViewSchema>;

export const ParticipantViewSchema = z.object({
  name: z.string(),
  role: z.string(),
  contact: z.string().optional(),
});

export const GameDayViewSchema = GameDaySummarySchema.extend({
  objective: z.string().optional(),
  hypothesis: z.string().optional(),
  /** The plan as it was given (YAML or JSON text). */
  source: z.string(),
  /** The plan as validated (defaults filled in). */
  plan: z.record(z.string(), z.unknown()),
  participants: z.array(ParticipantViewSchema),
  steps: z.array(StepViewSchema),
  current: z.string().optional(),
  waitingFor: WaitingForSchema.optional(),
  runs: z.array(StepRunSchema),
  criteria: z.array(CriterionResultSchema),
  timeline: z.array(TimelineEventSchema),
  followUps: z.array(FollowUpSchema),
});
export type GameDayView = z.infer<typeof GameDayViewSchema>;

type PlanStep = {
  id: string;
  kind: StepView['kind'];
  title?: string;
  owner?: string;
  experiment?: string;
  version?: number;
  instructions?: string;
  duration?: string | number;
  question?: string;
  options?: { label: string }[];
};
type PlanShape = {
  objective?: string;
  hypothesis?: string;
  participants?: { name: string; role: string; contact?: string }[];
  steps?: PlanStep[];
  rollback?: { steps?: PlanStep[] };
};

function stepState(
  id: string,
  timeline: readonly TimelineEvent[],
  waiting: string | undefined,
): Pick<StepView, 'state' | 'reason' | 'runId'> {
  let state: StepView['state'] = 'pending';
  let reason: string | undefined;
  let runId: string | undefined;
  for (const e of timeline) {
    if (e.step !== id) continue;
    if (e.type === 'step.started') {
      state = 'running';
      reason = undefined;
    } else if (e.type === 'step.finished') {
      const outcome = e.data?.outcome;
      state = STEP_STATES.includes(outcome as StepView['state']) ? (outcome as StepView['state']) : 'ok';
      reason = e.text;
    } else if (e.type === 'run.started' && typeof e.data?.runId === 'string') runId = e.data.runId;
  }
  if (state === 'running' && waiting === id) state = 'waiting';
  return { state, ...(reason !== undefined ? { reason } : {}), ...(runId !== undefined ? { runId } : {}) };
}

/** The API's game day from what the store holds. */
export function gameDayView(
  g: StoredGameDay,
  timeline: readonly TimelineEvent[],
  followUps: GameDayView['followUps'],
): GameDayView {
  const { snapshot, plan: raw, ...summary } = g;
  const plan = raw as PlanShape;
  const participants = plan.participants ?? [];
  const people = (owner: string | undefined) =>
    owner === undefined
      ? []
      : participants.filter((p) => p.name === owner || p.role === owner).map((p) => p.name);
  const steps = (list: PlanStep[] | undefined, phase: StepView['phase']): StepView[] =>
    (list ?? []).map((s) => ({
      id: s.id,
      kind: s.kind,
      phase,
      ...(s.title !== undefined ? { title: s.title } : {}),
      ...(s.owner !== undefined ? { owner: s.owner } : {}),
      people: people(s.owner),
      ...stepState(s.id, timeline, snapshot.waitingFor?.step),
      ...(s.experiment !== undefined ? { experiment: s.experiment } : {}),
      ...(s.version !== undefined ? { version: s.version } : {}),
      ...(s.instructions !== undefined ? { instructions: s.instructions } : {}),
      ...(s.duration !== undefined ? { duration: s.duration } : {}),
      ...(s.question !== undefined ? { question: s.question } : {}),
      ...(s.options ? { options: s.options.map((o) => o.label) } : {}),
    }));
  return {
    ...summary,
    ...(plan.objective !== undefined ? { objective: plan.objective } : {}),
    ...(plan.hypothesis !== undefined ? { hypothesis: plan.hypothesis } : {}),
    source: g.source,
    plan: raw,
    participants: participants.map((p) => ({
      name: p.name,
      role: p.role,
      ...(p.contact !== undefined ? { contact: p.contact } : {}),
    })),
    steps: [...steps(plan.steps, 'timeline'), ...steps(plan.rollback?.steps, 'rollback')],
    ...(snapshot.current !== undefined ? { current: snapshot.current } : {}),
    ...(snapshot.waitingFor !== undefined ? { waitingFor: snapshot.waitingFor } : {}),
    runs: snapshot.runs,
    criteria: snapshot.criteria,
    timeline: [...timeline],
    followUps,
  };
}
