/**
 * A ChaosEngine's spec as a Faultline method: appinfo picks the fleet's
 * workloads (appns -> namespaces, applabel -> a label selector), each entry of
 * `experiments` becomes its fault actions (experiments.ts) and its probes
 * (probes.ts). Litmus' chaos-runner runs an engine's experiments one after
 * another, so each experiment's last action pauses for its duration before
 * the next one starts.
 */
import { type LabelSelector, parseSelector, type Targets } from '../../core/fleet.js';
import type { Activity } from '../../core/schema.js';
import { describe, join, list, type Notes, record, string } from '../notes.js';
import type { Safeguard } from '../types.js';
import { Env } from './env.js';
import { COMMON_ENV, EXPERIMENT_NAMES, EXPERIMENTS, type ExperimentContext } from './experiments.js';
import { type ProbeSink, translateProbes } from './probes.js';

export interface EngineParts {
  method: Activity[];
  hold: number;
  hypothesis: Activity[];
  safeguards: Safeguard[];
  runtime: Record<string, unknown>;
  configuration: Record<string, unknown>;
}

const PLUMBING_COMPONENTS = [
  'statusCheckTimeouts',
  'resources',
  'nodeSelector',
  'experimentImage',
  'experimentImagePullSecrets',
  'experimentAnnotations',
  'configMaps',
  'secrets',
  'hostFileVolumes',
  'tolerations',
  'sidecar',
];

function selector(notes: Notes, text: string | undefined, path: string): LabelSelector | undefined {
  if (text === undefined || text.trim() === '') return {};
  try {
    return parseSelector(text, path);
  } catch (err) {
    notes.refused(path, (err as Error).message.replace(`${path}: `, ''));
    return undefined;
  }
}

/** TARGET_PODS / PODS_AFFECTED_PERC / NODE_LABEL / SEQUENCE on top of appinfo's workloads. */
function workloadTargets(notes: Notes, env: Env, base: Targets): Targets | undefined {
  let t: Targets = { ...base };
  const pods = env.list('TARGET_PODS');
  const perc = env.int('PODS_AFFECTED_PERC', 0, 0, 100);
  if (pods) {
    if (pods.every((p) => /^\d+$/.test(p)) && pods.length === 1) {
      t = { ...t, mode: 'fixed', value: Number(pods[0]) };
      notes.warned(
        env.at('TARGET_PODS')!,
        `TARGET_PODS holds pod names in Litmus (it would look for a pod named "${pods[0]}" and fail with "pod doesn't exist set by TARGET_PODS ENV"); read as a count: ${pods[0]} workload(s) of those appinfo selects (targets.mode fixed)`,
      );
    } else {
      t = { ...t, names: pods, mode: 'all' };
      env.mapped('TARGET_PODS', 'targets.names', 'workloads by name in appns');
    }
    if (env.has('PODS_AFFECTED_PERC'))
      notes.ignored(
        env.at('PODS_AFFECTED_PERC')!,
        'PODS_AFFECTED_PERC: TARGET_PODS is set and wins, as in Litmus',
      );
  } else if (perc !== undefined && perc > 0) {
    t = { ...t, mode: 'fixed-percent', value: perc };
    env.mapped('PODS_AFFECTED_PERC', 'targets.mode fixed-percent');
  } else if (perc === undefined) return undefined;
  else if (env.has('PODS_AFFECTED_PERC'))
    env.mapped('PODS_AFFECTED_PERC', 'targets.mode one', '0 picks one pod in Litmus (at least one)');
  const nodeLabel = env.text('NODE_LABEL');
  if (nodeLabel !== undefined) {
    const s = selector(notes, nodeLabel, env.at('NODE_LABEL')!);
    if (!s) return undefined;
    t = { ...t, agentSelector: s };
    env.mapped(
      'NODE_LABEL',
      'targets.agentSelector',
      'the label of the agents (nodes) hosting the workloads',
    );
  }
  const sequence = env.choice('SEQUENCE', ['parallel', 'serial'] as const, 'parallel');
  if (sequence === undefined) return undefined;
  if (sequence === 'serial') {
    if (t.mode === 'one' || (t.mode === 'fixed' && t.value === 1))
      env.mapped('SEQUENCE', 'targets', 'one target: serial and parallel are the same');
    else {
      env.refuse(
        'SEQUENCE',
        'serial: Faultline places the fault on every picked workload at once; use parallel, or one engine per target',
      );
      return undefined;
    }
  } else env.mapped('SEQUENCE', 'targets', 'every picked workload at once');
  return t;
}

function agentTargets(notes: Notes, env: Env): Targets | undefined {
  let t: Targets = { on: 'agents', selector: {}, mode: 'one' };
  const nodes = env.list('TARGET_NODES');
  const label = env.text('NODE_LABEL');
  if (nodes) {
    t.selector = { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: nodes }] };
    t.mode = 'all';
    notes.warned(
      env.at('TARGET_NODES')!,
      'TARGET_NODES: agents labelled kubernetes.io/hostname=NAME, the label Kubernetes gives its nodes (start agents with --label kubernetes.io/hostname=NAME)',
    );
  } else if (label !== undefined) {
    const s = selector(notes, label, env.at('NODE_LABEL')!);
    if (!s) return undefined;
    t.selector = s;
    env.mapped('NODE_LABEL', 'targets.selector', "the agents' labels");
  }
  const perc = env.int('NODES_AFFECTED_PERC', 0, 0, 100);
  if (perc === undefined) return undefined;
  if (perc > 0) {
    if (nodes)
      notes.ignored(env.at('NODES_AFFECTED_PERC')!, 'NODES_AFFECTED_PERC: TARGET_NODES is set and wins');
    else {
      t = { ...t, mode: 'fixed-percent', value: perc };
      env.mapped('NODES_AFFECTED_PERC', 'targets.mode fixed-percent');
    }
  }
  env.choice('SEQUENCE', ['parallel', 'serial'] as const, 'parallel');
  if (env.has('SEQUENCE')) env.mapped('SEQUENCE', 'targets', 'every picked agent at once');
  return t;
}

function plumbing(env: Env): void {
  for (const n of [
    'LIB',
    'LIB_IMAGE',
    'TC_IMAGE',
    'STRESS_IMAGE',
    'CONTAINER_RUNTIME',
    'SOCKET_PATH',
    'CHAOS_NAMESPACE',
    'INSTANCE_ID',
  ])
    env.note(
      n,
      'warned',
      "Litmus' plumbing (helper images, runtime socket, namespaces): the agent acts on the host directly",
    );
  env.note(
    'DEFAULT_HEALTH_CHECK',
    'ignored',
    "Litmus' built-in pod status checks: there are no pods; add probes for the checks you need",
  );
}

/**
 * The method and probes of an engine spec at `path` (`spec`, or a ChaosSchedule's
 * `spec.engineTemplateSpec`); `namespace` is the engine's own (appns' default).
 */
export function translateEngineSpec(
  notes: Notes,
  spec: Record<string, unknown>,
  path: string,
  namespace: string | undefined,
): EngineParts {
  const parts: EngineParts = {
    method: [],
    hold: 0,
    hypothesis: [],
    safeguards: [],
    runtime: {},
    configuration: {},
  };
  const at = (k: string) => join(path, k);
  const appinfo = record(notes, spec.appinfo, at('appinfo')) ?? {};
  const appns = string(notes, appinfo.appns, join(at('appinfo'), 'appns')) || undefined;
  const applabel = string(
    notes,
    appinfo.applabel ?? appinfo.appLabel,
    join(at('appinfo'), appinfo.appLabel !== undefined ? 'appLabel' : 'applabel'),
  );
  const ns = appns ?? namespace;
  const sel = selector(
    notes,
    applabel,
    join(at('appinfo'), appinfo.appLabel !== undefined ? 'appLabel' : 'applabel'),
  );
  if (appns) notes.mapped(join(at('appinfo'), 'appns'), 'targets.namespaces');
  if (applabel)
    notes.mapped(
      join(at('appinfo'), appinfo.appLabel !== undefined ? 'appLabel' : 'applabel'),
      'targets.selector',
    );
  if (appinfo.appkind !== undefined)
    notes.ignored(
      join(at('appinfo'), 'appkind'),
      'hosts have no deployment kinds: the labels alone pick the workloads',
    );
  notes.rest(appinfo, at('appinfo'), ['appns', 'applabel', 'appLabel', 'appkind'], 'appinfo');
  const base: Targets | undefined =
    sel === undefined
      ? undefined
      : { on: 'workloads', ...(ns ? { namespaces: [ns] } : {}), selector: sel, mode: 'one' };

  const state = spec.engineState;
  if (state === 'stop')
    notes.refused(at('engineState'), 'stop: the engine is stopped, nothing would run (set active)');
  else if (state !== undefined && state !== 'active')
    notes.refused(at('engineState'), `expected active or stop, got ${describe(state)}`);
  else if (state !== undefined) notes.mapped(at('engineState'), 'method', 'active: runs');
  if (spec.chaosServiceAccount !== undefined)
    notes.warned(at('chaosServiceAccount'), 'Kubernetes RBAC: agents act with their own privileges');
  const ac = spec.annotationCheck;
  if (ac === true || ac === 'true')
    notes.refused(
      at('annotationCheck'),
      'true: Litmus only targets apps annotated litmuschaos.io/chaos="true"; workloads have no annotations, so ignoring it could hit apps you excluded (set it false)',
    );
  else if (ac !== undefined) notes.ignored(at('annotationCheck'), 'false: no annotation needed');
  for (const k of ['jobCleanUpPolicy', 'terminationGracePeriodSeconds'])
    if (spec[k] !== undefined)
      notes.ignored(at(k), 'Litmus runs experiments as Kubernetes jobs; Faultline runs none');
  if (spec.monitoring !== undefined)
    notes.ignored(
      at('monitoring'),
      "Litmus' chaos-exporter: Faultline's run metrics come from --metrics and the journal",
    );
  if (spec.defaultHealthCheck !== undefined)
    notes.ignored(
      at('defaultHealthCheck'),
      "Litmus' built-in pod status checks: add probes for the checks you need",
    );
  if (spec.auxiliaryAppInfo !== undefined)
    notes.ignored(
      at('auxiliaryAppInfo'),
      "apps whose pods Litmus' built-in health checks watch: add probes for them",
    );
  if (spec.components !== undefined)
    notes.warned(at('components'), "the chaos-runner pod's settings: Faultline runs no pod");
  if (spec.selectors !== undefined)
    notes.refused(at('selectors'), 'not translated yet: pick the workloads with appinfo (appns, applabel)');
  const run = record(notes, spec.experimentRun, at('experimentRun'));
  if (run) {
    // The seeds' dialect (not Litmus): how long the whole engine may run, and whether it repeats.
    if (run.repeat === true)
      notes.refused(
        join(at('experimentRun'), 'repeat'),
        'a repeating run is a schedule: use a ChaosSchedule (or a server schedule)',
      );
    else if (run.repeat !== undefined)
      notes.mapped(join(at('experimentRun'), 'repeat'), 'method', 'runs once');
    const d = Number(run.duration);
    if (run.duration !== undefined) {
      if (!Number.isFinite(d) || d <= 0)
        notes.refused(
          join(at('experimentRun'), 'duration'),
          `expected seconds, got ${describe(run.duration)}`,
        );
      else {
        parts.runtime.max_duration = d;
        notes.mapped(
          join(at('experimentRun'), 'duration'),
          'runtime.max_duration',
          "the seeds' dialect: the whole run is stopped (faults reverted) after this many seconds",
        );
      }
    }
    notes.rest(run, at('experimentRun'), ['repeat', 'duration'], 'experimentRun');
  }
  notes.rest(
    spec,
    path,
    [
      'appinfo',
      'engineState',
      'chaosServiceAccount',
      'annotationCheck',
      'jobCleanUpPolicy',
      'terminationGracePeriodSeconds',
      'monitoring',
      'defaultHealthCheck',
      'auxiliaryAppInfo',
      'components',
      'selectors',
      'experiments',
      'experimentRun',
    ],
    'ChaosEngine',
  );

  const sink: ProbeSink = {
    hypothesis: [],
    hypothesisModes: [],
    safeguards: [],
    configuration: parts.configuration,
  };
  const experiments = list(notes, spec.experiments, at('experiments'));
  if (!experiments || experiments.length === 0) {
    notes.refused(at('experiments'), 'expected at least one experiment');
    return parts;
  }
  experiments.forEach((raw, i) => {
    const p = join(at('experiments'), i);
    const e = record(notes, raw, p);
    if (!e) return;
    notes.rest(e, p, ['name', 'spec'], 'an experiment entry');
    const name = string(notes, e.name, join(p, 'name'));
    const def = name ? EXPERIMENTS[name] : undefined;
    if (!name || !def) {
      notes.refused(
        join(p, 'name'),
        `${describe(e.name)} is not an experiment Faultline translates (it knows ${EXPERIMENT_NAMES.join(', ')})`,
      );
      return;
    }
    const espec = record(notes, e.spec, join(p, 'spec')) ?? {};
    notes.rest(espec, join(p, 'spec'), ['components', 'probe'], 'an experiment spec');
    const components = record(notes, espec.components, join(join(p, 'spec'), 'components')) ?? {};
    const cp = join(join(p, 'spec'), 'components');
    for (const k of Object.keys(components)) {
      if (k === 'env') continue;
      if (PLUMBING_COMPONENTS.includes(k))
        notes.warned(join(cp, k), "the experiment pod's Kubernetes settings: Faultline runs no pod");
      else notes.refused(join(cp, k), 'unknown field: an experiment component Faultline does not know');
    }
    const env = new Env(notes, components.env, join(cp, 'env'));
    const duration = env.int('TOTAL_CHAOS_DURATION', def.defaultDuration, 1, 7 * 24 * 3600);
    const ramp = env.int('RAMP_TIME', 0, 0, 24 * 3600);
    plumbing(env);
    const targets =
      def.on === 'agents' ? agentTargets(notes, env) : base ? workloadTargets(notes, env, base) : undefined;
    if (def.on === 'agents' && (appns || applabel))
      notes.ignored(at('appinfo'), `${name} acts on nodes (agents), not on the app's workloads`);
    if (def.on === 'workloads' && !ns)
      notes.refused(
        join(at('appinfo'), 'appns'),
        'expected the namespace of the app (appinfo.appns, or metadata.namespace): without it any workload of the fleet could be hit',
      );
    if (def.on === 'workloads') {
      const container = env.has('TARGET_CONTAINER');
      if (container && name !== 'container-kill')
        env.note(
          'TARGET_CONTAINER',
          'ignored',
          `${name} acts on the whole workload (its network namespace, its host): the container does not narrow it`,
        );
    }
    if (duration === undefined || ramp === undefined || !targets) {
      env.leftovers(name, [...COMMON_ENV, ...def.env]);
      return;
    }
    const ctx: ExperimentContext = {
      env,
      notes,
      path: p,
      name,
      targets,
      duration,
      configuration: parts.configuration,
    };
    const built = def.build(ctx);
    env.leftovers(name, [...COMMON_ENV, ...def.env]);
    if (!built) return;
    const lasts = (built.actions[0]?.provider as { arguments?: Record<string, unknown> } | undefined)
      ?.arguments?.duration;
    const durationTo = lasts === undefined ? 'pauses + hold' : 'arguments.duration';
    env.mapped('TOTAL_CHAOS_DURATION', durationTo, 'seconds');
    if (!env.has('TOTAL_CHAOS_DURATION'))
      notes.mapped(
        join(cp, 'env'),
        `${durationTo}: ${duration}`,
        `TOTAL_CHAOS_DURATION not set: ${duration} s, the default of Litmus' ${name}`,
      );
    let hold = built.hold;
    if (ramp > 0) {
      const first = built.actions[0]!;
      first.pauses = { ...(first.pauses ?? {}), before: ramp };
      hold += ramp;
      env.mapped(
        'RAMP_TIME',
        'pauses.before + the hold after',
        'Litmus waits RAMP_TIME before and after the chaos',
      );
    }
    if (parts.method.length > 0) {
      const last = parts.method[parts.method.length - 1]!;
      last.pauses = { ...(last.pauses ?? {}), after: Math.max(Number(last.pauses?.after ?? 0), parts.hold) };
    }
    parts.method.push(...built.actions);
    parts.hold = hold;
    translateProbes(notes, espec.probe, join(join(p, 'spec'), 'probe'), sink);
  });
  parts.hypothesis = sink.hypothesis;
  parts.safeguards = sink.safeguards;
  const modes = new Set(sink.hypothesisModes);
  if (modes.size === 1 && modes.has('EOT')) parts.runtime.hypothesis = { strategy: 'after-method-only' };
  else if (modes.has('EOT'))
    notes.warned(
      `${path}.experiments`,
      'EOT probes beside Edge ones: Faultline has one hypothesis, checked before and after, so the EOT probes are also checked before the method',
    );
  return parts;
}
