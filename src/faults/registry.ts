/** The fault-kind registry: recovery finds how to revert a ledger entry by its `kind` name. */
import { Registry } from '../core/registry.js';
import type { FaultKind } from './types.js';

export const faultKinds = new Registry<FaultKind>('fault kind');

/** Registers a kind under its `kind` name; built-in kinds are registered in faults/index.ts. */
export function registerFaultKind(kind: FaultKind): void {
  faultKinds.register(kind.kind, kind);
}

/**
 * The registry with the built-in kinds loaded, whichever module the caller
 * imported first (a static import of index.ts from here would be a cycle).
 */
export async function loadFaultKinds(): Promise<typeof faultKinds> {
  await import('./index.js');
  return faultKinds;
}
