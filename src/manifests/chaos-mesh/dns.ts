/**
 * DNSChaos -> `faultline.network` dns: the workload's DNS queries are
 * rejected, so every lookup fails at once (Chaos Mesh's `error`, which answers
 * with an error). Faultline blocks port 53 rather than answering, so it cannot
 * return random addresses (`random`) nor pick domain names (`patterns`): both
 * refused rather than widened.
 */
import { list, string } from '../notes.js';
import { at, type Ctx, duration, faultAction, type Piece, remoteCluster, slug } from './common.js';
import { asTargets, targetsOf } from './selector.js';

export const DNS_FIELDS = [
  'selector',
  'mode',
  'value',
  'containerNames',
  'action',
  'patterns',
  'duration',
  'remoteCluster',
];

export function dnsChaos(ctx: Ctx, spec: Record<string, unknown>): Piece {
  const { notes } = ctx;
  notes.rest(spec, ctx.path, DNS_FIELDS, 'Chaos Mesh DNSChaos');
  remoteCluster(ctx, spec);
  const targets = asTargets(targetsOf(ctx, spec));
  if (spec.containerNames !== undefined)
    notes.ignored(
      at(ctx, 'containerNames'),
      "a pod's containers share its network: DNS fails for all of them",
    );
  const seconds = duration(ctx, spec);
  const actionPath = at(ctx, 'action');
  const action = string(notes, spec.action, actionPath);
  let ok = true;
  if (action === 'error')
    notes.mapped(
      actionPath,
      'faultline.network dns (action reject)',
      'queries to port 53 are rejected, so every lookup fails at once; Chaos Mesh answers them with an error',
    );
  else {
    ok = false;
    notes.refused(
      actionPath,
      action === 'random'
        ? 'Faultline blocks DNS rather than answering it, so it cannot return random addresses: use action error'
        : `expected error or random, got ${JSON.stringify(spec.action)}`,
    );
  }
  const pp = at(ctx, 'patterns');
  const patterns = spec.patterns === undefined ? undefined : list(notes, spec.patterns, pp);
  if (patterns && patterns.length > 0) {
    if (patterns.every((p) => p === '*')) notes.ignored(pp, 'every domain name, as Faultline fails them');
    else {
      ok = false;
      notes.refused(
        pp,
        "Faultline's dns fault fails every lookup (it blocks port 53), it cannot pick domain names: remove patterns to fail them all",
      );
    }
  } else if (patterns) notes.ignored(pp, 'empty: every domain name, as Faultline fails them');
  if (!ok) return { timeline: [], span: seconds };
  return {
    timeline: [
      {
        at: 0,
        activity: faultAction(
          `${slug(ctx.name)}-dns`,
          'network',
          'dns',
          { action: 'reject', duration: seconds },
          targets,
        ),
      },
    ],
    span: seconds,
  };
}
