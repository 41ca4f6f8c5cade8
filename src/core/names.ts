/**
 * Names people use in URLs and on the command line: an experiment's on the control plane, a schedule's,
 * a blackout window's, a game day's (its plan file's `name`). In core so the game-day library and the
 * server share the one rule.
 */
import { z } from 'zod';

export const ObjectNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
  error: 'expected 1-128 letters, digits, ., _ or -, starting with a letter or digit',
});
