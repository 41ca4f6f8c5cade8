/**
 * The shapes a game day records (its timeline, its runs, its criteria's verdicts), apart from the session so
 * that the criteria and the report read them without importing the session that produces them.
 */
import type { Journal } from '../core/journal.js';

export const TIMELINE_EVENT_TYPES = [
  'gameday.started',
  'step.started',
  'step.finished',
  'step.confirmed',
  'decision',
  'note',
  'run.started',
  'run.ended',
  'stop.requested',
  'rollback.started',
  'rollback.finished',
  'criterion',
  'gameday.ended',
] as const;
export type TimelineEventType = (typeof TIMELINE_EVENT_TYPES)[number];

export interface TimelineEvent {
  seq: number;
  /** ISO-8601. */
  at: string;
  type: TimelineEventType;
  /** The step id. */
  step?: string;
  /** Who: a participant or user name (a step's owner when it starts). */
  by?: string;
  /** A note, a decision's choice, a reason. */
  text?: string;
  /** runId, verdict, measurements, a step's outcome... */
  data?: Record<string, unknown>;
}

/** An experiment step's run. */
export interface StepRun {
  step: string;
  runId?: string;
  journal: Journal;
  /** Where the run can be seen: the journal's file (CLI), the run's page (server). */
  link?: string;
}

export interface CriterionResult {
  id: string;
  description: string;
  verdict: 'met' | 'not-met' | 'unknown' | 'manual';
  /** What was measured, as people read it: `42 s`, `0.8%`, `passed`. */
  measured?: string;
  /** Why (the bound, where the value came from, who judged it). */
  detail?: string;
}
