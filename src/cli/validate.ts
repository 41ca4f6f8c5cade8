/** `faultline validate FILE...`: every problem of every file, each with its path and position. */
import { FaultlineError, formatIssue } from '../core/errors.js';
import { loadExperimentSource, validateExperiment } from '../experiment/index.js';
import { errorLines } from './error-lines.js';
import type { Output } from './output.js';

export async function validateCommand(
  files: string[],
  opts: { verifyTls: boolean },
  out: Output,
): Promise<number> {
  let worst = 0;
  for (const file of files) {
    try {
      const loaded = await loadExperimentSource(file, { verifyTls: opts.verifyTls });
      const { issues, warnings } = await validateExperiment(loaded, { baseDir: loaded.baseDir });
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
