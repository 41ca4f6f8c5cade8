/**
 * Query-string fields several routes share. A leaf (zod only), so the features' contracts
 * (approvals/model.ts, gamedays/routes.ts) and api-schemas.ts use the same rule and message.
 */
import { z } from 'zod';

/** A page size in a query string: a whole number from 1 to `max`, as text (`?limit=50`). */
export const pageLimit = (max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,6}$/, { error: `expected a number 1-${max}` })
    .refine((s) => Number(s) >= 1 && Number(s) <= max, { error: `expected a number 1-${max}` });
