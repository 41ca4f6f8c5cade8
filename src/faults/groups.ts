/**
 * The built-in fault groups: the one list of them. The catalog (src/compose.ts)
 * is built from it and loads a group only when a run, a ledger entry or a halt
 * names one of its kinds (`network-loss` -> network), so a halt never loads the
 * PostgreSQL driver for a network fault; faults/index.ts registers every group
 * at once for callers that ask synchronously (exposedFaults()), and tsc makes it
 * name every group listed here. Adding a group: its folder (an index.ts
 * exporting its kinds) and its line here.
 */
import type { FaultGroup } from './registry.js';

export const FAULT_GROUPS = [
  { group: 'network', load: async () => (await import('./network/index.js')).networkKinds },
  { group: 'process', load: async () => (await import('./process/index.js')).processKinds },
  { group: 'stress', load: async () => (await import('./stress/index.js')).stressKinds },
  { group: 'postgres', load: async () => (await import('./postgres/index.js')).postgresKinds },
  { group: 'redis', load: async () => (await import('./redis/index.js')).redisKinds },
  { group: 'sdk', load: async () => (await import('./sdk/index.js')).sdkKinds },
  // No group: marker-file, proxy-toxic and proxy-down name none, so any name no group claims loads these.
  {
    group: undefined,
    load: async () => {
      const [marker, proxy] = await Promise.all([import('./marker.js'), import('./proxy.js')]);
      return [marker.markerKind, proxy.proxyToxicKind, proxy.proxyDownKind];
    },
  },
] as const satisfies readonly FaultGroup[];

/** The groups' names (`network`, ...), and `undefined` for the kinds without one. */
export type FaultGroupName = (typeof FAULT_GROUPS)[number]['group'];
