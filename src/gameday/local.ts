/**
 * Game days on this machine (`faultline gameday validate|run`): the plan read from a file, its experiment
 * steps checked before anything runs (each file exists and is a valid experiment), and the experiment runner
 * of the terminal's executor: runFromSource, so the settings file, safeguards, blast radius and policies hold
 * for a game day's runs as for `faultline run`. Asking people (confirmations, decisions) is the caller's.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { FaultlineError, formatIssue, type Issue } from '../core/errors.js';
import { formatPath, type PositionOf } from '../core/positions.js';
import { readSourceFile } from '../core/read-source.js';
import { isCodeSource, loadExperimentSource } from '../experiment/load.js';
import { type RunFromSourceOptions, type RunSourceEvent, runFromSource } from '../lib/run-source.js';
import { validateExperiment } from '../lib/validate.js';
import { type ExperimentStep, type GameDayPlan, type GameDayStep, parsePlanDocument } from './plan.js';
import type { StepRun } from './types.js';

/** A plan read from a file: `baseDir` is where its experiments' relative paths resolve. */
export type LoadedPlan =
  | { ok: true; plan: GameDayPlan; baseDir: string; positionOf: PositionOf }
  | { ok: false; issues: Issue[] };

/** Reads and validates a plan file (YAML or JSON). A file that cannot be read is a FaultlineError (LOAD). */
export async function loadPlanFile(path: string): Promise<LoadedPlan> {
  const text = await readSourceFile(path);
  const r = parsePlanDocument(text, path);
  return r.ok ? { ...r, baseDir: dirname(resolve(path)) } : r;
}

/** Every step with its path in the document: the timeline's, then the rollback plan's. */
export function planSteps(plan: GameDayPlan): { step: GameDayStep; path: (string | number)[] }[] {
  return [
    ...plan.steps.map((step, i) => ({ step, path: ['steps', i] })),
    ...(plan.rollback?.steps ?? []).map((step, i) => ({ step, path: ['rollback', 'steps', i] })),
  ];
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** Where an experiment step's file is: a URL as written, a path relative to the plan. */
export function experimentSource(step: ExperimentStep, baseDir: string): string {
  return isUrl(step.experiment) ? step.experiment : resolve(baseDir, step.experiment);
}

/**
 * Checks each experiment step's experiment (loaded and validated as `faultline validate` does, its code not
 * imported): issues at the step's `experiment` key, each naming the file.
 */
export async function checkPlanExperiments(
  plan: GameDayPlan,
  baseDir: string,
  positionOf: PositionOf = () => undefined,
): Promise<Issue[]> {
  const issues: Issue[] = [];
  const checked = new Map<string, string[]>();
  for (const { step, path } of planSteps(plan)) {
    if (step.kind !== 'experiment') continue;
    const at = [...path, 'experiment'];
    const source = experimentSource(step, baseDir);
    let problems = checked.get(source);
    if (!problems) {
      problems = await experimentProblems(source, step.experiment);
      checked.set(source, problems);
    }
    const pos = positionOf(at);
    const where = pos ? { line: pos.line, column: pos.column } : {};
    for (const message of problems) issues.push({ path: formatPath(at), message, ...where });
  }
  return issues;
}

async function experimentProblems(source: string, written: string): Promise<string[]> {
  try {
    if (isCodeSource(source)) {
      // Loading code runs it: validation only checks that it is there; the run imports it.
      await readSourceFile(source);
      return [];
    }
    const loaded = await loadExperimentSource(source);
    const { issues } = await validateExperiment(loaded, { baseDir: loaded.baseDir });
    return issues.map((i) => `${written}: ${formatIssue(i)}`);
  } catch (err) {
    if (err instanceof FaultlineError) return [`${written}: ${err.message}`];
    throw err;
  }
}

export interface LocalRunnerOptions
  extends Pick<RunFromSourceOptions, 'settings' | 'yes' | 'confirm' | 'env' | 'home' | 'rollbackSignal'> {
  baseDir: string;
  /** Each run's journal is written here as `<step id>.json` (`-2`, `-3` when a step runs again). */
  journalDir?: string;
  /** runFromSource's events of each run (notices, the engine's events), with the step. */
  onRunEvent?: (step: ExperimentStep, event: RunSourceEvent) => void;
}

/**
 * The experiment runner of a local executor: each step's experiment through runFromSource; `signal`
 * interrupts the run (the engine reverts its faults) and the interrupted journal comes back.
 */
export function localExperimentRunner(
  opts: LocalRunnerOptions,
): (
  step: ExperimentStep,
  signal: AbortSignal,
  onStarted: (runId: string | undefined) => void,
) => Promise<StepRun> {
  const runsOf = new Map<string, number>();
  return async (step, signal, onStarted) => {
    const n = (runsOf.get(step.id) ?? 0) + 1;
    runsOf.set(step.id, n);
    const runId = randomUUID();
    let journalPath: string | undefined;
    if (opts.journalDir !== undefined) {
      await mkdir(resolve(opts.journalDir), { recursive: true });
      journalPath = join(resolve(opts.journalDir), `${step.id}${n > 1 ? `-${n}` : ''}.json`);
    }
    const result = await runFromSource(experimentSource(step, opts.baseDir), {
      runId,
      settings: opts.settings,
      yes: opts.yes,
      confirm: opts.confirm,
      env: opts.env,
      home: opts.home,
      signal,
      rollbackSignal: opts.rollbackSignal,
      ...(step.configuration ? { vars: { configuration: step.configuration } } : {}),
      ...(journalPath ? { journalPath } : {}),
      fieldNames: { journalPath: '--journal-dir' },
      onEvent: (event) => {
        if (event.type === 'run-approved') onStarted(runId);
        opts.onRunEvent?.(step, event);
      },
    });
    return {
      step: step.id,
      runId,
      journal: result.journal,
      ...(result.journalPath ? { link: result.journalPath } : {}),
    };
  };
}
