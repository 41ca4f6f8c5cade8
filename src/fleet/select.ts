/**
 * Choosing agents: Kubernetes label selectors (`matchLabels` and set-based
 * `matchExpressions`, or the command line's `app=web,tier!=db,zone in (a,b),!canary`)
 * and Chaos Mesh's modes (`one`, `all`, `fixed` N, `fixed-percent` P,
 * `random-max-percent` P). Pure: the controller gives it the agents' labels
 * and a random source, so tests can seed it.
 *
 * Rounding is Chaos Mesh's: a percentage of the matching agents is rounded
 * DOWN (`floor(n * P / 100)`), so 30% of 3 agents is 0 agents, not 1;
 * `random-max-percent` draws a whole percentage uniformly in [0, P] first, then
 * rounds down the same way (it may select none). `fixed` N above the number of
 * matching agents selects them all. Values are whole numbers, as Chaos Mesh
 * parses them (strconv.Atoi).
 */
import { FaultlineError } from '../core/errors.js';
import { type LabelSelector, type Mode, type Targets, TargetsSchema } from '../core/fleet.js';
import { type WorkloadSummary, workloadRef } from '../core/workload.js';

// The shapes live in core (an experiment activity's `targets:` is part of the format the engine reads).
export {
  type LabelSelector,
  LabelSelectorSchema,
  MODES,
  type Mode,
  OPERATORS,
  parseSelector,
  type SelectorRequirement,
  SelectorRequirementSchema,
  type Targets,
  TargetsSchema,
} from '../core/fleet.js';

/** `targets` checked, or FAULTLINE_ERR_VALIDATION naming each bad field (`targets.value: ...`). */
export function parseTargets(input: unknown, path = 'targets'): Targets {
  const r = TargetsSchema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    path: [path, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  throw new FaultlineError(
    'FAULTLINE_ERR_VALIDATION',
    issues.map((i) => `${i.path}: ${i.message}`).join('; '),
    {
      issues,
    },
  );
}

/** Whether an agent's labels satisfy every part of the selector (an empty selector selects all, as Kubernetes). */
export function matchSelector(labels: Readonly<Record<string, string>>, selector: LabelSelector): boolean {
  const has = (k: string) => Object.hasOwn(labels, k);
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(k) || labels[k] !== v) return false;
  }
  for (const r of selector.matchExpressions ?? []) {
    const present = has(r.key);
    const inValues = present && (r.values ?? []).includes(labels[r.key]!);
    switch (r.operator) {
      case 'In':
        if (!inValues) return false;
        break;
      // As Kubernetes: NotIn (and `!=`) also selects agents without the label.
      case 'NotIn':
        if (inValues) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
    }
  }
  return true;
}

/** The selector as the command line writes it (`app=web,zone in (a,b),!canary`); `` for all. */
export function formatSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = `(${(r.values ?? []).join(',')})`;
    if (r.operator === 'In') parts.push(`${r.key} in ${values}`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin ${values}`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else parts.push(`!${r.key}`);
  }
  return parts.join(',');
}

/** How many of `n` matching agents a mode selects (before the random draw of which ones). */
export function targetCount(n: number, mode: Mode, value: number | undefined, random: () => number): number {
  if (n === 0) return 0;
  const v = value ?? 0;
  switch (mode) {
    case 'one':
      return 1;
    case 'all':
      return n;
    case 'fixed':
      return Math.min(Math.max(v, 0), n);
    case 'fixed-percent':
      return Math.floor((n * v) / 100);
    case 'random-max-percent': {
      const pct = Math.floor(random() * (v + 1));
      return Math.floor((n * Math.min(pct, v)) / 100);
    }
  }
}

/**
 * The agents a mode picks out of those that matched: `count` of them drawn
 * uniformly without replacement (a partial Fisher-Yates shuffle with `random`,
 * default Math.random), in their original order.
 */
export function pickTargets<T>(
  agents: readonly T[],
  targets: { mode: Mode; value?: number },
  random: () => number = Math.random,
): T[] {
  const count = targetCount(agents.length, targets.mode, targets.value, random);
  if (count >= agents.length) return [...agents];
  const idx = agents.map((_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => agents[i]!);
}

// ---------------------------------------------------------------- workloads

/** What workload selection needs of an agent: its name, labels and hosted workloads. */
export interface HostingAgent {
  name: string;
  labels: Readonly<Record<string, string>>;
  workloads?: readonly WorkloadSummary[] | undefined;
}

/** One workload on the agent that hosts it. */
export interface HostedWorkload<A extends HostingAgent = HostingAgent> {
  agent: A;
  workload: WorkloadSummary;
}

/** `name` or `namespace/name`, as `names` lists them (Chaos Mesh's `pods`, Istio's `hosts`). */
const nameMatches = (names: readonly string[], w: WorkloadSummary) =>
  names.some((n) => n === w.name || n === workloadRef(w));

type WorkloadFilter = Pick<Targets, 'namespaces' | 'names' | 'agentNames' | 'agentSelector'> & {
  selector?: LabelSelector | undefined;
};

/** The workloads that satisfy every part of a `targets:` block (or its `peers`), in agent then file order. */
export function matchWorkloads<A extends HostingAgent>(
  agents: readonly A[],
  t: WorkloadFilter,
): HostedWorkload<A>[] {
  const out: HostedWorkload<A>[] = [];
  for (const agent of agents) {
    if (t.agentNames && !t.agentNames.includes(agent.name)) continue;
    if (t.agentSelector && !matchSelector(agent.labels, t.agentSelector)) continue;
    for (const workload of agent.workloads ?? []) {
      if (t.namespaces && !t.namespaces.includes(workload.namespace)) continue;
      if (t.names && !nameMatches(t.names, workload)) continue;
      if (t.selector && !matchSelector(workload.labels, t.selector)) continue;
      out.push({ agent, workload });
    }
  }
  return out;
}

/** A `targets:` block's workload filter in words: `namespaces [payment], labels 'app=web'`. */
export function describeWorkloadFilter(t: WorkloadFilter): string {
  const parts: string[] = [];
  if (t.namespaces) parts.push(`namespaces [${t.namespaces.join(', ')}]`);
  if (t.selector) parts.push(`labels '${formatSelector(t.selector)}'`);
  if (t.names) parts.push(`names [${t.names.join(', ')}]`);
  if (t.agentNames) parts.push(`agents [${t.agentNames.join(', ')}]`);
  if (t.agentSelector) parts.push(`agent labels '${formatSelector(t.agentSelector)}'`);
  return parts.join(', ') || 'every workload';
}

/**
 * What the fleet offers, for "matches nothing" messages: each namespace with
 * its workloads' labels (`payment: app=payment-service,tier=backend; web: app=web`).
 */
export function describeSeenWorkloads(agents: readonly HostingAgent[]): string {
  const byNs = new Map<string, Set<string>>();
  for (const a of agents) {
    for (const w of a.workloads ?? []) {
      const set = byNs.get(w.namespace) ?? new Set<string>();
      set.add(`${w.name}{${formatSelector({ matchLabels: w.labels })}}`);
      byNs.set(w.namespace, set);
    }
  }
  if (byNs.size === 0) return 'no alive agent hosts any workload (start agents with --workloads FILE)';
  return [...byNs]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([ns, ws]) => `${ns}: ${[...ws].slice(0, 10).join(' ')}${ws.size > 10 ? ' ...' : ''}`)
    .join('; ');
}

/**
 * An agent's workloads as one cell (`payment/api{app=api} web/front{app=web}`),
 * for `faultline fleet`'s listing; `-` when it hosts none.
 */
export function workloadsText(agent: { workloads?: WorkloadSummary[] }, limit = 6): string {
  const ws = agent.workloads ?? [];
  if (ws.length === 0) return '-';
  const shown = ws.slice(0, limit).map((w) => {
    const labels = Object.entries(w.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return `${w.namespace}/${w.name}${labels ? `{${labels}}` : ''}`;
  });
  return `${shown.join(' ')}${ws.length > limit ? ` (+${ws.length - limit})` : ''}`;
}
