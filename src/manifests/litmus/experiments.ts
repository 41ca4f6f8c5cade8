/**
 * Litmus' experiments as Faultline faults: one table entry per experiment
 * name, with the env tunables it reads and the fault action(s) they become.
 * Defaults are those of the experiment definitions Litmus publishes
 * (github.com/litmuschaos/chaos-charts, faults/kubernetes/<name>/fault.yaml),
 * because a ChaosEngine that leaves a tunable out gets that default.
 *
 * Targets pick the fleet's workloads the way Litmus picks pods (appns +
 * applabel, TARGET_PODS, PODS_AFFECTED_PERC); node experiments pick agents.
 * No namespace, interface or process argument is filled here: the agent
 * fills them from the workload it hosts (src/fleet/workloads.ts).
 */

import { type LabelSelector, parseSelector, type Targets } from '../../core/fleet.js';
import type { Activity } from '../../core/schema.js';
import { faultAction } from '../activity.js';
import type { Notes } from '../notes.js';
import type { Env } from './env.js';

/** What an experiment's build gets: its env, where it stands, and the targets appinfo gave. */
export interface ExperimentContext {
  env: Env;
  notes: Notes;
  /** `spec.experiments[0]` */
  path: string;
  name: string;
  /** The workloads appinfo (+ TARGET_PODS / PODS_AFFECTED_PERC / NODE_LABEL) picked. */
  targets: Targets;
  /** TOTAL_CHAOS_DURATION in seconds. */
  duration: number;
  /** Names of configuration values the experiment needs (a path the user maps with --var). */
  configuration: Record<string, unknown>;
}

export interface Built {
  /** Fault actions in order; `pauses.after` between repeated ones. */
  actions: Activity[];
  /** Seconds to wait after the last action for the faults to run their course. */
  hold: number;
}

export interface ExperimentDef {
  /** Litmus' TOTAL_CHAOS_DURATION default for this experiment (seconds). */
  defaultDuration: number;
  /** `agents`: node experiments (the agent's host is the node). */
  on: 'workloads' | 'agents';
  /** The experiment's own tunables (the common ones are in COMMON_ENV). */
  env: readonly string[];
  build(c: ExperimentContext): Built | undefined;
}

/** Tunables every experiment shares, read by the engine translation (engine.ts). */
export const COMMON_ENV = [
  'TOTAL_CHAOS_DURATION',
  'RAMP_TIME',
  'TARGET_PODS',
  'PODS_AFFECTED_PERC',
  'NODE_LABEL',
  'SEQUENCE',
  'DEFAULT_HEALTH_CHECK',
  'LIB',
  'LIB_IMAGE',
  'TC_IMAGE',
  'STRESS_IMAGE',
  'CONTAINER_RUNTIME',
  'SOCKET_PATH',
  'TARGET_CONTAINER',
  'CHAOS_NAMESPACE',
  'INSTANCE_ID',
] as const;

/** Kills at 0, I, 2I, ... while within the duration: Litmus' pod-delete/container-kill loop. */
const MAX_REPEATS = 500;

/** Repeated kills every CHAOS_INTERVAL for the duration (pod-delete, container-kill). */
function repeatedKills(
  c: ExperimentContext,
  args: Record<string, unknown>,
  defaultInterval: number,
): Built | undefined {
  const { env } = c;
  const interval = env.int('CHAOS_INTERVAL', defaultInterval, 1);
  if (interval === undefined) return undefined;
  const randomness = env.bool('RANDOMNESS', false);
  if (randomness) {
    env.mapped(
      'RANDOMNESS',
      'pauses.after',
      'Litmus waits a random time up to CHAOS_INTERVAL between kills; Faultline waits CHAOS_INTERVAL exactly (pauses are fixed)',
    );
    c.notes.warned(
      env.at('RANDOMNESS')!,
      'RANDOMNESS: the interval between kills is fixed at CHAOS_INTERVAL, not random',
    );
  }
  const count = Math.max(1, Math.ceil(c.duration / interval));
  if (count > MAX_REPEATS) {
    c.notes.refused(
      env.at('CHAOS_INTERVAL') ?? `${c.path}.spec.components.env`,
      `CHAOS_INTERVAL: ${count} kills (TOTAL_CHAOS_DURATION ${c.duration} s every ${interval} s) is more than ${MAX_REPEATS}: use a longer interval`,
    );
    return undefined;
  }
  const actions: Activity[] = [];
  for (let i = 0; i < count; i++) {
    const a = faultAction(`${c.name}-${i + 1}`, 'process', 'kill', { ...args }, c.targets);
    if (i < count - 1) a.pauses = { after: interval };
    actions.push(a);
  }
  if (env.has('CHAOS_INTERVAL') || count > 1)
    env.mapped(
      'CHAOS_INTERVAL',
      `method[0..${count - 1}].pauses.after`,
      `${count} kills, ${interval} s apart, within TOTAL_CHAOS_DURATION (${c.duration} s)`,
    );
  return { actions, hold: c.duration - (count - 1) * interval };
}

/** One fault that lasts the whole duration. */
function lasting(
  c: ExperimentContext,
  group: string,
  func: string,
  args: Record<string, unknown>,
  targets = c.targets,
): Built {
  return {
    actions: [faultAction(c.name, group, func, { ...args, duration: c.duration }, targets)],
    hold: c.duration,
  };
}

/** DESTINATION_IPS / DESTINATION_HOSTS: only traffic with these is affected (Litmus filters egress by them). */
function destinations(c: ExperimentContext): Targets {
  const ips = c.env.list('DESTINATION_IPS') ?? [];
  const hosts = c.env.list('DESTINATION_HOSTS') ?? [];
  const addresses = [...ips, ...hosts];
  if (addresses.length === 0) return c.targets;
  c.env.mapped('DESTINATION_IPS', 'targets.peers.addresses');
  c.env.mapped('DESTINATION_HOSTS', 'targets.peers.addresses', 'host names are resolved by the agent');
  return { ...c.targets, peers: { ...(c.targets.peers ?? {}), addresses } };
}

function interfaceNote(c: ExperimentContext): void {
  c.env.note(
    'NETWORK_INTERFACE',
    'warned',
    "the interface comes from the workload (its `interface` in the workloads file, else its network namespace's only one), not from the manifest",
  );
}

function netem(c: ExperimentContext, func: string, percentEnv: string): Built | undefined {
  interfaceNote(c);
  const percent = c.env.num(percentEnv, 100, 0.01, 100);
  if (percent === undefined) return undefined;
  c.env.mapped(percentEnv, 'arguments.percent');
  return lasting(c, 'network', func, { percent }, destinations(c));
}

function selectorFrom(c: ExperimentContext, name: string): LabelSelector | undefined {
  const text = c.env.text(name);
  if (text === undefined) return undefined;
  try {
    return parseSelector(text, name);
  } catch (err) {
    c.notes.refused(c.env.at(name)!, (err as Error).message);
    return undefined;
  }
}

const HTTP_COMMON = ['TARGET_SERVICE_PORT', 'TOXICITY', 'PROXY_PORT', 'NETWORK_INTERFACE', 'CHAOS_INTERVAL'];

/**
 * The HTTP experiments: Litmus puts a toxiproxy in the pod in front of TARGET_SERVICE_PORT, so they fault the
 * requests TO the service: `faultline.http` fault, through the Faultline proxy the workload's entry names
 * (the SDK faults the calls a service makes: the wrong side).
 */
function http(c: ExperimentContext, args: Record<string, unknown>): Built | undefined {
  const { env } = c;
  const toxicity = env.num('TOXICITY', 100, 0, 100);
  if (toxicity === undefined) return undefined;
  env.mapped(
    'TOXICITY',
    'arguments.percentage',
    "the share of requests (Litmus' toxiproxy counts connections; a reset here counts connections too)",
  );
  env.note(
    'TARGET_SERVICE_PORT',
    'warned',
    "the Faultline proxy in front of the workload (its `proxy` in the workloads file) faults the requests to it; the port is the proxy's upstream, not the manifest's",
  );
  env.note('PROXY_PORT', 'warned', "Litmus' toxiproxy port inside the pod: Faultline needs none");
  interfaceNote(c);
  env.note(
    'CHAOS_INTERVAL',
    'ignored',
    'the HTTP fault stays for the whole duration; there is nothing to repeat',
  );
  return lasting(c, 'http', 'fault', { ...args, percentage: toxicity });
}

export const EXPERIMENTS: Readonly<Record<string, ExperimentDef>> = {
  'pod-delete': {
    defaultDuration: 15,
    on: 'workloads',
    env: ['CHAOS_INTERVAL', 'FORCE', 'RANDOMNESS'],
    build(c) {
      const force = c.env.bool('FORCE', true);
      if (force === undefined) return undefined;
      c.env.mapped(
        'FORCE',
        'arguments.signal',
        force ? 'forced: SIGKILL at once' : 'graceful: SIGTERM, as a delete without --force',
      );
      c.notes.mapped(
        `${c.path}.name`,
        'faultline.process kill',
        "a pod delete kills the workload's processes; their supervisor (systemd, a container runtime) restarts them, as a ReplicaSet recreates the pod",
      );
      return repeatedKills(c, { signal: force ? 'SIGKILL' : 'SIGTERM' }, 5);
    },
  },
  'container-kill': {
    defaultDuration: 20,
    on: 'workloads',
    env: ['CHAOS_INTERVAL', 'SIGNAL'],
    build(c) {
      const signal = c.env.text('SIGNAL') ?? 'SIGKILL';
      if (!/^SIG[A-Z0-9]+$/.test(signal)) {
        c.notes.refused(
          c.env.at('SIGNAL')!,
          `SIGNAL: expected a signal name such as SIGKILL, got ${JSON.stringify(signal)}`,
        );
        return undefined;
      }
      c.env.mapped('SIGNAL', 'arguments.signal');
      const container = c.env.text('TARGET_CONTAINER');
      if (container)
        c.env.mapped(
          'TARGET_CONTAINER',
          'arguments.containers',
          "the workload's container of that name (workloads file `containers`)",
        );
      return repeatedKills(c, { signal, ...(container ? { containers: [container] } : {}) }, 10);
    },
  },
  'pod-cpu-hog': {
    defaultDuration: 60,
    on: 'workloads',
    env: ['CPU_CORES', 'CPU_LOAD'],
    build(c) {
      const workers = c.env.int('CPU_CORES', 1, 1, 1024);
      const load = c.env.int('CPU_LOAD', 100, 1, 100);
      if (workers === undefined || load === undefined) return undefined;
      c.env.mapped('CPU_CORES', 'arguments.workers');
      c.env.mapped('CPU_LOAD', 'arguments.load');
      c.notes.warned(
        `${c.path}.name`,
        "pod-cpu-hog: the load runs on the workload's host, outside its cgroup: it competes for the host's CPUs, not for a pod's CPU limit",
      );
      return lasting(c, 'stress', 'cpu', { workers, load });
    },
  },
  'pod-memory-hog': {
    defaultDuration: 60,
    on: 'workloads',
    env: ['MEMORY_CONSUMPTION', 'NUMBER_OF_WORKERS'],
    build(c) {
      const mb = c.env.int('MEMORY_CONSUMPTION', 500, 1);
      if (mb === undefined) return undefined;
      c.env.mapped('MEMORY_CONSUMPTION', 'arguments.mb', 'MB as Litmus writes them, held as MiB');
      c.env.note(
        'NUMBER_OF_WORKERS',
        'ignored',
        'one worker holds the whole amount: the memory taken is the same',
      );
      c.notes.warned(
        `${c.path}.name`,
        "pod-memory-hog: the memory is taken on the workload's host, outside its cgroup: it presses on the host, not on a pod's memory limit",
      );
      return lasting(c, 'stress', 'memory', { mb });
    },
  },
  'pod-network-latency': {
    defaultDuration: 60,
    on: 'workloads',
    env: ['NETWORK_LATENCY', 'JITTER', 'NETWORK_INTERFACE', 'DESTINATION_IPS', 'DESTINATION_HOSTS'],
    build(c) {
      interfaceNote(c);
      const delay = c.env.int('NETWORK_LATENCY', 2000, 0, 60_000);
      const jitter = c.env.int('JITTER', 0, 0, 60_000);
      if (delay === undefined || jitter === undefined) return undefined;
      c.env.mapped('NETWORK_LATENCY', 'arguments.delay', 'milliseconds');
      c.env.mapped('JITTER', 'arguments.jitter', 'milliseconds');
      return lasting(c, 'network', 'latency', { delay, ...(jitter ? { jitter } : {}) }, destinations(c));
    },
  },
  'pod-network-loss': {
    defaultDuration: 60,
    on: 'workloads',
    env: ['NETWORK_PACKET_LOSS_PERCENTAGE', 'NETWORK_INTERFACE', 'DESTINATION_IPS', 'DESTINATION_HOSTS'],
    build(c) {
      c.notes.mapped(
        `${c.path}.name`,
        'faultline.network loss',
        "egress only, as Litmus' tc netem loss on the pod's interface",
      );
      const b = netem(c, 'loss', 'NETWORK_PACKET_LOSS_PERCENTAGE');
      if (b)
        (b.actions[0]!.provider as { arguments: Record<string, unknown> }).arguments.direction = 'egress';
      return b;
    },
  },
  'pod-network-corruption': {
    defaultDuration: 60,
    on: 'workloads',
    env: [
      'NETWORK_PACKET_CORRUPTION_PERCENTAGE',
      'NETWORK_INTERFACE',
      'DESTINATION_IPS',
      'DESTINATION_HOSTS',
    ],
    build: (c) => netem(c, 'corrupt', 'NETWORK_PACKET_CORRUPTION_PERCENTAGE'),
  },
  'pod-network-duplication': {
    defaultDuration: 60,
    on: 'workloads',
    env: [
      'NETWORK_PACKET_DUPLICATION_PERCENTAGE',
      'NETWORK_INTERFACE',
      'DESTINATION_IPS',
      'DESTINATION_HOSTS',
    ],
    build: (c) => netem(c, 'duplicate', 'NETWORK_PACKET_DUPLICATION_PERCENTAGE'),
  },
  'pod-network-partition': {
    defaultDuration: 60,
    on: 'workloads',
    env: [
      'POLICY_TYPES',
      'POD_SELECTOR',
      'NAMESPACE_SELECTOR',
      'PORTS',
      'DESTINATION_IPS',
      'DESTINATION_HOSTS',
    ],
    build(c) {
      const { env } = c;
      const policy = env.choice('POLICY_TYPES', ['all', 'ingress', 'egress'] as const, 'all');
      if (policy === undefined) return undefined;
      env.mapped(
        'POLICY_TYPES',
        'arguments.direction',
        'the NetworkPolicy types blocked: all = both directions',
      );
      if (env.has('PORTS')) {
        env.refuse(
          'PORTS',
          "per-port exceptions of the NetworkPolicy are not translated: Faultline's partition blocks every port with the peers (leave PORTS out, or write a Faultline partition with `port`)",
        );
        return undefined;
      }
      let targets = destinations(c);
      const pods = selectorFrom(c, 'POD_SELECTOR');
      if (pods) env.mapped('POD_SELECTOR', 'targets.peers.selector');
      const ns = env.text('NAMESPACE_SELECTOR');
      let namespaces: string[] | undefined;
      if (ns !== undefined) {
        // Namespaces have no labels on hosts; the one label every namespace carries is its name.
        const m = /^kubernetes\.io\/metadata\.name\s*(?:=|==|\s+in\s*)\s*\(?([^)]*)\)?$/.exec(ns);
        if (!m) {
          env.refuse(
            'NAMESPACE_SELECTOR',
            'namespaces have no labels on hosts: only kubernetes.io/metadata.name=NAME (or in (a,b)) can be honoured',
          );
          return undefined;
        }
        namespaces = m[1]!
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        env.mapped('NAMESPACE_SELECTOR', 'targets.peers.namespaces');
      }
      if (pods || namespaces) {
        targets = {
          ...targets,
          peers: {
            ...(targets.peers ?? {}),
            ...(pods ? { selector: pods } : {}),
            ...(namespaces ? { namespaces } : {}),
            mode: 'all',
          },
        };
      } else if (!targets.peers) {
        c.notes.mapped(
          c.path,
          'faultline.network partition',
          'no peers given: the workload is cut off from everything, as an empty NetworkPolicy does',
        );
      }
      const direction = policy === 'all' ? 'both' : policy;
      return lasting(c, 'network', 'partition', { direction }, targets);
    },
  },
  'pod-dns-error': {
    defaultDuration: 60,
    on: 'workloads',
    env: ['TARGET_HOSTNAMES', 'MATCH_SCHEME'],
    build(c) {
      const names = c.env.text('TARGET_HOSTNAMES');
      c.env.choice('MATCH_SCHEME', ['exact', 'substring'] as const, 'exact');
      if (names !== undefined && !/^\[\s*\]$/.test(names)) {
        c.env.refuse(
          'TARGET_HOSTNAMES',
          "Faultline's DNS fault fails every lookup, it cannot pick host names: leave TARGET_HOSTNAMES out to fail them all",
        );
        return undefined;
      }
      c.env.note('MATCH_SCHEME', 'ignored', 'without TARGET_HOSTNAMES every name fails, whatever the scheme');
      c.notes.mapped(
        `${c.path}.name`,
        'faultline.network dns',
        'every lookup fails at once (reject), as the DNS error Litmus answers',
      );
      return lasting(c, 'network', 'dns', { action: 'reject' });
    },
  },
  'node-cpu-hog': {
    defaultDuration: 60,
    on: 'agents',
    env: ['NODE_CPU_CORE', 'CPU_LOAD', 'TARGET_NODES', 'NODES_AFFECTED_PERC'],
    build(c) {
      const cores = c.env.int('NODE_CPU_CORE', 0, 0, 1024);
      // Litmus' chart writes CPU_LOAD 0 and stress-ng reads --cpu-load 0 as "no limit": full load.
      const load = c.env.int('CPU_LOAD', 100, 0, 100);
      if (cores === undefined || load === undefined) return undefined;
      c.env.mapped('NODE_CPU_CORE', 'arguments.workers', '0 or unset: every CPU of the host');
      c.env.mapped(
        'CPU_LOAD',
        'arguments.load',
        load === 0 ? '0 is a full load for stress-ng, as in Litmus' : undefined,
      );
      return lasting(c, 'stress', 'cpu', { ...(cores ? { workers: cores } : {}), load: load || 100 });
    },
  },
  'disk-fill': {
    defaultDuration: 60,
    on: 'workloads',
    env: ['FILL_PERCENTAGE', 'EPHEMERAL_STORAGE_MEBIBYTES', 'DATA_BLOCK_SIZE'],
    build(c) {
      const mib = c.env.int('EPHEMERAL_STORAGE_MEBIBYTES', undefined, 1);
      const percent = c.env.num('FILL_PERCENTAGE', mib === undefined ? 80 : undefined, 0.01, 100);
      if (mib === undefined && percent === undefined) return undefined;
      c.env.note(
        'DATA_BLOCK_SIZE',
        'ignored',
        'Faultline writes in 4 MiB chunks; the amount written is the same',
      );
      c.configuration.disk_fill_path = '/var/tmp';
      if (mib !== undefined) {
        c.env.mapped('EPHEMERAL_STORAGE_MEBIBYTES', 'arguments.bytes', 'MiB written');
        if (c.env.has('FILL_PERCENTAGE'))
          c.notes.ignored(
            c.env.at('FILL_PERCENTAGE')!,
            'FILL_PERCENTAGE: EPHEMERAL_STORAGE_MEBIBYTES is given and wins, as in Litmus',
          );
      } else {
        c.env.mapped(
          'FILL_PERCENTAGE',
          'arguments.percent',
          "Litmus fills this % of the pod's ephemeral-storage limit; Faultline fills the filesystem until it is this % used",
        );
      }
      c.notes.mapped(
        `${c.path}.name`,
        'configuration.disk_fill_path',
        'the directory filled is ${disk_fill_path} (default /var/tmp): set it with --var disk_fill_path=/path/on/the/workload/disk',
      );
      return lasting(c, 'stress', 'disk_fill', {
        path: '${disk_fill_path}',
        ...(mib !== undefined ? { bytes: mib * 1024 * 1024 } : { percent }),
      });
    },
  },
  'pod-http-latency': {
    defaultDuration: 60,
    on: 'workloads',
    env: ['LATENCY', ...HTTP_COMMON],
    build(c) {
      const latency = c.env.int('LATENCY', 2000, 0, 600_000);
      if (latency === undefined) return undefined;
      c.env.mapped('LATENCY', 'arguments.latency_ms');
      return http(c, { type: 'latency', latency_ms: latency });
    },
  },
  'pod-http-status-code': {
    defaultDuration: 60,
    on: 'workloads',
    env: [
      'STATUS_CODE',
      'MODIFY_RESPONSE_BODY',
      'RESPONSE_BODY',
      'CONTENT_TYPE',
      'CONTENT_ENCODING',
      ...HTTP_COMMON,
    ],
    build(c) {
      const { env } = c;
      if (!env.has('STATUS_CODE')) {
        env.text('STATUS_CODE');
        c.notes.refused(
          env.at('STATUS_CODE') ?? `${c.path}.spec.components.env`,
          'STATUS_CODE: Litmus picks a random code when it is empty; Faultline needs the code (e.g. 503)',
        );
        return undefined;
      }
      const status = env.int('STATUS_CODE', undefined, 100, 599);
      const modify = env.bool('MODIFY_RESPONSE_BODY', true);
      if (status === undefined || modify === undefined) return undefined;
      env.mapped('STATUS_CODE', 'arguments.status');
      const body = env.text('RESPONSE_BODY');
      const type = env.text('CONTENT_TYPE');
      const encoding = env.text('CONTENT_ENCODING');
      if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
        env.refuse(
          'CONTENT_ENCODING',
          'the proxy answers a plain body: only identity (or no encoding) can be honoured',
        );
        return undefined;
      }
      if (!modify)
        c.notes.warned(
          env.at('MODIFY_RESPONSE_BODY')!,
          'MODIFY_RESPONSE_BODY false: Litmus keeps the upstream body under the new status; the proxy answers without forwarding the request, with its own body',
        );
      else env.mapped('MODIFY_RESPONSE_BODY', 'arguments.body');
      env.mapped('RESPONSE_BODY', 'arguments.body');
      env.mapped('CONTENT_TYPE', 'arguments.headers.content-type');
      return http(c, {
        type: 'http_error',
        status,
        ...(body !== undefined ? { body } : {}),
        ...(type !== undefined ? { headers: { 'content-type': type } } : {}),
      });
    },
  },
  'pod-http-modify-body': {
    defaultDuration: 60,
    on: 'workloads',
    env: ['RESPONSE_BODY', 'CONTENT_TYPE', 'CONTENT_ENCODING', ...HTTP_COMMON],
    build(c) {
      for (const n of ['RESPONSE_BODY', 'CONTENT_TYPE', 'CONTENT_ENCODING', ...HTTP_COMMON]) c.env.text(n);
      c.notes.refused(
        `${c.path}.name`,
        'pod-http-modify-body rewrites responses that still reach the upstream; the proxy answers requests itself instead of rewriting responses (nearest: pod-http-status-code with STATUS_CODE 200 and RESPONSE_BODY, which skips the upstream)',
      );
      return undefined;
    },
  },
  'pod-http-reset-peer': {
    defaultDuration: 60,
    on: 'workloads',
    env: ['RESET_TIMEOUT', ...HTTP_COMMON],
    build(c) {
      const after = c.env.int('RESET_TIMEOUT', 0, 0);
      if (after === undefined) return undefined;
      if (after > 0)
        c.notes.warned(
          c.env.at('RESET_TIMEOUT')!,
          `RESET_TIMEOUT: Litmus resets ${after} ms into the connection; the proxy resets at once`,
        );
      return http(c, { type: 'reset' });
    },
  },
};

export const EXPERIMENT_NAMES = Object.keys(EXPERIMENTS);
