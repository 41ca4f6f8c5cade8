/** `faultline run`: load, validate, run, write the journal, exit with the run's verdict. */
import { resolve } from 'node:path';
import { FaultlineError, formatIssue } from '../core/errors.js';
import type { Journal } from '../core/journal.js';
import { checkPolicies } from '../core/policy.js';
import { checkOutputPath, writeFileSafely } from '../core/safe-write.js';
import type { DryMode, Experiment, HypothesisStrategy, RollbackStrategy } from '../core/schema.js';
import { callLoadingHook, loadControls } from '../engine/controls.js';
import type { RunEvent } from '../engine/events.js';
import { exitCodeFor } from '../engine/run.js';
import { isSafeguardControl, type Safeguard } from '../engine/safeguards.js';
import { loadExperimentSource, loadVarFiles, mergeOverrides, parseVarOption } from '../experiment/index.js';
import { loadSettings, settingsBlastRadius, settingsControls } from '../experiment/settings.js';
import { faultlineHome } from '../faults/home.js';
import { runExperiment } from '../lib/run.js';
import { assertValidExperiment } from '../lib/validate.js';
import { startRunObservers } from './observers.js';
import type { Output } from './output.js';
import { askYes } from './prompt.js';
import { RunRenderer } from './render-run.js';
import { checkReportPaths, parseReportSpecs, writeRunReports } from './report.js';

export interface RunFlags {
  journalPath: string;
  dry?: DryMode;
  validation: boolean;
  verifyTls: boolean;
  hypothesisStrategy?: HypothesisStrategy;
  rollbackStrategy?: RollbackStrategy;
  hypothesisFrequency?: number;
  failFast?: boolean;
  /** `--max-misses`: "during" misses the verdict tolerates. */
  maxMisses?: number;
  /** `--max-miss-ratio`: share of "during" misses the verdict tolerates (0..1). */
  maxMissRatio?: number;
  /** Milliseconds (parsed from --max-duration). */
  maxDuration?: number;
  /** Approves an experiment tagged for production without asking. */
  yes?: boolean;
  var: string[];
  varFile: string[];
  settings?: string;
  /** `--report FORMAT=PATH` (repeatable): reports written after the journal. */
  report?: string[];
  metricsPort?: string;
  metricsHost?: string;
  metricsLinger?: string;
  notify?: string[];
}

/**
 * Ctrl-C / SIGTERM: the first interrupts the run (status `interrupted`), the
 * second stops the rollbacks; faults are reverted either way.
 */
export function trapSignals(): { interrupt: AbortController; rollbacks: AbortController; release(): void } {
  const interrupt = new AbortController();
  const rollbacks = new AbortController();
  let count = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    count += 1;
    if (count === 1) interrupt.abort(`interrupted by ${sig}`);
    else rollbacks.abort(`interrupted by ${sig}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    interrupt,
    rollbacks,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export async function runCommand(source: string, flags: RunFlags, out: Output): Promise<number> {
  // A bad --report spec is a usage error before anything runs.
  const reportSpecs = parseReportSpecs(flags.report ?? []);
  // So is an output path Faultline would refuse to write (a symbolic link): refused before any fault is injected.
  await checkOutputPath(flags.journalPath, '--journal-path');
  await checkReportPaths(reportSpecs);
  const env = { ...process.env };
  const home = faultlineHome(env);
  const settings = await loadSettings(flags.settings, home);
  const globalControls = settingsControls(settings);

  const fileOverrides = await loadVarFiles(flags.varFile, env);
  const overrides = mergeOverrides(
    fileOverrides,
    flags.var.map((v) => parseVarOption(v)),
  );

  const loadedGlobal = await loadControls(
    globalControls.filter((c) => !isSafeguardControl(c)),
    process.cwd(),
  );
  await callLoadingHook(loadedGlobal, 'beforeLoadingExperiment', { source });
  const loaded = await loadExperimentSource(source, { verifyTls: flags.verifyTls, env });
  let experiment: Experiment;
  if (flags.validation) {
    // The run executes the experiment's code anyway: import node modules now to find a missing export early.
    const valid = await assertValidExperiment(loaded, {
      baseDir: loaded.baseDir,
      env,
      overrides,
      importModules: true,
    });
    experiment = valid.experiment;
    for (const w of valid.warnings) out.warn(`warning: ${formatIssue(w, source)}`);
  } else {
    experiment = loaded.raw as Experiment;
  }
  await callLoadingHook(loadedGlobal, 'afterLoadingExperiment', { source, experiment });

  const policy = await checkPolicies(experiment.tags, settings, {
    yes: flags.yes,
    confirm: process.stdin.isTTY && process.stderr.isTTY ? askYes : undefined,
  });
  const renderer = new RunRenderer(out);
  const observers = await startRunObservers(flags, settings.notifications ?? [], env, out);
  const onEvent = (event: RunEvent) => {
    renderer.handle(event);
    observers.onEvent(event);
  };
  try {
    const signals = trapSignals();
    let journal: Journal;
    try {
      journal = await runExperiment(experiment, {
        baseDir: loaded.baseDir,
        env,
        home,
        dry: flags.dry ?? null,
        hypothesisStrategy: flags.hypothesisStrategy,
        rollbackStrategy: flags.rollbackStrategy,
        hypothesisFrequency: flags.hypothesisFrequency,
        failFast: flags.failFast,
        maxMisses: flags.maxMisses,
        maxMissRatio: flags.maxMissRatio,
        maxDurationMs: flags.maxDuration,
        policy,
        blastRadius: settingsBlastRadius(settings),
        safeguards: (settings.safeguards ?? []) as Safeguard[],
        configuration: overrides.configuration,
        secrets: overrides.secrets,
        controls: globalControls,
        signal: signals.interrupt.signal,
        rollbackSignal: signals.rollbacks.signal,
        onEvent,
      });
    } finally {
      signals.release();
    }
    const journalPath = resolve(flags.journalPath);
    let written = true;
    let refused = false;
    try {
      await writeFileSafely(journalPath, `${JSON.stringify(journal, null, 2)}\n`, {
        field: '--journal-path',
      });
    } catch (err) {
      written = false;
      // A path made unsafe during the run (a link planted) is refused as up front: exit 2, its message names it.
      refused = err instanceof FaultlineError;
      out.error(
        refused
          ? (err as Error).message
          : `--journal-path: cannot write ${journalPath}: ${(err as Error).message}`,
      );
    }
    let code = written ? exitCodeFor(journal) : refused ? 2 : 1;
    renderer.summary(journal, written ? journalPath : undefined, code);
    // Reports are rendered from the journal as written; one that cannot be written fails the run like the journal.
    if (reportSpecs.length > 0 && !(await writeRunReports(reportSpecs, journal, out)) && code === 0) code = 1;
    await observers.finish(journal, {
      exitCode: code,
      ...(written ? { journalPath } : {}),
      reports: reportSpecs.map((r) => resolve(r.path)),
    });
    return code;
  } finally {
    await observers.close();
  }
}
