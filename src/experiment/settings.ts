/**
 * The settings file (`--settings`, default `$FAULTLINE_HOME/settings.yaml`):
 * global controls, shaped as Chaos Toolkit's `controls: {name: {provider}}`,
 * run policies (`production_tags`, `time_windows`; see core/policy.ts),
 * blackout windows (`blackouts`: named periods during which no run starts and
 * runs in progress are stopped; see schedule/blackout.ts, which also reads
 * `time_windows` as the blackout "outside these windows"),
 * organisation-wide `safeguards` and `blast_radius`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { type BlastRadiusPolicy, BlastRadiusSchema } from '../core/blast-radius.js';
import { FaultlineError } from '../core/errors.js';
import { PolicySettingsSchema } from '../core/policy.js';
import { type Control, ControlSchema, SafeguardSchema } from '../core/schema.js';
import { WebhookSchema } from '../core/webhook.js';
import { yaml } from '../core/yaml.js';
import { BlackoutWindowSchema } from '../schedule/blackout.js';

export const SettingsSchema = PolicySettingsSchema.extend({
  controls: z.record(z.string(), ControlSchema.omit({ name: true })).optional(),
  /** Organisation-wide safeguards, checked in every run with the experiment's own. */
  safeguards: z.array(SafeguardSchema).optional(),
  /** Organisation-wide blast radius: it holds whatever the experiment declares. */
  blast_radius: BlastRadiusSchema.optional(),
  blastRadius: BlastRadiusSchema.optional(),
  /** Webhooks told when any run starts and ends (Slack-compatible JSON). */
  notifications: z.array(WebhookSchema).optional(),
  /** Named blackout windows: nothing starts during one, and a run in progress is stopped when one opens. */
  blackouts: z
    .array(BlackoutWindowSchema)
    .optional()
    .refine((list) => new Set(list?.map((w) => w.name)).size === (list?.length ?? 0), {
      error: 'expected each blackout window to have its own name',
    }),
});
export type Settings = z.output<typeof SettingsSchema>;

/** Reads settings; a missing default file is fine, a missing explicit one is an error. */
export async function loadSettings(path: string | undefined, home: string): Promise<Settings> {
  return loadSettingsAs(SettingsSchema, path, home);
}

/**
 * The settings file's run policies only (`production_tags`, `time_windows`): what the control plane's
 * approval gate and lifecycle states need, so a mistake in another section (`safeguards`, say) refuses
 * the runs it concerns, each with its reason, and does not stop uploads and every run's start.
 */
export async function loadPolicySettings(home: string): Promise<z.output<typeof PolicySettingsSchema>> {
  return loadSettingsAs(PolicySettingsSchema, undefined, home);
}

async function loadSettingsAs<S extends z.ZodType>(
  schema: S,
  path: string | undefined,
  home: string,
): Promise<z.output<S>> {
  const file = path ?? join(home, 'settings.yaml');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (!path && (err as NodeJS.ErrnoException).code === 'ENOENT') return schema.parse({});
    throw new FaultlineError(
      'FAULTLINE_ERR_LOAD',
      `--settings: cannot read ${file}: ${(err as Error).message}`,
    );
  }
  let raw: unknown;
  try {
    raw = yaml().parse(text) ?? {};
  } catch (err) {
    throw new FaultlineError(
      'FAULTLINE_ERR_PARSE',
      `--settings: ${file} is not valid YAML or JSON: ${(err as Error).message}`,
    );
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `--settings: ${file}: ${issue.path.join('.')}: ${issue.message}`,
    );
  }
  return parsed.data;
}

/** The global controls declared in settings, in declaration order. */
export function settingsControls(settings: Settings): Control[] {
  return Object.entries(settings.controls ?? {}).map(([name, c]) => ({ ...c, name }) as Control);
}

/** The settings file's blast-radius policies (either spelling). */
export function settingsBlastRadius(settings: Settings): BlastRadiusPolicy[] {
  const found: BlastRadiusPolicy[] = [];
  if (settings.blast_radius)
    found.push({ source: "the settings file's blast_radius", policy: settings.blast_radius });
  if (settings.blastRadius)
    found.push({ source: "the settings file's blastRadius", policy: settings.blastRadius });
  return found;
}
