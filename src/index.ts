/**
 * `faultline`: the library's public surface, and the only one (the fault proxy
 * is `faultline/proxy`, the load generator `faultline/load`, the in-process
 * SDK `faultline/sdk`). Every name is chosen here rather than re-exported
 * wholesale, so a module's helpers, zod schemas and mutable registries stay
 * internal and test/unit/exports-snapshot.test.ts makes each addition a
 * deliberate change. docs/library.md documents what is here.
 *
 * @example
 * import { loadExperimentSource, assertValidExperiment, runExperiment, exitCodeFor } from 'faultline';
 * const loaded = await loadExperimentSource('experiment.yaml');
 * const { experiment } = await assertValidExperiment(loaded, { baseDir: loaded.baseDir });
 * const journal = await runExperiment(experiment, { baseDir: loaded.baseDir, onEvent: (e) => {} });
 * process.exitCode = exitCodeFor(journal);
 */
import type { ControlFactory } from './engine/controls.js';
import { nativeControls } from './engine/controls.js';

// Faults from code: a session ledgers, bounds and reverts them as a run does.
export type { BlastRadius, BlastRadiusPolicy, TargetSelector } from './core/blast-radius.js';
// Errors: one class, stable codes (docs/errors.md).
export {
  ActivityFailed,
  ERROR_CODES,
  type ErrorCode,
  FaultlineError,
  formatIssue,
  InterruptExecution,
  type Issue,
  isFaultlineError,
} from './core/errors.js';
export type { FaultExposure, FaultKind, FaultTarget, ResolvedTargets, UndoRecord } from './core/fault.js';
export type { ActivityRun, FaultRecord, Journal, RunStatus, SteadyState } from './core/journal.js';
// The experiment format: types only (validateExperiment and experimentJsonSchema are the schema's public face).
export type {
  Activity,
  ActivityOrRef,
  ActivityRef,
  BuiltinProvider,
  Configuration,
  Control,
  DryMode,
  Experiment,
  HttpProvider,
  Hypothesis,
  HypothesisStrategy,
  LoadDeclaration,
  NodeProvider,
  ProbeTolerance,
  ProcessProvider,
  Provider,
  ProxyDeclaration,
  PythonProvider,
  RollbackStrategy,
  Secrets,
  Tolerance,
} from './core/schema.js';
export { decideVerdict, type Verdict, type VerdictKind } from './core/verdict.js';
// Extending: built-in activities, fault kinds, native controls. (A provider type is not an extension point:
// the experiment format lists the five types, so validation would refuse a sixth.)
export { registerBuiltin } from './engine/builtins.js';
export type { ActivityContext, BuiltinActivity, ProviderRunner } from './engine/context.js';
export type { ControlFactory, ControlHooks, HookContext } from './engine/controls.js';
// Running them: the run, its events, its journal and its verdict.
export type { Phase, RunEvent, RunEventListener } from './engine/events.js';
export { exitCodeFor, type RunOptions } from './engine/run.js';
// Loading and validating experiments.
export {
  defineExperiment,
  experimentJsonSchema,
  type LoadedSource,
  loadExperimentSource,
  loadVarFiles,
  mergeOverrides,
  type Overrides,
  parseVarOption,
  type ValidateOptions,
  type ValidationResult,
  type VarOption,
} from './experiment/index.js';
export { faultlineHome } from './faults/home.js';
export { exposedFaults } from './faults/index.js';
// FaultSession needs a ledger to write its undo records to before any fault acts (docs/library.md).
export { Ledger, type LedgerOptions } from './faults/ledger.js';
export {
  type ActiveFault,
  type FaultStatus,
  type HaltReport,
  haltState,
  listActiveFaults,
  type RecoveryReport,
} from './faults/recovery.js';
export type { FaultEvent, FaultHandle, InjectOptions } from './faults/session.js';
export {
  type HaltOptions,
  haltAll,
  type RecoverOptions,
  recoverOrphans,
  registerFaultKind,
} from './lib/faults.js';
// One fault for a duration, and what `faultline status`, `halt` and `recover` do, as calls.
export {
  type FaultArgumentDoc,
  type FaultDoc,
  type FaultPlan,
  type InjectEndedBy,
  type InjectEvent,
  type InjectedFault,
  type InjectFaultOptions,
  type InjectFaultResult,
  injectFault,
  listFaults,
  type PlanFaultOptions,
  planFault,
} from './lib/inject.js';
export type { MetricsOptions } from './lib/observers.js';
export type { ReportSpec } from './lib/output-files.js';
export { runExperiment } from './lib/run.js';
// What `faultline run` does, as a call: settings, vars, approval, observers, journal, reports, exit code.
export {
  type EngineRunOptions,
  type RunFromSourceOptions,
  type RunFromSourceResult,
  type RunSourceEvent,
  runFromSource,
} from './lib/run-source.js';
export { FaultSession, type FaultSessionOptions } from './lib/session.js';
export {
  type FaultlineHomeOptions,
  faultStatus,
  type HaltResult,
  halt,
  type RecoverResult,
  recover,
  releaseHalt,
  type StatusReport,
} from './lib/status.js';
export { assertValidExperiment, validateExperiment } from './lib/validate.js';

/**
 * Implements a Chaos Toolkit python control natively: a control whose
 * `provider.module` is `pythonModule` runs `factory(arguments)`'s hooks.
 */
export function registerNativeControl(pythonModule: string, factory: ControlFactory): void {
  nativeControls.register(pythonModule, factory);
}

// Other tools' chaos files (Chaos Mesh, Litmus, AWS FIS, Istio, Chaos Monkey) as experiments, with a note
// per source field (docs/manifests/); the workloads an agent hosts, which their selectors pick (docs/fleet.md).
export { type Workload, WorkloadSchema, type WorkloadsFile, WorkloadsFileSchema } from './core/workload.js';
// Game days (docs/gamedays.md): the plan file, the session that runs it, success criteria, the report.
export {
  evaluateCriteria,
  type GameDayExecutor,
  type GameDayPlan,
  GameDayPlanSchema,
  GameDaySession,
  type GameDayState,
  loadPlanFile,
  localExperimentRunner,
  parsePlan,
  planJsonSchema,
  renderGameDayReport,
  StepSkipped,
  type TimelineEvent,
} from './gameday/index.js';
export {
  type FieldNote,
  FORMATS as MANIFEST_FORMATS,
  type ManifestSet,
  type Translation,
  translateManifests,
} from './manifests/index.js';
// Observing runs: Prometheus metrics and OpenTelemetry traces (docs/observability.md).
export {
  type MetricsServer,
  type MetricsServerOptions,
  startMetricsServer,
} from './observe/metrics-server.js';
export { attachTracer, RunTracer, type RunTracerOptions, type Tracing } from './observe/otel.js';
export { RunMetrics } from './observe/run-metrics.js';
// The calendar arithmetic of schedules, Chaos Monkey mode and blackout windows (docs/continuous.md):
// pure functions of the dates they are given.
export {
  type BlackoutWindow,
  BlackoutWindowSchema,
  blackoutAt,
  nextChange,
} from './schedule/blackout.js';
export {
  type CronTiming,
  CronTimingSchema,
  type Fire,
  firesBetween,
  type MonkeyTiming,
  MonkeyTimingSchema,
  nextFire,
  pickTargets,
  type Timing,
} from './schedule/index.js';

export { VERSION } from './version.js';
