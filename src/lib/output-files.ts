/**
 * The files a run leaves: its journal and the reports rendered from it. Both
 * go through writeFileSafely (core/safe-write.ts: never through a link, never
 * half-written), and both paths are checked before the run so that a run
 * injects no fault whose journal it could not write. Shared by runFromSource
 * (`faultline run`), `faultline demo` and `faultline report -o`.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FaultlineError } from '../core/errors.js';
import type { Journal } from '../core/journal.js';
import { checkOutputPath, writeFileSafely } from '../core/safe-write.js';
import { renderReport, reporters } from '../report/index.js';

/** One report written after the run: `format` is a reporter's name (html, markdown, junit, json). */
export interface ReportSpec {
  format: string;
  path: string;
}

/** The journal as Faultline writes it: pretty JSON with a final newline. */
export async function writeJournalFile(path: string, journal: Journal, field: string): Promise<string> {
  return writeFileSafely(path, `${JSON.stringify(journal, null, 2)}\n`, { field });
}

/** A report's text at `path`, its directory created if needed; `field` names the path in refusals. */
export async function writeReportFile(path: string, text: string, field: string): Promise<string> {
  const abs = resolve(path);
  await mkdir(dirname(abs), { recursive: true });
  return writeFileSafely(abs, text, { field });
}

/**
 * Before a run: a report whose format is unknown, or whose path Faultline
 * would refuse to write, is refused now (its directory may come later).
 * `field` prefixes each message, followed by the format (`--report html`).
 */
export async function checkReportSpecs(specs: readonly ReportSpec[], field: string): Promise<void> {
  for (const s of specs) {
    if (!reporters.has(s.format))
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `${field}: unknown format '${s.format}' (expected ${reporters.names().join(', ')})`,
      );
    await checkOutputPath(s.path, `${field} ${s.format}`, { missingDirOk: true });
  }
}

/** What became of one report: its absolute path, and why it could not be written. */
export interface ReportOutcome {
  format: string;
  path: string;
  error?: string;
}

/** After the journal: each report rendered from it. A report that cannot be written is an outcome with `error`, not a throw. */
export async function writeRunReports(
  specs: readonly ReportSpec[],
  journal: Journal,
  field: string,
): Promise<ReportOutcome[]> {
  const outcomes: ReportOutcome[] = [];
  for (const s of specs) {
    const path = resolve(s.path);
    try {
      await writeReportFile(s.path, renderReport(s.format, [journal]), `${field} ${s.format}`);
      outcomes.push({ format: s.format, path });
    } catch (err) {
      outcomes.push({
        format: s.format,
        path,
        error:
          err instanceof FaultlineError
            ? err.message
            : `${field} ${s.format}: cannot write ${path}: ${(err as Error).message}`,
      });
    }
  }
  return outcomes;
}
