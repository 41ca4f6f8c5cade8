/**
 * Transitional: the journal's shapes moved to core/journal.ts (pure shapes sit
 * in the lowest layer). Kept only until cli/observers.ts, which another change
 * has open, imports core/journal.ts; then this file goes.
 */
export * from '../core/journal.js';
