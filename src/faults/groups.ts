/**
 * The built-in fault groups: the one list of them. The catalog (src/compose.ts)
 * is built from it and loads a group only when a run, a ledger entry or a halt
 * names one of its kinds (`network-loss` -> network), so a halt never loads the
 * PostgreSQL driver for a network fault; exposedFaults() (faults/index.ts) loads
 * them all from it, and docs/catalog.md takes each group's section from its
 * `catalog` (scripts/catalog-render.mjs). Adding a group: its folder (an
 * index.ts exporting its kinds) and its entry here.
 */
import type { FaultGroup } from './registry.js';

export const FAULT_GROUPS = [
  // No group: marker-file, proxy-toxic and proxy-down name none, so any name no group claims loads these.
  // First, as they were registered before the list existed: listings follow this order.
  // (Their sections of docs/catalog.md, faultline.marker and faultline.proxy, are catalog-render.mjs's:
  // the proxy module is mostly not faults.)
  {
    group: undefined,
    load: async () => {
      const [marker, proxy] = await Promise.all([import('./marker.js'), import('./proxy.js')]);
      return [marker.markerKind, proxy.proxyToxicKind, proxy.proxyDownKind];
    },
  },
  {
    group: 'network',
    load: async () => (await import('./network/index.js')).networkKinds,
    catalog: {
      title: 'Network faults',
      doc: 'faults-network.md',
      about:
        'Linux host network faults (nftables, tc): partition, loss, bandwidth, DNS failure and, where the kernel has netem, latency, duplication, corruption. They need root (CAP_NET_ADMIN); without it, use the proxy toxics.',
    },
  },
  {
    group: 'process',
    load: async () => (await import('./process/index.js')).processKinds,
    catalog: {
      title: 'Process faults',
      doc: 'faults-host.md',
      about:
        'Kill (irreversible) or pause processes of this host, selected by exactly one of `pid`, `pidfile`, `name`, `pattern` or `cgroup`, then `count` or `percentage` of the matches (default: one).',
    },
  },
  {
    group: 'stress',
    load: async () => (await import('./stress/index.js')).stressKinds,
    catalog: {
      title: 'Resource stress',
      doc: 'faults-host.md#resource-stress-a-worker-faultline-owns',
      about:
        'CPU, memory and disk pressure from a worker process Faultline owns (killed on revert), and file-descriptor exhaustion by lowering a process limit (restored on revert).',
    },
  },
  {
    group: 'postgres',
    load: async () => (await import('./postgres/index.js')).postgresKinds,
    catalog: {
      title: 'PostgreSQL faults',
      doc: 'faults-dependencies.md#postgresql',
      about:
        'Slow queries, connection exhaustion, lock contention and terminated backends. Connection arguments default to the libpq environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`); the password comes from `FAULTLINE_PG_PASSWORD`, `PGPASSWORD` or `~/.pgpass`.',
    },
  },
  {
    group: 'redis',
    load: async () => (await import('./redis/index.js')).redisKinds,
    catalog: {
      title: 'Redis faults',
      doc: 'faults-dependencies.md#redis',
      about:
        '`CLIENT PAUSE`, connection exhaustion and slow commands. The password comes from `FAULTLINE_REDIS_PASSWORD` or `REDISCLI_AUTH`, never from an argument.',
    },
  },
  {
    group: 'sdk',
    load: async () => (await import('./sdk/index.js')).sdkKinds,
    catalog: {
      title: 'SDK faults',
      about:
        "Faults a service's in-process Faultline SDK applies to its own matching calls (latency, HTTP errors, exceptions, resets, timeouts), set through the SDK control endpoint and removed when the fault ends.",
    },
  },
  {
    group: 'http',
    load: async () => (await import('./http/index.js')).httpKinds,
    catalog: {
      title: 'HTTP faults',
      doc: 'fleet.md#workloads',
      about:
        "Faults on the requests a service receives, applied by the Faultline proxy in front of it (`faultline proxy`): latency, an error status, connection resets, for a share of the requests matching path, method or header. What Istio, Chaos Mesh's HTTPChaos and Litmus's pod-http-* experiments do; a workload's `proxy` entry fills `api_url` and `proxy`. (The SDK faults act on the calls a service makes.)",
    },
  },
] as const satisfies readonly FaultGroup[];

/** The groups' names (`network`, ...), and `undefined` for the kinds without one. */
export type FaultGroupName = (typeof FAULT_GROUPS)[number]['group'];
