/**
 * Validation for library callers: the experiment layer's checks with the
 * composition root's registries (the providers the experiment names, the
 * tolerance kinds) unless the caller gives its own.
 */
import { validationRegistries } from '../compose.js';
import type { LoadedSource } from '../experiment/load.js';
import * as checks from '../experiment/validate.js';

/** Validation's options, its registries optional. */
export interface LibValidateOptions extends checks.ValidateOptions {
  registries?: checks.ValidationRegistries;
}

const rawOf = (loaded: unknown): unknown => (checks.isLoadedSource(loaded) ? loaded.raw : loaded);

async function withRegistries(
  loaded: unknown,
  opts: LibValidateOptions,
): Promise<checks.CheckedValidateOptions> {
  // The settings file's controls name provider types too (a python control in settings only).
  const named = opts.settingsControls ? [rawOf(loaded), opts.settingsControls] : rawOf(loaded);
  return { ...opts, registries: opts.registries ?? (await validationRegistries(named)) };
}

/** Every issue of an experiment (schema, references, providers' own checks), with its path and position. */
export async function validateExperiment(
  loaded: LoadedSource | unknown,
  opts: LibValidateOptions = {},
): Promise<checks.ValidationResult> {
  return checks.validateExperiment(loaded, await withRegistries(loaded, opts));
}

/**
 * Like validateExperiment, but throws FAULTLINE_ERR_VALIDATION (with every
 * issue in `issues`) unless the experiment is valid.
 *
 * @example
 * const experiment = await assertValidExperiment(await loadExperimentSource(path));
 */
export async function assertValidExperiment(
  loaded: LoadedSource | unknown,
  opts: LibValidateOptions = {},
): Promise<checks.ValidationResult> {
  return checks.assertValidExperiment(loaded, await withRegistries(loaded, opts));
}
