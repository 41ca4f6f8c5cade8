/**
 * What every Chaos Mesh kind's translator shares: where its notes go (the
 * spec's path, which differs for a chaos embedded in a Schedule or a Workflow),
 * the namespace its selectors default to (Chaos Mesh's webhook fills an empty
 * `selector.namespaces` with the object's own namespace), readers of the
 * values Chaos Mesh writes, and a translated piece as a timeline: activities at
 * offsets (seconds) and the span the piece lasts, so Serial and Parallel
 * workflow steps compose by shifting and merging.
 */
import type { Activity } from '../../core/schema.js';
import { describe, goDurationMs, join, type Notes, percent, string } from '../notes.js';

/** How long a fault action lasts without a `duration` (src/activities/faults.ts DEFAULT_FAULT_DURATION_S; a test checks they agree). */
export const DEFAULT_DURATION_S = 600;

export interface Ctx {
  notes: Notes;
  /** The spec's path: `spec`, `spec.podChaos`, `spec.templates[2].networkChaos`. */
  path: string;
  /** metadata.namespace, else `default`: what an empty `selector.namespaces` means. */
  namespace: string;
  /** For activity names: the object's (or the workflow template's) name. */
  name: string;
  /** A workflow template's deadline (seconds): bounds the chaos when it has no duration, or a longer one. */
  deadline?: number | undefined;
}

export const at = (ctx: Ctx, key: string | number) => join(ctx.path, key);

/** An activity at `at` seconds from the start of its piece. */
export interface Timed {
  at: number;
  activity: Activity;
}

/** A translated piece: its activities in time, the seconds it lasts, and what checks it throughout. */
export interface Piece {
  timeline: Timed[];
  span: number;
  safeguards?: Activity[];
  hypothesis?: Activity[];
}

export const emptyPiece = (): Piece => ({ timeline: [], span: 0 });

export { faultAction } from '../activity.js';

/** Go duration in milliseconds (0 allowed), or undefined with a refused note naming `path`. */
export function goMillis(notes: Notes, v: unknown, path: string, example = '100ms'): number | undefined {
  const s = string(notes, v, path);
  if (s === undefined) return undefined;
  const ms = goDurationMs(s);
  if (ms === undefined || !Number.isFinite(ms)) {
    notes.refused(path, `expected a duration such as ${example}, 30s or 1m30s, got ${JSON.stringify(s)}`);
    return undefined;
  }
  return ms;
}

/** Go duration in seconds, above 0, or undefined with a refused note. */
export function goSecondsOf(notes: Notes, v: unknown, path: string): number | undefined {
  const ms = goMillis(notes, v, path, '30s');
  if (ms === undefined) return undefined;
  if (ms <= 0) {
    notes.refused(path, `expected a duration above 0, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return ms / 1000;
}

/** Chaos Mesh's FloatStr percentages (`"25"`, `25`, `"12.5"`), 0 to 100. */
export const pct = (notes: Notes, v: unknown, path: string) => percent(notes, v, path, 0, 100);

/** A whole number (Chaos Mesh's int fields), or undefined with a refused note. */
export function int(notes: Notes, v: unknown, path: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    notes.refused(path, `expected a whole number from ${min} to ${max}, got ${describe(v)}`);
    return undefined;
  }
  return n;
}

/**
 * The chaos's `duration` (bounded by a workflow deadline): seconds the fault
 * lasts, noted. `instant` kinds (pod-kill, container-kill) act once: their
 * duration is how long the experiment then watches.
 */
export function duration(ctx: Ctx, spec: Record<string, unknown>, instant = false): number {
  const path = at(ctx, 'duration');
  const given = spec.duration === undefined ? undefined : goSecondsOf(ctx.notes, spec.duration, path);
  const bounded =
    ctx.deadline !== undefined && (given === undefined || ctx.deadline < given) ? ctx.deadline : given;
  if (instant) {
    if (spec.duration !== undefined && given !== undefined)
      ctx.notes.mapped(
        path,
        'hold',
        'a kill happens once at the start; the experiment then waits this long, as the Chaos Mesh object lives',
      );
    return bounded ?? 0;
  }
  if (spec.duration !== undefined && given !== undefined) {
    ctx.notes.mapped(
      path,
      'arguments.duration',
      bounded !== given ? `cut to the workflow template's deadline (${bounded} s)` : undefined,
    );
  } else if (spec.duration === undefined && bounded === undefined) {
    ctx.notes.mapped(
      path,
      'arguments.duration',
      `absent: Chaos Mesh keeps the fault until the object is deleted; Faultline gives it ${DEFAULT_DURATION_S} s (the fault actions' default)`,
    );
  }
  return bounded ?? DEFAULT_DURATION_S;
}

/** `remoteCluster`: Chaos Mesh's multi-cluster; a fleet has no clusters. */
export function remoteCluster(ctx: Ctx, spec: Record<string, unknown>): void {
  if (spec.remoteCluster !== undefined && spec.remoteCluster !== '')
    ctx.notes.refused(
      at(ctx, 'remoteCluster'),
      'Faultline has no clusters: the fleet is every agent connected to one NATS (run against that fleet with --nats instead)',
    );
}

/** A name for activities: lowercase letters, digits and `-`. */
export const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'chaos';
