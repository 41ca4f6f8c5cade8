/**
 * FIS targets -> Faultline `targets:` blocks. EC2 instances are the fleet's
 * agents (hosts), picked by their labels; ECS tasks and EKS pods are the
 * workloads the agents host (src/core/workload.ts), picked by theirs. Tags
 * become labels as they are, so a tag that is not a valid Kubernetes label is
 * refused naming it rather than bent into one.
 */
import {
  KEY_PATTERN,
  type LabelSelector,
  parseSelector,
  type Targets,
  VALUE_PATTERN,
} from '../../core/fleet.js';
import { describe, join, list, type Notes, record, string } from '../notes.js';
import { Fields } from './fields.js';

export type TargetKind = 'instance' | 'task' | 'pod';

export interface FisTarget {
  kind: TargetKind;
  resourceType: string;
  targets: Targets;
  path: string;
}

const RESOURCE_TYPES: Record<string, TargetKind> = {
  'aws:ec2:instance': 'instance',
  'aws:ecs:task': 'task',
  'aws:eks:pod': 'pod',
};

/** Where an instance id found in an ARN is looked for among the agents' labels. */
export const INSTANCE_ID_LABEL = 'instance-id';
/** Kubernetes' well-known zone label, for the AvailabilityZone filter. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export function translateTargets(notes: Notes, value: unknown, path: string): Map<string, FisTarget> {
  const out = new Map<string, FisTarget>();
  const targets = record(notes, value, path);
  if (!targets) return out;
  for (const [name, raw] of Object.entries(targets)) {
    const t = translateTarget(notes, raw, join(path, name));
    if (t) out.set(name, t);
  }
  return out;
}

function translateTarget(notes: Notes, raw: unknown, path: string): FisTarget | undefined {
  const obj = record(notes, raw, path);
  if (!obj) return undefined;
  const f = new Fields(obj, path);
  const rt = f.get('resourceType');
  const resourceType = string(notes, rt.value, rt.path);
  let ok = true;
  const fail = (p: string, why: string) => {
    notes.refused(p, why);
    ok = false;
  };
  const kind = resourceType === undefined ? undefined : RESOURCE_TYPES[resourceType];
  if (resourceType === undefined)
    fail(rt.path, 'expected a resourceType (aws:ec2:instance, aws:ecs:task or aws:eks:pod)');
  else if (!kind)
    fail(
      rt.path,
      `${resourceType} has no host equivalent: Faultline targets EC2 instances (its agents' hosts), ECS tasks and EKS pods (the workloads agents host)`,
    );
  else
    notes.mapped(
      rt.path,
      kind === 'instance' ? 'targets.on: agents' : 'targets.on: workloads',
      kind === 'instance'
        ? 'an EC2 instance is a host running a Faultline agent'
        : `an ${kind === 'task' ? 'ECS task' : 'EKS pod'} is a workload an agent hosts (docs/fleet.md#workloads)`,
    );
  const on: 'agents' | 'workloads' = kind === 'instance' ? 'agents' : 'workloads';
  const matchLabels: Record<string, string> = {};
  const matchExpressions: NonNullable<LabelSelector['matchExpressions']> = [];
  const t: Partial<Targets> & { on: 'agents' | 'workloads' } = { on };

  const tags = f.get('resourceTags');
  const tagObj = record(notes, tags.value, tags.path);
  if (tagObj) {
    for (const [k, v] of Object.entries(tagObj)) {
      const p = join(tags.path, k);
      if (typeof v !== 'string') fail(p, `expected a tag value (a string), got ${describe(v)}`);
      else if (!KEY_PATTERN.test(k))
        fail(
          p,
          `tag key ${JSON.stringify(k)} is not a valid label key (letters, digits, -, _, . up to 63, optional prefix/): Faultline selects by labels, rename the tag`,
        );
      else if (!VALUE_PATTERN.test(v))
        fail(
          p,
          `tag value ${JSON.stringify(v)} is not a valid label value (up to 63 letters, digits, -, _, ., starting and ending alphanumeric)`,
        );
      else {
        matchLabels[k] = v;
        notes.mapped(
          p,
          `targets.selector.matchLabels.${k}`,
          `the ${on === 'agents' ? "agents'" : "workloads'"} label ${k}=${v}`,
        );
      }
    }
  }

  const arns = f.get('resourceArns');
  const arnList = list(notes, arns.value, arns.path);
  if (arnList) {
    const names: string[] = [];
    for (const [i, a] of arnList.entries()) {
      const p = join(arns.path, i);
      const id = typeof a === 'string' ? /[:/]([^:/]+)$/.exec(a)?.[1] : undefined;
      if (!id) {
        fail(p, `expected an ARN, got ${describe(a)}`);
        continue;
      }
      if (kind === 'instance') {
        if (!VALUE_PATTERN.test(id)) {
          fail(p, `instance id ${JSON.stringify(id)} is not a label value`);
          continue;
        }
        names.push(id);
        notes.mapped(
          p,
          `targets.selector.matchExpressions (${INSTANCE_ID_LABEL} In)`,
          `the agent labelled ${INSTANCE_ID_LABEL}=${id} (start it with --label ${INSTANCE_ID_LABEL}=${id})`,
        );
      } else {
        names.push(id);
        notes.mapped(p, 'targets.names', `the workload named ${id}`);
      }
    }
    if (names.length) {
      if (kind === 'instance')
        matchExpressions.push({ key: INSTANCE_ID_LABEL, operator: 'In', values: names });
      else t.names = names;
    }
  }

  const filters = f.get('filters');
  const filterList = list(notes, filters.value, filters.path);
  for (const [i, raw] of (filterList ?? []).entries()) {
    const p = join(filters.path, i);
    const fo = record(notes, raw, p);
    if (!fo) continue;
    const ff = new Fields(fo, p);
    const fp = ff.get('path');
    const fv = ff.get('values');
    const vals = list(notes, fv.value, fv.path)?.map((v) => string(notes, v, fv.path) ?? '');
    ff.rest(notes, 'an FIS filter');
    const field = typeof fp.value === 'string' ? fp.value : undefined;
    if (!field || !vals) {
      fail(p, 'expected a filter with path and values');
      continue;
    }
    if (field === 'State.Name' && vals.every((v) => v === 'running')) {
      notes.ignored(
        p,
        'only running agents and workloads are ever picked (alive agents, workloads whose processes exist)',
      );
    } else if (field === 'Placement.AvailabilityZone' || field === 'AvailabilityZone') {
      if (vals.some((v) => !VALUE_PATTERN.test(v))) {
        fail(p, 'expected zone names (label values)');
        continue;
      }
      const req = { key: ZONE_LABEL, operator: 'In' as const, values: vals };
      if (on === 'agents') matchExpressions.push(req);
      else t.agentSelector = { matchExpressions: [...(t.agentSelector?.matchExpressions ?? []), req] };
      notes.mapped(
        p,
        on === 'agents' ? `targets.selector (${ZONE_LABEL} In)` : `targets.agentSelector (${ZONE_LABEL} In)`,
        `agents labelled ${ZONE_LABEL}=<zone>`,
      );
    } else {
      fail(
        p,
        `filter on ${field}: Faultline has no such attribute of ${on}; select with resourceTags (labels) instead`,
      );
    }
  }

  const params = f.get('parameters');
  const po = record(notes, params.value, params.path);
  if (po) {
    if (kind === 'pod') podParameters(notes, po, params.path, t, matchLabels, matchExpressions, fail);
    else if (kind === 'task') {
      const pf = new Fields(po, params.path);
      const cluster = pf.get('cluster');
      if (cluster.value !== undefined) notes.ignored(cluster.path, 'one fleet: its agents are the cluster');
      const service = pf.get('service');
      const s = string(notes, service.value, service.path);
      if (s !== undefined) {
        t.names = [...(t.names ?? []), s];
        notes.mapped(service.path, 'targets.names', 'the ECS service is the workload of that name');
      }
      pf.rest(notes, 'an aws:ecs:task target');
    } else {
      for (const k of Object.keys(po))
        fail(join(params.path, k), `${resourceType} targets take no parameters here`);
    }
  }

  const sel = f.get('selectionMode');
  const modeText = string(notes, sel.value, sel.path) ?? 'ALL';
  const mode = /^(ALL|COUNT|PERCENT)(?:\((\d+)\))?$/.exec(modeText.trim());
  if (!mode || (mode[1] === 'ALL') !== (mode[2] === undefined)) {
    fail(sel.path, `expected ALL, COUNT(n) or PERCENT(p), got ${JSON.stringify(modeText)}`);
  } else if (mode[1] === 'ALL') {
    t.mode = 'all';
    if (sel.value !== undefined) notes.mapped(sel.path, 'targets.mode: all');
  } else {
    const n = Number(mode[2]);
    if (mode[1] === 'COUNT' && n < 1) fail(sel.path, `expected COUNT(n) with n at least 1, got ${modeText}`);
    else if (mode[1] === 'PERCENT' && (n < 1 || n > 100))
      fail(sel.path, `expected PERCENT(p) with a whole percentage from 1 to 100, got ${modeText}`);
    else {
      t.mode = mode[1] === 'COUNT' ? 'fixed' : 'fixed-percent';
      t.value = n;
      notes.mapped(sel.path, `targets.mode: ${t.mode}, value: ${n}`);
    }
  }
  if (sel.value === undefined) t.mode = 'all';
  f.rest(notes, 'an FIS target');

  if (Object.keys(matchLabels).length === 0 && matchExpressions.length === 0 && !t.names && ok && kind) {
    notes.warned(
      path,
      `selects every ${on === 'agents' ? 'agent' : 'workload'} of the fleet (no resourceTags, resourceArns or parameters): the blast radius settings still apply`,
    );
  }
  if (!ok || !kind || !resourceType) return undefined;
  return {
    kind,
    resourceType,
    path,
    targets: {
      ...t,
      selector: {
        ...(Object.keys(matchLabels).length ? { matchLabels } : {}),
        ...(matchExpressions.length ? { matchExpressions } : {}),
      },
      mode: t.mode ?? 'all',
    } as Targets,
  };
}

/** aws:eks:pod targets name their pods through parameters rather than tags. */
function podParameters(
  notes: Notes,
  po: Record<string, unknown>,
  path: string,
  t: Partial<Targets>,
  matchLabels: Record<string, string>,
  matchExpressions: NonNullable<LabelSelector['matchExpressions']>,
  fail: (p: string, why: string) => void,
): void {
  const pf = new Fields(po, path);
  const cluster = pf.get('clusterIdentifier');
  if (cluster.value !== undefined) notes.ignored(cluster.path, 'one fleet: its agents are the cluster');
  const ns = pf.get('namespace');
  const namespace = string(notes, ns.value, ns.path);
  if (namespace !== undefined) {
    if (!/^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace))
      fail(ns.path, `expected a namespace, got ${JSON.stringify(namespace)}`);
    else {
      t.namespaces = [namespace];
      notes.mapped(ns.path, 'targets.namespaces');
    }
  }
  const st = pf.get('selectorType');
  const sv = pf.get('selectorValue');
  const type = string(notes, st.value, st.path);
  const value = string(notes, sv.value, sv.path);
  if (type !== undefined || value !== undefined) {
    if (type === 'labelSelector' && value !== undefined) {
      try {
        const s = parseSelector(value, sv.path);
        Object.assign(matchLabels, s.matchLabels ?? {});
        matchExpressions.push(...(s.matchExpressions ?? []));
        notes.mapped(sv.path, 'targets.selector');
      } catch (err) {
        fail(sv.path, (err as Error).message.replace(/^[^:]+: /, ''));
      }
      notes.mapped(st.path, 'targets.selector');
    } else if (type === 'podName' && value !== undefined) {
      t.names = [namespace ? `${namespace}/${value}` : value];
      notes.mapped(st.path, 'targets.names');
      notes.mapped(sv.path, 'targets.names');
    } else if (type === 'deploymentName') {
      fail(
        st.path,
        'a deployment has no host equivalent: select its pods with selectorType labelSelector (the labels its workloads carry)',
      );
    } else {
      fail(
        st.path,
        `expected selectorType labelSelector, podName or deploymentName with a selectorValue, got ${JSON.stringify(type)}`,
      );
    }
  }
  const az = pf.get('availabilityZoneIdentifier');
  const zone = string(notes, az.value, az.path);
  if (zone !== undefined) {
    t.agentSelector = { matchExpressions: [{ key: ZONE_LABEL, operator: 'In', values: [zone] }] };
    notes.mapped(az.path, `targets.agentSelector (${ZONE_LABEL} In)`);
  }
  const container = pf.get('targetContainerName');
  if (container.value !== undefined)
    fail(
      container.path,
      "a container within the pod: Faultline's faults act on the whole workload (its processes and network)",
    );
  pf.rest(notes, 'an aws:eks:pod target');
}
