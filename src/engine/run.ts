/**
 * The run loop: Chaos Toolkit's sequence and status rules (see
 * docs/compatibility.md), plus Faultline's guarantee that every fault the run
 * injected is reverted on every path, whatever the rollback strategy says.
 *
 *   controls.beforeExperiment
 *   hypothesis "before"   (default, before-method-only, continuously)
 *   method                (+ the "during" loop for during-method-only, continuously)
 *   hypothesis "after"    (default, after-method-only, continuously)
 *   rollbacks             (by strategy)
 *   revert faults         (always)
 *   controls.afterExperiment
 */
import { randomUUID } from 'node:crypto';
import { hostname, platform, release } from 'node:os';
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { parseDuration } from '../core/duration.js';
import { FaultlineError, InterruptExecution } from '../core/errors.js';
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
import { resolveConfiguration, resolveSecrets } from '../experiment/configuration.js';
import { mergeVars, substitute, type Vars } from '../experiment/substitute.js';
import { faultlineHome } from '../faults/home.js';
import { Ledger } from '../faults/ledger.js';
import { haltState } from '../faults/recovery.js';
import { FaultSession } from '../faults/session.js';
import type { BlastRadiusPolicy } from '../safety/blast-radius.js';
import { measureRecovery } from '../safety/recovery-time.js';
import {
  collectSafeguards,
  type Safeguard,
  type SafeguardBreach,
  startSafeguards,
} from '../safety/safeguards.js';
import { VERSION } from '../version.js';
import { executeActivity, interruptedRun, reasonOf } from './activity.js';
import type { ActivityContext, LogLevel } from './context.js';
import { type ControlEnv, callHook, controlsFor, type LoadedControl, loadControls } from './controls.js';
import { type Phase, type RunEventListener, STEADY_STATE_PHASES } from './events.js';
import { watchInterrupts } from './interrupts.js';
import { type ActivityRun, isoNow, type Journal, type RunStatus, type SteadyState } from './journal.js';
import { blastRadiusPolicies, preflightBlastRadius } from './preflight.js';
import { redactSecrets } from './redact.js';
import { runResources, type StartedResource } from './resources.js';
import { checkTolerance } from './tolerances/index.js';

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
  /** Stop the method at the first "during" deviation. */
  failFast?: boolean;
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
 * Exit status of a finished run: 0 only when the experiment completed, did not
 * deviate, met its steady state before the method (when that was checked), and
 * every fault was verifiably reverted. Unlike Chaos Toolkit, a run that never
 * got to inject does not pass a CI gate.
 */
export function exitCodeFor(journal: Journal): 0 | 1 | 2 {
  // A blast-radius refusal is a policy refusal, like one before the run.
  if (journal.faultline.blast_radius?.violation) return 2;
  if (journal.status !== 'completed' || journal.deviated) return 1;
  if (journal.steady_states.before && !journal.steady_states.before.steady_state_met) return 1;
  if (journal.faultline.unreverted.length > 0) return 1;
  return 0;
}

const BEFORE_STRATEGIES: ReadonlySet<string> = new Set(['default', 'before-method-only', 'continuously']);
const AFTER_STRATEGIES: ReadonlySet<string> = new Set(['default', 'after-method-only', 'continuously']);
const DURING_STRATEGIES: ReadonlySet<string> = new Set(['during-method-only', 'continuously']);

/** Raised for unexpected errors in the method: the run ends as `aborted`. */
class AbortRun extends Error {}

/**
 * Runs an experiment and returns its journal. Never throws for what happens
 * during the run (that is the journal's job); throws FaultlineError before the
 * run starts for invalid configuration, unloadable controls or a halt in force.
 *
 * @example
 * const journal = await runExperiment(experiment, { onEvent: (e) => console.log(e.type) });
 * process.exitCode = exitCodeFor(journal);
 */
export async function runExperiment(experiment: Experiment, options: RunOptions = {}): Promise<Journal> {
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const home = options.home ?? faultlineHome(env);
  const runId = options.runId ?? randomUUID();
  const emit: RunEventListener = options.onEvent ?? (() => {});
  const log = (level: LogLevel, message: string) => emit({ type: 'log', level, message });
  const strategies = resolveStrategies(experiment, options);
  const dry = options.dry ?? null;
  const frequency = options.hypothesisFrequency ?? experiment.runtime?.hypothesis?.frequency ?? 1;
  const failFast = options.failFast ?? experiment.runtime?.hypothesis?.fail_fast ?? false;

  const halted = await haltState({ home });
  if (halted) {
    throw new FaultlineError(
      'FAULTLINE_ERR_HALTED',
      `a halt is in force since ${halted.since}${halted.reason ? ` (${halted.reason})` : ''}: run \`faultline halt --release\` to allow runs again`,
    );
  }

  // Interrupts: the caller's signal (Ctrl-C), a control, a safeguard, `faultline halt`, max duration.
  const rtMax = experiment.runtime?.max_duration;
  const interrupts = await watchInterrupts({
    home,
    signal: options.signal,
    haltPollMs: options.haltPollMs,
    maxDurationMs: options.maxDurationMs ?? (rtMax === undefined ? undefined : parseDuration(rtMax)),
  });
  const interrupt = interrupts.controller;

  const blastRadius = blastRadiusPolicies(experiment, options.blastRadius);
  const faults = new FaultSession({
    runId,
    ledger: new Ledger({ home }),
    onEvent: (e) => emit({ type: 'fault', action: e.action, fault: e.record }),
    blastRadius,
  });

  const started = Date.now();
  const resources: { key: string; started: StartedResource }[] = [];
  /** Stops run resources (last started first) and returns what each measured, by key. */
  const stopResources = async (): Promise<Record<string, unknown>> => {
    const measured: Record<string, unknown> = {};
    for (const { key, started: r } of resources.splice(0).reverse()) {
      try {
        await r.stop();
        const data = r.journal?.();
        if (data !== undefined) measured[key] = data;
      } catch (err) {
        log('warn', `could not stop the run's ${key}: ${(err as Error).message}`);
      }
    }
    return measured;
  };
  let configuration: Record<string, unknown> = {};
  let secrets: Record<string, Record<string, unknown>> = {};
  // Controls may change configuration and secrets in place (as in Chaos Toolkit), so the
  // substitution view is rebuilt after every hook that can do so.
  let vars: Vars = {};
  const refreshVars = () => {
    vars = mergeVars(configuration, secrets);
  };

  const ctxFor = (signal: AbortSignal): ActivityContext => ({
    configuration,
    secrets,
    signal,
    baseDir,
    runId,
    faults,
    log,
  });

  const journal: Journal = {
    'chaoslib-version': VERSION,
    platform: `${platform()}-${release()}`,
    node: hostname(),
    experiment: { ...structuredClone(experiment), dry },
    start: isoNow(new Date(started)),
    end: '',
    duration: 0,
    status: 'completed',
    deviated: false,
    steady_states: { before: null, after: null, during: [] },
    run: [],
    rollbacks: [],
    faultline: {
      version: VERSION,
      run_id: runId,
      host: hostname(),
      pid: process.pid,
      strategies,
      faults: [],
      unreverted: [],
      ...(options.policy === undefined ? {} : { policy: options.policy }),
      ...(blastRadius.length > 0 ? { blast_radius: { policies: blastRadius } } : {}),
    },
  };

  let status: RunStatus | null = null;
  let reason: string | undefined;
  let controls: { global: LoadedControl[]; top: LoadedControl[]; hypothesis: LoadedControl[] } = {
    global: [],
    top: [],
    hypothesis: [],
  };
  const activityControls = new Map<object, LoadedControl[]>();
  let safeguards: Safeguard[] = [];
  let breach: SafeguardBreach | undefined;
  let breachRevert: Promise<unknown> | undefined;
  let controlEnv: ControlEnv | undefined;

  try {
    // Configuration and secrets: a dynamic configuration probe runs once here.
    configuration = await resolveConfiguration(experiment.configuration, {
      env,
      overrides: options.configuration,
      runProbe: async (_name, probe) => dynamicValue(probe as Activity, ctxFor(interrupt.signal)),
      onWarning: (m: string) => log('warn', m),
    });
    secrets = await resolveSecrets(experiment.secrets, { env, overrides: options.secrets });
    for (const [key, resource] of runResources.entries()) {
      const declaration = (experiment as Record<string, unknown>)[key];
      if (declaration === undefined) continue;
      const started = await resource.start(substitute(declaration, mergeVars(configuration, secrets)), {
        experiment,
        configuration,
        log,
      });
      resources.push({ key, started });
      Object.assign(configuration, started.configuration ?? {});
    }
    vars = mergeVars(configuration, secrets);
    journal.experiment.title = String(substitute(experiment.title, vars));

    // Before anything is injected: every fault action whose targets can be known now.
    await preflightBlastRadius(experiment, blastRadius, vars, log);
    const fromGlobal = collectSafeguards(options.safeguards, options.controls);
    const fromExperiment = collectSafeguards(experiment.safeguards, experiment.controls);
    safeguards = [...fromGlobal.safeguards, ...fromExperiment.safeguards];
    controls = {
      global: await loadControls(fromGlobal.controls, baseDir),
      top: [],
      hypothesis: [],
    };
    controls.top = await loadControls(fromExperiment.controls, baseDir);
    controls.hypothesis = await loadControls(
      experiment['steady-state-hypothesis']?.controls,
      baseDir,
      controls.top,
    );
    for (const a of allActivities(experiment)) {
      if (a.controls?.length) activityControls.set(a, await loadControls(a.controls, baseDir, controls.top));
    }
    controlEnv = { experiment, configuration, secrets, log };
    for (const c of [...controls.global, ...controls.top]) {
      try {
        await c.hooks.configure?.({
          context: experiment,
          experiment,
          configuration,
          secrets,
          arguments: c.arguments,
          interrupt: () => {
            throw new InterruptExecution();
          },
        });
      } catch (err) {
        log('warn', `control '${c.name}' failed to configure: ${(err as Error).message}`);
      }
    }
    refreshVars();
  } catch (err) {
    interrupts.stop();
    await stopResources();
    throw err;
  }

  emit({ type: 'run-start', runId, title: journal.experiment.title, strategies, dry });
  // At the experiment level every global and top-level control applies, automatic or not.
  const expControls = [...controls.global, ...controls.top];
  const cenv = controlEnv;
  let stopMethod = false;

  // ---------------------------------------------------------------- helpers

  const activityControlsFor = (a: Activity, level: LoadedControl[]) =>
    controlsFor(level, [], activityControls.get(a) ?? []);

  /** Runs one activity with its controls; rethrows InterruptExecution after recording the run. */
  const runActivity = async (
    a: Activity,
    phase: Phase,
    level: LoadedControl[],
    signal: AbortSignal,
    record: (r: ActivityRun) => void,
    background = false,
  ): Promise<ActivityRun> => {
    const ctl = activityControlsFor(a, level);
    emit({ type: 'activity-start', phase, activity: a, background });
    await callHook(ctl, 'beforeActivity', a, undefined, cenv);
    let recorded: ActivityRun | undefined;
    const onRecorded = (r: ActivityRun) => {
      recorded = r;
      record(r);
      // Hypothesis probes are reported once their tolerance is known (in runHypothesis).
      if (!STEADY_STATE_PHASES.has(phase)) emit({ type: 'activity-end', phase, run: r });
    };
    let run: ActivityRun;
    try {
      run = await executeActivity(a, { ctx: ctxFor(signal), vars, dry, onRecorded });
    } catch (err) {
      const partial = interruptedRun(err);
      if (partial && partial !== recorded) {
        record(partial);
        emit({ type: 'activity-end', phase, run: partial });
      }
      throw err;
    }
    await callHook(ctl, 'afterActivity', a, run, cenv);
    // An activity may write configuration (Chaos Toolkit's toxiproxy create_proxy stores `<name>_PORT`).
    refreshVars();
    return run;
  };

  /** Baseline values by probe name, captured the first time a baseline tolerance is checked. */
  const baselines = new Map<string, number>();
  /** Whether a probe's run meets its tolerance (a failed probe never does; dry probes always do). */
  const judge = async (
    probe: Activity,
    run: ActivityRun,
    signal: AbortSignal,
  ): Promise<{ met: boolean; reason?: string }> => {
    if (run.status === 'failed') return { met: false, reason: run.exception?.at(-1)?.trim() };
    if (dry === 'probes' || dry === 'activities' || probe.tolerance === undefined) return { met: true };
    return checkTolerance(probe.tolerance, run.output, {
      vars,
      baseline: {
        get: () => baselines.get(probe.name),
        set: (v) => {
          baselines.set(probe.name, v);
          journal.faultline.baselines = Object.fromEntries(baselines);
        },
      },
      runProbe: async (p) => {
        const r = await executeActivity(p, { ctx: ctxFor(signal), vars, dry: null });
        if (r.status === 'failed') throw new Error(r.exception?.at(-1)?.trim() ?? 'probe failed');
        return r.output;
      },
    });
  };

  const runHypothesis = async (
    phase: Phase,
    signal: AbortSignal = interrupt.signal,
  ): Promise<SteadyState> => {
    const hypothesis = experiment['steady-state-hypothesis']!;
    const level = controlsFor(controls.global, controls.top, controls.hypothesis);
    emit({ type: 'phase', phase });
    await callHook(level, 'beforeHypothesis', hypothesis, undefined, cenv);
    const state: SteadyState = { steady_state_met: true, probes: [] };
    for (const item of hypothesis.probes ?? []) {
      const probe = resolveRef(experiment, item);
      const run = await runActivity(probe, phase, level, signal, (r) => state.probes.push(r));
      const { met, reason: why } = await judge(probe, run, signal);
      run.tolerance_met = met;
      emit({ type: 'activity-end', phase, run, ...(why ? { reason: why } : {}) });
      if (!met) {
        state.steady_state_met = false;
        break;
      }
    }
    await callHook(level, 'afterHypothesis', hypothesis, state, cenv);
    emit({ type: 'hypothesis-end', phase, state });
    return state;
  };

  const hasHypothesis = (experiment['steady-state-hypothesis']?.probes?.length ?? 0) > 0;
  const probeRaised = (s: SteadyState) => s.probes.some((p) => p.status === 'failed');

  /** The "during" loop: runs the hypothesis, then waits `frequency` seconds, until stopped. */
  const duringLoop = async (stop: AbortSignal) => {
    while (!stop.aborted && !interrupt.signal.aborted) {
      const state = await runHypothesis('during-hypothesis');
      journal.steady_states.during.push(state);
      if (!state.steady_state_met) {
        log('warn', 'the steady state deviated during the method');
        if (failFast) {
          status = 'failed';
          reason = 'the steady state deviated during the method (--fail-fast)';
          stopMethod = true;
          return;
        }
      }
      try {
        await sleepTimer(frequency * 1000, undefined, { signal: AbortSignal.any([stop, interrupt.signal]) });
      } catch {
        return;
      }
    }
  };

  /**
   * Runs activities in order (background ones concurrently), recording them in
   * start order, and always awaits the background ones (an interrupt aborts
   * them promptly). Throws the first interrupt.
   */
  const runSequence = async (
    items: readonly ActivityOrRef[],
    phase: 'method' | 'rollbacks',
    signal: AbortSignal,
    publish: (runs: ActivityRun[]) => void,
    opts: { stop?: () => boolean; onUnresolved(err: Error): void },
  ): Promise<void> => {
    const level = controlsFor(controls.global, controls.top, []);
    const slots: (ActivityRun | undefined)[] = [];
    const background: Promise<unknown>[] = [];
    let failure: unknown;
    try {
      for (const item of items) {
        if (opts.stop?.()) break;
        if (signal.aborted) throw new InterruptExecution(reasonOf(signal));
        let activity: Activity;
        try {
          activity = resolveRef(experiment, item);
        } catch (err) {
          opts.onUnresolved(err as Error);
          continue;
        }
        const slot = slots.push(undefined) - 1;
        const p = runActivity(activity, phase, level, signal, (r) => (slots[slot] = r), activity.background);
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
  };

  const runMethod = async () => {
    emit({ type: 'phase', phase: 'method' });
    const level = controlsFor(controls.global, controls.top, []);
    await callHook(level, 'beforeMethod', experiment, undefined, cenv);
    let failure: unknown;
    try {
      await runSequence(experiment.method, 'method', interrupt.signal, (runs) => (journal.run = runs), {
        // A fault refused by the blast radius ends the method: the run reached too far.
        stop: () => stopMethod || faults.violation !== undefined,
        onUnresolved: (err) => {
          throw new AbortRun(err.message);
        },
      });
    } catch (err) {
      failure = err;
    }
    await callHook(level, 'afterMethod', experiment, journal.run, cenv).catch((e) => (failure ??= e));
    if (failure) throw failure;
  };

  // ---------------------------------------------------------------- the run

  let guards: ReturnType<typeof startSafeguards> | undefined;
  try {
    await callHook(expControls, 'beforeExperiment', experiment, undefined, cenv);
    refreshVars();
    guards = startSafeguards(safeguards, {
      check: async (probe, signal) => {
        const run = await executeActivity(probe, { ctx: ctxFor(signal), vars, dry: null });
        return { ...(await judge(probe, run, signal)), output: run.output };
      },
      onBreach: (probe, result) => {
        if (breach || interrupt.signal.aborted) return;
        const b: SafeguardBreach = {
          name: probe.name,
          value: result.output,
          tolerance: probe.tolerance,
          ...(result.reason ? { reason: result.reason } : {}),
          breached_at: isoNow(),
        };
        breach = b;
        journal.faultline.safeguard = b;
        log(
          'error',
          `safeguard '${probe.name}' breached${result.reason ? `: ${result.reason}` : ''}: stopping the run`,
        );
        interrupt.abort(`safeguard '${probe.name}' triggered the end of the experiment`);
        // Revert at once, without waiting for the method to unwind.
        breachRevert = faults.revertAll().then(() => {
          b.reverted_at = isoNow();
        });
      },
    });
    await guards.ready;
    if (interrupt.signal.aborted) throw new InterruptExecution(reasonOf(interrupt.signal));
    let proceed = true;
    if (hasHypothesis && BEFORE_STRATEGIES.has(strategies.hypothesis)) {
      const before = await runHypothesis('before-hypothesis');
      journal.steady_states.before = before;
      if (!before.steady_state_met) {
        status = probeRaised(before) ? 'failed' : 'completed';
        reason = 'the steady state was not met before the method';
        proceed = false;
      }
    }
    if (proceed) {
      const stopDuring = new AbortController();
      const during =
        hasHypothesis && DURING_STRATEGIES.has(strategies.hypothesis)
          ? duringLoop(stopDuring.signal)
          : undefined;
      let methodErr: unknown;
      try {
        await runMethod();
      } catch (err) {
        methodErr = err;
      }
      const violation = faults.violation;
      if (violation && journal.faultline.blast_radius) {
        journal.faultline.blast_radius.violation = violation.message;
        methodErr ??= new AbortRun(violation.message);
      }
      stopDuring.abort();
      if (during) {
        try {
          await during;
        } catch (err) {
          if (err instanceof InterruptExecution) methodErr ??= err;
          else {
            status = 'aborted';
            reason = `the continuous hypothesis failed: ${(err as Error).message}`;
          }
        }
      }
      if (methodErr instanceof AbortRun) {
        status = 'aborted';
        reason = methodErr.message;
      } else if (methodErr) throw methodErr;
      if (
        hasHypothesis &&
        AFTER_STRATEGIES.has(strategies.hypothesis) &&
        status !== 'aborted' &&
        !interrupt.signal.aborted
      ) {
        const after = await runHypothesis('after-hypothesis');
        journal.steady_states.after = after;
        if (!after.steady_state_met) {
          journal.deviated = true;
          status = probeRaised(after) ? 'failed' : 'completed';
          reason = 'the steady state deviated after the method';
        }
      }
    }
    if (interrupt.signal.aborted) throw new InterruptExecution(reasonOf(interrupt.signal));
  } catch (err) {
    if (err instanceof InterruptExecution) {
      status = 'interrupted';
      reason = err.message;
      if (!interrupt.signal.aborted) interrupt.abort(err.message);
    } else {
      status = 'aborted';
      reason = (err as Error)?.message ?? String(err);
      log('error', `the run aborted: ${reason}`);
    }
  }
  guards?.stop();
  interrupts.stop();
  await breachRevert;

  // ---------------------------------------------------------------- rollbacks
  const finalStatus: RunStatus = status ?? 'completed';
  const playRollbacks =
    strategies.rollbacks === 'always' ||
    (strategies.rollbacks === 'default' && finalStatus !== 'failed' && finalStatus !== 'interrupted') ||
    (strategies.rollbacks === 'deviated' && journal.deviated) ||
    // A safeguard stopped the run: undo what the method did, unless told never to.
    (breach !== undefined && strategies.rollbacks !== 'never');
  status = finalStatus;
  if (playRollbacks && (experiment.rollbacks?.length ?? 0) > 0) {
    const rbSignal = options.rollbackSignal ?? new AbortController().signal;
    emit({ type: 'phase', phase: 'rollbacks' });
    const level = controlsFor(controls.global, controls.top, []);
    try {
      await callHook(level, 'beforeRollback', experiment, undefined, cenv);
      await runSequence(
        experiment.rollbacks ?? [],
        'rollbacks',
        rbSignal,
        (runs) => (journal.rollbacks = runs),
        {
          onUnresolved: (err) => log('error', `rollback skipped: ${err.message}`),
        },
      );
      await callHook(level, 'afterRollback', experiment, journal.rollbacks, cenv);
    } catch (err) {
      // A signal during the rollbacks stops the remaining ones, as in Chaos Toolkit.
      status = 'interrupted';
      reason = (err as Error)?.message ?? String(err);
    }
  }

  // ---------------------------------------------------------------- revert every fault
  if (faults.active() > 0) emit({ type: 'phase', phase: 'revert' });
  await faults.revertAll();
  journal.faultline.faults = faults.records();
  journal.faultline.unreverted = journal.faultline.faults.filter(
    (r) => r.error !== undefined || r.verified === false,
  );
  // Time to recover: a second Ctrl-C (the rollback signal) stops the wait.
  const recovery = experiment.runtime?.recovery;
  if (recovery && hasHypothesis && journal.faultline.faults.length > 0 && status !== 'aborted') {
    emit({ type: 'phase', phase: 'recovery' });
    const record = await measureRecovery(
      recovery,
      journal.faultline.faults,
      (signal) => runHypothesis('recovery', signal),
      options.rollbackSignal ?? new AbortController().signal,
    );
    journal.faultline.recovery = record;
    if (record.mttr === null) {
      journal.deviated = true;
      reason = `did not recover: the steady state did not hold within ${record.deadline} s of the faults being reverted`;
      log('error', reason);
    } else {
      log('info', `recovered ${record.mttr.toFixed(2)} s after the faults were reverted`);
    }
  }
  // Resources (in-process proxies, load) stop only after every fault in them is reverted.
  Object.assign(journal.faultline, await stopResources());

  const ended = Date.now();
  journal.end = isoNow(new Date(ended));
  journal.duration = (ended - started) / 1000;
  journal.status = status;
  if (
    reason &&
    (status !== 'completed' || journal.deviated || journal.steady_states.before?.steady_state_met === false)
  ) {
    journal.faultline.reason = reason;
  }
  try {
    await callHook(expControls, 'afterExperiment', experiment, journal, cenv);
  } catch (err) {
    // An interrupt this late changes nothing but the status.
    if (err instanceof InterruptExecution) journal.status = 'interrupted';
  }
  for (const c of [...controls.global, ...controls.top]) {
    try {
      await c.hooks.cleanup?.();
    } catch {
      // Cleanup errors are swallowed, as in Chaos Toolkit.
    }
  }
  const final = redactSecrets(journal, secrets);
  emit({ type: 'run-end', journal: final });
  return final;
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

/** Runs a dynamic-configuration probe: process -> stdout stripped (exit 0 only), http -> body, others -> the value. */
async function dynamicValue(probe: Activity, ctx: ActivityContext): Promise<unknown> {
  const run = await executeActivity(probe, { ctx, vars: {}, dry: null });
  if (run.status === 'failed') throw new Error(run.exception?.at(-1)?.trim() ?? 'probe failed');
  const out = run.output as Record<string, unknown> | null;
  if (probe.provider.type === 'process') {
    if (out?.status !== 0) throw new Error(`process exited with ${String(out?.status)}`);
    return String(out.stdout ?? '').trim();
  }
  if (probe.provider.type === 'http') return out?.body;
  return run.output;
}
