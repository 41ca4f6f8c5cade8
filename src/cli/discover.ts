/**
 * `faultline discover [FILTER | PACKAGE]`: every built-in activity with its
 * arguments, from the same schemas validation uses; with the name of an
 * installed Python package (a Chaos Toolkit extension), its activities too,
 * listed next to the built-ins (src/python/discover.ts imports it).
 */
import { z } from 'zod';
import { loadBuiltinActivities } from '../compose.js';
import { FaultlineError } from '../core/errors.js';
import { builtinActivities } from '../engine/builtins.js';
import { PROVIDER_LOADERS } from '../providers/index.js';
import {
  type DiscoveredActivity,
  type DiscoveredExtension,
  discoverPythonPackage,
  isPythonModuleName,
} from '../python/discover.js';
import type { Output } from './output.js';

export type { DiscoveredActivity, DiscoveredArgument } from '../python/discover.js';

function typeName(schema: Record<string, unknown>): string {
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (Array.isArray(schema.anyOf))
    return (schema.anyOf as Record<string, unknown>[]).map(typeName).join(' | ');
  if (schema.type === 'array') return `${typeName((schema.items as Record<string, unknown>) ?? {})}[]`;
  if (typeof schema.type === 'string') return schema.type === 'integer' ? 'integer' : schema.type;
  return 'any';
}

/** The registered built-in activities (loadBuiltinActivities() registers Faultline's own). */
export function discoverActivities(): (DiscoveredActivity & { type: 'action' | 'probe' })[] {
  return builtinActivities
    .entries()
    .map(([, a]) => {
      const json = z.toJSONSchema(a.arguments, { io: 'input', unrepresentable: 'any' }) as {
        properties?: Record<string, Record<string, unknown>>;
        required?: string[];
      };
      const required = new Set(json.required ?? []);
      return {
        type: a.kind,
        module: a.module,
        func: a.func,
        doc: a.doc,
        arguments: Object.entries(json.properties ?? {}).map(([name, s]) => ({
          name,
          type: typeName(s),
          required: required.has(name) && s.default === undefined,
          ...(s.default !== undefined ? { default: s.default } : {}),
          ...(typeof s.description === 'string' ? { description: s.description } : {}),
        })),
      };
    })
    .sort((a, b) => `${a.module}.${a.func}`.localeCompare(`${b.module}.${b.func}`));
}

/**
 * The activities a `faultline discover FILTER` asks for: FILTER is part of
 * `module.func`, case-insensitive (`faultline.network`, `network`, `stress.cpu`).
 */
export function filterActivities(activities: DiscoveredActivity[], filter?: string): DiscoveredActivity[] {
  const wanted = filter?.trim().toLowerCase();
  if (!wanted) return activities;
  const found = activities.filter((a) => `${a.module}.${a.func}`.toLowerCase().includes(wanted));
  if (found.length === 0) {
    const modules = [...new Set(activities.map((a) => a.module))].join(', ');
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `filter: expected part of a built-in module or activity name, got '${filter}' (modules: ${modules})`,
    );
  }
  return found;
}

function matchesBuiltin(activities: DiscoveredActivity[], filter: string): boolean {
  const wanted = filter.trim().toLowerCase();
  return activities.some((a) => `${a.module}.${a.func}`.toLowerCase().includes(wanted));
}

/**
 * What to list: the built-ins FILTER selects, or, when FILTER selects none
 * and names a Python package (or `package` is given), every built-in and the
 * package's activities.
 */
async function selectActivities(
  filter: string | undefined,
  pkg: string | undefined,
): Promise<{ activities: DiscoveredActivity[]; extension?: DiscoveredExtension }> {
  const builtins = discoverActivities();
  const wanted = filter?.trim();
  const asPackage =
    pkg ?? (wanted && !matchesBuiltin(builtins, wanted) && isPythonModuleName(wanted) ? wanted : undefined);
  if (asPackage === undefined) return { activities: filterActivities(builtins, filter) };
  try {
    const found = await discoverPythonPackage(asPackage, { env: process.env });
    return { activities: [...builtins, ...found], extension: found.extension };
  } catch (err) {
    if (pkg !== undefined || !(err instanceof FaultlineError)) throw err;
    const modules = [...new Set(builtins.map((a) => a.module))].join(', ');
    throw new FaultlineError(
      err.code,
      `filter: no built-in module or activity name contains '${wanted}' (modules: ${modules}), and ${err.message}`,
    );
  }
}

function argumentLine(arg: DiscoveredActivity['arguments'][number]): string {
  const dflt = arg.default !== undefined ? ` = ${JSON.stringify(arg.default)}` : '';
  return `         ${arg.name}${arg.required ? '' : '?'}: ${arg.type}${dflt}${arg.description ? `  ${arg.description}` : ''}`;
}

export async function discoverCommand(
  filter: string | undefined,
  opts: { json?: boolean; package?: string },
  _out: Output,
): Promise<number> {
  await loadBuiltinActivities();
  const { activities, extension } = await selectActivities(filter, opts.package);
  const providers = Object.keys(PROVIDER_LOADERS);
  if (opts.json) {
    const doc = extension ? { providers, activities, package: extension } : { providers, activities };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return 0;
  }
  const width = Math.max(6, ...activities.map((a) => a.type.length));
  const lines: string[] = [`providers: ${providers.join(', ')}`, ''];
  let headed = false;
  for (const a of activities) {
    if (extension && a.provider === 'python' && !headed) {
      headed = true;
      const how = extension.source === 'discover' ? 'its discover()' : "its modules' public functions";
      lines.push(
        `python package ${extension.package}${extension.version ? ` ${extension.version}` : ''} (${extension.name}; ${how}; ${extension.python}): provider {type: python, module, func}`,
        '',
      );
    }
    lines.push(`${a.type.padEnd(width)} ${a.module} ${a.func}`);
    if (a.doc) lines.push(`       ${a.doc}`);
    for (const arg of a.arguments) lines.push(argumentLine(arg));
    lines.push('');
  }
  if (extension && !headed) lines.push(`python package ${extension.package}: no activities found`, '');
  for (const s of extension?.skipped ?? []) lines.push(`not listed: module ${s.module}: ${s.reason}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
