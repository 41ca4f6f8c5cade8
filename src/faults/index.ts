/**
 * Faults: the contract, the ledger, sessions and recovery, and the one place
 * built-in fault kinds are registered (one line each).
 */
import { markerKind } from './marker.js';
import { networkKinds } from './network/index.js';
import { postgresKinds } from './postgres/index.js';
import { processKinds } from './process/index.js';
import { proxyDownKind, proxyToxicKind } from './proxy.js';
import { redisKinds } from './redis/index.js';
import { registerFaultKind } from './registry.js';
import { sdkKinds } from './sdk/index.js';
import { stressKinds } from './stress/index.js';

registerFaultKind(markerKind);
registerFaultKind(proxyToxicKind);
registerFaultKind(proxyDownKind);
for (const group of [networkKinds, processKinds, stressKinds, postgresKinds, redisKinds, sdkKinds]) {
  for (const kind of group) registerFaultKind(kind);
}

export type * from '../core/fault.js';
export * from './home.js';
export * from './ledger.js';
export * from './marker.js';
export * from './proxy.js';
export * from './recovery.js';
export * from './registry.js';
export * from './session.js';
