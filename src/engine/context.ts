/**
 * What an activity sees when it runs, and the interfaces providers and
 * built-in activities implement to plug into the engine.
 */
import type { z } from 'zod';
import type { CheckContext } from '../core/check.js';
import type { Issue } from '../core/errors.js';
import type { FaultKind } from '../core/fault.js';
import type { FleetFault, Targets } from '../core/fleet.js';
import type { LogLevel } from '../core/resource.js';
import type { Configuration, Provider, Secrets } from '../core/schema.js';
import type { FaultSession } from '../faults/session.js';
import type { WindowMetrics } from '../load/series.js';
import type { ControlProviderHooks } from './controls.js';
import type { RunScope } from './run-scope.js';

export type { RunScope, ScopedValue } from './run-scope.js';

/**
 * What a run needs of the fleet (lib/run-source.ts adapts a FleetController):
 * place a fault kind on the agents a `targets:` block picks, holding a lease on
 * each for as long as the run lives, and take every one off at the revert phase.
 */
export interface FleetRunner {
  /**
   * Who `kind` would reach now, sending nothing: the run's preflight asks it for every action
   * with `targets:` before anything runs. Throws FAULTLINE_ERR_VALIDATION when the selection
   * matches nothing (issue paths relative to the activity: `targets`, `targets.peers`),
   * FAULTLINE_ERR_POLICY for the blast radius, FAULTLINE_ERR_HALTED for a fleet halt, and
   * FAULTLINE_ERR_FLEET (or another error) when the fleet cannot be asked.
   */
  plan(kind: string, args: Record<string, unknown>, targets: Targets): Promise<FleetPlanSummary>;
  /** One outcome per picked agent; throws when nothing can be sent (halt, no agent, blast radius). */
  inject(
    kind: string,
    args: Record<string, unknown>,
    targets: Targets,
    options: { ttlMs: number },
  ): Promise<FleetFault[]>;
  /** Reverts every fault this run placed; the final outcome of each (verified, or left to its lease). */
  revertAll(): Promise<FleetFault[]>;
}

/** What a fleet plan found, for the preflight's log. */
export interface FleetPlanSummary {
  /** How many alive agents (or their workloads, when the targets pick workloads) matched. */
  candidates: number;
  /** What the mode picked this time (`agent` or `namespace/name`); a random mode draws again at injection. */
  picked: string[];
  /** Picked agents whose record does not list the kind: they will refuse it. */
  notOffering: string[];
}

export type { LogLevel };

export interface ActivityContext {
  configuration: Configuration;
  secrets: Secrets;
  /** Aborted on Ctrl-C, SIGTERM, halt, or a control's interrupt: stop promptly. */
  signal: AbortSignal;
  /** Directory that relative paths (node modules) resolve against: the experiment's own. */
  baseDir: string;
  runId: string;
  /** Inject faults through the ledger; the engine reverts them when the run ends. */
  faults: FaultSession;
  /** What lives as long as the run (a provider's per-run process), closed when it ends. */
  scope: RunScope;
  /** The activity's `targets:` block: its fault goes to the fleet's agents it picks, not this host. */
  targets?: Targets;
  /** The run's fleet, when it has one (a run whose activities have `targets:`). */
  fleet?: FleetRunner;
  log(level: LogLevel, message: string): void;
}

export type { CheckContext } from '../core/check.js';

/**
 * One provider type (`http`, `process`, ...): its schema is a line in
 * core/schema.ts's PROVIDER_SCHEMAS, its loader a line in providers/index.ts.
 * What the engine does differently by provider type is an optional hook here,
 * with a generic default in the engine when a provider leaves it out.
 */
export interface ProviderRunner<P extends Provider = Provider> extends ControlProviderHooks {
  readonly type: P['type'];
  /**
   * Fields substituted with configuration and secrets besides `arguments`
   * (default none: `path`, `module`, `func` are never substituted, as in Chaos Toolkit).
   */
  readonly substituted?: readonly Exclude<keyof P & string, 'type' | 'arguments'>[];
  /**
   * The value a dynamic-configuration probe gives (`configuration: {x: {type: probe, ...}}`),
   * from its output; may throw to fail it. Default: the output as it is.
   */
  dynamicValue?(output: unknown): unknown;
  /**
   * The built-in activity an activity of this provider runs (faultline: its
   * `module` and `func`), for what the engine reads off the activity itself:
   * the fault kind it injects (`fault`: the preflight resolves its targets and
   * checks the blast radius before the run) and the number it reads from the
   * traffic (`windowMetric`: recovery time). Default: none.
   */
  builtinOf?(provider: P): BuiltinActivity | undefined;
  /** Runs the provider; a thrown error fails the activity. The output goes to the journal. */
  run(provider: P, ctx: ActivityContext): Promise<unknown>;
  /**
   * Checks the schema cannot make (a path on $PATH, a known native module).
   * Issue paths are relative to the provider (`path`, `module`, `arguments.url`).
   */
  check?(provider: P, ctx: CheckContext): Issue[] | Promise<Issue[]>;
  /**
   * Check each activity's provider on its own even when two are identical
   * (default: checked once), because the messages name the activity.
   */
  readonly checkPerActivity?: boolean;
}

/**
 * A built-in activity (`provider: {type: faultline, module, func}`), or a native
 * implementation of a Chaos Toolkit python function (`type: python`).
 */
export interface BuiltinActivity<S extends z.ZodType = z.ZodType> {
  module: string;
  func: string;
  kind: 'action' | 'probe';
  /** One sentence for `faultline discover`. */
  doc: string;
  /** An object schema: validated at load time, listed by `faultline discover`. */
  arguments: S;
  run(args: z.output<S>, ctx: ActivityContext): Promise<unknown>;
  /**
   * The fault kind an exposed fault action injects, with its arguments being
   * the action's minus `duration`: lets the engine resolve targets for the
   * blast radius before the run starts.
   */
  fault?: FaultKind;
  /**
   * A probe over the run's `load:` traffic: the number it reads from one window
   * of metrics, for its (raw, unvalidated) arguments; undefined when that number
   * means little over one 100 ms slot. Recovery time judges the traffic's slots
   * with it and the probe's tolerance (engine/recovery-time.ts).
   */
  windowMetric?(args: Record<string, unknown>): ((m: WindowMetrics) => number) | undefined;
}

export function builtinKey(module: string, func: string): string {
  return `${module}:${func}`;
}

/** Where the engine and validation find a provider by its type (the composition root builds it). */
export interface ProviderLookup {
  get(type: string): ProviderRunner<any> | undefined;
}
