/**
 * Chaos Mesh's pod selector + mode as Faultline `targets:` that pick the
 * fleet's workloads (src/core/workload.ts) the way Chaos Mesh picks pods:
 * namespaces, labelSelectors (matchLabels), expressionSelectors
 * (matchExpressions), pods (names `ns/name`), nodes (agentNames),
 * nodeSelectors (agentSelector); the modes keep their names. What a host has
 * no notion of (annotations, field selectors, pod phases) is refused unless it
 * asks for nothing a workload could fail.
 */
import { KEY_PATTERN, MODES, type Mode, OPERATORS, VALUE_PATTERN } from '../../core/fleet.js';
import { K8S_NAME_PATTERN } from '../../core/workload.js';
import { describe, isRecord, join, list, type Notes, record, string } from '../notes.js';
import { type Ctx, int } from './common.js';

type Labels = Record<string, string>;
interface Requirement {
  key: string;
  operator: (typeof OPERATORS)[number];
  values?: string[];
}
export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: Requirement[];
}

/** The picking part a source selector and its mode produce (targets or peers). */
export interface Picked {
  selector: LabelSelector;
  namespaces?: string[];
  names?: string[];
  agentNames?: string[];
  agentSelector?: LabelSelector;
  mode: Mode;
  value?: number;
}

const SELECTOR_FIELDS = [
  'namespaces',
  'labelSelectors',
  'expressionSelectors',
  'pods',
  'nodes',
  'nodeSelectors',
  'annotationSelectors',
  'fieldSelectors',
  'podPhaseSelectors',
] as const;

function labels(notes: Notes, v: unknown, path: string, to: string): Labels | undefined {
  const r = record(notes, v, path);
  if (!r) return undefined;
  const out: Labels = {};
  let ok = true;
  for (const [k, val] of Object.entries(r)) {
    const p = join(path, k);
    if (!KEY_PATTERN.test(k)) {
      notes.refused(
        p,
        `expected a label key (letters, digits, -, _, . with an optional prefix/), got ${JSON.stringify(k)}`,
      );
      ok = false;
      continue;
    }
    const s =
      typeof val === 'string'
        ? val
        : typeof val === 'number' || typeof val === 'boolean'
          ? String(val)
          : undefined;
    if (s === undefined || !VALUE_PATTERN.test(s)) {
      notes.refused(p, `expected a label value (up to 63 letters, digits, -, _, .), got ${describe(val)}`);
      ok = false;
      continue;
    }
    out[k] = s;
  }
  if (!ok) return undefined;
  notes.mapped(path, to);
  return Object.keys(out).length ? out : undefined;
}

function expressions(notes: Notes, v: unknown, path: string, to: string): Requirement[] | undefined {
  const l = list(notes, v, path);
  if (!l) return undefined;
  const out: Requirement[] = [];
  let ok = true;
  l.forEach((item, i) => {
    const p = join(path, i);
    const r = record(notes, item, p);
    if (!r) {
      ok = false;
      return;
    }
    notes.rest(r, p, ['key', 'operator', 'values'], 'a Kubernetes label selector requirement');
    const key = string(notes, r.key, join(p, 'key'));
    const op = string(notes, r.operator, join(p, 'operator'));
    if (key === undefined || !KEY_PATTERN.test(key)) {
      notes.refused(join(p, 'key'), `expected a label key, got ${describe(r.key)}`);
      ok = false;
    }
    if (!OPERATORS.includes(op as Requirement['operator'])) {
      notes.refused(
        join(p, 'operator'),
        `expected one of ${OPERATORS.join(', ')}, got ${describe(r.operator)}`,
      );
      ok = false;
    }
    const values = r.values === undefined ? undefined : list(notes, r.values, join(p, 'values'));
    const strs = values?.map((x) => (typeof x === 'string' || typeof x === 'number' ? String(x) : undefined));
    if (strs?.some((x) => x === undefined || !VALUE_PATTERN.test(x))) {
      notes.refused(join(p, 'values'), 'expected a list of label values');
      ok = false;
    }
    const n = strs?.length ?? 0;
    if ((op === 'In' || op === 'NotIn') && n === 0) {
      notes.refused(join(p, 'values'), `${op} needs at least one value`);
      ok = false;
    }
    if ((op === 'Exists' || op === 'DoesNotExist') && n > 0) {
      notes.refused(join(p, 'values'), `${op} takes no values`);
      ok = false;
    }
    if (ok)
      out.push({
        key: key!,
        operator: op as Requirement['operator'],
        ...(n ? { values: strs as string[] } : {}),
      });
  });
  if (!ok) return undefined;
  notes.mapped(path, to);
  return out.length ? out : undefined;
}

function names(notes: Notes, v: unknown, path: string, what: string): string[] | undefined {
  const l = list(notes, v, path);
  if (!l) return undefined;
  const bad = l.find((x) => typeof x !== 'string' || !K8S_NAME_PATTERN.test(x));
  if (bad !== undefined) {
    notes.refused(path, `expected a list of ${what} (lowercase letters, digits and -), got ${describe(bad)}`);
    return undefined;
  }
  return l.length ? (l as string[]) : undefined;
}

/**
 * `selector` + `mode` + `value` of a PodSelector (the chaos's own, or `target`'s) as picked workloads.
 * `peer`: the selection is a `target`, whose peers take no agents.
 */
export function pick(
  ctx: Ctx,
  parent: Record<string, unknown>,
  parentPath: string,
  to: string,
  peer = false,
): Picked | undefined {
  const { notes } = ctx;
  const selPath = join(parentPath, 'selector');
  const sel = record(notes, parent.selector, selPath) ?? {};
  if (parent.selector === undefined)
    notes.refused(
      selPath,
      'expected a selector (namespaces, labelSelectors, pods...): Chaos Mesh requires one',
    );
  notes.rest(sel, selPath, SELECTOR_FIELDS, 'a Chaos Mesh selector');
  const out: Picked = { selector: {}, mode: 'one' };
  const p = (k: string) => join(selPath, k);

  const pods = record(notes, sel.pods, p('pods'));
  if (pods) {
    const refs: string[] = [];
    for (const [ns, podNames] of Object.entries(pods)) {
      if (!K8S_NAME_PATTERN.test(ns)) {
        notes.refused(
          join(p('pods'), ns),
          'expected a namespace (lowercase letters, digits and -) as the key',
        );
        continue;
      }
      for (const n of names(notes, podNames, join(p('pods'), ns), 'pod names') ?? []) refs.push(`${ns}/${n}`);
    }
    if (refs.length) {
      out.names = refs;
      notes.mapped(p('pods'), `${to}.names`, 'each pod is the workload of that namespace and name');
    }
  }
  if (sel.namespaces !== undefined) {
    const ns = names(notes, sel.namespaces, p('namespaces'), 'namespaces');
    if (ns) {
      out.namespaces = ns;
      notes.mapped(p('namespaces'), `${to}.namespaces`);
    }
  } else if (!pods) {
    // Chaos Mesh's webhook fills an empty selector.namespaces with the object's namespace.
    out.namespaces = [ctx.namespace];
    notes.mapped(
      p('namespaces'),
      `${to}.namespaces`,
      `absent: Chaos Mesh selects in the object's own namespace (${ctx.namespace})`,
    );
  }
  const ml =
    sel.labelSelectors === undefined
      ? undefined
      : labels(notes, sel.labelSelectors, p('labelSelectors'), `${to}.selector.matchLabels`);
  if (ml) out.selector.matchLabels = ml;
  const me =
    sel.expressionSelectors === undefined
      ? undefined
      : expressions(
          notes,
          sel.expressionSelectors,
          p('expressionSelectors'),
          `${to}.selector.matchExpressions`,
        );
  if (me) out.selector.matchExpressions = me;

  if (sel.nodes !== undefined) {
    if (peer)
      notes.refused(
        p('nodes'),
        "a target's workloads are picked by their own labels, not by agent: remove nodes",
      );
    else {
      const l = list(notes, sel.nodes, p('nodes'));
      const bad = l?.find((x) => typeof x !== 'string' || x.length === 0 || x.length > 64);
      if (bad !== undefined)
        notes.refused(p('nodes'), `expected a list of agent names, got ${describe(bad)}`);
      else if (l?.length) {
        out.agentNames = l as string[];
        notes.mapped(p('nodes'), `${to}.agentNames`, 'a Kubernetes node is a Faultline agent (its --name)');
      }
    }
  }
  if (sel.nodeSelectors !== undefined) {
    if (peer)
      notes.refused(
        p('nodeSelectors'),
        "a target's workloads are picked by their own labels, not by agent: remove nodeSelectors",
      );
    else {
      const al = labels(notes, sel.nodeSelectors, p('nodeSelectors'), `${to}.agentSelector.matchLabels`);
      if (al) out.agentSelector = { matchLabels: al };
    }
  }
  for (const k of ['annotationSelectors', 'fieldSelectors'] as const) {
    const v = sel[k];
    if (v === undefined) continue;
    if (isRecord(v) && Object.keys(v).length === 0) notes.ignored(p(k), 'empty: selects nothing more');
    else
      notes.refused(
        p(k),
        k === 'annotationSelectors'
          ? 'workloads carry labels, not annotations: express it with labelSelectors (and the label in the workloads file)'
          : "field selectors read Kubernetes objects' fields (spec.nodeName...): use nodes for the agent, or labels",
      );
  }
  if (sel.podPhaseSelectors !== undefined) {
    const l = list(notes, sel.podPhaseSelectors, p('podPhaseSelectors'));
    if (l?.every((x) => x === 'Running'))
      notes.ignored(
        p('podPhaseSelectors'),
        'a workload an agent hosts is running: Running asks nothing more',
      );
    else if (l)
      notes.refused(
        p('podPhaseSelectors'),
        'workloads have no pod phases (Pending, Succeeded, Failed...): only Running can be honoured',
      );
  }

  const modePath = join(parentPath, 'mode');
  const mode = string(notes, parent.mode, modePath);
  if (mode === undefined)
    notes.refused(modePath, `expected a mode (${MODES.join(', ')}): Chaos Mesh requires one`);
  else if (!MODES.includes(mode as Mode))
    notes.refused(modePath, `expected one of ${MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  else {
    out.mode = mode as Mode;
    notes.mapped(modePath, `${to}.mode`);
  }
  const valuePath = join(parentPath, 'value');
  if (out.mode === 'one' || out.mode === 'all') {
    if (parent.value !== undefined && parent.value !== '')
      notes.ignored(valuePath, `mode ${out.mode} takes no value (Chaos Mesh ignores it too)`);
  } else if (mode !== undefined && MODES.includes(mode as Mode)) {
    const v =
      parent.value === undefined
        ? undefined
        : out.mode === 'fixed'
          ? int(notes, parent.value, valuePath, 1, 100_000)
          : int(notes, parent.value, valuePath, 1, 100);
    if (parent.value === undefined)
      notes.refused(
        valuePath,
        `mode ${out.mode} needs a value (${out.mode === 'fixed' ? 'how many' : 'a percentage from 1 to 100'})`,
      );
    else if (v !== undefined) {
      out.value = v;
      notes.mapped(valuePath, `${to}.value`);
    }
  }
  return out;
}

/** The chaos's own selection: `targets: {on: workloads, ...}`. */
export function targetsOf(ctx: Ctx, spec: Record<string, unknown>): Picked {
  return pick(ctx, spec, ctx.path, 'targets') ?? { selector: {}, mode: 'one' };
}

/** A `target` PodSelector (workloads picked the same way), for `targets.peers`. */
export function targetPick(ctx: Ctx, target: Record<string, unknown>, path: string): Picked {
  ctx.notes.rest(target, path, ['selector', 'mode', 'value'], 'a Chaos Mesh target');
  return pick(ctx, target, path, 'targets.peers', true) ?? { selector: {}, mode: 'one' };
}

export const asTargets = (p: Picked): Record<string, unknown> => ({ on: 'workloads', ...p });

/** Peers pick workloads only: no agents. */
export function asPeers(p: Picked): Record<string, unknown> {
  const { agentNames: _a, agentSelector: _s, ...peer } = p;
  return peer;
}
