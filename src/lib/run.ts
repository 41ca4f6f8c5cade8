/**
 * runExperiment for library callers: the engine's run with the composition
 * root's registries (the providers the experiment names, the run resources,
 * the built-in fault kinds, the local halt file) unless the caller gives its own.
 */
import { runRegistries } from '../compose.js';
import type { Journal } from '../core/journal.js';
import type { Experiment } from '../core/schema.js';
import * as engine from '../engine/run.js';
import { faultlineHome } from '../faults/home.js';

/** The engine's options, its registries optional. */
export interface LibRunOptions extends engine.RunOptions {
  registries?: engine.RunRegistries;
}

/**
 * Runs an experiment (already validated) and resolves with its journal.
 *
 * @example
 * const journal = await runExperiment(experiment, { onEvent: (e) => console.log(e.type) });
 * process.exitCode = exitCodeFor(journal);
 */
export async function runExperiment(experiment: Experiment, options: LibRunOptions = {}): Promise<Journal> {
  const home = options.home ?? faultlineHome(options.env ?? process.env);
  const registries =
    options.registries ?? (await runRegistries(home, experiment, options.controls, options.safeguards));
  return engine.runExperiment(experiment, { ...options, registries });
}
