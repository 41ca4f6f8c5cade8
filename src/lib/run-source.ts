/**
 * runFromSource: the run `faultline run` makes, as one library call. Around
 * the engine it does what a safe run needs and the CLI used to do itself:
 * the settings file (global controls, safeguards, blast radius, policies,
 * notifications), var overrides and var files, the loading hooks of global
 * controls, validation, the production-approval policy, the blackout windows
 * (the settings file's `blackouts` and `time_windows`: refused at the start,
 * interrupted when one opens during the run),
 * the observers (metrics, webhooks, traces), the journal, the reports and the
 * exit code. It never prints, never reads process.argv and never exits: what
 * a terminal would show arrives as events, and the CLI (cli/run.ts) only maps
 * flags to these options and renders the events. A library caller without a
 * settings path gets $FAULTLINE_HOME/settings.yaml, as the CLI does, so the
 * organisation's blast radius, safeguards and policies hold for it too.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { providerRegistry, providerTypesIn } from '../compose.js';
import { FaultlineError, formatIssue, type Issue } from '../core/errors.js';
import { usesFleet } from '../core/fleet.js';
import type { Journal } from '../core/journal.js';
import { checkPolicies, type GrantedApproval, type PolicyDecision } from '../core/policy.js';
import { checkOutputPath } from '../core/safe-write.js';
import type { Experiment } from '../core/schema.js';
import { type LongTimeout, setLongTimeout } from '../core/timers.js';
import { callLoadingHook, loadControls } from '../engine/controls.js';
import type { RunEvent } from '../engine/events.js';
import { blastRadiusPolicies } from '../engine/preflight.js';
import { exitCodeFor, type RunOptions } from '../engine/run.js';
import { RunScopeImpl } from '../engine/run-scope.js';
import { isSafeguardControl, type Safeguard } from '../engine/safeguards.js';
import { type LoadedSource, loadExperimentSource } from '../experiment/load.js';
import { manifestNotices } from '../experiment/manifest-source.js';
import {
  loadSettings,
  type Settings,
  SettingsSchema,
  settingsBlastRadius,
  settingsControls,
} from '../experiment/settings.js';
import { loadVarFiles, mergeOverrides, type Overrides } from '../experiment/vars.js';
import { faultlineHome } from '../faults/home.js';
import type { FleetConnectOptions } from '../fleet/connect.js';
import { DEFAULT_NATS_URL } from '../fleet/constants.js';
import type { Webhook } from '../observe/notify.js';
import {
  type BlackoutRule,
  blackoutAt,
  blackoutRefusal,
  blackoutStopReason,
  nextChange,
  settingsBlackouts,
} from '../schedule/blackout.js';
import type { RunFleet } from './fleet-run.js';
import { type MetricsOptions, startRunObservers } from './observers.js';
import { checkReportSpecs, type ReportSpec, writeJournalFile, writeRunReports } from './output-files.js';
import { runExperiment } from './run.js';
import { assertValidExperiment } from './validate.js';

/** What runFromSource tells besides the engine's events, in the order a terminal would show it. */
export type RunSourceEvent =
  | RunEvent
  /** A line for the user: validation warnings, the metrics URL, a webhook or trace export that failed. */
  | { type: 'notice'; level: 'info' | 'warn'; message: string }
  /** The policies allowed the run and the observers are listening: the engine starts it now. */
  | { type: 'run-approved'; policy: PolicyDecision }
  /** The run is over and its journal written (`path`) or not (`error`); `exitCode` before the reports. */
  | { type: 'journal'; journal: Journal; exitCode: number; path?: string; error?: string }
  /** One report written (`path`) or not (`error`). */
  | { type: 'report'; format: string; path: string; error?: string };

/** The engine's run options a caller chooses (the rest come from the settings and the source). */
export type EngineRunOptions = Pick<
  RunOptions,
  | 'dry'
  | 'hypothesisStrategy'
  | 'rollbackStrategy'
  | 'hypothesisFrequency'
  | 'failFast'
  | 'maxMisses'
  | 'maxMissRatio'
  | 'maxDurationMs'
  | 'runId'
  | 'haltPollMs'
  | 'providerOptions'
>;

export interface RunFromSourceOptions extends EngineRunOptions {
  /**
   * The settings file's path, or its content as an object. Default: $FAULTLINE_HOME/settings.yaml
   * when it exists (none: no global controls, safeguards or policies).
   */
  settings?: string | Record<string, unknown>;
  /** Configuration and secrets overriding the experiment's (they win over `varFiles`). */
  vars?: Partial<Overrides>;
  /** JSON/YAML `{configuration, secrets}` files, or KEY=VALUE env files set into the run's `env`; later files win. */
  varFiles?: readonly string[];
  /** false skips validation (default true). */
  validation?: boolean;
  /** false fetches an http(s) source without checking its certificate (default true). */
  verifyTls?: boolean;
  /** Approves an experiment tagged for production without asking. */
  yes?: boolean;
  /** Asked for an experiment tagged for production; without it (and without `yes`) the run is refused. */
  confirm?: (question: string) => Promise<boolean>;
  /**
   * An approval the control plane granted for this run (`faultline serve` checked it is valid for this
   * experiment's version): a production run goes ahead, and its journal records the approval.
   */
  approval?: GrantedApproval;
  /** Serve the run's metrics for Prometheus. */
  metrics?: MetricsOptions;
  /** Webhooks told when the run starts and ends, besides the settings file's `notifications`. */
  webhooks?: readonly Webhook[];
  /** Where to write the journal (checked before the run, written after it); none: not written. */
  journalPath?: string;
  /** Reports rendered from the journal after it is written. */
  reports?: readonly ReportSpec[];
  /** Directory an object source's relative module paths resolve against; default `cwd`. */
  baseDir?: string;
  /** Aborting it interrupts the run (status `interrupted`); faults are reverted. */
  signal?: AbortSignal;
  /** Aborting it stops the rollbacks too. */
  rollbackSignal?: AbortSignal;
  onEvent?: (event: RunSourceEvent) => void;
  /** The environment the run sees (copied; env var files add to the copy). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Relative paths (source, var files, journal, reports, global controls) resolve here. Default process.cwd(). */
  cwd?: string;
  /** $FAULTLINE_HOME (ledger, halt switch, default settings). Default: from `env`. */
  home?: string;
  /**
   * The fleet's NATS (connection and credentials) for fault actions with a `targets:` block;
   * default FAULTLINE_NATS_URL, else nats://127.0.0.1:4222. Unused by a run without one.
   */
  fleet?: FleetConnectOptions;
  /** How error messages name the options (the CLI gives its flags: `--journal-path`, `--report`). */
  fieldNames?: { journalPath?: string; reports?: string };
}

export interface RunFromSourceResult {
  journal: Journal;
  /** 0 passed, 1 otherwise, 2 refused; 2 (refused path) or 1 when the journal could not be written; 1 when a report could not. */
  exitCode: number;
  /** The journal's absolute path, when it was written. */
  journalPath?: string;
  /** Absolute paths of the reports written. */
  reports: string[];
  /** Validation's warnings (the run went ahead). */
  warnings: Issue[];
  /** The policies' decisions (approval, time window), as recorded in the journal. */
  policy: PolicyDecision;
}

/** Who approves a production run locally: the operating system's user (none where it cannot be read). */
function localUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** The longest a run's blackout watch sleeps before reading the clock again (it may have been set). */
const BLACKOUT_RECHECK_MS = 60_000;

/**
 * Interrupts a run when a blackout opens (or its allowed time window closes): sleeps until the next
 * instant the answer can change, then aborts `controller` with a reason naming the window, as a
 * safeguard's breach does; the engine's interrupt path reverts the faults. Returns a stop function.
 */
function watchBlackouts(
  rules: readonly BlackoutRule[],
  controller: AbortController,
  onOpen: (reason: string) => void,
): () => void {
  if (rules.length === 0) return () => {};
  let timer: LongTimeout | undefined;
  let stopped = false;
  const check = () => {
    if (stopped || controller.signal.aborted) return;
    const now = new Date();
    const inForce = blackoutAt(now, rules);
    if (inForce) {
      const reason = blackoutStopReason(inForce);
      onOpen(reason);
      controller.abort(reason);
      return;
    }
    const next = nextChange(now, rules);
    const wait = next === undefined ? BLACKOUT_RECHECK_MS : next.getTime() - now.getTime();
    timer = setLongTimeout(check, Math.min(Math.max(wait, 0), BLACKOUT_RECHECK_MS));
  };
  check();
  return () => {
    stopped = true;
    timer?.clear();
  };
}

/** The label an object source goes by in loading hooks and messages. */
const OBJECT_SOURCE = '<object>';

async function settingsFrom(
  given: RunFromSourceOptions['settings'],
  home: string,
  at: (path: string) => string,
): Promise<Settings> {
  if (typeof given === 'string' || given === undefined)
    return loadSettings(given === undefined ? undefined : at(given), home);
  const parsed = SettingsSchema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `settings: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

function objectSource(raw: unknown, baseDir: string): LoadedSource {
  return { raw, source: OBJECT_SOURCE, baseDir, format: 'module', positionOf: () => undefined };
}

/**
 * Runs an experiment from a path, an http(s) URL or an object, with
 * everything `faultline run` applies around it, and resolves with its
 * journal and exit code. Throws a FaultlineError (its `exitCode` is the CLI's)
 * when the run is refused before it starts: an invalid option or experiment,
 * a policy, a blast radius, a halt.
 *
 * @example
 * const { exitCode, journal } = await runFromSource('experiments/latency.yaml', {
 *   journalPath: 'journal.json',
 *   reports: [{ format: 'html', path: 'report.html' }],
 *   confirm: async (question) => askOperator(question),
 *   signal: AbortSignal.timeout(600_000),
 *   onEvent: (e) => e.type === 'notice' && log(e.message),
 * });
 */
export async function runFromSource(
  source: string | Experiment,
  options: RunFromSourceOptions = {},
): Promise<RunFromSourceResult> {
  const cwd = options.cwd ?? process.cwd();
  // Relative to cwd; a path as the caller wrote it when no cwd was given, so messages name it as given.
  const at = (p: string) => (options.cwd === undefined || /^https?:\/\//i.test(p) ? p : resolve(cwd, p));
  const journalField = options.fieldNames?.journalPath ?? 'journalPath';
  const reportsField = options.fieldNames?.reports ?? 'reports';
  const emit = (event: RunSourceEvent) => options.onEvent?.(event);
  const notice = (level: 'info' | 'warn', message: string) => emit({ type: 'notice', level, message });

  const reports = (options.reports ?? []).map((r) => ({ format: r.format, path: resolve(cwd, r.path) }));
  const journalPath = options.journalPath === undefined ? undefined : resolve(cwd, options.journalPath);
  // An output path Faultline would refuse to write (a symbolic link) is refused before any fault is injected.
  if (journalPath !== undefined) await checkOutputPath(journalPath, journalField);
  await checkReportSpecs(reports, reportsField);

  const env = { ...(options.env ?? process.env) };
  const home = options.home ?? faultlineHome(env);
  const settings = await settingsFrom(options.settings, home, at);
  const globalControls = settingsControls(settings);

  const fileOverrides = await loadVarFiles((options.varFiles ?? []).map(at), env);
  const merged = mergeOverrides(fileOverrides, options.vars?.configuration ?? {});
  const overrides: Overrides = {
    configuration: merged.configuration,
    secrets: { ...merged.secrets, ...(options.vars?.secrets ?? {}) },
  };

  // The run's scope opens here: a global python control's loading hooks run in the run's Python
  // worker before the engine starts. The engine closes it when the run ends; the finally below
  // closes it when the run never starts.
  const runId = options.runId ?? randomUUID();
  let fleet: RunFleet | undefined;
  const scope = new RunScopeImpl(runId, env, options.providerOptions, (level, message) =>
    notice(level === 'warn' || level === 'error' ? 'warn' : 'info', message),
  );
  try {
    // Their provider types' hooks say which is the safeguards control and load python (native) ones.
    const controlProviders = await providerRegistry(providerTypesIn(globalControls));
    const loadedGlobal = await loadControls(
      globalControls.filter((c) => !isSafeguardControl(c, controlProviders)),
      cwd,
      [],
      controlProviders,
      scope,
    );
    const label = typeof source === 'string' ? source : OBJECT_SOURCE;
    await callLoadingHook(loadedGlobal, 'beforeLoadingExperiment', { source: label });
    const loaded =
      typeof source === 'string'
        ? await loadExperimentSource(at(source), { verifyTls: options.verifyTls ?? true, env })
        : objectSource(source, options.baseDir ?? cwd);
    // A manifest (issue #19): its Kubernetes-only fields warn, its schedule is said to be not kept.
    if (loaded.manifest) for (const n of manifestNotices(loaded.manifest, label)) notice(n.level, n.message);
    let experiment: Experiment;
    let warnings: Issue[] = [];
    if (options.validation ?? true) {
      // The run executes the experiment's code anyway: import node modules now to find a missing export early.
      const valid = await assertValidExperiment(loaded, {
        baseDir: loaded.baseDir,
        env,
        overrides,
        importModules: true,
      });
      experiment = valid.experiment as Experiment;
      warnings = [...valid.warnings];
      for (const w of warnings) notice('warn', `warning: ${formatIssue(w, label)}`);
    } else {
      experiment = loaded.raw as Experiment;
    }
    await callLoadingHook(loadedGlobal, 'afterLoadingExperiment', { source: label, experiment });

    // One decision for the settings file's blackouts and its allowed time windows (schedule/blackout.ts).
    const blackouts = settingsBlackouts(settings);
    const startAt = new Date();
    const inForce = blackoutAt(startAt, blackouts);
    if (inForce) throw blackoutRefusal(inForce, startAt);
    const policy = await checkPolicies(experiment.tags, settings, {
      yes: options.yes,
      confirm: options.confirm,
      ...(options.approval ? { approval: options.approval } : {}),
      localUser: localUser(),
    });
    const observers = await startRunObservers({
      metrics: options.metrics,
      webhooks: [...(settings.notifications ?? []), ...(options.webhooks ?? [])],
      env,
      onNotice: notice,
    });
    // Fault actions with `targets:` go to the fleet; a run without one never connects to NATS.
    fleet = usesFleet(experiment)
      ? (await import('./fleet-run.js')).runFleet(
          options.fleet ?? { servers: env.FAULTLINE_NATS_URL ?? DEFAULT_NATS_URL },
          {
            runId,
            blastRadius: blastRadiusPolicies(experiment, settingsBlastRadius(settings)),
          },
        )
      : undefined;
    // The run's own signal: the caller's, and a blackout opening during the run.
    const interrupt = new AbortController();
    const onCallerAbort = () => interrupt.abort(options.signal?.reason);
    if (options.signal?.aborted) onCallerAbort();
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });
    let stopWatch = () => {};
    try {
      emit({ type: 'run-approved', policy });
      stopWatch = watchBlackouts(blackouts, interrupt, (reason) => notice('warn', reason));
      const journal = await runExperiment(experiment, {
        baseDir: loaded.baseDir,
        env,
        home,
        dry: options.dry ?? null,
        hypothesisStrategy: options.hypothesisStrategy,
        rollbackStrategy: options.rollbackStrategy,
        hypothesisFrequency: options.hypothesisFrequency,
        failFast: options.failFast,
        maxMisses: options.maxMisses,
        maxMissRatio: options.maxMissRatio,
        maxDurationMs: options.maxDurationMs,
        runId,
        scope,
        providerOptions: options.providerOptions,
        ...(fleet ? { fleet } : {}),
        haltPollMs: options.haltPollMs,
        policy,
        blastRadius: settingsBlastRadius(settings),
        safeguards: (settings.safeguards ?? []) as Safeguard[],
        configuration: overrides.configuration,
        secrets: overrides.secrets,
        controls: globalControls,
        signal: interrupt.signal,
        rollbackSignal: options.rollbackSignal,
        onEvent: (event) => {
          emit(event);
          observers.onEvent(event);
        },
      });
      stopWatch();
      let exitCode: number = exitCodeFor(journal);
      let written: string | undefined;
      if (journalPath !== undefined) {
        try {
          written = await writeJournalFile(journalPath, journal, journalField);
        } catch (err) {
          // A path made unsafe during the run (a link planted) is refused as up front: exit 2, its message names it.
          const refused = err instanceof FaultlineError;
          exitCode = refused ? 2 : 1;
          emit({
            type: 'journal',
            journal,
            exitCode,
            error: refused
              ? (err as Error).message
              : `${journalField}: cannot write ${journalPath}: ${(err as Error).message}`,
          });
        }
      }
      if (written !== undefined || journalPath === undefined)
        emit({ type: 'journal', journal, exitCode, ...(written ? { path: written } : {}) });
      // Reports are rendered from the journal as written; one that cannot be written fails the run like the journal.
      const outcomes = await writeRunReports(reports, journal, reportsField);
      for (const o of outcomes) emit({ type: 'report', ...o });
      if (outcomes.some((o) => o.error !== undefined) && exitCode === 0) exitCode = 1;
      await observers.finish(journal, {
        exitCode,
        ...(written ? { journalPath: written } : {}),
        reports: reports.map((r) => r.path),
      });
      return {
        journal,
        exitCode,
        ...(written ? { journalPath: written } : {}),
        reports: outcomes.filter((o) => o.error === undefined).map((o) => o.path),
        warnings,
        policy,
      };
    } finally {
      stopWatch();
      options.signal?.removeEventListener('abort', onCallerAbort);
      await observers.close();
    }
  } finally {
    await fleet?.close();
    await scope.close();
  }
}
