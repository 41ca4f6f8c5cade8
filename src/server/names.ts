/**
 * Names people use in URLs and on the command line, shared by the store's contract (store.ts) and the
 * features' own contracts (schedules/, approvals/, blackouts/, gamedays/), which store.ts imports: a
 * leaf, so neither imports the other's file. The rule itself is core/names.ts's.
 */
import { ObjectNameSchema } from '../core/names.js';

export { ObjectNameSchema };

/** An experiment's name. */
export const ExperimentNameSchema = ObjectNameSchema;
