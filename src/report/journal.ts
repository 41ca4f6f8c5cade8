/**
 * Reading journals for reports: a minimal shape checked with zod (enough to
 * tell a journal from any other JSON), then normalised so reporters can rely
 * on the arrays and the `faultline` block being there. Chaos Toolkit's own
 * journals (no `faultline` key) are accepted too.
 */
import { z } from 'zod';
import type { Issue } from '../core/errors.js';
import type { Journal } from '../core/journal.js';

const ActivityRunSchema = z.looseObject({
  activity: z.looseObject({ name: z.string(), type: z.string().optional() }),
  status: z.string(),
  start: z.string().optional(),
  end: z.string().optional(),
  duration: z.number().optional(),
});

const SteadyStateSchema = z.looseObject({
  steady_state_met: z.boolean().nullable(),
  probes: z.array(ActivityRunSchema).default([]),
});

export const JournalShapeSchema = z.looseObject({
  experiment: z.looseObject({ title: z.string() }),
  start: z.string(),
  end: z.string().optional(),
  duration: z.number().optional(),
  status: z.enum(['completed', 'failed', 'aborted', 'interrupted']),
  deviated: z.boolean(),
  steady_states: z
    .looseObject({
      before: SteadyStateSchema.nullable().optional(),
      after: SteadyStateSchema.nullable().optional(),
      during: z.array(SteadyStateSchema).optional(),
    })
    .optional(),
  run: z.array(ActivityRunSchema),
  rollbacks: z.array(ActivityRunSchema).default([]),
  faultline: z
    .looseObject({
      run_id: z.string().optional(),
      faults: z
        .array(z.looseObject({ kind: z.string(), target: z.string(), injected_at: z.string() }))
        .optional(),
      unreverted: z.array(z.looseObject({})).optional(),
    })
    .optional(),
});

export type ParsedJournal = { ok: true; journal: Journal } | { ok: false; issues: Issue[] };

/** Checks that `raw` is a run journal and fills the optional parts reporters read. */
export function parseJournal(raw: unknown): ParsedJournal {
  const parsed = JournalShapeSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.slice(0, 5).map((i) => ({
        path: i.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
          .join('')
          .replace(/^\./, ''),
        message: i.message,
      })),
    };
  }
  const j = parsed.data as Record<string, any>;
  const ss = j.steady_states ?? {};
  const fl = j.faultline ?? {};
  const journal = {
    ...j,
    end: j.end ?? j.start,
    duration: j.duration ?? 0,
    steady_states: { before: ss.before ?? null, after: ss.after ?? null, during: ss.during ?? [] },
    faultline: {
      version: '',
      run_id: '',
      host: '',
      pid: 0,
      strategies: { hypothesis: 'default', rollbacks: 'default' },
      ...fl,
      faults: fl.faults ?? [],
      unreverted: fl.unreverted ?? [],
    },
  } as unknown as Journal;
  return { ok: true, journal };
}
