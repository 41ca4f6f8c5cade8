/**
 * The run loop: Chaos Toolkit's sequence and status rules (see
 * docs/compatibility.md), plus Faultline's guarantee that every fault the run
 * injected is reverted on every path, whatever the rollback strategy says.
 *
 *   controls.beforeExperiment
 *   hypothesis "before"   (default, before-method-only, continuously)
 *   method                (+ the "during" loop for during-method-only, continuously)
 *   hypothesis "after"    (default, after-method-only, continuously)
 *   revert faults         (always, before the rollbacks: they run against a system without our faults)
 *   rollbacks             (by strategy)
 *   controls.afterExperiment
 *   verdict               (engine/verdict.ts: what the exit code and every report show)
 */
import { randomUUID } from 'node:crypto';
import { hostname, platform, release } from 'node:os';
import type { BlastRadiusPolicy } from '../core/blast-radius.js';
import { parseDuration } from '../core/duration.js';
import { FaultlineError, InterruptExecution } from '../core/errors.js';
import { type ActivityRun, isoNow, type Journal, type SteadyState } from '../core/journal.js';
import type {
  Activity,
  ActivityOrRef,
  Control,
  DryMode,
  Experiment,
  HypothesisStrategy,
  RollbackStrategy,
} from '../core/schema.js';
import { isRef } from '../core/schema.js';
import { type DuringTolerance, decideVerdict, type FailFastRecord } from '../core/verdict.js';
import { resolveConfiguration, resolveSecrets } from '../experiment/configuration.js';
import { mergeVars, substitute, type Vars } from '../experiment/substitute.js';
import { faultlineHome } from '../faults/home.js';
import { Ledger } from '../faults/ledger.js';
import type { FaultKindSource } from '../faults/registry.js';
import { FaultSession } from '../faults/session.js';
import { trafficOf } from '../load/resource.js';
import { VERSION } from '../version.js';
import { executeActivity, interruptedRun, reasonOf } from './activity.js';
import type { ActivityContext, FleetRunner, LogLevel, ProviderLookup } from './context.js';
import { type ControlEnv, callHook, controlsFor, type LoadedControl, loadControls } from './controls.js';
import { type Phase, type RunEventListener, STEADY_STATE_PHASES } from './events.js';
import { breachReason, interruptCause, maxDurationReason } from './interruption.js';
import { type HaltSource, type RunInterrupts, watchInterrupts } from './interrupts.js';
import {
  decideOutcome,
  decideStatus,
  type InterruptCause,
  type PhaseOutcome,
  rollbacksPlay,
} from './outcome.js';
import { duringLoop, hypothesisAfter, hypothesisBefore, type SteadyStateRun } from './phases/steady-state.js';
import { blastRadiusPolicies, checkFleetTargets, preflightBlastRadius, preflightFleet } from './preflight.js';
import { measureRecovery } from './recovery-time.js';
import { redactEvent, redactSecrets } from './redact.js';
import type { RunResource, StartedResource } from './resources.js';
import { RunScopeImpl } from './run-scope.js';
import { collectSafeguards, type Safeguard, type SafeguardBreach, startSafeguards } from './safeguards.js';
import { checkTolerance, ToleranceMemory } from './tolerances/index.js';

/**
 * What the engine runs with but never imports: the composition root
 * (src/compose.ts) builds it, the library entry points (src/lib/) supply it.
 */
export interface RunRegistries {
  providers: ProviderLookup;
  /** Run resources by the experiment key each reads (proxies, load). */
  resources: Iterable<readonly [string, RunResource]>;
  /** Where the run's fault session finds a kind given by name. */
  faultKinds: FaultKindSource;
  /** Whether a halt is in force, and a watch on it (the local halt file, or a fleet's). */
  halt: HaltSource;
}

/** The engine's options: a run's options and the registries it runs with. */
export interface EngineRunOptions extends RunOptions {
  registries: RunRegistries;
}

export interface RunOptions {
  /** Directory relative module paths resolve against (the experiment file's). Default: cwd. */
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Overrides the experiment's `runtime.hypothesis.strategy`. */
  hypothesisStrategy?: HypothesisStrategy | 'continously';
  /** Overrides the experiment's `runtime.rollbacks.strategy`. */
  rollbackStrategy?: RollbackStrategy;
  /** Seconds between two "during" hypothesis checks (default 1). */
  hypothesisFrequency?: number;
  /** Stop the method, and revert its faults, as soon as the "during" misses exceed the tolerance. */
  failFast?: boolean;
  /** Overrides `runtime.hypothesis.max_misses`: "during" misses the verdict tolerates. */
  maxMisses?: number;
  /** Overrides `runtime.hypothesis.max_miss_ratio`: share of "during" misses the verdict tolerates (0..1). */
  maxMissRatio?: number;
  dry?: DryMode | null;
  /** `--var` / `--var-file` values: they only override keys the experiment declares. */
  configuration?: Record<string, unknown>;
  secrets?: Record<string, Record<string, unknown>>;
  /** Global controls (settings file), applied before the experiment's own. */
  controls?: Control[];
  /** Aborting it interrupts the run (Ctrl-C, SIGTERM). */
  signal?: AbortSignal;
  /** Aborting it stops the rollbacks (a second Ctrl-C). */
  rollbackSignal?: AbortSignal;
  /** `$FAULTLINE_HOME` (ledger, halt switch). */
  home?: string;
  runId?: string;
  onEvent?: RunEventListener;
  /** How often a running experiment looks for `faultline halt` (ms, default 100). */
  haltPollMs?: number;
  /** Interrupts the run after this long (ms); overrides `runtime.max_duration`. */
  maxDurationMs?: number;
  /** Decisions taken before the run (approval, time window), recorded as `faultline.policy`. */
  policy?: unknown;
  /** Blast-radius policies from outside the experiment (the settings file); the experiment's own also apply. */
  blastRadius?: readonly BlastRadiusPolicy[];
  /** Safeguards from outside the experiment (the settings file), checked with the experiment's own. */
  safeguards?: readonly Safeguard[];
  /** The fleet that activities with `targets:` inject on (lib/run-source.ts opens it when they exist). */
  fleet?: FleetRunner;
  /** Options for one provider type, by type (`{python: {native: false}}`): each provider reads its own. */
  providerOptions?: Readonly<Record<string, unknown>>;
  /**
   * The run's scope when the caller opened it first (global python controls'
   * loading hooks run before the engine); the run closes it when it ends.
   */
  scope?: RunScopeImpl;
}

interface Strategies {
  hypothesis: HypothesisStrategy;
  rollbacks: RollbackStrategy;
}

/** Works out the strategies: CLI flags over the `runtime` block over `default`. */
export function resolveStrategies(experiment: Experiment, options: RunOptions): Strategies {
  const rt = experiment.runtime;
  let hypothesis = (options.hypothesisStrategy ?? rt?.hypothesis?.strategy ?? 'default') as string;
  if (hypothesis === 'continously') hypothesis = 'continuously';
  return {
    hypothesis: hypothesis as HypothesisStrategy,
    rollbacks: options.rollbackStrategy ?? rt?.rollbacks?.strategy ?? 'default',
  };
}

/**
 * Exit status of a finished run, from Faultline's verdict (engine/verdict.ts):
 * 0 only when it passed, 2 for a blast-radius refusal, 1 otherwise. Unlike
 * Chaos Toolkit, misses during the method, a failed action and a run that
 * never got to inject do not pass a CI gate.
 */
export function exitCodeFor(journal: Journal): 0 | 1 | 2 {
  return decideVerdict(journal).exit_code;
}

/** The "during" tolerance: CLI flags over the `runtime.hypothesis` block over none. */
export function resolveDuringTolerance(experiment: Experiment, options: RunOptions): DuringTolerance {
  const rt = experiment.runtime?.hypothesis;
  return {
    max_misses: options.maxMisses ?? rt?.max_misses ?? 0,
    max_miss_ratio: options.maxMissRatio ?? rt?.max_miss_ratio ?? 0,
  };
}

const BEFORE_STRATEGIES: ReadonlySet<string> = new Set(['default', 'before-method-only', 'continuously']);
const AFTER_STRATEGIES: ReadonlySet<string> = new Set(['default', 'after-method-only', 'continuously']);
const DURING_STRATEGIES: ReadonlySet<string> = new Set(['during-method-only', 'continuously']);

/** Raised when the method cannot go on (see the `method` PhaseOutcome): the run ends as `aborted`. */
class AbortRun extends Error {
  constructor(
    message: string,
    readonly by: 'unresolved-ref' | 'blast-radius',
  ) {
    super(message);
  }
}

/**
 * Runs an experiment and returns its journal. Never throws for what happens
 * during the run (that is the journal's job); throws FaultlineError before the
 * run starts for invalid configuration, unloadable controls or a halt in force.
 *
 * @example
 * const journal = await runExperiment(experiment, { onEvent: (e) => console.log(e.type) });
 * process.exitCode = exitCodeFor(journal);
 */
export async function runExperiment(experiment: Experiment, options: EngineRunOptions): Promise<Journal> {
  const run = await ExperimentRun.open(experiment, options);
  return run.execute();
}

/**
 * One run of one experiment. open() does everything that may refuse the run
 * (halt in force, configuration, secrets, resources, blast radius, controls);
 * execute() then follows the sequence in this file's header, and the phases
 * after the method (rollbacks, revert, recovery, the journal's end) run
 * whatever happened before them.
 */
class ExperimentRun {
  readonly #emit: RunEventListener;
  readonly #baseDir: string;
  readonly #runId: string;
  readonly #strategies: Strategies;
  readonly #dry: DryMode | null;
  readonly #hasHypothesis: boolean;
  readonly #interrupts: RunInterrupts;
  readonly #maxDurationMs: number | undefined;
  readonly #blastRadius: BlastRadiusPolicy[];
  readonly #faults: FaultSession;
  readonly #journal: Journal;
  readonly #started = Date.now();
  /** The monotonic clock at the start: the journal's duration to the microsecond, a float as Chaos Toolkit's. */
  readonly #clock = performance.now();
  readonly #resources: { key: string; started: StartedResource }[] = [];
  readonly #scope: RunScopeImpl;
  #configuration: Record<string, unknown> = {};
  #secrets: Record<string, Record<string, unknown>> = {};
  // Controls may change configuration and secrets in place (as in Chaos Toolkit), so the
  // substitution view is rebuilt after every hook that can do so.
  #vars: Vars = {};
  #controls: { global: LoadedControl[]; top: LoadedControl[]; hypothesis: LoadedControl[] } = {
    global: [],
    top: [],
    hypothesis: [],
  };
  readonly #activityControls = new Map<object, LoadedControl[]>();
  #controlEnv!: ControlEnv;
  #safeguards: Safeguard[] = [];
  #breach: SafeguardBreach | undefined;
  /** The revert a safeguard started at its breach, awaited before the rollbacks. */
  #breachRevert: Promise<unknown> | undefined;
  readonly #tolerance: DuringTolerance;
  /** Aborted by fail-fast: stops the method's activities (pauses included) without interrupting the run. */
  readonly #failFast = new AbortController();
  /** The revert fail-fast started when it fired, awaited before the hypothesis after. */
  #failFastRevert: Promise<unknown> | undefined;
  /** What remembering tolerance kinds (baseline) keep per probe, journalled as they change. */
  readonly #toleranceMemory = new ToleranceMemory((field, values) => {
    this.#journal.faultline[field] = values;
  });

  private constructor(
    readonly experiment: Experiment,
    readonly options: EngineRunOptions,
    interrupts: RunInterrupts,
    home: string,
    maxDurationMs: number | undefined,
  ) {
    // The one place events leave the engine: each is redacted first, so no listener (text or
    // JSON logs, traces, metrics, webhooks) can see a secret value.
    const listener = options.onEvent ?? (() => {});
    const seen = new WeakMap<object, unknown>();
    this.#emit = (event) => listener(redactEvent(event, this.#secrets, seen));
    this.#baseDir = options.baseDir ?? process.cwd();
    this.#runId = options.runId ?? randomUUID();
    this.#scope =
      options.scope ??
      new RunScopeImpl(this.#runId, options.env ?? process.env, options.providerOptions, (level, message) =>
        this.#log(level, message),
      );
    this.#strategies = resolveStrategies(experiment, options);
    this.#tolerance = resolveDuringTolerance(experiment, options);
    this.#dry = options.dry ?? null;
    this.#hasHypothesis = (experiment['steady-state-hypothesis']?.probes?.length ?? 0) > 0;
    this.#interrupts = interrupts;
    this.#maxDurationMs = maxDurationMs;
    const blastRadius = blastRadiusPolicies(experiment, options.blastRadius);
    this.#blastRadius = blastRadius;
    this.#faults = new FaultSession({
      runId: this.#runId,
      ledger: new Ledger({ home }),
      kinds: options.registries.faultKinds,
      onEvent: (e) => this.#emit({ type: 'fault', action: e.action, fault: e.record }),
      blastRadius,
    });
    this.#journal = {
      'chaoslib-version': VERSION,
      platform: `${platform()}-${release()}`,
      node: hostname(),
      experiment: { ...structuredClone(experiment), dry: this.#dry },
      start: isoNow(new Date(this.#started)),
      end: '',
      duration: 0,
      status: 'completed',
      deviated: false,
      steady_states: { before: null, after: null, during: [] },
      run: [],
      rollbacks: [],
      faultline: {
        version: VERSION,
        run_id: this.#runId,
        host: hostname(),
        pid: process.pid,
        strategies: this.#strategies,
        during_tolerance: this.#tolerance,
        faults: [],
        unreverted: [],
        ...(options.policy === undefined ? {} : { policy: options.policy }),
        ...(blastRadius.length > 0 ? { blast_radius: { policies: blastRadius } } : {}),
      },
    };
  }

  /** A run ready to execute, or a FaultlineError: nothing has been injected either way. */
  static async open(experiment: Experiment, options: EngineRunOptions): Promise<ExperimentRun> {
    const home = options.home ?? faultlineHome(options.env ?? process.env);
    const { halt } = options.registries;
    const halted = await halt.state();
    if (halted) {
      throw new FaultlineError(
        'FAULTLINE_ERR_HALTED',
        `a halt is in force since ${halted.since}${halted.reason ? ` (${halted.reason})` : ''}: run \`faultline halt --release\` to allow runs again`,
      );
    }
    // Interrupts: the caller's signal (Ctrl-C), a control, a safeguard, `faultline halt`, max duration.
    const rtMax = experiment.runtime?.max_duration;
    const maxDurationMs = options.maxDurationMs ?? (rtMax === undefined ? undefined : parseDuration(rtMax));
    const interrupts = await watchInterrupts({
      halt,
      signal: options.signal,
      haltPollMs: options.haltPollMs,
      maxDurationMs,
      ...(maxDurationMs === undefined ? {} : { maxDurationReason: maxDurationReason(maxDurationMs) }),
    });
    const run = new ExperimentRun(experiment, options, interrupts, home, maxDurationMs);
    try {
      await run.#prepare();
    } catch (err) {
      interrupts.stop();
      await run.#stopResources();
      await run.#scope.close();
      throw err;
    }
    return run;
  }

  get #interrupt(): AbortController {
    return this.#interrupts.controller;
  }

  #log = (level: LogLevel, message: string): void => this.#emit({ type: 'log', level, message });

  /** Configuration, secrets and run resources; the blast-radius preflight; controls loaded and configured. */
  async #prepare(): Promise<void> {
    const { experiment, options } = this;
    const env = options.env ?? process.env;
    // A dynamic configuration probe runs once here.
    this.#configuration = await resolveConfiguration(experiment.configuration, {
      env,
      overrides: options.configuration,
      runProbe: async (_name, probe) =>
        dynamicValue(probe as Activity, this.#ctxFor(this.#interrupt.signal), options.registries.providers),
      onWarning: (m: string) => this.#log('warn', m),
    });
    this.#secrets = await resolveSecrets(experiment.secrets, { env, overrides: options.secrets });
    for (const [key, resource] of options.registries.resources) {
      const declaration = (experiment as Record<string, unknown>)[key];
      if (declaration === undefined) continue;
      const started = await resource.start(
        substitute(declaration, mergeVars(this.#configuration, this.#secrets)),
        {
          experiment,
          configuration: this.#configuration,
          log: this.#log,
        },
      );
      this.#resources.push({ key, started });
      Object.assign(this.#configuration, started.configuration ?? {});
    }
    this.#refreshVars();
    this.#journal.experiment.title = String(substitute(experiment.title, this.#vars));

    // Fleet activities are fault actions, and the run has a fleet to send them to.
    checkFleetTargets(experiment, options.registries.providers, options.fleet !== undefined);
    // Before anything is injected: every fault action whose targets can be known now.
    await preflightBlastRadius(
      experiment,
      this.#blastRadius,
      this.#vars,
      this.#log,
      options.registries.providers,
    );
    // And every fleet action's targets on the fleet: a selection that matches nothing refuses the run.
    await preflightFleet(experiment, options.fleet, this.#vars, this.#log, options.registries.providers);
    // Controls find their provider type's hooks (python: native controls, the safeguards control) here.
    const { providers } = options.registries;
    const fromGlobal = collectSafeguards(options.safeguards, options.controls, providers);
    const fromExperiment = collectSafeguards(experiment.safeguards, experiment.controls, providers);
    this.#safeguards = [...fromGlobal.safeguards, ...fromExperiment.safeguards];
    const scope = this.#scope;
    const global = await loadControls(fromGlobal.controls, this.#baseDir, [], providers, scope);
    const top = await loadControls(fromExperiment.controls, this.#baseDir, [], providers, scope);
    const hypothesis = await loadControls(
      experiment['steady-state-hypothesis']?.controls,
      this.#baseDir,
      top,
      providers,
      scope,
    );
    this.#controls = { global, top, hypothesis };
    for (const a of allActivities(experiment)) {
      if (a.controls?.length)
        this.#activityControls.set(a, await loadControls(a.controls, this.#baseDir, top, providers, scope));
    }
    this.#controlEnv = {
      experiment,
      configuration: this.#configuration,
      secrets: this.#secrets,
      log: this.#log,
    };
    for (const c of [...global, ...top]) {
      try {
        await c.hooks.configure?.({
          context: experiment,
          experiment,
          configuration: this.#configuration,
          secrets: this.#secrets,
          arguments: c.arguments,
          interrupt: () => {
            throw new InterruptExecution();
          },
        });
      } catch (err) {
        this.#log('warn', `control '${c.name}' failed to configure: ${(err as Error).message}`);
      }
    }
    this.#refreshVars();
  }

  async execute(): Promise<Journal> {
    const { title } = this.#journal.experiment;
    this.#emit({
      type: 'run-start',
      runId: this.#runId,
      title,
      strategies: this.#strategies,
      dry: this.#dry,
    });
    const stopLoadEvents = this.#startLoadEvents();
    let outcomes: PhaseOutcome[];
    try {
      // Every phase runs whatever happened before it; what went wrong in each is an outcome,
      // and the status, reason and verdict come from all of them (engine/outcome.ts).
      outcomes = await this.#main();
      // Faults first, whatever stopped the run: a Ctrl-C must not leave them in place while rollbacks run.
      await this.#revertFaults();
      outcomes.push(...(await this.#rollbacks(outcomes)));
      // Anything a rollback injected (rare) goes too; a no-op otherwise.
      await this.#revertFaults();
      outcomes.push(...(await this.#recover(outcomes)));
    } finally {
      stopLoadEvents();
    }
    // Resources (in-process proxies, load) stop only after every fault in them is reverted.
    Object.assign(this.#journal.faultline, await this.#stopResources());
    // The run's Python worker goes last: rollbacks and controls may still have used it.
    Object.assign(this.#journal.faultline, await this.#scope.close());
    return this.#finish(outcomes);
  }

  /**
   * Once a second while the run's `load:` sends, its last second as a `load` event (live views);
   * returns what stops it. Nothing runs when the run has no listener or no load.
   */
  #startLoadEvents(): () => void {
    const traffic = this.options.onEvent ? trafficOf(this.#configuration) : undefined;
    if (!traffic) return () => {};
    const timer = setInterval(() => {
      const m = traffic.series.window(1000);
      this.#emit({
        type: 'load',
        requests: m.requests,
        throughput: m.throughput,
        // The window calls a second without outcomes all errors (probes must not pass on silence); a chart shows none.
        error_rate: m.requests === 0 ? 0 : m.error_rate,
        p50: m.p50,
        p99: m.p99,
      });
    }, 1000);
    // The run's own work keeps the process alive; a chart's tick must not.
    timer.unref();
    return () => clearInterval(timer);
  }

  // ---------------------------------------------------------------- the phases

  /** Safeguards, the hypothesis before, the method (with the "during" loop), the hypothesis after. */
  async #main(): Promise<PhaseOutcome[]> {
    const { experiment } = this;
    const interrupt = this.#interrupt;
    const outcomes: PhaseOutcome[] = [];
    let guards: ReturnType<typeof startSafeguards> | undefined;
    try {
      await callHook(this.#experimentControls(), 'beforeExperiment', experiment, undefined, this.#controlEnv);
      this.#refreshVars();
      guards = this.#startSafeguards();
      await guards.ready;
      if (interrupt.signal.aborted) throw new InterruptExecution(reasonOf(interrupt.signal));
      if (this.#hasHypothesis && BEFORE_STRATEGIES.has(this.#strategies.hypothesis)) {
        const warmup = experiment.runtime?.hypothesis?.warmup;
        const warmupMs = warmup === undefined ? undefined : (parseDuration(warmup) ?? 0);
        outcomes.push(...(await hypothesisBefore(this.#steadyState(), warmupMs)));
      }
      if (outcomes.length === 0) {
        const method = await this.#method();
        outcomes.push(...method.outcomes);
        if (method.error) throw method.error;
        if (
          this.#hasHypothesis &&
          AFTER_STRATEGIES.has(this.#strategies.hypothesis) &&
          decideStatus(outcomes).status !== 'aborted' &&
          !interrupt.signal.aborted
        )
          outcomes.push(...(await hypothesisAfter(this.#steadyState())));
      }
      if (interrupt.signal.aborted) throw new InterruptExecution(reasonOf(interrupt.signal));
    } catch (err) {
      outcomes.push(this.#endedBy(err));
    }
    guards?.stop();
    this.#interrupts.stop();
    if (this.#breach) outcomes.push({ phase: 'safeguards', kind: 'breached', probe: this.#breach.name });
    await this.#breachRevert;
    return outcomes;
  }

  /**
   * The method, with the "during" loop beside it. Never throws: what stopped
   * the method early is `error` (an interrupt, an unexpected error), for the
   * caller to end the sequence with; what ended it without ending the run
   * (fail-fast, an abort) is in `outcomes`.
   */
  async #method(): Promise<{ outcomes: PhaseOutcome[]; error?: unknown }> {
    const journal = this.#journal;
    const outcomes: PhaseOutcome[] = [];
    const stopDuring = new AbortController();
    const during =
      this.#hasHypothesis && DURING_STRATEGIES.has(this.#strategies.hypothesis)
        ? duringLoop(this.#steadyState(), {
            stop: stopDuring.signal,
            failFast: this.options.failFast ?? this.experiment.runtime?.hypothesis?.fail_fast ?? false,
            tolerance: this.#tolerance,
            fireFailFast: (state, check) => this.#fireFailFast(state, check),
          })
        : undefined;
    let methodErr: unknown;
    try {
      await this.#runMethod();
    } catch (err) {
      // fail-fast cut the current activity short: that ends the method, it does not interrupt the run.
      const failFastStop =
        err instanceof InterruptExecution && this.#failFast.signal.aborted && !this.#interrupt.signal.aborted;
      if (!failFastStop) methodErr = err;
    }
    const violation = this.#faults.violation;
    if (violation && journal.faultline.blast_radius) {
      journal.faultline.blast_radius.violation = violation.message;
      methodErr ??= new AbortRun(violation.message, 'blast-radius');
    }
    stopDuring.abort();
    if (during) {
      try {
        outcomes.push(...(await during));
      } catch (err) {
        if (err instanceof InterruptExecution) methodErr ??= err;
        else
          outcomes.push({
            phase: 'during-hypothesis',
            kind: 'aborted',
            reason: `the continuous hypothesis failed: ${(err as Error).message}`,
          });
      }
    }
    await this.#failFastRevert;
    if (!(methodErr instanceof AbortRun)) return { outcomes, ...(methodErr ? { error: methodErr } : {}) };
    outcomes.push({ phase: 'method', kind: 'aborted', by: methodErr.by, reason: methodErr.message });
    return { outcomes };
  }

  /** What ended the sequence early: an interrupt (from whatever made it), or an unexpected error (aborted). */
  #endedBy(err: unknown): PhaseOutcome {
    const interrupt = this.#interrupt;
    if (err instanceof InterruptExecution) {
      const by = this.#interruptCause(err);
      if (!interrupt.signal.aborted) interrupt.abort(err.message);
      return { phase: 'experiment', kind: 'interrupted', by, reason: err.message };
    }
    const reason = (err as Error)?.message ?? String(err);
    this.#log('error', `the run aborted: ${reason}`);
    return { phase: 'experiment', kind: 'aborted', by: 'error', reason };
  }

  #interruptCause(err: InterruptExecution): InterruptCause {
    return interruptCause(err, {
      controller: this.#interrupt.signal,
      caller: this.options.signal,
      breached: this.#breach?.name,
      maxDurationMs: this.#maxDurationMs,
    });
  }

  /** Watches the safeguards; a breach interrupts the run and starts reverting every fault at once. */
  #startSafeguards(): ReturnType<typeof startSafeguards> {
    return startSafeguards(this.#safeguards, {
      check: async (probe, signal) => {
        const run = await executeActivity(probe, {
          ctx: this.#ctxFor(signal),
          providers: this.options.registries.providers,
          vars: this.#vars,
          dry: null,
        });
        return { ...(await this.#judge(probe, run, signal)), output: run.output };
      },
      onCheck: (probe, result) =>
        this.#emit({
          type: 'safeguard',
          name: probe.name,
          met: result.met,
          output: result.output,
          ...(probe.tolerance !== undefined ? { tolerance: probe.tolerance } : {}),
          ...(result.reason ? { reason: result.reason } : {}),
        }),
      onBreach: (probe, result) => {
        if (this.#breach || this.#interrupt.signal.aborted) return;
        const b: SafeguardBreach = {
          name: probe.name,
          value: result.output,
          tolerance: probe.tolerance,
          ...(result.reason ? { reason: result.reason } : {}),
          breached_at: isoNow(),
        };
        this.#breach = b;
        this.#journal.faultline.safeguard = b;
        this.#log(
          'error',
          `safeguard '${probe.name}' breached${result.reason ? `: ${result.reason}` : ''}: stopping the run`,
        );
        this.#interrupt.abort(breachReason(probe.name));
        // Revert at once, without waiting for the method to unwind.
        this.#breachRevert = this.#faults.revertAll().then(() => {
          b.reverted_at = isoNow();
        });
      },
    });
  }

  async #runMethod(): Promise<void> {
    const { experiment } = this;
    this.#emit({ type: 'phase', phase: 'method' });
    const level = this.#sequenceControls();
    await callHook(level, 'beforeMethod', experiment, undefined, this.#controlEnv);
    let failure: unknown;
    try {
      await this.#runSequence(
        experiment.method,
        'method',
        AbortSignal.any([this.#interrupt.signal, this.#failFast.signal]),
        (runs) => (this.#journal.run = runs),
        {
          // A fault refused by the blast radius ends the method: the run reached too far.
          stop: () => this.#failFast.signal.aborted || this.#faults.violation !== undefined,
          onUnresolved: (err) => {
            throw new AbortRun(err.message, 'unresolved-ref');
          },
        },
      );
    } catch (err) {
      failure = err;
    }
    await callHook(level, 'afterMethod', experiment, this.#journal.run, this.#controlEnv).catch(
      (e) => (failure ??= e),
    );
    if (failure) throw failure;
  }

  /** The rollbacks, when the strategy (or a safeguard's breach) calls for them, given the outcome so far. */
  async #rollbacks(outcomes: readonly PhaseOutcome[]): Promise<PhaseOutcome[]> {
    const { experiment, options } = this;
    const journal = this.#journal;
    if (!rollbacksPlay(this.#strategies.rollbacks, outcomes) || (experiment.rollbacks?.length ?? 0) === 0)
      return [];
    const signal = options.rollbackSignal ?? new AbortController().signal;
    this.#emit({ type: 'phase', phase: 'rollbacks' });
    const level = this.#sequenceControls();
    try {
      await callHook(level, 'beforeRollback', experiment, undefined, this.#controlEnv);
      await this.#runSequence(
        experiment.rollbacks ?? [],
        'rollbacks',
        signal,
        (runs) => (journal.rollbacks = runs),
        {
          onUnresolved: (err) => this.#log('error', `rollback skipped: ${err.message}`),
        },
      );
      await callHook(level, 'afterRollback', experiment, journal.rollbacks, this.#controlEnv);
      return [];
    } catch (err) {
      // A signal during the rollbacks stops the remaining ones, as in Chaos Toolkit.
      return [
        {
          phase: 'rollbacks',
          kind: 'interrupted',
          by: signal.aborted ? 'rollback-signal' : 'experiment',
          reason: (err as Error)?.message ?? String(err),
        },
      ];
    }
  }

  /** Every fault the run still holds, whatever the rollbacks did; what could not be verified gone is listed. */
  async #revertFaults(): Promise<void> {
    if (this.#faults.active() > 0) this.#emit({ type: 'phase', phase: 'revert' });
    await this.#faults.revertAll();
    const { faultline } = this.#journal;
    faultline.faults = this.#faults.records();
    // The fleet's faults: one outcome per agent (injected, reverted, verified, or left to its lease).
    const fleet = await this.options.fleet?.revertAll();
    if (fleet && fleet.length > 0) faultline.fleet = fleet;
    faultline.unreverted = faultline.faults.filter((r) => r.error !== undefined || r.verified === false);
  }

  /**
   * Time to recover: the hypothesis until it holds again (not after an
   * abort). A second Ctrl-C (the rollback signal) stops the wait.
   */
  async #recover(outcomes: readonly PhaseOutcome[]): Promise<PhaseOutcome[]> {
    const journal = this.#journal;
    const recovery = this.experiment.runtime?.recovery;
    if (
      !recovery ||
      !this.#hasHypothesis ||
      journal.faultline.faults.length === 0 ||
      decideStatus(outcomes).status === 'aborted'
    )
      return [];
    this.#emit({ type: 'phase', phase: 'recovery' });
    const record = await measureRecovery(
      recovery,
      journal.faultline.faults,
      (signal) => this.#runHypothesis('recovery', signal),
      this.options.rollbackSignal ?? new AbortController().signal,
      {
        experiment: this.experiment,
        configuration: this.#configuration,
        providers: this.options.registries.providers,
      },
    );
    journal.faultline.recovery = record;
    if (record.skipped) {
      this.#log('warn', `recovery not measured: ${record.skipped}`);
    } else if (record.mttr === null || record.mttr === undefined) {
      const reason = `did not recover: the steady state did not hold within ${record.deadline} s of the faults being reverted`;
      this.#log('error', reason);
      return [{ phase: 'recovery', kind: 'not-recovered', reason }];
    } else {
      const how = record.method === 'traffic' ? 'read from the traffic' : 'from the checks';
      this.#log(
        'info',
        `recovered ${record.mttr.toFixed(2)} s after the faults were reverted (${how}, to ${record.resolution} s)`,
      );
    }
    return [];
  }

  /** Closes the journal, runs the last control hooks, and returns the journal with secrets masked. */
  async #finish(outcomes: PhaseOutcome[]): Promise<Journal> {
    const journal = this.#journal;
    const ended = Date.now();
    journal.end = isoNow(new Date(ended));
    journal.duration = (performance.now() - this.#clock) / 1000;
    // What the afterExperiment hook sees.
    const closed = decideStatus(outcomes);
    journal.status = closed.status;
    journal.deviated = closed.deviated;
    if (closed.reason) journal.faultline.reason = closed.reason;
    try {
      await callHook(
        this.#experimentControls(),
        'afterExperiment',
        this.experiment,
        journal,
        this.#controlEnv,
      );
    } catch (err) {
      if (err instanceof InterruptExecution)
        outcomes.push({
          phase: 'after-experiment',
          kind: 'interrupted',
          by: this.#interruptCause(err),
          reason: err.message,
        });
    }
    for (const c of this.#experimentControls()) {
      try {
        await c.hooks.cleanup?.();
      } catch {
        // Cleanup errors are swallowed, as in Chaos Toolkit.
      }
    }
    // Last, so it judges the final status (the afterExperiment hook may interrupt) and is redacted too.
    const outcome = decideOutcome(outcomes, journal);
    journal.status = outcome.status;
    journal.deviated = outcome.deviated;
    journal.faultline.verdict = outcome.verdict;
    const final = redactSecrets(journal, this.#secrets);
    this.#emit({ type: 'run-end', journal: final });
    return final;
  }

  // ---------------------------------------------------------------- helpers

  /** At the experiment level every global and top-level control applies, automatic or not. */
  #experimentControls(): LoadedControl[] {
    return [...this.#controls.global, ...this.#controls.top];
  }

  /** The automatic global and top-level controls: those around the method and the rollbacks. */
  #sequenceControls(): LoadedControl[] {
    return controlsFor(this.#controls.global, this.#controls.top, []);
  }

  /** The run as the steady-state phases see it. */
  #steadyState(): SteadyStateRun {
    const { experiment, options } = this;
    return {
      check: (phase) => this.#runHypothesis(phase),
      interrupt: this.#interrupt.signal,
      journal: this.#journal,
      log: this.#log,
      frequency: options.hypothesisFrequency ?? experiment.runtime?.hypothesis?.frequency ?? 1,
    };
  }

  #refreshVars(): void {
    this.#vars = mergeVars(this.#configuration, this.#secrets);
  }

  #ctxFor(signal: AbortSignal): ActivityContext {
    return {
      configuration: this.#configuration,
      secrets: this.#secrets,
      signal,
      baseDir: this.#baseDir,
      runId: this.#runId,
      faults: this.#faults,
      scope: this.#scope,
      ...(this.options.fleet ? { fleet: this.options.fleet } : {}),
      log: this.#log,
    };
  }

  /** Stops run resources (last started first) and returns what each measured, by key. */
  async #stopResources(): Promise<Record<string, unknown>> {
    const measured: Record<string, unknown> = {};
    for (const { key, started: r } of this.#resources.splice(0).reverse()) {
      try {
        await r.stop();
        const data = r.journal?.();
        if (data !== undefined) measured[key] = data;
      } catch (err) {
        this.#log('warn', `could not stop the run's ${key}: ${(err as Error).message}`);
      }
    }
    return measured;
  }

  /** Runs one activity with its controls; rethrows InterruptExecution after recording the run. */
  async #runActivity(
    a: Activity,
    phase: Phase,
    level: LoadedControl[],
    signal: AbortSignal,
    record: (r: ActivityRun) => void,
    background = false,
  ): Promise<ActivityRun> {
    const ctl = controlsFor(level, [], this.#activityControls.get(a) ?? []);
    this.#emit({ type: 'activity-start', phase, activity: a, background });
    await callHook(ctl, 'beforeActivity', a, undefined, this.#controlEnv);
    let recorded: ActivityRun | undefined;
    const onRecorded = (r: ActivityRun) => {
      recorded = r;
      record(r);
      // Hypothesis probes are reported once their tolerance is known (in #runHypothesis).
      if (!STEADY_STATE_PHASES.has(phase)) this.#emit({ type: 'activity-end', phase, run: r });
    };
    let run: ActivityRun;
    try {
      run = await executeActivity(a, {
        ctx: this.#ctxFor(signal),
        providers: this.options.registries.providers,
        vars: this.#vars,
        dry: this.#dry,
        onRecorded,
      });
    } catch (err) {
      const partial = interruptedRun(err);
      if (partial && partial !== recorded) {
        record(partial);
        this.#emit({ type: 'activity-end', phase, run: partial });
      }
      throw err;
    }
    await callHook(ctl, 'afterActivity', a, run, this.#controlEnv);
    // An activity may write configuration (Chaos Toolkit's toxiproxy create_proxy stores `<name>_PORT`).
    this.#refreshVars();
    return run;
  }

  /** Whether a probe's run meets its tolerance (a failed probe never does; dry probes always do). */
  async #judge(
    probe: Activity,
    run: ActivityRun,
    signal: AbortSignal,
  ): Promise<{ met: boolean; reason?: string }> {
    if (run.status === 'failed') return { met: false, reason: run.exception?.at(-1)?.trim() };
    if (this.#dry === 'probes' || this.#dry === 'activities' || probe.tolerance === undefined)
      return { met: true };
    return checkTolerance(probe.tolerance, run.output, {
      vars: this.#vars,
      memory: this.#toleranceMemory.forProbe(probe.name),
      runProbe: async (p) => {
        const r = await executeActivity(p, {
          ctx: this.#ctxFor(signal),
          providers: this.options.registries.providers,
          vars: this.#vars,
          dry: null,
        });
        if (r.status === 'failed') throw new Error(r.exception?.at(-1)?.trim() ?? 'probe failed');
        return r.output;
      },
    });
  }

  async #runHypothesis(phase: Phase, signal: AbortSignal = this.#interrupt.signal): Promise<SteadyState> {
    const { experiment } = this;
    const hypothesis = experiment['steady-state-hypothesis']!;
    const level = controlsFor(this.#controls.global, this.#controls.top, this.#controls.hypothesis);
    this.#emit({ type: 'phase', phase });
    await callHook(level, 'beforeHypothesis', hypothesis, undefined, this.#controlEnv);
    const state: SteadyState = { steady_state_met: true, probes: [] };
    for (const item of hypothesis.probes ?? []) {
      const probe = resolveRef(experiment, item);
      const run = await this.#runActivity(probe, phase, level, signal, (r) => state.probes.push(r));
      const { met, reason } = await this.#judge(probe, run, signal);
      run.tolerance_met = met;
      this.#emit({ type: 'activity-end', phase, run, ...(reason ? { reason } : {}) });
      if (!met) {
        state.steady_state_met = false;
        break;
      }
    }
    await callHook(level, 'afterHypothesis', hypothesis, state, this.#controlEnv);
    this.#emit({ type: 'hypothesis-end', phase, state });
    return state;
  }

  /**
   * Fail-fast: stops the method now (the current activity and its pauses
   * included) and reverts every fault at once, as a safeguard's breach does.
   * The status is Chaos Toolkit's (`failed`; the hypothesis after still runs
   * and may reset it); the reason and `faultline.fail_fast` say what happened.
   */
  #fireFailFast(state: SteadyState, check: number): PhaseOutcome {
    const probe = state.probes.at(-1)?.activity.name;
    const reason = `fail-fast: the steady state was not met during the method (check ${check}${probe ? `, probe '${probe}'` : ''}): the method was stopped and its faults reverted`;
    const record: FailFastRecord = { reason, fired_at: isoNow(), check };
    this.#journal.faultline.fail_fast = record;
    this.#log('error', reason);
    this.#failFast.abort(reason);
    this.#failFastRevert = this.#faults.revertAll().then(() => {
      record.reverted_at = isoNow();
    });
    return { phase: 'during-hypothesis', kind: 'fail-fast', reason };
  }

  /**
   * Runs activities in order (background ones concurrently), recording them in
   * start order, and always awaits the background ones (an interrupt aborts
   * them promptly). Throws the first interrupt.
   */
  async #runSequence(
    items: readonly ActivityOrRef[],
    phase: 'method' | 'rollbacks',
    signal: AbortSignal,
    publish: (runs: ActivityRun[]) => void,
    opts: { stop?: () => boolean; onUnresolved(err: Error): void },
  ): Promise<void> {
    const level = this.#sequenceControls();
    const slots: (ActivityRun | undefined)[] = [];
    const background: Promise<unknown>[] = [];
    let failure: unknown;
    try {
      for (const item of items) {
        if (opts.stop?.()) break;
        if (signal.aborted) throw new InterruptExecution(reasonOf(signal));
        let activity: Activity;
        try {
          activity = resolveRef(this.experiment, item);
        } catch (err) {
          opts.onUnresolved(err as Error);
          continue;
        }
        const slot = slots.push(undefined) - 1;
        const p = this.#runActivity(
          activity,
          phase,
          level,
          signal,
          (r) => (slots[slot] = r),
          activity.background,
        );
        if (activity.background) background.push(p);
        else await p;
      }
    } catch (err) {
      failure = err;
    }
    const settled = await Promise.allSettled(background);
    publish(slots.filter((r): r is ActivityRun => r !== undefined));
    failure ??= (settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined)?.reason;
    if (failure) throw failure;
  }
}

/** Every full activity of the experiment (method, hypothesis probes, rollbacks), refs excluded. */
function allActivities(experiment: Experiment): Activity[] {
  const items: ActivityOrRef[] = [
    ...(experiment['steady-state-hypothesis']?.probes ?? []),
    ...experiment.method,
    ...(experiment.rollbacks ?? []),
  ];
  return items.filter((a): a is Activity => !isRef(a));
}

/** Resolves `{ref: name}` among the method and the hypothesis probes (not rollbacks), as Chaos Toolkit does. */
export function resolveRef(experiment: Experiment, item: ActivityOrRef): Activity {
  if (!isRef(item)) return item as Activity;
  const pool: ActivityOrRef[] = [
    ...experiment.method,
    ...(experiment['steady-state-hypothesis']?.probes ?? []),
  ];
  const found = pool.find((a) => !isRef(a) && (a as Activity).name === item.ref);
  if (!found)
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `referenced activity '${item.ref}' could not be found in the experiment`,
    );
  return found as Activity;
}

/** Runs a dynamic-configuration probe: the value is its provider's `dynamicValue` of the output, else the output. */
async function dynamicValue(
  probe: Activity,
  ctx: ActivityContext,
  providers: ProviderLookup,
): Promise<unknown> {
  const run = await executeActivity(probe, { ctx, providers, vars: {}, dry: null });
  if (run.status === 'failed') throw new Error(run.exception?.at(-1)?.trim() ?? 'probe failed');
  const hook = providers.get(probe.provider.type)?.dynamicValue;
  return hook ? hook(run.output) : run.output;
}
