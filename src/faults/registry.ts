/** The fault-kind registry: recovery finds how to revert a ledger entry by its `kind` name. */

import type { FaultKind } from '../core/fault.js';
import { Registry } from '../core/registry.js';

export const faultKinds = new Registry<FaultKind>('fault kind');

/**
 * Registers a kind under its `kind` name; built-in kinds are registered in
 * faults/index.ts. Registering the same object again is a no-op (the lazy
 * loader below and index.ts may both reach a kind).
 */
export function registerFaultKind(kind: FaultKind): void {
  if (faultKinds.get(kind.kind) === kind) return;
  faultKinds.register(kind.kind, kind);
}

type KindLoader = () => Promise<readonly FaultKind[]>;

/**
 * Where the built-in kinds live, by the group their name starts with
 * (`network-loss` -> network). A halt or a recovery loads only the groups its
 * ledger holds: loading all of them (the PostgreSQL driver among them) would
 * cost the emergency stop a few hundred milliseconds.
 */
const GROUP_LOADERS: Record<string, KindLoader> = {
  network: async () => (await import('./network/index.js')).networkKinds,
  process: async () => (await import('./process/index.js')).processKinds,
  stress: async () => (await import('./stress/index.js')).stressKinds,
  postgres: async () => (await import('./postgres/index.js')).postgresKinds,
  redis: async () => (await import('./redis/index.js')).redisKinds,
  sdk: async () => (await import('./sdk/index.js')).sdkKinds,
};
const CORE_LOADER: KindLoader = async () => {
  const [marker, proxy] = await Promise.all([import('./marker.js'), import('./proxy.js')]);
  return [marker.markerKind, proxy.proxyToxicKind, proxy.proxyDownKind];
};

/** The registry with (at least) the kinds named loaded; unknown names are simply not found. */
export async function loadFaultKindsFor(names: Iterable<string>): Promise<typeof faultKinds> {
  const loaders = new Set<KindLoader>();
  for (const name of names) {
    if (!faultKinds.has(name)) loaders.add(GROUP_LOADERS[name.split('-')[0] ?? ''] ?? CORE_LOADER);
  }
  for (const kinds of await Promise.all([...loaders].map((load) => load()))) {
    for (const kind of kinds) registerFaultKind(kind);
  }
  return faultKinds;
}

/**
 * The registry with the built-in kinds loaded, whichever module the caller
 * imported first (a static import of index.ts from here would be a cycle).
 */
export async function loadFaultKinds(): Promise<typeof faultKinds> {
  await import('./index.js');
  return faultKinds;
}
