/** `faultline validate FILE...`: every problem of every file, each with its path and position. */
import { FaultlineError, formatIssue } from '../core/errors.js';
import { loadExperimentSource } from '../experiment/index.js';
import { isCodeSource } from '../experiment/load.js';
import { validateExperiment } from '../lib/validate.js';
import { errorLines } from './error-lines.js';
import type { Output } from './output.js';

export async function validateCommand(
  files: string[],
  opts: { verifyTls: boolean; importModules?: boolean },
  out: Output,
): Promise<number> {
  let worst = 0;
  const importModules = opts.importModules === true;
  if (importModules)
    out.warn('warning: --import-modules runs the code of the modules and .ts/.js experiments');
  for (const file of files) {
    // Validation executes nothing unless told: a .ts/.js experiment is code.
    if (!importModules && isCodeSource(file)) {
      worst = 2;
      out.error(`${file}: not validated: it is code (loading it runs it); pass --import-modules to load it`);
      continue;
    }
    try {
      const loaded = await loadExperimentSource(file, { verifyTls: opts.verifyTls });
      const { issues, warnings, notes } = await validateExperiment(loaded, {
        baseDir: loaded.baseDir,
        importModules,
      });
      for (const n of notes) out.info(`${file}: note: ${formatIssue(n, file)}`);
      // Warnings (unknown keys) never change the exit code: Chaos Toolkit runs such files.
      for (const w of warnings) out.warn(`${file}: warning: ${formatIssue(w, file)}`);
      if (issues.length === 0) {
        out.info(`${file}: experiment syntax and semantic look valid`);
        continue;
      }
      worst = 2;
      out.error(`${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}`);
      for (const issue of issues) out.error(`  ${formatIssue(issue, file)}`);
    } catch (err) {
      if (!(err instanceof FaultlineError)) throw err;
      worst = Math.max(worst, err.exitCode);
      // Load errors name the file themselves.
      const [heading, ...rest] = errorLines(err, file);
      out.error(heading?.includes(file) ? heading : `${file}: ${heading}`);
      for (const line of rest) out.error(line);
    }
  }
  return worst;
}
