/**
 * `faultline convert FILE`: the Faultline experiment other tools' manifests
 * become (issue #19), printed with a comment on every source field so the
 * translation can be checked field by field before anything runs. Exit 2 when
 * any field is refused: the output is still printed, those fields listed.
 */
import { basename, extname } from 'node:path';
import { FaultlineError } from '../core/errors.js';
import { writeFileSafely } from '../core/safe-write.js';
import { isCodeSource, loadExperimentSource } from '../experiment/load.js';
import { describeTiming, type LoadedManifest, noteLines } from '../experiment/manifest-source.js';
import { type Output, printText } from './output.js';

export interface ConvertFlags {
  format?: string;
  output?: string;
  /** Also print the server schedule body (POST /api/schedules) of each schedule the manifest asks for. */
  schedule?: boolean;
  /** The name the experiment would be uploaded under (a schedule names it); default: from the file name. */
  name?: string;
  verifyTls?: boolean;
}

const usage = (message: string) => new FaultlineError('FAULTLINE_ERR_USAGE', message);

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A name the control plane accepts, made from any text (a file name, a manifest's name). */
function toName(text: string, fallback: string): string {
  const cleaned = text
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128);
  return NAME.test(cleaned) ? cleaned : fallback;
}

/**
 * The body of POST /api/schedules for each schedule the manifest asks for (`Schedule`,
 * `scheduler.cron`, a Chaos Monkey config), naming the experiment as it would be uploaded.
 */
export function scheduleBodies(manifest: LoadedManifest, experiment: string): Record<string, unknown>[] {
  return manifest.schedules.map((s, i) => {
    const t = manifest.translations[s.document];
    const own = toName(t?.name ?? experiment, experiment);
    return {
      name: manifest.schedules.length > 1 ? `${own}-${i + 1}` : own,
      description: `From ${s.from}${t ? ` of ${t.kind} ${t.name}` : ''} (${describeTiming(s.timing)}), by faultline convert`,
      experiment,
      timing: s.timing,
      ...(s.concurrencyPolicy ? { concurrencyPolicy: s.concurrencyPolicy } : {}),
      ...(s.startingDeadline ? { startingDeadline: s.startingDeadline } : {}),
      ...(s.historyLimit !== undefined ? { historyLimit: s.historyLimit } : {}),
      ...(s.paused !== undefined ? { paused: s.paused } : {}),
    };
  });
}

/** Schedule bodies the server would refuse, as lines naming the field. */
async function scheduleProblems(bodies: readonly Record<string, unknown>[]): Promise<string[]> {
  if (bodies.length === 0) return [];
  const { ScheduleSpecSchema } = await import('../server/schedules/model.js');
  return bodies.flatMap((body, i) => {
    const parsed = ScheduleSpecSchema.safeParse(body);
    if (parsed.success) return [];
    return parsed.error.issues.map(
      (issue) => `schedule ${i + 1}: ${issue.path.join('.') || '(body)'}: ${issue.message}`,
    );
  });
}

export async function convertCommand(file: string, flags: ConvertFlags, out: Output): Promise<number> {
  const format = flags.format ?? (flags.output && /\.json$/i.test(flags.output) ? 'json' : 'yaml');
  if (format !== 'yaml' && format !== 'json')
    throw usage(`--format: expected yaml or json, got '${flags.format}'`);
  if (flags.name !== undefined && !NAME.test(flags.name))
    throw usage(
      `--name: expected 1-128 letters, digits, ., _ or -, starting with a letter or digit, got '${flags.name}'`,
    );
  // Converting reads a file; it never runs one (a .ts/.js experiment is code).
  if (isCodeSource(file)) throw usage(`${file}: convert reads manifests (YAML or JSON), not code (.ts/.js)`);
  const loaded = await loadExperimentSource(file, { verifyTls: flags.verifyTls ?? true, keepRefused: true });
  const manifest = loaded.manifest;
  if (!manifest) {
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `${file}: not a manifest Faultline converts (Chaos Mesh, Litmus, AWS FIS, Istio VirtualService, Chaos Monkey): it reads as a Faultline experiment already; \`faultline validate ${file}\` checks it`,
    );
  }
  const experimentName =
    flags.name ??
    toName(basename(file, extname(file)), toName(manifest.translations[0]?.name ?? '', 'experiment'));
  const schedules = flags.schedule ? scheduleBodies(manifest, experimentName) : [];
  const problems = await scheduleProblems(schedules);
  if (flags.schedule && schedules.length === 0) out.warn(`${file}: the manifest asks for no schedule`);

  const { FORMATS } = await import('../manifests/index.js');
  const { renderExperimentYaml } = await import('../manifests/render.js');
  let text: string;
  // stdout stays one document a program can parse: without -o, the schedules go inside it.
  const alongside = schedules.length > 0 && flags.output === undefined;
  if (format === 'json') {
    const value = alongside ? { experiment: manifest.experiment, schedules } : manifest.experiment;
    text = `${JSON.stringify(value, null, 2)}\n`;
  } else {
    text = renderExperimentYaml({
      experiment: manifest.experiment,
      notes: manifest.notes,
      translations: manifest.translations,
      documents: manifest.documents,
      count: manifest.count,
      source: file,
      where: manifest.where,
      titles: Object.fromEntries(FORMATS.map((f) => [f.name, f.title])),
      ...(alongside
        ? {
            trailer: `Server schedule${schedules.length === 1 ? '' : 's'} (upload this experiment as "${experimentName}", then POST each body to /api/schedules):\n${JSON.stringify(schedules, null, 2)}`,
          }
        : {}),
    });
  }
  if (flags.output !== undefined) {
    const written = await writeFileSafely(flags.output, text, { field: '--output' });
    out.info(`${file}: the experiment written to ${written}`);
    if (schedules.length > 0) printText(`${JSON.stringify(schedules, null, 2)}\n`);
  } else {
    printText(text);
  }
  // The notes that matter go to stderr too, where a JSON reader of stdout still sees them.
  for (const line of noteLines(manifest, 'warned', file)) out.warn(`warning: ${line}`);
  for (const line of problems) out.error(`${file}: ${line}`);
  const refused = noteLines(manifest, 'refused', file);
  if (refused.length > 0) {
    out.error(
      `${file}: ${refused.length} field${refused.length === 1 ? '' : 's'} of the manifest cannot be honoured (refused); \`faultline run\` would refuse it`,
    );
    for (const line of refused) out.error(line);
  }
  return refused.length > 0 || problems.length > 0 ? 2 : 0;
}
