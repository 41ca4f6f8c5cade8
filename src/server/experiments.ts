/**
 * What the server checks before it stores an uploaded experiment: that it
 * parses and passes the same validation `faultline validate` applies (which
 * executes nothing: no module is imported), and that its secrets reference
 * the environment or a vault rather than holding values, since whatever is
 * stored is shown back to everyone who can read the API.
 */
import { FaultlineError, type Issue } from '../core/errors.js';
import { parseText } from '../core/parse.js';
import { type DocPath, formatPath, type PositionOf } from '../core/positions.js';
import type { LoadedSource } from '../experiment/load.js';
import { validateExperiment } from '../lib/validate.js';
import type { ExperimentVersion } from './store.js';

export interface CheckedExperiment {
  title: string;
  tags: string[];
  warnings: Issue[];
}

export type ExperimentCheck = { ok: true; experiment: CheckedExperiment } | { ok: false; issues: Issue[] };

/** Secret values the engine resolves at run time; anything else under `secrets` is a value written inline. */
const SECRET_REFERENCES = new Set(['env', 'vault']);

function at(positionOf: PositionOf, path: DocPath, message: string): Issue {
  const pos = positionOf(path);
  return { path: formatPath(path), message, ...(pos ? { line: pos.line, column: pos.column } : {}) };
}

/** Every secret under `secrets.<scope>.<key>` that is not an env or vault reference. */
export function inlineSecrets(raw: unknown, positionOf: PositionOf): Issue[] {
  if (typeof raw !== 'object' || raw === null) return [];
  const secrets = (raw as Record<string, unknown>).secrets;
  if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets)) return [];
  const issues: Issue[] = [];
  for (const [scope, values] of Object.entries(secrets)) {
    if (typeof values !== 'object' || values === null || Array.isArray(values)) continue;
    for (const [key, value] of Object.entries(values)) {
      const type =
        typeof value === 'object' && value !== null ? (value as Record<string, unknown>).type : undefined;
      if (typeof type === 'string' && SECRET_REFERENCES.has(type)) continue;
      issues.push(
        at(
          positionOf,
          ['secrets', scope, key],
          'an inline secret value: the server stores experiments as uploaded and refuses secret values in them; reference the environment ({type: env, key: NAME}) or a vault ({type: vault, path: ...}) instead',
        ),
      );
    }
  }
  return issues;
}

/** Parses and validates an uploaded source (executing nothing); `label` names it in messages. */
export async function checkExperimentSource(
  source: string,
  format: ExperimentVersion['format'],
  label: string,
  baseDir: string,
): Promise<ExperimentCheck> {
  let parsed: ReturnType<typeof parseText>;
  try {
    parsed = parseText(source, format, label);
  } catch (err) {
    if (!(err instanceof FaultlineError)) throw err;
    return {
      ok: false,
      issues: err.issues.length > 0 ? [...err.issues] : [{ path: '', message: err.message }],
    };
  }
  const secrets = inlineSecrets(parsed.value, parsed.positionOf);
  const loaded: LoadedSource = {
    raw: parsed.value,
    source: label,
    baseDir,
    format,
    positionOf: parsed.positionOf,
  };
  const result = await validateExperiment(loaded, { baseDir, importModules: false });
  const issues = [...result.issues, ...secrets];
  if (issues.length > 0) return { ok: false, issues };
  const raw = parsed.value as { title?: unknown; tags?: unknown };
  return {
    ok: true,
    experiment: {
      title: typeof raw.title === 'string' ? raw.title : label,
      tags: Array.isArray(raw.tags) ? raw.tags.filter((t): t is string => typeof t === 'string') : [],
      warnings: result.warnings,
    },
  };
}
