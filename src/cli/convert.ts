/**
 * `faultline convert FILE`: the Faultline experiment other tools' manifests
 * become (issue #19), printed with a comment on every source field so the
 * translation can be checked field by field before anything runs. Exit 2 when
 * any field is refused: the output is still printed, those fields listed.
 * `--push` uploads the experiment to a control plane and creates its schedules
 * there, and sends nothing when a field is refused.
 */
import { basename, extname } from 'node:path';
import { FaultlineError } from '../core/errors.js';
import { writeFileSafely } from '../core/safe-write.js';
import { isCodeSource, loadExperimentSource } from '../experiment/load.js';
import { describeTiming, type LoadedManifest, noteLines } from '../experiment/manifest-source.js';
import type { ScheduleInput, ScheduleView } from '../server/schedules/model.js';
import { errorLines } from './error-lines.js';
import { type Output, printJsonDocument, printText } from './output.js';

export interface ConvertFlags {
  format?: string;
  output?: string;
  /** Also print the server schedule body (POST /api/schedules) of each schedule the manifest asks for. */
  schedule?: boolean;
  /** The name the experiment would be uploaded under (a schedule names it); default: from the file name. */
  name?: string;
  verifyTls?: boolean;
  /** Upload the experiment to a `faultline serve` (--server) and create the schedules the manifest asks for. */
  push?: boolean;
  server?: string;
  /** With --push: replace schedules of the same names instead of refusing them. */
  replace?: boolean;
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
  if (!flags.push) {
    if (flags.server !== undefined) throw usage('--server: only with --push (upload to that server)');
    if (flags.replace) throw usage('--replace: only with --push (it replaces schedules on the server)');
  } else if (flags.server === undefined)
    throw usage('--push: expected --server URL, the control plane to upload to (e.g. http://127.0.0.1:7474)');
  // A bad URL is a usage error before the file is read, as every other flag.
  const client = flags.push ? await serverClient(flags.server as string) : undefined;
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
  const schedules = flags.schedule || flags.push ? scheduleBodies(manifest, experimentName) : [];
  const problems = await scheduleProblems(schedules);
  if (flags.schedule && !flags.push && schedules.length === 0)
    out.warn(`${file}: the manifest asks for no schedule`);

  const { FORMATS } = await import('../manifests/index.js');
  const { renderExperimentYaml } = await import('../manifests/render.js');
  // stdout stays one document a program can parse: without -o, the schedules go inside it (with
  // --push, stdout says what the server made instead).
  const alongside = schedules.length > 0 && flags.output === undefined && !flags.push;
  const render = (withSchedules: boolean): string => {
    if (format === 'json') {
      const value = withSchedules ? { experiment: manifest.experiment, schedules } : manifest.experiment;
      return `${JSON.stringify(value, null, 2)}\n`;
    }
    return renderExperimentYaml({
      experiment: manifest.experiment,
      notes: manifest.notes,
      translations: manifest.translations,
      documents: manifest.documents,
      count: manifest.count,
      source: file,
      where: manifest.where,
      titles: Object.fromEntries(FORMATS.map((f) => [f.name, f.title])),
      ...(withSchedules
        ? {
            trailer: `Server schedule${schedules.length === 1 ? '' : 's'} (upload this experiment as "${experimentName}", then POST each body to /api/schedules):\n${JSON.stringify(schedules, null, 2)}`,
          }
        : {}),
    });
  };
  const text = render(alongside);
  if (flags.output !== undefined) {
    const written = await writeFileSafely(flags.output, text, { field: '--output' });
    out.info(`${file}: the experiment written to ${written}`);
    if (schedules.length > 0 && !flags.push) printText(`${JSON.stringify(schedules, null, 2)}\n`);
  } else if (!flags.push) {
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
  const code = refused.length > 0 || problems.length > 0 ? 2 : 0;
  if (!client) return code;
  if (code !== 0) {
    out.error(`${file}: nothing was sent to ${client.base.origin}`);
    return code;
  }
  const upload = await uploadSource(manifest.experiment, format, render(false), file, out);
  return pushToServer(client, file, {
    name: experimentName,
    ...upload,
    schedules: schedules as ScheduleInput[],
    replace: flags.replace ?? false,
    json: flags.format === 'json',
    out,
  });
}

/**
 * What to upload: the server stores the source as uploaded, so in YAML the notes stay with it as
 * comments. Faultline reads experiments as YAML 1.1, where a plain `on` key is the boolean true; a
 * rendering that does not read back as the same experiment goes up as JSON, which always does.
 */
async function uploadSource(
  experiment: unknown,
  format: 'yaml' | 'json',
  rendered: string,
  file: string,
  out: Output,
): Promise<{ source: string; format: 'yaml' | 'json' }> {
  const json = `${JSON.stringify(experiment, null, 2)}\n`;
  if (format === 'json') return { source: json, format };
  const { parseText } = await import('../core/parse.js');
  const { isDeepStrictEqual } = await import('node:util');
  let same = false;
  try {
    same = isDeepStrictEqual(parseText(rendered, 'yaml', file).value, JSON.parse(json));
  } catch {
    same = false;
  }
  if (same) return { source: rendered, format };
  out.info(
    `${file}: the commented YAML does not read back (as YAML 1.1) as the same experiment; uploading it as JSON`,
  );
  return { source: json, format: 'json' };
}

async function serverClient(url: string) {
  const { ServerClient } = await import('../server/client.js');
  return new ServerClient(url, '--server');
}

type Client = Awaited<ReturnType<typeof serverClient>>;

/** One schedule the server holds now, as a line. */
function scheduleLine(view: ScheduleView, action: string): string {
  const timing =
    'cron' in view.timing
      ? `cron ${JSON.stringify(view.timing.cron)}${view.timing.timezone ? ` (${view.timing.timezone})` : ''}`
      : 'Chaos Monkey mode';
  const next = view.paused
    ? 'paused'
    : view.nextFires.length > 0
      ? `next fires ${view.nextFires.slice(0, 3).join(', ')}`
      : 'no fire time ahead';
  return `schedule ${view.name} ${action}: ${timing}, runs ${view.experiment}${view.version === undefined ? '' : ` version ${view.version}`}; ${next}`;
}

/** A server error with what was being done when it came. */
function during(err: unknown, what: string): unknown {
  if (!(err instanceof FaultlineError)) return err;
  return new FaultlineError(err.code, `${what}: ${err.message}`, { issues: [...err.issues] });
}

/**
 * Uploads the experiment and creates (or, with `replace`, replaces) each schedule, pinned to the
 * version just uploaded, so that a schedule runs what was converted with it. Names already taken are
 * found before anything is stored: a push refused for them leaves nothing half made.
 */
async function pushToServer(
  client: Client,
  file: string,
  p: {
    name: string;
    source: string;
    format: 'yaml' | 'json';
    schedules: ScheduleInput[];
    replace: boolean;
    json: boolean;
    out: Output;
  },
): Promise<number> {
  const server = client.base.origin;
  const taken = new Set<string>();
  try {
    for (const s of p.schedules) if (await client.getSchedule(s.name)) taken.add(s.name);
  } catch (err) {
    throw during(err, `${file}: reading the schedules of ${server}`);
  }
  if (taken.size > 0 && !p.replace) {
    const names = [...taken].join(', ');
    p.out.error(
      `${file}: ${server} has a schedule named ${names} already; \`--replace\` replaces ${taken.size === 1 ? 'it' : 'them'}, \`--name\` names the experiment and its schedules otherwise. Nothing was sent`,
    );
    return 1;
  }
  let uploaded: Awaited<ReturnType<Client['uploadExperiment']>>;
  try {
    uploaded = await client.uploadExperiment(p.name, p.source, p.format);
  } catch (err) {
    throw during(err, `${file}: uploading experiment ${p.name} to ${server}`);
  }
  const { experiment, created } = uploaded;
  const lines = [
    `experiment ${experiment.name} version ${experiment.version} ${created ? 'uploaded' : 'unchanged (identical to the latest version)'} on ${server}`,
  ];
  const report: { name: string; action: string; schedule: ScheduleView }[] = [];
  const print = () => {
    if (p.json)
      printJsonDocument({
        server,
        experiment: { name: experiment.name, version: experiment.version, created },
        schedules: report,
      });
    else printText(`${lines.join('\n')}\n`);
  };
  for (const s of p.schedules) {
    const spec: ScheduleInput = { ...s, version: experiment.version };
    try {
      let view = taken.has(s.name) ? undefined : await client.createSchedule(spec);
      let action = 'created';
      if (!view) {
        if (!p.replace) {
          // Taken between the check and now (another client).
          print();
          p.out.error(
            `${file}: ${server} has a schedule named ${s.name} already (made since this push began); \`--replace\` replaces it`,
          );
          return 1;
        }
        view = await client.replaceSchedule(s.name, spec);
        action = 'replaced';
      }
      report.push({ name: view.name, action, schedule: view });
      lines.push(scheduleLine(view, action));
    } catch (err) {
      // What was made before the failure is said, so that nobody has to guess what the server holds.
      print();
      const e = during(err, `${file}: schedule ${s.name} on ${server}`);
      if (!(e instanceof FaultlineError)) throw e;
      for (const line of errorLines(e)) p.out.error(line);
      return e.exitCode;
    }
  }
  if (p.schedules.length === 0) lines.push('the manifest asks for no schedule: none was made');
  print();
  return 0;
}
