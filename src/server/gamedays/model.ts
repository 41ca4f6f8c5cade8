/**
 * SCAFFOLD (issue #18, being written): the gamedays contract: zod schemas and the GameDayStore interface.
 * Imports zod, ../names.js and ../../core/ only (store.ts imports this file).
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by the gamedays work
export interface GameDayStore {}
