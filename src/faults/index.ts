/**
 * Faults as a library: the contract, the ledger, sessions and recovery, with
 * the composition root's catalog of built-in kinds and halt participants
 * supplied to callers that pass none (src/lib/faults.ts). The machinery itself
 * (session.ts, recovery.ts) receives them through its options and imports no kind.
 */
import { exposedAmong } from '../activities/faults.js';
import { faultKinds } from '../compose.js';
import type { FaultKind } from '../core/fault.js';

// No fault group is imported here: the catalog loads them from faults/groups.ts,
// the one list, when asked (exposedFaults() asks for all). Loading them at
// import would need a second list of static imports (a top-level await is
// refused by require() of the package).

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

/**
 * The exposed built-in (and registered) kinds, by `group.name` (what `faultline inject` takes),
 * every group loaded; in faults/groups.ts's order, then the registered kinds'.
 *
 * @example
 * const pause = (await exposedFaults()).get('process.pause');
 */
export async function exposedFaults(): Promise<Map<string, FaultKind>> {
  return exposedAmong(await faultKinds.all());
}
