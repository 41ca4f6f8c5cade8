/**
 * Faults: the contract, the ledger, sessions and recovery, and the one place
 * built-in fault kinds are registered (one line each).
 */
import { markerKind } from './marker.js';
import { proxyDownKind, proxyToxicKind } from './proxy.js';
import { registerFaultKind } from './registry.js';

registerFaultKind(markerKind);
registerFaultKind(proxyToxicKind);
registerFaultKind(proxyDownKind);

export * from './home.js';
export * from './ledger.js';
export * from './marker.js';
export * from './proxy.js';
export * from './recovery.js';
export * from './registry.js';
export * from './session.js';
export type * from './types.js';
