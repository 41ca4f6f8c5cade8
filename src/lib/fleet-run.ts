/**
 * A run's fleet: the FleetRunner the engine hands to fault actions with a
 * `targets:` block, over one FleetController opened at the first such action
 * (a run without one never connects to NATS). Every outcome is kept, so the
 * journal's `faultline.fleet` lists each agent's fault from inject to revert,
 * refusals and failures included.
 */
import type { BlastRadiusPolicy } from '../core/blast-radius.js';
import { FaultlineError } from '../core/errors.js';
import type { FleetFault, Targets } from '../core/fleet.js';
import { workloadRef } from '../core/workload.js';
import type { FleetRunner } from '../engine/context.js';
import type { FleetConnectOptions } from '../fleet/connect.js';
import type { FleetAgent, FleetController, FleetPlan } from '../fleet/controller.js';
import type { FleetHalt } from '../fleet/protocol.js';

export interface RunFleet extends FleetRunner {
  /** Reverts what is still held (a run that ended before its revert phase) and disconnects. */
  close(): Promise<void>;
}

export interface RunFleetOptions {
  runId: string;
  /** The run's blast-radius policies (experiment and settings file), checked against the agents. */
  blastRadius: readonly BlastRadiusPolicy[];
  /** How long an agent keeps a fault without a renewal (default the protocol's). */
  leaseMs?: number;
}

/** The alive agents and their labels, for a selector that matched none of them. */
function describeAlive(agents: readonly FleetAgent[]): string {
  const alive = agents.filter((a) => a.health === 'alive' || a.health === 'halted');
  if (alive.length === 0) {
    const others = agents.length > 0 ? ` (${agents.length} lost or stopped)` : '';
    return `no agent is alive${others}: start one with \`faultline agent --nats URL\``;
  }
  const shown = alive.slice(0, 10).map((a) => {
    const labels = Object.entries(a.labels).map(([k, v]) => `${k}=${v}`);
    return `${a.name}{${labels.join(',')}}`;
  });
  const more = alive.length > shown.length ? ` and ${alive.length - shown.length} more` : '';
  return `the alive agents: ${shown.join(' ')}${more}; \`faultline fleet\` lists them`;
}

/** The fleet halt's refusal, as the controller's inject words it. */
const haltRefusal = (halt: FleetHalt) =>
  new FaultlineError(
    'FAULTLINE_ERR_HALTED',
    `the fleet is halted (since ${halt.since} by ${halt.by}${halt.reason ? `: ${halt.reason}` : ''}); \`faultline halt --fleet --release\` allows faults again`,
  );

export function runFleet(connect: FleetConnectOptions, options: RunFleetOptions): RunFleet {
  let controller: Promise<FleetController> | undefined;
  const outcomes = new Map<string, FleetFault>();
  const keep = (faults: readonly FleetFault[]) => {
    for (const f of faults) outcomes.set(`${f.agent}/${f.id}`, f);
  };
  const open = () => {
    if (!controller) {
      const opening = import('../fleet/controller.js').then(({ FleetController }) =>
        FleetController.open(connect, { id: `run-${options.runId}` }),
      );
      // A fleet the preflight could not reach is tried again by the first injection (NATS may be
      // back by then), rather than that injection failing on the preflight's old error.
      opening.catch(() => {
        if (controller === opening) controller = undefined;
      });
      controller = opening;
    }
    return controller;
  };
  return {
    async plan(kind: string, args: Record<string, unknown>, targets: Targets) {
      const c = await open();
      let plan: FleetPlan;
      try {
        // A random mode's draw here is thrown away: the injection plans (and draws) again, so the
        // blast radius is checked here on one draw and at injection on the one that counts.
        plan = await c.plan(kind, args, targets, { blastRadius: options.blastRadius });
      } catch (err) {
        // The controller marks a selection that matched nothing with an issue (`targets`,
        // `targets.peers`): wrong input for the run, as opposed to a fleet it cannot ask.
        if (err instanceof FaultlineError && err.code === 'FAULTLINE_ERR_FLEET' && err.issues.length > 0) {
          throw new FaultlineError('FAULTLINE_ERR_VALIDATION', err.message, {
            issues: [...err.issues],
            cause: err,
          });
        }
        throw err;
      }
      if (plan.halt) throw haltRefusal(plan.halt);
      if (plan.candidates.length === 0) {
        const why = `no alive agent matches '${plan.selector}' (${describeAlive(await c.agents())})`;
        throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `targets: ${why}`, {
          issues: [{ path: 'targets', message: why }],
        });
      }
      const picked = plan.workloads
        ? plan.workloads.picked.map((h) => workloadRef(h.workload))
        : plan.targets.map((a) => a.name);
      const candidates = plan.workloads ? plan.workloads.candidates.length : plan.candidates.length;
      return { candidates, picked, notOffering: plan.notOffering };
    },
    async inject(
      kind: string,
      args: Record<string, unknown>,
      targets: Targets,
      { ttlMs }: { ttlMs: number },
    ) {
      const c = await open();
      const placed = await c.inject(kind, args, targets, {
        ttlMs,
        blastRadius: options.blastRadius,
        ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
      });
      keep(placed);
      return placed;
    },
    async revertAll() {
      if (!controller) return [];
      keep(await (await controller).revertAll());
      return [...outcomes.values()];
    },
    async close() {
      if (!controller) return;
      const c = await controller.catch(() => undefined);
      if (c) keep(await c.close());
    },
  };
}
