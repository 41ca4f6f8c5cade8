/**
 * The control plane's emergency stop (issue #17): one request halts
 * everything Faultline has injected, every run on every server on this
 * database and every fleet agent. The shapes are the API's (and the
 * dashboard's, type-only).
 */
import { z } from 'zod';

export const HaltStateSchema = z.object({
  halted: z.boolean(),
  since: z.string().optional(),
  by: z.string().optional(),
  reason: z.string().optional(),
});
export type HaltState = z.infer<typeof HaltStateSchema>;

/** POST /api/halt's body (strict: an unknown field is a 400 naming it). */
export const RaiseHaltSchema = z.strictObject({
  /** Why, in words: shown to everyone and kept in the audit log. */
  reason: z.string().trim().min(1).max(500),
});

/** What the emergency stop did on the server that was asked (the others follow within their poll). */
export const HaltResultSchema = HaltStateSchema.extend({
  /** Runs of this server interrupted (their faults reverted with them). */
  runsInterrupted: z.array(z.string()),
  /** Faults on this host reverted from the ledger (every run's, the CLI's too), and those that failed. */
  reverted: z.number().int(),
  failed: z.array(z.object({ id: z.string(), kind: z.string(), error: z.string() })),
  /** The fleet's halt, when the server has a fleet: agents that confirmed their faults reverted, and those that did not. */
  fleet: z
    .object({ verified: z.array(z.string()), unconfirmed: z.array(z.string()), error: z.string().optional() })
    .optional(),
});
export type HaltResult = z.infer<typeof HaltResultSchema>;
