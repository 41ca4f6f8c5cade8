/**
 * SCAFFOLD (issue #18, being written): the schedules contract: zod schemas and the ScheduleStore interface.
 * Imports zod, ../names.js and ../../core/ only (store.ts imports this file).
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by the schedules work
export interface ScheduleStore {}
