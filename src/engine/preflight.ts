/**
 * Blast-radius checks before the run starts: every fault action of the method
 * and the rollbacks whose arguments can be resolved now (configuration and
 * secrets substituted) has its targets resolved and checked, so a run that
 * reaches too far is refused before anything is injected. Each fault is
 * checked on its own here; what the run holds at once is checked again by the
 * fault session at each injection.
 */
import { FaultlineError } from '../core/errors.js';
import type { Activity, Experiment } from '../core/schema.js';
import { isRef } from '../core/schema.js';
import { substitute, type Vars } from '../experiment/substitute.js';
import type { ResolvedTargets } from '../faults/types.js';
import { type BlastRadiusPolicy, checkBlastRadius } from '../safety/blast-radius.js';
import { findBuiltin } from './builtins.js';
import type { LogLevel } from './context.js';

/** The experiment's own policies (either spelling) after the given ones (settings file). */
export function blastRadiusPolicies(
  experiment: Experiment,
  outside: readonly BlastRadiusPolicy[] = [],
): BlastRadiusPolicy[] {
  const own: BlastRadiusPolicy[] = [];
  if (experiment.blast_radius)
    own.push({ source: "the experiment's blast_radius", policy: experiment.blast_radius });
  if (experiment.blastRadius)
    own.push({ source: "the experiment's blastRadius", policy: experiment.blastRadius });
  return [...outside, ...own];
}

export async function preflightBlastRadius(
  experiment: Experiment,
  policies: readonly BlastRadiusPolicy[],
  vars: Vars,
  log: (level: LogLevel, message: string) => void,
): Promise<void> {
  if (policies.length === 0) return;
  const activities = [...experiment.method, ...(experiment.rollbacks ?? [])].filter(
    (a): a is Activity => !isRef(a),
  );
  for (const a of activities) {
    if (a.provider.type !== 'faultline') continue;
    const kind = findBuiltin(a.provider.module, a.provider.func)?.fault;
    if (!kind) continue;
    const { duration: _duration, ...raw } = (substitute(a.provider.arguments ?? {}, vars) ?? {}) as Record<
      string,
      unknown
    >;
    const parsed = kind.args.safeParse(raw);
    if (!parsed.success) continue; // reported when the action runs
    let resolved: ResolvedTargets;
    try {
      resolved = kind.resolveTargets
        ? await kind.resolveTargets(parsed.data)
        : { targets: [{ type: kind.kind, name: kind.target(parsed.data) }] };
    } catch (err) {
      // Not resolvable yet (a process the method starts, say): checked when it is injected.
      const why = err instanceof Error ? err.message : String(err);
      log(
        'debug',
        `blast radius: '${a.name}' targets not resolvable before the run (${why}); checked at injection`,
      );
      continue;
    }
    try {
      checkBlastRadius(policies, `action '${a.name}'`, resolved);
    } catch (err) {
      if (err instanceof FaultlineError) {
        throw new FaultlineError(
          err.code,
          `${err.message}; the run was refused before anything was injected`,
          {
            issues: [...err.issues],
          },
        );
      }
      throw err;
    }
  }
}
