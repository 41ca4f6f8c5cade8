/** The postgres fault kinds, one file each; faults/index.ts registers them. */
import type { FaultKind } from '../types.js';

// biome-ignore lint/suspicious/noExplicitAny: kinds have differing argument schemas
export const postgresKinds: FaultKind<any>[] = [];
