/** `faultline validate FILE...`: every problem of every file, each with its path and position. */
import { forEachLimit } from '../core/concurrency.js';
import { FaultlineError, formatIssue } from '../core/errors.js';
import { loadExperimentSource } from '../experiment/index.js';
import { isCodeSource, type LoadedSource } from '../experiment/load.js';
import { type LoadedManifest, noteLines } from '../experiment/manifest-source.js';
import { loadSettings } from '../experiment/settings.js';
import { faultlineHome } from '../faults/home.js';
import { validateExperiment } from '../lib/validate.js';
import { errorLines } from './error-lines.js';
import type { Output } from './output.js';

type Line = readonly ['info' | 'warn' | 'error', string];

/** One file's lines and exit code; an error that is not Faultline's own propagates. */
async function validateOne(
  file: string,
  importModules: boolean,
  verifyTls: boolean,
  settingsControls: Record<string, unknown> | undefined,
): Promise<{ code: number; lines: Line[] }> {
  const lines: Line[] = [];
  // Validation executes nothing unless told: a .ts/.js experiment is code.
  if (!importModules && isCodeSource(file)) {
    lines.push([
      'error',
      `${file}: not validated: it is code (loading it runs it); pass --import-modules to load it`,
    ]);
    return { code: 2, lines };
  }
  try {
    // A manifest's refused fields are shown below with the rest of what validate finds.
    const loaded = await loadExperimentSource(file, { verifyTls, keepRefused: true });
    const refused = loaded.manifest ? await manifestLines(loaded, loaded.manifest, file, lines) : 0;
    const { issues, warnings, notes } = await validateExperiment(loaded, {
      baseDir: loaded.baseDir,
      importModules,
      settingsControls,
    });
    for (const n of notes) lines.push(['info', `${file}: note: ${formatIssue(n, file)}`]);
    // Warnings (unknown keys, a python control not found) never change the exit code: Chaos Toolkit runs such files.
    for (const w of warnings) lines.push(['warn', `${file}: warning: ${formatIssue(w, file)}`]);
    if (issues.length === 0) {
      if (refused > 0) return { code: 2, lines };
      lines.push(['info', `${file}: experiment syntax and semantic look valid`]);
      return { code: 0, lines };
    }
    const what = loaded.manifest ? 'the translated experiment has ' : '';
    lines.push(['error', `${file}: ${what}${issues.length} problem${issues.length === 1 ? '' : 's'}`]);
    for (const issue of issues) lines.push(['error', `  ${formatIssue(issue, file)}`]);
    return { code: 2, lines };
  } catch (err) {
    if (!(err instanceof FaultlineError)) throw err;
    // Load errors name the file themselves.
    const [heading, ...rest] = errorLines(err, file);
    lines.push(['error', heading?.includes(file) ? heading : `${file}: ${heading}`]);
    for (const line of rest) lines.push(['error', line]);
    return { code: err.exitCode, lines };
  }
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/**
 * A manifest's summary (per document: format, kind, name, what became of its fields), its warned
 * fields, and its refused ones as `file:line:col: field: why`; returns how many were refused.
 */
async function manifestLines(
  loaded: LoadedSource,
  manifest: LoadedManifest,
  file: string,
  lines: Line[],
): Promise<number> {
  const { FORMATS } = await import('../manifests/index.js');
  for (const [i, t] of manifest.translations.entries()) {
    const title = FORMATS.find((f) => f.name === t.format)?.title ?? t.format;
    const own = t.notes;
    const count = (fate: string) => own.filter((n) => n.fate === fate).length;
    const doc = manifest.translations.length > 1 ? `document ${i + 1}: ` : '';
    lines.push([
      'info',
      `${file}: ${doc}${title} ${t.kind} "${t.name}": ${plural(count('mapped'), 'field')} mapped, ${count('ignored')} ignored, ${count('warned')} warned, ${count('refused')} refused`,
    ]);
  }
  for (const s of manifest.schedules)
    lines.push([
      'info',
      `${file}: ${s.from}: a schedule; \`faultline run\` runs the experiment once, \`faultline convert ${file} --schedule\` prints the server schedule`,
    ]);
  for (const line of noteLines(manifest, 'warned', file)) lines.push(['warn', `warning: ${line}`]);
  const refused = noteLines(manifest, 'refused', file);
  if (refused.length > 0) {
    lines.push([
      'error',
      `${loaded.source}: ${plural(refused.length, 'field')} of the manifest cannot be honoured (refused)`,
    ]);
    for (const line of refused) lines.push(['error', line]);
  }
  return refused.length;
}

export async function validateCommand(
  files: string[],
  /** `settings`: a settings file whose controls are checked with each experiment (only when given). */
  opts: { verifyTls: boolean; importModules?: boolean; settings?: string },
  out: Output,
): Promise<number> {
  let worst = 0;
  const importModules = opts.importModules === true;
  let settingsControls: Record<string, unknown> | undefined;
  if (opts.settings !== undefined) {
    try {
      settingsControls = (await loadSettings(opts.settings, faultlineHome())).controls;
    } catch (err) {
      if (!(err instanceof FaultlineError)) throw err;
      for (const line of errorLines(err, opts.settings)) out.error(line);
      return err.exitCode;
    }
  }
  if (importModules)
    out.warn(
      'warning: --import-modules runs the code of the modules (node and Python) and .ts/.js experiments',
    );
  // Files are read and checked a few at a time (each waits on the disk more than it computes), and
  // reported in the order given, as one at a time would report them (bench/validate.mjs).
  const reports: ({ code: number; lines: Line[] } | undefined)[] = files.map(() => undefined);
  let printed = 0;
  await forEachLimit(
    files.map((file, i) => [file, i] as const),
    8,
    async ([file, i]) => {
      reports[i] = await validateOne(file, importModules, opts.verifyTls, settingsControls);
      // Each report is printed once every file before it has been.
      for (let r = reports[printed]; r !== undefined; r = reports[printed]) {
        worst = Math.max(worst, r.code);
        for (const [level, line] of r.lines) out[level](line);
        reports[printed++] = undefined;
        if (printed === files.length) break;
      }
    },
  );
  return worst;
}
