/**
 * Names people use in URLs and on the command line, shared by the store's contract (store.ts) and the
 * features' own contracts (schedules/, approvals/, blackouts/, gamedays/), which store.ts imports: a
 * leaf, so neither imports the other's file.
 */
import { z } from 'zod';

/** An experiment's name. */
export const ExperimentNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
  error: 'expected 1-128 letters, digits, ., _ or -, starting with a letter or digit',
});

/** A schedule's, a blackout window's or a game day's name: the same rule as an experiment's. */
export const ObjectNameSchema = ExperimentNameSchema;
