/**
 * PodChaos: pod-kill -> `faultline.process` kill (SIGKILL to every process of
 * the workload, as a pod deleted with no grace period loses them);
 * pod-failure -> process pause for the duration (SIGSTOP, then SIGCONT on
 * revert); container-kill -> a kill of the named containers' processes, which
 * needs the fleet to map `containerNames` to a workload's `containers`.
 */
import { join, list, string } from '../notes.js';
import { at, type Ctx, duration, faultAction, int, type Piece, remoteCluster, slug } from './common.js';
import { asTargets, targetsOf } from './selector.js';

export const POD_ACTIONS = ['pod-kill', 'pod-failure', 'container-kill'] as const;

/**
 * Whether the fleet hands a `containers` argument to a workload's `containers`
 * finders (src/fleet/workloads.ts). Until it does, container-kill and
 * `containerNames` are refused rather than widened to the whole workload.
 */
export const FLEET_MAPS_CONTAINERS = false;

export const POD_FIELDS = [
  'selector',
  'mode',
  'value',
  'action',
  'duration',
  'gracePeriod',
  'containerNames',
  'remoteCluster',
];

export function podChaos(ctx: Ctx, spec: Record<string, unknown>): Piece {
  const { notes } = ctx;
  notes.rest(spec, ctx.path, POD_FIELDS, 'Chaos Mesh PodChaos');
  remoteCluster(ctx, spec);
  const targets = asTargets(targetsOf(ctx, spec));
  const actionPath = at(ctx, 'action');
  const action = spec.action === undefined ? 'pod-kill' : string(notes, spec.action, actionPath);
  if (action !== undefined && !POD_ACTIONS.includes(action as (typeof POD_ACTIONS)[number])) {
    notes.refused(actionPath, `expected one of ${POD_ACTIONS.join(', ')}, got ${JSON.stringify(action)}`);
    return { timeline: [], span: 0 };
  }
  const containers = containerNames(ctx, spec, action === 'container-kill');
  const grace = int(notes, spec.gracePeriod, at(ctx, 'gracePeriod'), 0, 86_400);
  const name = `${slug(ctx.name)}-${action ?? 'pod-kill'}`;

  if (action === 'pod-failure') {
    notes.mapped(
      actionPath,
      'faultline.process pause',
      "Chaos Mesh swaps the pod's containers for a pause image until the end, so the pod is down and restarts; Faultline stops the workload's processes (SIGSTOP) for the duration and resumes them (SIGCONT): connections stay open and hang rather than being refused, and nothing restarts",
    );
    if (spec.gracePeriod !== undefined)
      notes.ignored(at(ctx, 'gracePeriod'), 'only pod-kill deletes pods with a grace period');
    const seconds = duration(ctx, spec);
    return {
      timeline: [
        {
          at: 0,
          activity: faultAction(name, 'process', 'pause', { mode: 'all', duration: seconds }, targets),
        },
      ],
      span: seconds,
    };
  }
  // pod-kill and container-kill: one signal, once.
  const signal = grace !== undefined && grace > 0 ? 'SIGTERM' : 'SIGKILL';
  notes.mapped(
    actionPath,
    'faultline.process kill',
    action === 'container-kill'
      ? "the named containers' processes get SIGKILL; nothing restarts them unless the host's supervisor does (Kubernetes would)"
      : "every process of the workload gets SIGKILL, as a pod deleted without a grace period; nothing restarts it unless the host's supervisor does (Kubernetes would recreate the pod)",
  );
  if (spec.gracePeriod !== undefined && grace !== undefined)
    notes.mapped(
      at(ctx, 'gracePeriod'),
      'arguments.signal',
      grace > 0
        ? `SIGTERM: Kubernetes sends SIGTERM and, ${grace} s later, SIGKILL; Faultline sends SIGTERM only (no SIGKILL after the grace period)`
        : 'SIGKILL: no grace period',
    );
  const span = duration(ctx, spec, true);
  const args: Record<string, unknown> = { signal, mode: 'all', ...(containers ? { containers } : {}) };
  return { timeline: [{ at: 0, activity: faultAction(name, 'process', 'kill', args, targets) }], span };
}

/** `containerNames` as the `containers` argument, or a refusal until the fleet maps them. */
export function containerNames(
  ctx: Ctx,
  spec: Record<string, unknown>,
  required: boolean,
): string[] | undefined {
  const path = at(ctx, 'containerNames');
  if (spec.containerNames === undefined) {
    if (required) ctx.notes.refused(path, 'container-kill needs containerNames (the containers to kill)');
    return undefined;
  }
  const l = list(ctx.notes, spec.containerNames, path);
  if (!l) return undefined;
  const bad = l.findIndex((x) => typeof x !== 'string' || !/^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/.test(x));
  if (bad >= 0) {
    ctx.notes.refused(join(path, bad), 'expected a container name (lowercase letters, digits and -)');
    return undefined;
  }
  if (!FLEET_MAPS_CONTAINERS) {
    ctx.notes.refused(
      path,
      "the fleet does not map container names to a workload's processes yet: remove containerNames to act on the whole workload (PodChaos: use pod-kill)",
    );
    return undefined;
  }
  ctx.notes.mapped(
    path,
    'arguments.containers',
    "each name is one of the workload's `containers` in the agent's workloads file",
  );
  return l as string[];
}
