/**
 * FIS actions -> Faultline fault actions. In-guest faults (the AWSFIS-* SSM
 * documents on instances, the aws:ecs:task-* and aws:eks:pod-* actions) have
 * a Faultline fault of the same effect run by the agents; what only AWS can
 * do to its own resources (terminate an instance, fail over RDS) is refused
 * by name, with the nearest Faultline fault spelled out so the user can write
 * it on purpose.
 */
import { describe, isoDurationMs, join, type Notes, percent, record, string } from '../notes.js';
import { Fields } from './fields.js';
import type { TargetKind } from './targets.js';

export interface FaultCall {
  module: string;
  func: string;
  args: Record<string, unknown>;
  /** Seconds the fault lasts (0: instant, as a kill). */
  seconds: number;
}

/** What an action needs from its target and how its parameters become a fault. */
interface ActionSpec {
  target: TargetKind;
  map(p: Reader): FaultCall | undefined;
}

/** Reads an action's parameters (or an SSM document's), noting each field's fate. */
export class Reader {
  readonly fields: Fields;
  constructor(
    readonly notes: Notes,
    obj: Record<string, unknown>,
    readonly path: string,
    /** Where the arguments go in the experiment, for `mapped` notes. */
    readonly to: string,
  ) {
    this.fields = new Fields(obj, path);
  }
  /** The value of `name` as a number within [min, max] (numbers or numeric strings, as FIS writes them). */
  number(name: string, arg: string | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const { value, path } = this.fields.get(name);
    if (value === undefined) return undefined;
    const s = typeof value === 'number' ? String(value) : string(this.notes, value, path);
    if (s === undefined) return undefined;
    const n = /^\s*\d+(?:\.\d+)?\s*$/.test(s) ? Number(s) : Number.NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
      this.notes.refused(path, `expected a number from ${min} to ${max}, got ${describe(value)}`);
      return undefined;
    }
    if (arg) this.notes.mapped(path, `${this.to}.${arg}`);
    return n;
  }
  percent(name: string, arg: string, min = 0): number | undefined {
    const { value, path } = this.fields.get(name);
    if (value === undefined) return undefined;
    const n = percent(this.notes, value, path, min);
    if (n !== undefined) this.notes.mapped(path, `${this.to}.${arg}`);
    return n;
  }
  text(name: string, arg?: string): string | undefined {
    const { value, path } = this.fields.get(name);
    const s = string(this.notes, value, path);
    if (s !== undefined && arg) this.notes.mapped(path, `${this.to}.${arg}`);
    return s;
  }
  oneOf<T extends string>(name: string, allowed: readonly T[], arg: string): T | undefined {
    const { value, path } = this.fields.get(name);
    const s = string(this.notes, value, path);
    if (s === undefined) return undefined;
    const v = s.toLowerCase() as T;
    if (!allowed.includes(v)) {
      this.notes.refused(path, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(s)}`);
      return undefined;
    }
    this.notes.mapped(path, `${this.to}.${arg}`);
    return v;
  }
  /** An ISO 8601 duration (`PT5M`) in seconds; `required` refuses its absence. */
  iso(name: string, required: boolean): number | undefined {
    const { value, path } = this.fields.get(name);
    if (value === undefined) {
      if (required) this.notes.refused(path, 'expected a duration such as PT5M (the action needs one)');
      return undefined;
    }
    const s = string(this.notes, value, path);
    if (s === undefined) return undefined;
    const ms = isoDurationMs(s);
    if (ms === undefined || ms <= 0) {
      this.notes.refused(
        path,
        `expected an ISO 8601 duration such as PT1M, PT30S or PT1H30M, got ${JSON.stringify(s)}`,
      );
      return undefined;
    }
    this.notes.mapped(path, `${this.to}.duration`, `${ms / 1000} s`);
    return ms / 1000;
  }
  ignore(name: string, why: string): void {
    const { value, path } = this.fields.get(name);
    if (value !== undefined) this.notes.ignored(path, why);
  }
  warn(name: string, why: string): void {
    const { value, path } = this.fields.get(name);
    if (value !== undefined) this.notes.warned(path, why);
  }
  refuse(name: string, why: string): void {
    const { value, path } = this.fields.get(name);
    if (value !== undefined) this.notes.refused(path, why);
  }
  done(what: string): void {
    this.fields.rest(this.notes, what);
  }
}

const NO_INSTALL = 'Faultline brings its own tools: nothing is installed on the target';
const SIGNALS = ['sigterm', 'sigkill', 'sigint', 'sighup', 'sigquit', 'sigusr1', 'sigusr2'] as const;
const PROTOCOLS = ['tcp', 'udp'] as const;
const TRAFFIC = ['ingress', 'egress'] as const;
const MEMORY_PERCENT =
  "stress.memory takes MiB, not a share of the host's memory: write a faultline.stress memory action with mb yourself";

function signalOf(p: Reader, name: string): string | undefined {
  const s = p.oneOf(name, SIGNALS, 'signal');
  return s?.toUpperCase();
}

function sources(p: Reader, name: string): void {
  p.refuse(
    name,
    'scoping this fault to some sources is not something the Faultline fault can do; remove it to affect all traffic of the interface',
  );
}

const cpu = (p: Reader, d: string, loadName: string, workersName: string): FaultCall | undefined => {
  const seconds = p.iso(d, true);
  const load = p.percent(loadName, 'load', 1);
  const workers = p.number(workersName, 'workers', 0, 1024);
  if (seconds === undefined) return undefined;
  return {
    module: 'faultline.stress',
    func: 'cpu',
    args: { ...(workers ? { workers } : {}), ...(load !== undefined ? { load } : {}) },
    seconds,
  };
};

/** ECS and EKS in-guest actions share their parameters' names. */
function k8sCommon(p: Reader): void {
  p.warn('kubernetesServiceAccount', 'Kubernetes plumbing: the agent acts with its own privileges');
  p.warn('fisPodContainerImage', 'Kubernetes plumbing: no helper pod, the agent acts itself');
  p.warn('fisPodLabels', 'Kubernetes plumbing: no helper pod');
  p.warn('fisPodAnnotations', 'Kubernetes plumbing: no helper pod');
  p.warn('fisPodSecurityPolicy', 'Kubernetes plumbing: no helper pod');
  p.ignore(
    'maxErrorsPercent',
    'the run fails when no agent took the fault; partial failures are in the journal per workload',
  );
  p.ignore('installDependencies', NO_INSTALL);
  p.warn('useEcsFaultInjectionEndpoints', 'ECS plumbing: the agent acts on the workload directly');
}

const network = {
  latency(p: Reader, d: string, delay: string, jitter: string, iface: string, src: string) {
    const seconds = p.iso(d, true);
    const ms = p.number(delay, 'delay', 0, 3_600_000);
    const j = p.number(jitter, 'jitter', 0, 3_600_000);
    const i = p.text(iface, 'interface');
    sources(p, src);
    if (seconds === undefined || ms === undefined) {
      if (ms === undefined) p.notes.refused(join(p.path, delay), 'expected the delay in milliseconds');
      return undefined;
    }
    return {
      module: 'faultline.network',
      func: 'latency',
      args: { delay: ms, ...(j ? { jitter: j } : {}), ...(i ? { interface: i } : {}) },
      seconds,
    };
  },
  loss(p: Reader, d: string, pct: string, iface: string, src: string) {
    const seconds = p.iso(d, true);
    const n = p.percent(pct, 'percent', 0.01);
    const i = p.text(iface, 'interface');
    sources(p, src);
    if (seconds === undefined || n === undefined) {
      if (n === undefined && p.fields.get(pct).value === undefined)
        p.notes.refused(join(p.path, pct), 'expected the percentage of packets lost');
      return undefined;
    }
    // tc netem on the interface, as FIS does: outgoing packets only.
    return {
      module: 'faultline.network',
      func: 'loss',
      args: { percent: n, direction: 'egress', ...(i ? { interface: i } : {}) },
      seconds,
    };
  },
  blackhole(p: Reader, d: string, port: string, proto: string, traffic: string) {
    const seconds = p.iso(d, true);
    const n = p.number(port, 'port', 1, 65535);
    const protocol = p.oneOf(proto, PROTOCOLS, 'protocol');
    const direction = p.oneOf(traffic, TRAFFIC, 'direction') ?? 'ingress';
    if (seconds === undefined || n === undefined || protocol === undefined) {
      if (n === undefined) p.notes.refused(join(p.path, port), 'expected the port to blackhole');
      if (protocol === undefined) p.notes.refused(join(p.path, proto), 'expected tcp or udp');
      return undefined;
    }
    return {
      module: 'faultline.network',
      func: 'partition',
      args: { port: n, protocol, direction },
      seconds,
    };
  },
};

/** The in-guest actions of ECS tasks and EKS pods (parameters in camelCase). */
const ACTIONS: Record<string, ActionSpec> = {
  'aws:ecs:task-cpu-stress': {
    target: 'task',
    map: (p) => cpu(p, 'duration', 'percent', 'workers'),
  },
  'aws:eks:pod-cpu-stress': {
    target: 'pod',
    map: (p) => cpu(p, 'duration', 'percent', 'workers'),
  },
  'aws:ecs:task-network-latency': {
    target: 'task',
    map: (p) =>
      network.latency(p, 'duration', 'delayMilliseconds', 'jitterMilliseconds', 'interface', 'sources'),
  },
  'aws:eks:pod-network-latency': {
    target: 'pod',
    map: (p) =>
      network.latency(p, 'duration', 'delayMilliseconds', 'jitterMilliseconds', 'interface', 'sources'),
  },
  'aws:ecs:task-network-packet-loss': {
    target: 'task',
    map: (p) => network.loss(p, 'duration', 'lossPercent', 'interface', 'sources'),
  },
  'aws:eks:pod-network-packet-loss': {
    target: 'pod',
    map: (p) => network.loss(p, 'duration', 'lossPercent', 'interface', 'sources'),
  },
  'aws:ecs:task-network-blackhole-port': {
    target: 'task',
    map: (p) => network.blackhole(p, 'duration', 'port', 'protocol', 'trafficType'),
  },
  'aws:eks:pod-network-blackhole-port': {
    target: 'pod',
    map: (p) => network.blackhole(p, 'duration', 'port', 'protocol', 'trafficType'),
  },
  'aws:ecs:task-kill-process': {
    target: 'task',
    map: (p) => {
      const name = p.text('processName', 'name');
      const signal = signalOf(p, 'signal') ?? 'SIGKILL';
      if (name === undefined) {
        p.notes.refused(join(p.path, 'processName'), 'expected the name of the process to kill');
        return undefined;
      }
      return { module: 'faultline.process', func: 'kill', args: { name, signal, mode: 'all' }, seconds: 0 };
    },
  },
  'aws:ecs:stop-task': {
    target: 'task',
    // ECS stops a task with SIGTERM, then SIGKILL after its stop timeout; the supervisor restarts it.
    map: () => ({ module: 'faultline.process', func: 'kill', args: { signal: 'SIGTERM' }, seconds: 0 }),
  },
  'aws:eks:pod-delete': {
    target: 'pod',
    map: (p) => {
      const grace = p.number('gracePeriodSeconds', undefined, 0, 86_400);
      if (grace !== undefined)
        p.notes.mapped(
          join(p.path, p.fields.key('gracePeriodSeconds') ?? 'gracePeriodSeconds'),
          `${p.to}.signal`,
          grace === 0 ? 'no grace: SIGKILL' : 'a grace period: SIGTERM (the workload stops in its own time)',
        );
      return {
        module: 'faultline.process',
        func: 'kill',
        args: { signal: grace === 0 ? 'SIGKILL' : 'SIGTERM' },
        seconds: 0,
      };
    },
  },
  'aws:eks:pod-memory-stress': {
    target: 'pod',
    map: (p) => {
      p.iso('duration', true);
      p.refuse('percent', MEMORY_PERCENT);
      p.number('workers', undefined, 0, 1024);
      if (!p.fields.has('percent')) p.notes.refused(join(p.path, 'percent'), MEMORY_PERCENT);
      return undefined;
    },
  },
};

/** The AWSFIS-* SSM documents, run on instances (documentParameters in PascalCase). */
const SSM_DOCUMENTS: Record<string, (p: Reader, seconds: number | undefined) => FaultCall | undefined> = {
  'AWSFIS-Run-CPU-Stress': (p, s) => {
    const load = p.percent('LoadPercent', 'load', 1);
    const workers = p.number('CPU', 'workers', 0, 1024);
    if (s === undefined) return undefined;
    return {
      module: 'faultline.stress',
      func: 'cpu',
      args: { ...(workers ? { workers } : {}), ...(load !== undefined ? { load } : {}) },
      seconds: s,
    };
  },
  'AWSFIS-Run-Memory-Stress': (p) => {
    p.refuse('Percent', MEMORY_PERCENT);
    p.number('Workers', undefined, 0, 1024);
    if (!p.fields.has('Percent')) p.notes.refused(join(p.path, 'Percent'), MEMORY_PERCENT);
    return undefined;
  },
  'AWSFIS-Run-Network-Latency': (p, s) => {
    const ms = p.number('DelayMilliseconds', 'delay', 0, 3_600_000);
    const i = p.text('Interface', 'interface');
    if (s === undefined || ms === undefined) {
      if (ms === undefined)
        p.notes.refused(join(p.path, 'DelayMilliseconds'), 'expected the delay in milliseconds');
      return undefined;
    }
    return {
      module: 'faultline.network',
      func: 'latency',
      args: { delay: ms, interface: i ?? 'eth0' },
      seconds: s,
    };
  },
  'AWSFIS-Run-Network-Packet-Loss': (p, s) => {
    const n = p.percent('LossPercent', 'percent', 0.01);
    const i = p.text('Interface', 'interface');
    if (s === undefined || n === undefined) return undefined;
    return {
      module: 'faultline.network',
      func: 'loss',
      args: { percent: n, direction: 'egress', interface: i ?? 'eth0' },
      seconds: s,
    };
  },
  'AWSFIS-Run-Network-Blackhole-Port': (p, s) => {
    const port = p.number('Port', 'port', 1, 65535);
    const protocol = p.oneOf('Protocol', PROTOCOLS, 'protocol');
    const direction = p.oneOf('TrafficType', TRAFFIC, 'direction') ?? 'ingress';
    if (s === undefined || port === undefined || protocol === undefined) return undefined;
    return {
      module: 'faultline.network',
      func: 'partition',
      args: { port, protocol, direction },
      seconds: s,
    };
  },
  'AWSFIS-Run-Kill-Process': (p) => {
    const name = p.text('ProcessName', 'name');
    const signal = signalOf(p, 'Signal') ?? 'SIGTERM';
    if (name === undefined) {
      p.notes.refused(join(p.path, 'ProcessName'), 'expected the name of the process to kill');
      return undefined;
    }
    return { module: 'faultline.process', func: 'kill', args: { name, signal, mode: 'all' }, seconds: 0 };
  },
  'AWSFIS-Run-Disk-Fill': (p, s) => {
    const pct = p.percent('Percent', 'percent', 1);
    if (s === undefined) return undefined;
    // The document fills the root volume; /var/tmp is on it on most hosts.
    return {
      module: 'faultline.stress',
      func: 'disk_fill',
      args: { path: '/var/tmp', percent: pct ?? 95 },
      seconds: s,
    };
  },
};

/** Cloud-only actions: refused by name, with what to write instead. */
export const CLOUD_ONLY: Record<string, string> = {
  'aws:ec2:terminate-instances':
    "faultline.process kill of the host's workloads (mode all), or stop the agent's host yourself",
  'aws:ec2:stop-instances':
    "faultline.process pause of the host's workloads for the duration (resumed after), or stop the host yourself",
  'aws:ec2:reboot-instances':
    "faultline.process kill (SIGTERM) of the host's workloads, which their supervisor restarts",
  'aws:ec2:send-spot-instance-interruptions':
    "faultline.process kill of the host's workloads after a pause (the interruption notice), or stop the host yourself",
  'aws:ec2:asg-insufficient-instance-capacity-error':
    "none: capacity is AWS's; Faultline cannot refuse launches",
  'aws:ec2:api-insufficient-instance-capacity-error':
    "none: capacity is AWS's; Faultline cannot refuse launches",
  'aws:network:disrupt-connectivity':
    'faultline.network partition (targets.peers or destination for the scope)',
  'aws:network:route-table-disrupt-cross-region-connectivity':
    "faultline.network partition with the other region's addresses as destination (targets.peers.addresses)",
  'aws:network:transit-gateway-disrupt-cross-region-connectivity':
    "faultline.network partition with the other region's addresses as destination (targets.peers.addresses)",
  'aws:rds:failover-db-cluster':
    'faultline.postgres terminate_backends (the clients reconnect, as after a failover)',
  'aws:rds:reboot-db-instances':
    'faultline.postgres terminate_backends, or a faultline.process kill of the database workload',
  'aws:elasticache:interrupt-cluster-az-power':
    'faultline.redis client_pause, or a faultline.process kill of the redis workload',
  'aws:elasticache:replicationgroup-interrupt-az-power':
    'faultline.redis client_pause, or a faultline.process kill of the redis workload',
  'aws:memorydb:multi-region-cluster-pause-replication': 'faultline.redis client_pause',
  'aws:dynamodb:global-table-pause-replication': "none in Faultline (DynamoDB replication is AWS's)",
  'aws:s3:bucket-pause-replication': "none in Faultline (S3 replication is AWS's)",
  'aws:ebs:pause-volume-io':
    'faultline.process pause of the workloads using the volume, or faultline.stress disk_fill',
  'aws:ecs:drain-container-instances':
    'faultline.process kill of the workloads on the agents (they are not rescheduled: there is no scheduler)',
  'aws:eks:terminate-nodegroup-instances':
    "faultline.process kill of the agents' workloads (mode all), or stop the agents' hosts yourself",
  'aws:eks:inject-kubernetes-custom-resource':
    'the custom resource itself: give Faultline the Chaos Mesh or Litmus manifest directly (docs/manifests/)',
  'aws:fis:inject-api-internal-error':
    'faultline.sdk enable_fault http_error (status 500) on the calls the service makes',
  'aws:fis:inject-api-throttle-error':
    'faultline.sdk enable_fault http_error (status 429) on the calls the service makes',
  'aws:fis:inject-api-unavailable-error':
    'faultline.sdk enable_fault http_error (status 503) on the calls the service makes',
  'aws:cloudwatch:assert-alarm-state':
    "a steady-state probe: faultline.prometheus query over the alarm's expression",
  'aws:ssm:start-automation-execution':
    'none: an Automation runbook runs AWS APIs; write its effect as Faultline faults',
  'aws:lambda:invocation-add-delay':
    'faultline.sdk enable_fault latency in the callers, or faultline.proxy latency toxic',
  'aws:lambda:invocation-error': 'faultline.sdk enable_fault http_error in the callers',
  'aws:lambda:invocation-http-integration-response': 'faultline.sdk enable_fault http_error in the callers',
  'aws:arc:start-zonal-autoshift': "none: traffic shifting is the load balancer's",
  'aws:dynamodb:encrypted-global-table-pause-replication':
    "none in Faultline (DynamoDB replication is AWS's)",
  'aws:kinesis:throughput-exception': 'faultline.sdk enable_fault http_error in the producers',
  'aws:directconnect:virtual-interface-disconnect': 'faultline.network partition of the addresses behind it',
};

export type ActionOutcome =
  | { kind: 'fault'; call: FaultCall; target: TargetKind }
  | { kind: 'wait'; seconds: number }
  | { kind: 'refused' };

const KNOWN = () => ['aws:fis:wait', 'aws:ssm:send-command', ...Object.keys(ACTIONS)].join(', ');

/** One action's id and parameters: what it becomes (a fault on a kind of target, a wait, or nothing). */
export function translateAction(
  notes: Notes,
  actionId: string,
  idPath: string,
  params: Record<string, unknown>,
  paramsPath: string,
  to: string,
): ActionOutcome {
  const p = new Reader(notes, params, paramsPath, to);
  if (actionId === 'aws:fis:wait') {
    const seconds = p.iso('duration', true);
    p.done('aws:fis:wait');
    if (seconds === undefined) return { kind: 'refused' };
    notes.mapped(idPath, 'a pause', 'the next actions wait for it');
    return { kind: 'wait', seconds };
  }
  if (actionId === 'aws:ssm:send-command') return sendCommand(notes, p, idPath);
  const spec = ACTIONS[actionId];
  if (spec) {
    k8sCommon(p);
    const call = spec.map(p);
    p.done(actionId);
    if (!call) return { kind: 'refused' };
    notes.mapped(idPath, to.replace(/\.arguments$/, ''), `${call.module} ${call.func}`);
    return { kind: 'fault', call, target: spec.target };
  }
  const nearest = CLOUD_ONLY[actionId];
  if (nearest !== undefined) {
    notes.refused(
      idPath,
      `${actionId} acts on AWS itself, which Faultline cannot do on hosts; the nearest Faultline equivalent: ${nearest}`,
    );
  } else {
    notes.refused(
      idPath,
      `unknown actionId ${JSON.stringify(actionId)}: Faultline translates ${KNOWN()} (and refuses AWS-only actions by name)`,
    );
  }
  // The parameters of a refused action say nothing more.
  for (const k of Object.keys(params)) notes.ignored(join(paramsPath, k), 'its action is refused');
  return { kind: 'refused' };
}

function sendCommand(notes: Notes, p: Reader, idPath: string): ActionOutcome {
  const arn = p.text('documentArn');
  const fisDuration = p.fields.get('duration');
  const docName = arn === undefined ? undefined : (/document\/([^/]+)$/.exec(arn)?.[1] ?? arn);
  const mapDoc = docName === undefined ? undefined : SSM_DOCUMENTS[docName];
  const arnPath = p.fields.get('documentArn').path;
  if (arn === undefined) notes.refused(arnPath, 'expected the documentArn of an AWSFIS-* document');
  else if (!mapDoc) {
    notes.refused(
      arnPath,
      `SSM document ${docName}: Faultline runs the AWSFIS-* fault documents (${Object.keys(SSM_DOCUMENTS).join(', ')}), not arbitrary commands`,
    );
  } else
    notes.mapped(
      arnPath,
      p.to.replace(/\.arguments$/, ''),
      `the ${docName} document's fault, run by the agent`,
    );
  p.ignore('documentVersion', "the AWSFIS documents' effect is what Faultline runs, whichever version");
  const dp = p.fields.get('documentParameters');
  let params: Record<string, unknown> = {};
  if (typeof dp.value === 'string') {
    try {
      const parsed = JSON.parse(dp.value) as unknown;
      const r = record(notes, parsed, dp.path);
      if (r) params = r;
    } catch {
      notes.refused(dp.path, 'expected a JSON object in a string, as FIS writes documentParameters');
    }
  } else if (dp.value !== undefined) {
    params = record(notes, dp.value, dp.path) ?? {};
  }
  const dpr = new Reader(notes, params, dp.path, p.to);
  dpr.ignore('InstallDependencies', NO_INSTALL);
  // DurationSeconds is the fault's length; the action's own duration only bounds how long FIS waits for it.
  const ds = dpr.number('DurationSeconds', undefined, 1, 43_200);
  if (ds !== undefined)
    notes.mapped(join(dp.path, dpr.fields.key('DurationSeconds') ?? 'DurationSeconds'), `${p.to}.duration`);
  let seconds = ds;
  if (fisDuration.value !== undefined) {
    const s = typeof fisDuration.value === 'string' ? isoDurationMs(fisDuration.value) : undefined;
    if (s === undefined || s <= 0)
      notes.refused(
        fisDuration.path,
        `expected an ISO 8601 duration such as PT1M, got ${describe(fisDuration.value)}`,
      );
    else if (seconds === undefined) {
      seconds = s / 1000;
      notes.mapped(fisDuration.path, `${p.to}.duration`);
    } else
      notes.ignored(
        fisDuration.path,
        'DurationSeconds sets how long the fault lasts; this only bounds how long FIS waits for the command',
      );
  }
  const instant = docName === 'AWSFIS-Run-Kill-Process';
  if (seconds === undefined && mapDoc && !instant)
    notes.refused(join(dp.path, 'DurationSeconds'), 'expected DurationSeconds (how long the fault lasts)');
  const call = mapDoc?.(dpr, seconds);
  dpr.done(`the ${docName ?? 'SSM'} document's parameters`);
  p.done('aws:ssm:send-command');
  if (!call) return { kind: 'refused' };
  notes.mapped(idPath, p.to.replace(/\.arguments$/, ''), `${call.module} ${call.func}`);
  return { kind: 'fault', call, target: 'instance' };
}
