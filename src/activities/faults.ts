/**
 * Every exposed fault kind (FaultKind.expose) becomes an experiment action
 * `faultline.<group>` / `<name>` with the kind's own arguments plus `duration`,
 * so a fault file is all it takes to add an action, a `faultline inject`
 * command and a `faultline discover` entry. Plus `faultline.faults`: revert a
 * fault early, and count the run's active faults.
 *
 *   - type: action
 *     name: drop-10-percent
 *     provider: {type: faultline, module: faultline.network, func: loss,
 *                arguments: {percent: 10, namespace: app, duration: 30}}
 */
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { ActivityFailed } from '../core/errors.js';
import type { FaultKind, ResolvedTargets } from '../core/fault.js';
import type { ActivityContext, BuiltinActivity } from '../engine/context.js';
import { selectionJson, selectionOf } from '../faults/process/select.js';

/** Seconds an exposed fault lives when the experiment gives no duration. */
export const DEFAULT_FAULT_DURATION_S = 600;

export const FaultDurationSchema = z
  .union([
    z.number({ error: 'expected seconds' }).positive('expected a positive number of seconds'),
    z
      .string()
      .refine((v) => parseDuration(v) !== undefined, "expected seconds or a duration such as '30s', '2m'"),
  ])
  .optional()
  .describe(
    `how long the fault lasts (seconds or '30s'); default ${DEFAULT_FAULT_DURATION_S} s, or until the run ends`,
  );

/** The experiment module of an exposed kind. */
export const faultModule = (group: string) => `faultline.${group}`;

/** The exposed kinds among `kinds`, by `group.name` (what `faultline inject` takes). */
export function exposedAmong(kinds: Iterable<FaultKind>): Map<string, FaultKind> {
  const found = new Map<string, FaultKind>();
  for (const kind of kinds) {
    if (kind.expose) found.set(`${kind.expose.group}.${kind.expose.name}`, kind);
  }
  return found;
}

/**
 * `kind` as the session will call it, keeping what its resolveTargets()
 * returns: the session resolves once, and the caller wants to say what was
 * chosen and why (a process selection) without resolving a second time.
 */
export function observeResolution(kind: FaultKind): {
  kind: FaultKind;
  resolved(): ResolvedTargets | undefined;
} {
  let resolved: ResolvedTargets | undefined;
  const resolveTargets = kind.resolveTargets?.bind(kind);
  return {
    kind: resolveTargets
      ? { ...kind, resolveTargets: async (a) => (resolved = await resolveTargets(a)) }
      : kind,
    resolved: () => resolved,
  };
}

/** The action for one exposed kind: `kind.args` (an object schema) plus `duration`. */
export function faultAction(kind: FaultKind): BuiltinActivity {
  const expose = kind.expose;
  if (!expose) throw new Error(`fault kind ${kind.kind} is not exposed`);
  if (!(kind.args instanceof z.ZodObject)) {
    throw new Error(`fault kind ${kind.kind}: an exposed kind's args must be an object schema`);
  }
  const args = (kind.args as z.ZodObject).extend({ duration: FaultDurationSchema });
  return {
    module: faultModule(expose.group),
    func: expose.name,
    kind: 'action',
    doc: `${expose.doc}${kind.irreversible ? ' Irreversible: nothing is reverted.' : ''}`,
    arguments: args,
    fault: kind,
    // Resolves once the fault is in place; it lasts `duration` or until the run ends.
    async run(all, ctx) {
      const { duration, ...rest } = all as { duration?: number | string } & Record<string, unknown>;
      const ttlMs = parseDuration(duration ?? DEFAULT_FAULT_DURATION_S)!;
      if (ctx.targets) return onFleet(`${expose.group}.${expose.name}`, rest, ttlMs, ctx);
      const observed = observeResolution(kind);
      const handle = await ctx.faults.inject(observed.kind, rest, { ttlMs, signal: ctx.signal });
      const record = ctx.faults.records().find((r) => r.id === handle.id);
      // Which processes matched, which were chosen and why: the journal keeps it for the report.
      const sel = selectionOf(observed.resolved());
      return {
        fault_id: handle.id,
        kind: handle.kind,
        target: handle.target,
        targets: record?.targets ?? [],
        ...(sel ? { selection: selectionJson(sel) } : {}),
        duration: ttlMs / 1000,
      };
    },
  };
}

/**
 * The fault on the fleet's agents the activity's `targets:` picks: each agent
 * holds it under a lease the run renews, and the run's revert phase takes it
 * off. Fails when no agent took it (when the mode picked none, there is nothing to fail); the outcome
 * of each is the output.
 */
async function onFleet(
  kind: string,
  args: Record<string, unknown>,
  ttlMs: number,
  ctx: ActivityContext,
): Promise<unknown> {
  if (!ctx.fleet) {
    throw new ActivityFailed(
      'targets: this run has no fleet to send the fault to (run with --nats URL, or FAULTLINE_NATS_URL)',
    );
  }
  const outcomes = await ctx.fleet.inject(kind, args, ctx.targets!, { ttlMs });
  // Targets matched but the mode drew none (random-max-percent may, and a percentage rounds down, as
  // Chaos Mesh does): nothing to place is not a failure, as `faultline inject --on` exits 0 then.
  if (outcomes.length === 0) {
    return {
      kind,
      agents: [],
      duration: ttlMs / 1000,
      picked: 0,
      note: `mode ${ctx.targets!.mode} picked no target`,
    };
  }
  const active = outcomes.filter((o) => o.state === 'active');
  if (active.length === 0) {
    const why = outcomes.map((o) => `${o.agent}: ${o.state}${o.error ? ` (${o.error})` : ''}`).join('; ');
    throw new ActivityFailed(`no agent took the fault${why ? `: ${why}` : ''}`);
  }
  return { kind, agents: outcomes, duration: ttlMs / 1000 };
}

const RevertArgs = z.strictObject({
  fault_id: z.string().min(1).optional().describe('the id an injecting action returned'),
  kind: z.string().min(1).optional().describe('revert every active fault of this kind'),
});

const revert: BuiltinActivity<typeof RevertArgs> = {
  module: 'faultline.faults',
  func: 'revert',
  kind: 'action',
  doc: 'Reverts (and verifies) faults of this run before their duration elapses: one by id, every one of a kind, or all.',
  arguments: RevertArgs,
  async run(args, ctx) {
    const handles = ctx.faults
      .activeHandles()
      .filter(
        (h) =>
          (args.fault_id === undefined || h.id === args.fault_id) &&
          (args.kind === undefined || h.kind === args.kind),
      );
    if (args.fault_id !== undefined && handles.length === 0) {
      throw new ActivityFailed(`no active fault of this run has id ${args.fault_id}`);
    }
    const records = [];
    for (const h of handles) records.push(await h.revert());
    const failed = records.filter((r) => !r.verified);
    if (failed.length > 0) {
      throw new ActivityFailed(
        `could not revert ${failed.map((r) => `${r.kind} ${r.target}: ${r.error}`).join('; ')}`,
      );
    }
    return { reverted: records.map((r) => r.id) };
  },
};

const ActiveArgs = z.strictObject({
  kind: z.string().min(1).optional().describe('count only faults of this kind'),
});

const active: BuiltinActivity<typeof ActiveArgs> = {
  module: 'faultline.faults',
  func: 'active',
  kind: 'probe',
  doc: "How many of this run's faults are active (optionally of one kind).",
  arguments: ActiveArgs,
  async run(args, ctx) {
    return ctx.faults.activeHandles().filter((h) => args.kind === undefined || h.kind === args.kind).length;
  },
};

/** The action of every exposed kind among `kinds`, and the revert/active activities. */
export function faultActivities(kinds: Iterable<FaultKind>): BuiltinActivity[] {
  return [...[...exposedAmong(kinds).values()].map(faultAction), revert, active];
}
