/**
 * SCAFFOLD (issue #18, being written): the blackouts contract: zod schemas and the BlackoutStore interface.
 * Imports zod, ../names.js and ../../core/ only (store.ts imports this file).
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by the blackouts work
export interface BlackoutStore {}
