/**
 * Faultline's library API.
 *
 * @example
 * import { loadExperimentSource, assertValidExperiment, runExperiment, exitCodeFor } from 'faultline';
 * const loaded = await loadExperimentSource('experiment.yaml');
 * const { experiment } = await assertValidExperiment(loaded, { baseDir: loaded.baseDir });
 * const journal = await runExperiment(experiment, { baseDir: loaded.baseDir, onEvent: (e) => {} });
 * process.exitCode = exitCodeFor(journal);
 */

export { exposedFaults } from './activities/faults.js';
export * from './core/errors.js';
export * from './core/schema.js';
export { builtinActivities, registerBuiltin } from './engine/builtins.js';
export type { ActivityContext, BuiltinActivity, ProviderRunner } from './engine/context.js';
export type { ControlHooks, HookContext } from './engine/controls.js';
export { nativeControls } from './engine/controls.js';
export type { Phase, RunEvent, RunEventListener } from './engine/events.js';
export type { ActivityRun, FaultRecord, Journal, RunStatus, SteadyState } from './engine/journal.js';
export { exitCodeFor, type RunOptions, resolveStrategies, runExperiment } from './engine/run.js';
export { checkTolerance, validateTolerance } from './engine/tolerances/index.js';
export { decideVerdict, type Verdict, type VerdictKind } from './engine/verdict.js';
export {
  assertValidExperiment,
  defineExperiment,
  experimentJsonSchema,
  type LoadedSource,
  loadExperimentSource,
  loadVarFiles,
  mergeOverrides,
  parseVarOption,
  validateExperiment,
} from './experiment/index.js';
export { faultlineHome } from './faults/home.js';
export { Ledger } from './faults/ledger.js';
export { haltAll, haltState, listActiveFaults, recoverOrphans, releaseHalt } from './faults/recovery.js';
export { registerFaultKind } from './faults/registry.js';
export { type FaultHandle, FaultSession } from './faults/session.js';
export type { FaultExposure, FaultKind, FaultTarget, ResolvedTargets, UndoRecord } from './faults/types.js';
export { startMetricsServer } from './observe/metrics-server.js';
export { Notifier, notificationBody, type Webhook } from './observe/notify.js';
export { attachTracer, RunTracer, traceExporterFromEnv } from './observe/otel.js';
export { RunMetrics } from './observe/run-metrics.js';
export { providers } from './providers/index.js';
export {
  type ControlServer,
  type ControlServerEvent,
  type ControlServerOptions,
  startControlServer,
  TOXIPROXY_COMPAT_VERSION,
} from './proxy/api/server.js';
export {
  type AddToxicInput,
  type CreateProxyInput,
  ProxyClient,
  ProxyClientError,
  type ProxyClientOptions,
  type UpdateProxyInput,
  type UpdateToxicInput,
} from './proxy/client.js';
export { loadProxyConfig } from './proxy/config.js';
export { ProxyManager, type ProxyManagerOptions } from './proxy/manager.js';
export {
  ProxyApiError,
  type ProxyControl,
  type ProxyView,
  type ToxicView,
} from './proxy/model.js';
export {
  type BlastRadius,
  type BlastRadiusPolicy,
  BlastRadiusSchema,
  checkBlastRadius,
  type TargetSelector,
} from './safety/blast-radius.js';
export { VERSION } from './version.js';
