/**
 * Blackout windows kept on the control plane (issue #18): the API's shapes (zod: validation, OpenAPI,
 * the dashboard's types) and the BlackoutStore contract. A window's own shape and its arithmetic are
 * the library's (schedule/blackout.ts), the same the settings file's `blackouts:` list uses, so a
 * window means one thing wherever it is written.
 * Imports zod, ../names.js, ../../core/ and ../../schedule/ only (store.ts imports this file).
 */
import { z } from 'zod';
import {
  type BlackoutWindow,
  BlackoutWindowFields,
  BlackoutWindowSchema,
  hasPeriod,
} from '../../schedule/blackout.js';

export { BlackoutWindowSchema };

/** PUT /api/blackouts/{name}: the window's fields, its name being the path's. */
export const BlackoutUpdateSchema = BlackoutWindowFields.omit({ name: true }).refine(
  hasPeriod.check,
  hasPeriod.params,
);
export type BlackoutUpdate = z.output<typeof BlackoutUpdateSchema>;

/** A window as the database keeps it: who created and last changed it, and when. */
export const StoredBlackoutSchema = BlackoutWindowFields.extend({
  createdAt: z.string(),
  createdBy: z.string(),
  updatedAt: z.string(),
  updatedBy: z.string(),
});
export type StoredBlackout = z.output<typeof StoredBlackoutSchema>;

/** The blackout in force (`GET /api/blackouts`'s `active`), as the watcher answers it. */
export const ActiveBlackoutSchema = z.object({
  name: z.string(),
  reason: z.string(),
  until: z.string().optional(),
});

/** One window in GET /api/blackouts: where it is written, whether it is in force, when it next opens. */
export const BlackoutListingSchema = BlackoutWindowFields.partial({ name: true }).extend({
  name: z.string(),
  /** `database`: made through the API; `settings`: the home's settings file (read-only here). */
  source: z.enum(['database', 'settings']),
  /** `window`: a named window; `outside`: the settings file's `time_windows`, in force outside them. */
  kind: z.enum(['window', 'outside']),
  /** In words, as refusals and stopped runs name it. */
  description: z.string(),
  /** The allowed windows, for the `outside` kind. */
  allowed: z
    .array(z.object({ days: z.array(z.string()), start: z.string(), end: z.string(), timezone: z.string() }))
    .optional(),
  inForce: z.boolean(),
  /** When it stops being in force (ISO 8601), if it is and that is known. */
  until: z.string().optional(),
  /** When it next opens (ISO 8601), if it does within the look-ahead (400 days). */
  nextOpening: z.string().optional(),
  createdAt: z.string().optional(),
  createdBy: z.string().optional(),
  updatedAt: z.string().optional(),
  updatedBy: z.string().optional(),
});
export type BlackoutListing = z.output<typeof BlackoutListingSchema>;

export const BlackoutListSchema = z.object({
  /** The blackout in force now, if any: nothing starts until it ends. */
  active: ActiveBlackoutSchema.nullable(),
  windows: z.array(BlackoutListingSchema),
  /** Settings-file windows could not be read (the file is invalid): why. */
  settingsError: z.string().optional(),
});
export type BlackoutList = z.output<typeof BlackoutListSchema>;

export interface BlackoutStore {
  /** Stores a new window; undefined when one of that name exists. */
  create(window: BlackoutWindow, by: string): Promise<StoredBlackout | undefined>;
  /** Every window, by name. */
  list(): Promise<StoredBlackout[]>;
  get(name: string): Promise<StoredBlackout | undefined>;
  /** Replaces a window's fields; undefined when there is none of that name. */
  update(name: string, fields: BlackoutUpdate, by: string): Promise<StoredBlackout | undefined>;
  /** Removes a window; false when there was none. */
  delete(name: string): Promise<boolean>;
}
