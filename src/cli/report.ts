/**
 * `faultline report JOURNAL... [--format F] [-o FILE]`: reports from run
 * journals; and the parsing of `faultline run --report FORMAT=PATH`, whose
 * specs the library (lib/output-files.ts) checks before the run and writes
 * after the journal.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FaultlineError } from '../core/errors.js';
import type { Journal } from '../core/journal.js';
import { type ReportSpec, writeReportFile } from '../lib/output-files.js';
import { formatForPath, parseJournal, renderReport, reporters } from '../report/index.js';
import type { Output } from './output.js';

export type { ReportSpec };

export interface ReportFlags {
  format?: string;
  output?: string;
  title?: string;
}

const formats = () => reporters.names().join(', ');

function usage(message: string): FaultlineError {
  return new FaultlineError('FAULTLINE_ERR_USAGE', message);
}

/** The format to write: --format, else the -o extension, else markdown. */
export function resolveFormat(flags: ReportFlags): string {
  if (flags.format !== undefined) {
    if (!reporters.has(flags.format))
      throw usage(`--format: unknown format '${flags.format}' (expected ${formats()})`);
    return flags.format;
  }
  if (flags.output !== undefined) {
    const f = formatForPath(flags.output);
    if (!f)
      throw usage(
        `-o: cannot tell the format from '${flags.output}' (use --format ${formats().replaceAll(', ', '|')})`,
      );
    return f;
  }
  return 'markdown';
}

/** `--report html=out/report.html` (or a path whose extension names the format). */
export function parseReportSpecs(specs: readonly string[]): ReportSpec[] {
  return specs.map((spec) => {
    const eq = spec.indexOf('=');
    const format = eq < 0 ? formatForPath(spec) : spec.slice(0, eq);
    const path = eq < 0 ? spec : spec.slice(eq + 1);
    if (format === undefined)
      throw usage(`--report: expected FORMAT=PATH (FORMAT one of ${formats()}), got '${spec}'`);
    if (!reporters.has(format))
      throw usage(`--report: unknown format '${format}' in '${spec}' (expected ${formats()})`);
    if (path === '') throw usage(`--report: no path after '${format}=' in '${spec}'`);
    return { format, path };
  });
}

/** Reads and checks one journal file; errors name the argument. */
export async function readJournal(path: string): Promise<Journal> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FaultlineError(
      'FAULTLINE_ERR_LOAD',
      `JOURNAL '${path}': ${code === 'ENOENT' ? 'no such file' : `cannot read: ${(err as Error).message}`}`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FaultlineError(
      'FAULTLINE_ERR_PARSE',
      `JOURNAL '${path}': not a journal: invalid JSON: ${(err as Error).message}`,
    );
  }
  const parsed = parseJournal(raw);
  if (!parsed.ok)
    throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `JOURNAL '${path}': not a run journal`, {
      issues: parsed.issues,
    });
  return parsed.journal;
}

export async function reportCommand(files: string[], flags: ReportFlags, out: Output): Promise<number> {
  const format = resolveFormat(flags);
  const journals: Journal[] = [];
  for (const f of files) journals.push(await readJournal(f));
  const text = renderReport(format, journals, flags.title ? { title: flags.title } : {});
  if (flags.output === undefined || flags.output === '-') {
    process.stdout.write(text);
    return 0;
  }
  try {
    await writeReportFile(flags.output, text, '-o');
  } catch (err) {
    if (err instanceof FaultlineError) throw err;
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `-o: cannot write ${resolve(flags.output)}: ${(err as Error).message}`,
    );
  }
  out.summary(`${format} report of ${journals.length} journal(s): ${resolve(flags.output)}`);
  return 0;
}
