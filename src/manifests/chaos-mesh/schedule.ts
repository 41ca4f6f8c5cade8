/**
 * Chaos Mesh's schedules: the `Schedule` kind (schedule, concurrencyPolicy,
 * historyLimit, startingDeadlineSeconds, type + the embedded chaos) and the
 * 1.x `spec.scheduler.cron`, as a ScheduleSuggestion (a server schedule;
 * `faultline run` runs the chaos once). The cron is checked with the
 * scheduler's own parser (5 or 6 fields, @hourly, @every 10m).
 */
import { CronTimingSchema } from '../../schedule/index.js';
import { join, type Notes, record, string } from '../notes.js';
import type { ScheduleSuggestion } from '../types.js';
import { at, type Ctx, int, type Piece } from './common.js';

/** The embedded chaos of each `type` (Chaos Mesh's EmbedChaos keys). */
export type Embedded = (ctx: Ctx, spec: Record<string, unknown>) => Piece;

export const SCHEDULE_FIELDS = [
  'schedule',
  'startingDeadlineSeconds',
  'concurrencyPolicy',
  'historyLimit',
  'type',
];

/** A cron as the server's scheduler reads it, or undefined with a refused note. */
export function cronTiming(notes: Notes, v: unknown, path: string): ScheduleSuggestion['timing'] | undefined {
  const cron = string(notes, v, path);
  if (cron === undefined) {
    notes.refused(path, 'expected a cron such as "@every 10m" or "*/5 * * * *"');
    return undefined;
  }
  const parsed = CronTimingSchema.safeParse({ cron });
  if (!parsed.success) {
    notes.refused(
      path,
      `expected a cron such as "@every 10m" or "*/5 * * * *": ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
    return undefined;
  }
  notes.mapped(
    path,
    'schedule.timing.cron',
    "a server schedule (faultline run runs it once); read in UTC, as Chaos Mesh's controller usually runs",
  );
  return parsed.data;
}

/**
 * A Schedule's spec (the kind's, or a workflow template's `schedule`): the
 * suggestion and the embedded chaos translated once.
 */
export function scheduleSpec(
  ctx: Ctx,
  spec: Record<string, unknown>,
  embedded: Record<string, { kind: string; translate: Embedded }>,
): { piece: Piece; schedule?: ScheduleSuggestion } {
  const { notes } = ctx;
  notes.rest(
    spec,
    ctx.path,
    [...SCHEDULE_FIELDS, ...Object.keys(embedded), ...OTHER_EMBEDS],
    'Chaos Mesh Schedule',
  );
  const timing = cronTiming(notes, spec.schedule, at(ctx, 'schedule'));
  const out: Partial<ScheduleSuggestion> = { from: at(ctx, 'schedule') };
  const cp = string(notes, spec.concurrencyPolicy, at(ctx, 'concurrencyPolicy'));
  if (cp === 'Forbid' || cp === 'Allow') {
    out.concurrencyPolicy = cp === 'Forbid' ? 'forbid' : 'allow';
    notes.mapped(at(ctx, 'concurrencyPolicy'), 'schedule.concurrencyPolicy');
  } else if (cp !== undefined)
    notes.refused(at(ctx, 'concurrencyPolicy'), `expected Forbid or Allow, got ${JSON.stringify(cp)}`);
  const hl = int(notes, spec.historyLimit, at(ctx, 'historyLimit'), 1, 10_000);
  if (hl !== undefined) {
    out.historyLimit = hl;
    notes.mapped(
      at(ctx, 'historyLimit'),
      'schedule.historyLimit',
      "the firings' records kept (the runs stay in history)",
    );
  }
  const sd = int(notes, spec.startingDeadlineSeconds, at(ctx, 'startingDeadlineSeconds'), 1, 31_536_000);
  if (sd !== undefined) {
    out.startingDeadline = `${sd}s`;
    notes.mapped(at(ctx, 'startingDeadlineSeconds'), 'schedule.startingDeadline');
  }
  const typePath = at(ctx, 'type');
  const type = string(notes, spec.type, typePath);
  const entry = Object.entries(embedded).find(([, e]) => e.kind === type);
  let piece: Piece = { timeline: [], span: 0 };
  if (!entry) {
    notes.refused(
      typePath,
      type === undefined
        ? `expected the type of the scheduled chaos: ${Object.values(embedded)
            .map((e) => e.kind)
            .join(', ')}`
        : `expected one of ${Object.values(embedded)
            .map((e) => e.kind)
            .join(', ')}, got ${JSON.stringify(type)}`,
    );
  } else {
    const [key, e] = entry;
    notes.mapped(typePath, 'method', `the ${key} below, translated once`);
    const inner = record(notes, spec[key], at(ctx, key));
    if (!inner) notes.refused(at(ctx, key), `type ${type} needs ${key}`);
    else piece = e.translate({ ...ctx, path: join(ctx.path, key) }, inner);
    for (const other of Object.keys(embedded)) {
      if (other !== key && spec[other] !== undefined)
        notes.ignored(at(ctx, other), `type is ${type}: Chaos Mesh reads ${key} only`);
    }
  }
  return { piece, ...(timing ? { schedule: { ...out, timing } as ScheduleSuggestion } : {}) };
}

/** Chaos Mesh kinds a Schedule or Workflow may embed that Faultline does not translate (refused by `type`). */
export const OTHER_EMBEDS = [
  'awsChaos',
  'azureChaos',
  'blockChaos',
  'gcpChaos',
  'ioChaos',
  'jvmChaos',
  'kernelChaos',
  'physicalmachineChaos',
  'timeChaos',
  'cloudstackvmChaos',
];
