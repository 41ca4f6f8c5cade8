/**
 * Checks before the run starts, before anything is injected: every fault
 * action of the method and the rollbacks whose arguments are known now
 * (configuration and secrets substituted) has its targets resolved, so
 *   - a selection that is invalid whatever happens later (an ambiguous process
 *     name, arguments that contradict each other) refuses the run, exit 2,
 *     naming the activity and the argument, instead of failing half-way
 *     through the method with earlier faults in place;
 *   - a run that reaches too far for a blast-radius policy is refused.
 * What cannot be known yet (a process the method starts, a ${var} nothing
 * defines) is logged and checked again when the fault is injected. Each fault
 * is checked on its own here; what the run holds at once is checked again by
 * the fault session at each injection. Fault actions with `targets:` are
 * planned on the fleet instead (preflightFleet): a selection that matches no
 * agent or workload refuses the run the same way.
 */

import { type BlastRadiusPolicy, checkBlastRadius } from '../core/blast-radius.js';
import { FaultlineError, type Issue } from '../core/errors.js';
import type { FaultKind, ResolvedTargets } from '../core/fault.js';
import type { Targets } from '../core/fleet.js';
import type { Activity, ActivityOrRef, Experiment } from '../core/schema.js';
import { isRef } from '../core/schema.js';
import { substitute, type Vars } from '../experiment/substitute.js';
import type { FleetRunner, LogLevel, ProviderLookup } from './context.js';

/** A resolution slower than this (an unreachable database, say) is left to the injection. */
export const PREFLIGHT_RESOLVE_TIMEOUT_MS = 5_000;

const REFUSED = 'the run was refused before anything was injected';

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

const VAR = /\$(?:\$|([_a-zA-Z][_a-zA-Z0-9]*)|\{([_a-zA-Z][_a-zA-Z0-9]*)\})/g;

/** The `$name` / `${name}` references substitution left in place (nothing defines them yet). */
export function unsubstituted(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string') {
    for (const m of value.matchAll(VAR)) {
      const name = m[1] ?? m[2];
      if (name) out.add(name);
    }
  } else if (Array.isArray(value)) {
    for (const v of value) unsubstituted(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) unsubstituted(v, out);
  }
  return out;
}

/**
 * The fault actions (not refs) with where they sit: `method[2]`, `rollbacks[0]`.
 * Which fault an activity injects is its built-in activity's `fault`, found
 * through its provider (`builtinOf`: the faultline provider's fault actions).
 */
function faultActions(
  experiment: Experiment,
  providers: ProviderLookup,
): { a: Activity; at: string; kind: FaultKind }[] {
  const out: { a: Activity; at: string; kind: FaultKind }[] = [];
  const walk = (list: readonly ActivityOrRef[] | undefined, where: string) =>
    (list ?? []).forEach((a, i) => {
      if (isRef(a)) return;
      // A fault aimed at the fleet is checked by the fleet's controller against its agents, not here.
      if (a.targets) return;
      const kind = providers.get(a.provider.type)?.builtinOf?.(a.provider)?.fault;
      if (kind) out.push({ a, at: `${where}[${i}]`, kind });
    });
  walk(experiment.method, 'method');
  walk(experiment.rollbacks, 'rollbacks');
  return out;
}

/**
 * Activities with `targets:` must be fault actions (what an agent can run is a
 * fault kind, never a command), and the run must have a fleet to send them to:
 * refused before anything runs, naming the activity.
 */
export function checkFleetTargets(
  experiment: Experiment,
  providers: ProviderLookup,
  hasFleet: boolean,
): void {
  const issues: Issue[] = [];
  const walk = (list: readonly ActivityOrRef[] | undefined, where: string) =>
    (list ?? []).forEach((a, i) => {
      if (isRef(a) || !a.targets) return;
      const path = `${where}[${i}].targets`;
      if (!providers.get(a.provider.type)?.builtinOf?.(a.provider)?.fault) {
        issues.push({
          path,
          message: `'${a.name}' is not a fault action: only a fault (provider type faultline, module faultline.<group>) can run on the fleet's agents`,
        });
      } else if (!hasFleet) {
        issues.push({
          path,
          message: `'${a.name}' runs on the fleet, and this run has none: give --nats URL`,
        });
      }
    });
  walk(experiment.method, 'method');
  walk(experiment.rollbacks, 'rollbacks');
  if (issues.length > 0) {
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      issues.map((i) => `${i.path}: ${i.message}`).join('; '),
      { issues },
    );
  }
}

/** The fault actions with `targets:`, where they sit, and the kind's name as the agents know it. */
function fleetActions(
  experiment: Experiment,
  providers: ProviderLookup,
): { a: Activity & { targets: Targets }; at: string; kind: string }[] {
  const out: { a: Activity & { targets: Targets }; at: string; kind: string }[] = [];
  const walk = (list: readonly ActivityOrRef[] | undefined, where: string) =>
    (list ?? []).forEach((a, i) => {
      if (isRef(a) || !a.targets) return;
      const fault = providers.get(a.provider.type)?.builtinOf?.(a.provider)?.fault;
      if (!fault) return; // refused by checkFleetTargets
      // The name activities/faults.ts sends to the agents (`group.name`).
      const kind = fault.expose ? `${fault.expose.group}.${fault.expose.name}` : fault.kind;
      out.push({ a: a as Activity & { targets: Targets }, at: `${where}[${i}]`, kind });
    });
  walk(experiment.method, 'method');
  walk(experiment.rollbacks, 'rollbacks');
  return out;
}

/** The refusal of one action: its name, the argument's full path, the original message. */
function refusal(a: Activity, at: string, err: FaultlineError): FaultlineError {
  const args = `${at}.provider.arguments`;
  const issues: Issue[] = err.issues.map((i) => ({
    path: i.path ? `${args}.${i.path}` : args,
    message: i.message,
  }));
  // The kind's own message starts with the argument (`mode: ...`): given its full path, the CLI
  // sees the issue stated in the message and prints it once. Others start with the kind.
  const first = err.issues[0]?.path;
  const what =
    first && err.message.startsWith(`${first}: `) ? `${args}.${err.message}` : `${args}: ${err.message}`;
  return new FaultlineError(err.code, `action '${a.name}', ${REFUSED}: ${what}`, { issues, cause: err });
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((res) => {
    timer = setTimeout(() => res('timeout'), ms);
    timer.unref();
  });
  work.catch(() => undefined); // settled later, or never read: not an unhandled rejection
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves the targets of every fault action whose arguments are known now,
 * and checks them against the blast-radius policies (when any). Throws
 * FAULTLINE_ERR_VALIDATION for an action that cannot work whatever happens
 * later, FAULTLINE_ERR_POLICY for one that reaches too far; logs (debug) the
 * ones that cannot be resolved yet.
 */
export async function preflightBlastRadius(
  experiment: Experiment,
  policies: readonly BlastRadiusPolicy[],
  vars: Vars,
  log: (level: LogLevel, message: string) => void,
  providers: ProviderLookup,
  timeoutMs = PREFLIGHT_RESOLVE_TIMEOUT_MS,
): Promise<void> {
  for (const { a, at, kind } of faultActions(experiment, providers)) {
    const { duration: _duration, ...raw } = (substitute(a.provider.arguments ?? {}, vars) ?? {}) as Record<
      string,
      unknown
    >;
    const unknown = unsubstituted(raw);
    if (unknown.size > 0) {
      log(
        'debug',
        `preflight: '${a.name}' uses ${[...unknown].map((n) => `\${${n}}`).join(', ')}, not defined before the run; its targets are checked at injection`,
      );
      continue;
    }
    const parsed = kind.args.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      const first = issues[0] ?? { path: '', message: 'invalid arguments' };
      throw refusal(
        a,
        at,
        new FaultlineError(
          'FAULTLINE_ERR_VALIDATION',
          `${first.path ? `${first.path}: ` : ''}${first.message}`,
          {
            issues,
          },
        ),
      );
    }
    let resolved: ResolvedTargets | 'timeout';
    try {
      resolved = kind.resolveTargets
        ? await withTimeout(kind.resolveTargets(parsed.data), timeoutMs)
        : { targets: [{ type: kind.kind, name: kind.target(parsed.data) }] };
    } catch (err) {
      // Wrong whatever happens later (an ambiguous selection): refuse now, before any fault.
      if (err instanceof FaultlineError && err.code === 'FAULTLINE_ERR_VALIDATION') throw refusal(a, at, err);
      // Not resolvable yet (a process the method starts, say): checked when it is injected.
      const why = err instanceof Error ? err.message : String(err);
      log(
        'debug',
        `preflight: '${a.name}' targets not resolvable before the run (${why}); checked at injection`,
      );
      continue;
    }
    if (resolved === 'timeout') {
      log(
        'warn',
        `preflight: '${a.name}' targets not resolved within ${timeoutMs / 1000} s before the run; checked at injection`,
      );
      continue;
    }
    if (policies.length === 0) continue;
    try {
      checkBlastRadius(policies, `action '${a.name}'`, resolved);
    } catch (err) {
      if (err instanceof FaultlineError) {
        throw new FaultlineError(err.code, `${err.message}; ${REFUSED}`, { issues: [...err.issues] });
      }
      throw err;
    }
  }
}

/**
 * Plans every fault action with `targets:` on the run's fleet (agents and the
 * workloads they host), sending nothing, so a selection that matches nothing
 * refuses the run before the steady-state hypothesis instead of failing at its
 * injection half-way through the method (issue #19). Throws:
 *   - FAULTLINE_ERR_VALIDATION (exit 2) naming `method[i].targets` (or
 *     `.targets.peers`), the action and what the fleet has;
 *   - FAULTLINE_ERR_POLICY (exit 2) when the picked agents or workloads are
 *     beyond the blast radius;
 *   - FAULTLINE_ERR_HALTED when a fleet halt is in force (as a local halt refuses a run).
 * A fleet that cannot be asked (NATS down, slow) is logged and left to the injection,
 * as local targets that cannot be resolved yet are. `targets:` is read as written: the
 * engine does not substitute it (engine/activity.ts), so neither does this. Runs in
 * every --dry mode, as the local preflight does: planning sends nothing.
 */
export async function preflightFleet(
  experiment: Experiment,
  fleet: FleetRunner | undefined,
  vars: Vars,
  log: (level: LogLevel, message: string) => void,
  providers: ProviderLookup,
  timeoutMs = PREFLIGHT_RESOLVE_TIMEOUT_MS,
): Promise<void> {
  if (!fleet) return; // checkFleetTargets has refused a run with fleet actions and no fleet
  for (const { a, at, kind } of fleetActions(experiment, providers)) {
    const { duration: _duration, ...args } = (substitute(a.provider.arguments ?? {}, vars) ?? {}) as Record<
      string,
      unknown
    >;
    let planned: Awaited<ReturnType<FleetRunner['plan']>> | 'timeout';
    try {
      planned = await withTimeout(fleet.plan(kind, args, a.targets), timeoutMs);
    } catch (err) {
      if (err instanceof FaultlineError) fleetRefusal(a, at, err);
      const why = err instanceof Error ? err.message : String(err);
      // Every other fleet action would wait on the same fleet: one line, and on with the run.
      log(
        'warn',
        `preflight: the fleet could not be asked about '${a.name}' (${why}); fleet targets are checked at injection`,
      );
      return;
    }
    if (planned === 'timeout') {
      log(
        'warn',
        `preflight: the fleet did not answer about '${a.name}' within ${timeoutMs / 1000} s; fleet targets are checked at injection`,
      );
      return;
    }
    const random =
      a.targets.mode === 'random-max-percent' ? ' (a random mode: the injection draws again)' : '';
    log(
      'debug',
      `preflight: '${a.name}' picks ${planned.picked.length} of ${planned.candidates} matching${random}: ${planned.picked.join(', ') || 'none'}`,
    );
    if (planned.notOffering.length > 0) {
      log(
        'warn',
        `preflight: '${a.name}': ${planned.notOffering.join(', ')} do not offer ${kind} and will refuse it`,
      );
    }
  }
}

/** Throws the run's refusal for a fleet plan's FaultlineError; returns for one that is not a refusal. */
function fleetRefusal(a: Activity & { targets: Targets }, at: string, err: FaultlineError): void {
  const where = `${at}.targets`;
  if (err.code === 'FAULTLINE_ERR_VALIDATION') {
    const issues: Issue[] = err.issues.map((i) => ({
      path: `${at}.${i.path || 'targets'}`,
      message: i.message,
    }));
    const first = err.issues[0];
    const stated = first?.path && err.message.startsWith(`${first.path}: `);
    // `${var}` in a selector stays as written at injection too: say so rather than leave it a riddle.
    const vars = [...unsubstituted(a.targets)];
    const hint =
      vars.length > 0
        ? `; targets are not substituted: ${vars.map((n) => `\${${n}}`).join(', ')} is taken as written`
        : '';
    throw new FaultlineError(
      err.code,
      `action '${a.name}', ${REFUSED}: ${stated ? `${at}.${err.message}` : `${where}: ${err.message}`}${hint}`,
      { issues, cause: err },
    );
  }
  if (err.code === 'FAULTLINE_ERR_POLICY' || err.code === 'FAULTLINE_ERR_HALTED') {
    throw new FaultlineError(err.code, `action '${a.name}' (${where}): ${err.message}; ${REFUSED}`, {
      issues: err.issues.length > 0 ? [...err.issues] : [{ path: where, message: err.message }],
      cause: err,
    });
  }
}
