/**
 * The public surface, name by name: what each `exports` subpath of the built
 * package offers (values, and types from its .d.ts), resolved the way a user's
 * import is, through package.json's exports map. Adding or removing a name is
 * an API change, so it has to be made here too, on purpose. Runs against dist/
 * (`npm run build` first, as `npm test` does).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, string | { types: string; default: string }>;
};

// `type X` is a type-only export (no runtime value).
const EXPECTED: Record<string, string[]> = {
  faultline: [
    'type Workload',
    'WorkloadSchema',
    'type WorkloadsFile',
    'WorkloadsFileSchema',
    'type FieldNote',
    'MANIFEST_FORMATS',
    'type ManifestSet',
    'translateManifests',
    'type Translation',
    'type BlackoutWindow',
    'BlackoutWindowSchema',
    'blackoutAt',
    'nextChange',
    'type CronTiming',
    'CronTimingSchema',
    'type Fire',
    'firesBetween',
    'type MonkeyTiming',
    'MonkeyTimingSchema',
    'nextFire',
    'pickTargets',
    'type Timing',
    'evaluateCriteria',
    'type GameDayExecutor',
    'type GameDayPlan',
    'GameDayPlanSchema',
    'GameDaySession',
    'type GameDayState',
    'loadPlanFile',
    'localExperimentRunner',
    'parsePlan',
    'planJsonSchema',
    'renderGameDayReport',
    'StepSkipped',
    'type TimelineEvent',
    'type ActiveFault',
    'type Activity',
    'type ActivityContext',
    'ActivityFailed',
    'type ActivityOrRef',
    'type ActivityRef',
    'type ActivityRun',
    'assertValidExperiment',
    'injectFault',
    'planFault',
    'listFaults',
    'type InjectFaultOptions',
    'type PlanFaultOptions',
    'type InjectFaultResult',
    'type InjectEvent',
    'type InjectedFault',
    'type InjectEndedBy',
    'type FaultPlan',
    'type FaultDoc',
    'type FaultArgumentDoc',
    'halt',
    'recover',
    'type StatusReport',
    'type HaltResult',
    'type RecoverResult',
    'type FaultlineHomeOptions',
    'runFromSource',
    'type RunFromSourceOptions',
    'type RunFromSourceResult',
    'type RunSourceEvent',
    'type EngineRunOptions',
    'type MetricsOptions',
    'type ReportSpec',
    'attachTracer',
    'type BlastRadius',
    'type BlastRadiusPolicy',
    'type BuiltinActivity',
    'type BuiltinProvider',
    'type Configuration',
    'type Control',
    'type ControlFactory',
    'type ControlHooks',
    'decideVerdict',
    'defineExperiment',
    'type DryMode',
    'ERROR_CODES',
    'type ErrorCode',
    'exitCodeFor',
    'type Experiment',
    'experimentJsonSchema',
    'exposedFaults',
    'type FaultEvent',
    'type FaultExposure',
    'type FaultHandle',
    'type FaultKind',
    'FaultlineError',
    'faultlineHome',
    'type FaultRecord',
    'FaultSession',
    'type FaultSessionOptions',
    'type FaultStatus',
    'faultStatus',
    'type FaultTarget',
    'formatIssue',
    'haltAll',
    'type HaltOptions',
    'type HaltReport',
    'haltState',
    'type HookContext',
    'type HttpProvider',
    'type Hypothesis',
    'type HypothesisStrategy',
    'type InjectOptions',
    'InterruptExecution',
    'isFaultlineError',
    'type Issue',
    'type Journal',
    'Ledger',
    'type LedgerOptions',
    'listActiveFaults',
    'type LoadDeclaration',
    'type LoadedSource',
    'loadExperimentSource',
    'loadVarFiles',
    'mergeOverrides',
    'type MetricsServer',
    'type MetricsServerOptions',
    'type NodeProvider',
    'type Overrides',
    'parseVarOption',
    'type Phase',
    'type ProbeTolerance',
    'type ProcessProvider',
    'type Provider',
    'type ProviderRunner',
    'type ProxyDeclaration',
    'type PythonProvider',
    'type RecoverOptions',
    'recoverOrphans',
    'type RecoveryReport',
    'registerBuiltin',
    'registerFaultKind',
    'registerNativeControl',
    'releaseHalt',
    'type ResolvedTargets',
    'type RollbackStrategy',
    'type RunEvent',
    'type RunEventListener',
    'runExperiment',
    'RunMetrics',
    'type RunOptions',
    'type RunStatus',
    'RunTracer',
    'type RunTracerOptions',
    'type Secrets',
    'startMetricsServer',
    'type SteadyState',
    'type TargetSelector',
    'type Tolerance',
    'type Tracing',
    'type UndoRecord',
    'validateExperiment',
    'type ValidateOptions',
    'type ValidationResult',
    'type VarOption',
    'type Verdict',
    'type VerdictKind',
    'VERSION',
  ],
  'faultline/sdk': [
    'addRule',
    'BlastRadiusLimiter',
    'type BlastRadiusOptions',
    'type CallInfo',
    'ChaosEngine',
    'clearRules',
    'type ControlEvent',
    'disable',
    'dispatcher',
    'enable',
    'type EnableOptions',
    'type EngineConfig',
    'type EngineFault',
    'type EngineFaultType',
    'type FaultEvent',
    'faultline',
    'type FaultRegistry',
    'InjectedFault',
    'type Injection',
    'type InjectionPoint',
    'installGlobalDispatcher',
    'installHttp',
    'isEnabled',
    'killSwitch',
    'on',
    'type OtelApi',
    'point',
    'rearm',
    'removeRule',
    'type RollbackEvent',
    'type RollbackReason',
    'type RollbackRecord',
    'type RollbackTrigger',
    'type RuleInput',
    'rules',
    'type SdkControlDocument',
    'type SdkEvents',
    'type SdkFaultRule',
    'type SdkFaultType',
    'type SdkMatch',
    'subscribe',
    'type SubscribeOptions',
    'type Subscription',
    'uninstallGlobalDispatcher',
    'uninstallHttp',
    'type WindowStats',
    'wrap',
  ],
  'faultline/proxy': [
    'type AddToxicInput',
    'type CallOptions',
    'type ControlServer',
    'type ControlServerEvent',
    'type ControlServerOptions',
    'type CreateProxyInput',
    'loadProxyConfig',
    'ProxyApiError',
    'ProxyClient',
    'ProxyClientError',
    'type ProxyClientOptions',
    'type ProxyConfig',
    'type ProxyControl',
    'type ProxyInput',
    'type ProxyLimits',
    'ProxyManager',
    'type ProxyManagerOptions',
    'type ProxyView',
    'startControlServer',
    'type ToxicInput',
    'type ToxicView',
    'TOXIPROXY_COMPAT_VERSION',
    'type UpdateProxyInput',
    'type UpdateToxicInput',
  ],
  'faultline/load': [
    'type Counts',
    'explainDrops',
    'type LatencySummary',
    'LoadGenerator',
    'type LoadOptions',
    'type LoadOptionsInput',
    'type LoadRunOptions',
    'type LoadSeries',
    'type LoadSummary',
    'type Outcome',
    'type RequestTemplate',
    'runLoad',
    'type SecondStats',
    'type WindowMetrics',
  ],
};

interface Surface {
  values: string[];
  types: string[];
}

/** The exports of each entry's .d.ts, one program for all (they share most declarations). */
function declaredSurfaces(): Map<string, Surface> {
  const files = new Map<string, string>();
  for (const [sub, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue; // ./package.json
    files.set(join(pkg.name, sub), join(ROOT, target.types));
  }
  const program = ts.createProgram([...files.values()], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: ['node'],
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out = new Map<string, Surface>();
  for (const [spec, file] of files) {
    const source = program.getSourceFile(file);
    assert.ok(source, `${spec}: ${file} was not built (npm run build)`);
    const module = checker.getSymbolAtLocation(source);
    assert.ok(module, `${spec}: ${file} is not a module`);
    const surface: Surface = { values: [], types: [] };
    for (const sym of checker.getExportsOfModule(module)) {
      const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
      // `export type { X }` of a class is type-only even though the class is a value.
      const typeOnly = sym.declarations?.some((d) => ts.isTypeOnlyExportDeclaration(d)) ?? false;
      if (!typeOnly && target.flags & ts.SymbolFlags.Value) surface.values.push(sym.name);
      else surface.types.push(sym.name);
    }
    out.set(spec, surface);
  }
  return out;
}

const byName = (a: string, b: string) => a.replace(/^type /, '').localeCompare(b.replace(/^type /, ''));

test('every exports subpath (but package.json) has a snapshot, and nothing else does', () => {
  const subpaths = Object.keys(pkg.exports)
    .filter((s) => s !== './package.json')
    .map((s) => join(pkg.name, s));
  assert.deepEqual(subpaths.sort(), Object.keys(EXPECTED).sort());
});

const surfaces = declaredSurfaces();
for (const [spec, expected] of Object.entries(EXPECTED)) {
  test(`${spec} exports exactly the curated names`, async () => {
    const surface = surfaces.get(spec);
    assert.ok(surface, `${spec} is not in package.json's exports`);
    const actual = [...surface.values, ...surface.types.map((t) => `type ${t}`)].sort(byName);
    assert.deepEqual(actual, [...expected].sort(byName));
    // The runtime module offers exactly the declared values: no value missing from the
    // declarations, no declared value that is only a type at runtime.
    const runtime = Object.keys(await import(spec)).sort();
    assert.deepEqual(runtime, [...surface.values].sort());
  });
}
