/**
 * PodChaos: pod-kill -> `faultline.process` kill (SIGKILL to every process of
 * the workload, as a pod deleted with no grace period loses them);
 * pod-failure -> process pause for the duration (SIGSTOP, then SIGCONT on
 * revert); container-kill -> a kill of the named containers' processes, which
 * one fault per `containerNames` entry, each a workload's `containers` finder.
 */

import type { Activity } from '../../core/schema.js';
import { join, list, string } from '../notes.js';
import {
  at,
  type Ctx,
  duration,
  faultAction,
  int,
  type Piece,
  remoteCluster,
  slug,
  type Timed,
} from './common.js';
import { asTargets, targetsOf } from './selector.js';

export const POD_ACTIONS = ['pod-kill', 'pod-failure', 'container-kill'] as const;

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
  const containers =
    action === 'pod-kill' ? undefined : containerNames(ctx, spec, action === 'container-kill');
  if (action === 'pod-kill' && spec.containerNames !== undefined)
    notes.ignored(at(ctx, 'containerNames'), 'pod-kill kills the whole pod (Chaos Mesh ignores it too)');
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
  const picked = action === 'container-kill' ? containers : undefined;
  if (action === 'container-kill' && !containers) return { timeline: [], span };
  return {
    timeline: perContainer(picked, (c, suffix) =>
      faultAction(`${name}${suffix}`, 'process', 'kill', { signal, mode: 'all', ...c }, targets),
    ),
    span,
  };
}

/** One fault per container (the fleet's `containers` argument takes one name), or one for the workload. */
function perContainer(
  containers: string[] | undefined,
  make: (args: Record<string, unknown>, suffix: string) => Activity,
): Timed[] {
  if (!containers) return [{ at: 0, activity: make({}, '') }];
  return containers.map((c) => ({ at: 0, activity: make({ containers: [c] }, `-${c}`) }));
}

/** `containerNames` as the names for the `containers` argument (src/fleet/workloads.ts). */
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
  ctx.notes.mapped(
    path,
    'arguments.containers',
    "one fault per name, each one of the workload's `containers` in the agent's workloads file (a workload without it is refused by the agent)",
  );
  return l as string[];
}
