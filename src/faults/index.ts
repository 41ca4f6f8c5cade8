/**
 * Faults as a library: the contract, the ledger, sessions and recovery, with
 * the composition root's catalog of built-in kinds and halt participants
 * supplied to callers that pass none (src/lib/faults.ts). The machinery itself
 * (session.ts, recovery.ts) receives them through its options and imports no kind.
 */
import { exposedAmong } from '../activities/faults.js';
import { faultKinds } from '../compose.js';
import type { FaultKind } from '../core/fault.js';
import type { FaultGroupName } from './groups.js';
import { markerKind } from './marker.js';
import { networkKinds } from './network/index.js';
import { postgresKinds } from './postgres/index.js';
import { processKinds } from './process/index.js';
import { proxyDownKind, proxyToxicKind } from './proxy.js';
import { redisKinds } from './redis/index.js';
import { sdkKinds } from './sdk/index.js';
import { stressKinds } from './stress/index.js';

// This entry point answers at once what exists (exposedFaults(), the catalog a
// test or bench reads), so it loads every group of faults/groups.ts, by static
// imports: awaiting the catalog's loaders here would be a top-level await, and
// Node's require() of the package refuses a module graph with one. The type
// names every group of the list, so tsc refuses a group added there and not here.
// (The kinds without a group first: the registry's order, which listings follow, stays what it was.)
const everyGroup: Record<Exclude<FaultGroupName, undefined>, readonly FaultKind[]> & {
  ungrouped: readonly FaultKind[];
} = {
  ungrouped: [markerKind, proxyToxicKind, proxyDownKind],
  network: networkKinds,
  process: processKinds,
  stress: stressKinds,
  postgres: postgresKinds,
  redis: redisKinds,
  sdk: sdkKinds,
};
for (const group of Object.values(everyGroup)) for (const kind of group) faultKinds.register(kind);

export * from '../core/fault.js';
export {
  type HaltOptions,
  haltAll,
  type RecoverOptions,
  recoverOrphans,
  registerFaultKind,
} from '../lib/faults.js';
export { FaultSession, type FaultSessionOptions } from '../lib/session.js';
export * from './home.js';
export * from './ledger.js';
export * from './marker.js';
export * from './proxy.js';
export * from './recovery.js';
export * from './registry.js';
export * from './session.js';

/** The built-in (and registered) kinds, where recovery and sessions look them up by name. */
export { faultKinds };

/** The exposed built-in (and registered) kinds, by `group.name` (what `faultline inject` takes). */
export function exposedFaults(): Map<string, FaultKind> {
  return exposedAmong(faultKinds.registry.entries().map(([, kind]) => kind));
}
