/**
 * A run's fleet: the FleetRunner the engine hands to fault actions with a
 * `targets:` block, over one FleetController opened at the first such action
 * (a run without one never connects to NATS). Every outcome is kept, so the
 * journal's `faultline.fleet` lists each agent's fault from inject to revert,
 * refusals and failures included.
 */
import type { BlastRadiusPolicy } from '../core/blast-radius.js';
import type { FleetFault, Targets } from '../core/fleet.js';
import type { Experiment } from '../core/schema.js';
import type { FleetRunner } from '../engine/context.js';
import type { FleetConnectOptions } from '../fleet/connect.js';
import type { FleetController } from '../fleet/controller.js';

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

/** Whether any activity of the experiment runs on the fleet. */
export function usesFleet(experiment: Experiment): boolean {
  const lists = [experiment.method, experiment.rollbacks];
  return lists.some((list) =>
    (list ?? []).some((a) => typeof a === 'object' && a !== null && 'targets' in a),
  );
}

export function runFleet(connect: FleetConnectOptions, options: RunFleetOptions): RunFleet {
  let controller: Promise<FleetController> | undefined;
  const outcomes = new Map<string, FleetFault>();
  const keep = (faults: readonly FleetFault[]) => {
    for (const f of faults) outcomes.set(`${f.agent}/${f.id}`, f);
  };
  const open = () => {
    controller ??= import('../fleet/controller.js').then(({ FleetController }) =>
      FleetController.open(connect, { id: `run-${options.runId}` }),
    );
    return controller;
  };
  return {
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
