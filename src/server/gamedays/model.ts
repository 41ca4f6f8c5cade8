/**
 * Game days on the control plane (issue #18): the stored shapes and the API's, as zod schemas (the
 * types, the validation and the OpenAPI document from one source), and the GameDayStore the database
 * implements (db/gameday-store.ts). A game day is one run of a plan (src/gameday/plan.ts validates the
 * plan itself): its status, who started it and on which server, the timeline as events appended while
 * it happens (the scribe's notes among them), the last state of its session (the step in progress,
 * who it waits for, the runs its steps started, the success criteria's verdicts), and the follow-up
 * actions it leaves, which stay open across game days until someone closes them (the Remediate step).
 *
 * Imports zod, ../names.js and src/gameday/types.ts (the timeline's event types, which import nothing
 * but a type) only: store.ts imports this file, and the dashboard imports store.ts's types, so nothing
 * here may reach Node or the engine.
 */
import { z } from 'zod';
import { TIMELINE_EVENT_TYPES } from '../../gameday/types.js';
import { ObjectNameSchema } from '../names.js';

/** As the session (src/gameday/session.ts GameDayState) names them; the last three are ends. */
export const GAMEDAY_STATUSES = [
  'pending',
  'running',
  'stopping',
  'rolling-back',
  'finished',
  'stopped',
  'failed',
] as const;
export const GameDayStatusSchema = z.enum(GAMEDAY_STATUSES);
export type GameDayStatus = z.infer<typeof GameDayStatusSchema>;
export const ENDED_STATUSES: readonly GameDayStatus[] = ['finished', 'stopped', 'failed'];
export const isEnded = (s: GameDayStatus) => ENDED_STATUSES.includes(s);

export { TIMELINE_EVENT_TYPES };

/**
 * One entry of a game day's timeline. `seq` is the store's (1, 2, ... per game day, in the order
 * they were recorded): the live stream's event ids, and what a note added after the end continues.
 */
export const TimelineEventSchema = z.object({
  seq: z.number().int().positive(),
  at: z.string(),
  type: z.enum(TIMELINE_EVENT_TYPES),
  /** The step's id. */
  step: z.string().optional(),
  /** Who: a participant or the user (the API's actor) who confirmed, decided, noted or stopped. */
  by: z.string().optional(),
  /** A note, a decision's choice, a reason. */
  text: z.string().optional(),
  /** The run's id, a verdict, a measurement... */
  data: z.record(z.string(), z.unknown()).optional(),
});
export type TimelineEvent = z.infer<typeof TimelineEventSchema>;
export type NewTimelineEvent = Omit<TimelineEvent, 'seq'>;

export const CriterionResultSchema = z.object({
  id: z.string(),
  description: z.string(),
  verdict: z.enum(['met', 'not-met', 'unknown', 'manual']),
  measured: z.string().optional(),
  detail: z.string().optional(),
});
export type CriterionResult = z.infer<typeof CriterionResultSchema>;

export const WaitingForSchema = z.object({
  step: z.string(),
  kind: z.enum(['confirm', 'decision']),
  /** The step's owner role. */
  owner: z.string().optional(),
});

/** A run a step started: its journal is the run's (GET /api/runs/{id}). */
export const StepRunSchema = z.object({
  step: z.string(),
  runId: z.string().optional(),
  verdict: z.string().optional(),
});

/** What the session last said, kept so a reload (or another server) shows where the game day stands. */
export const GameDaySnapshotSchema = z.object({
  current: z.string().optional(),
  waitingFor: WaitingForSchema.optional(),
  runs: z.array(StepRunSchema),
  criteria: z.array(CriterionResultSchema),
});
export type GameDaySnapshot = z.infer<typeof GameDaySnapshotSchema>;

export const emptySnapshot = (): GameDaySnapshot => ({ runs: [], criteria: [] });

/** A game day in lists. */
export const GameDaySummarySchema = z.object({
  id: z.string().uuid(),
  /** The plan's name. */
  name: ObjectNameSchema,
  title: z.string(),
  status: GameDayStatusSchema,
  createdBy: z.string(),
  createdAt: z.string(),
  startedBy: z.string().optional(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  /** Why it stopped or failed, in words. */
  reason: z.string().optional(),
  /** The server running it (its session lives in that server's process). */
  server: z.string().optional(),
});
export type GameDaySummary = z.infer<typeof GameDaySummarySchema>;

/** A game day as stored: the summary, the plan (as given, and as validated JSON) and the last snapshot. */
export interface StoredGameDay extends GameDaySummary {
  source: string;
  plan: Record<string, unknown>;
  snapshot: GameDaySnapshot;
}

export const FOLLOW_UP_STATES = ['open', 'closed'] as const;

/** A follow-up action: open until someone closes it, whatever game day it came from. */
export const FollowUpSchema = z.object({
  id: z.string().uuid(),
  /** The game day it came from. */
  gameday: z.string().uuid(),
  /** That game day's name and title, for lists across game days. */
  gamedayName: z.string().optional(),
  gamedayTitle: z.string().optional(),
  text: z.string(),
  owner: z.string().optional(),
  state: z.enum(FOLLOW_UP_STATES),
  createdBy: z.string(),
  createdAt: z.string(),
  closedBy: z.string().optional(),
  closedAt: z.string().optional(),
  /** What was done, in words, when it was closed. */
  closeNote: z.string().optional(),
});
export type FollowUp = z.infer<typeof FollowUpSchema>;

export interface NewGameDay {
  name: string;
  title: string;
  source: string;
  plan: Record<string, unknown>;
  createdBy: string;
}

export interface NewFollowUp {
  gameday: string;
  text: string;
  owner?: string;
  createdBy: string;
}

export interface GameDayUpdate {
  status?: GameDayStatus;
  snapshot?: GameDaySnapshot;
  endedAt?: string;
  reason?: string;
}

/**
 * The game days' storage. Every method may throw FAULTLINE_ERR_STORE (the database is unreachable or
 * refused the statement).
 */
export interface GameDayStore {
  create(g: NewGameDay): Promise<StoredGameDay>;
  get(id: string): Promise<StoredGameDay | undefined>;
  /** Newest first, at most `limit` (default 100, at most 500). */
  list(filter?: { status?: GameDayStatus; limit?: number }): Promise<GameDaySummary[]>;
  /**
   * Marks a pending game day running on `server` (atomically: two requests, or two servers, never both
   * start it); undefined when it is not pending.
   */
  claim(id: string, start: { by: string; server: string; at: string }): Promise<StoredGameDay | undefined>;
  update(id: string, update: GameDayUpdate): Promise<void>;
  /**
   * Records a game day's end and the follow-ups it opens in one transaction, so that no reader sees
   * it ended without them.
   */
  end(
    id: string,
    update: GameDayUpdate,
    followUps: readonly Omit<NewFollowUp, 'gameday'>[],
  ): Promise<FollowUp[]>;
  /** Appends to the timeline; each event gets the next seq of its game day. */
  appendEvents(id: string, events: readonly NewTimelineEvent[]): Promise<TimelineEvent[]>;
  /** The timeline in order (after `afterSeq` when given). */
  timeline(id: string, afterSeq?: number): Promise<TimelineEvent[]>;
  /**
   * Game days `server` was running when it stopped (killed mid-game-day): marked failed with `reason`
   * and an event saying so; returns their ids.
   */
  abandonOf(server: string, reason: string, at: string): Promise<string[]>;

  createFollowUp(f: NewFollowUp): Promise<FollowUp>;
  /** Newest first; `state` default every state. */
  listFollowUps(filter?: {
    state?: FollowUp['state'];
    gameday?: string;
    limit?: number;
  }): Promise<FollowUp[]>;
  getFollowUp(id: string): Promise<FollowUp | undefined>;
  /** Closes an open follow-up; an already closed one is returned unchanged (`changed` false). */
  closeFollowUp(
    id: string,
    close: { by: string; at: string; note?: string },
  ): Promise<{ followUp: FollowUp; changed: boolean } | undefined>;
}
