/** `faultline discover`: every built-in activity with its arguments, from the same schemas validation uses. */
import { z } from 'zod';
import { loadBuiltinActivities } from '../compose.js';
import { FaultlineError } from '../core/errors.js';
import { builtinActivities } from '../engine/builtins.js';
import { PROVIDER_LOADERS } from '../providers/index.js';
import type { Output } from './output.js';

export interface DiscoveredArgument {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

export interface DiscoveredActivity {
  type: 'action' | 'probe';
  module: string;
  func: string;
  doc: string;
  arguments: DiscoveredArgument[];
}

function typeName(schema: Record<string, unknown>): string {
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (Array.isArray(schema.anyOf))
    return (schema.anyOf as Record<string, unknown>[]).map(typeName).join(' | ');
  if (schema.type === 'array') return `${typeName((schema.items as Record<string, unknown>) ?? {})}[]`;
  if (typeof schema.type === 'string') return schema.type === 'integer' ? 'integer' : schema.type;
  return 'any';
}

/** The registered built-in activities (loadBuiltinActivities() registers Faultline's own). */
export function discoverActivities(): DiscoveredActivity[] {
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

export async function discoverCommand(
  filter: string | undefined,
  opts: { json?: boolean },
  _out: Output,
): Promise<number> {
  await loadBuiltinActivities();
  const activities = filterActivities(discoverActivities(), filter);
  const providers = Object.keys(PROVIDER_LOADERS);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ providers, activities }, null, 2)}\n`);
    return 0;
  }
  const lines: string[] = [`providers: ${providers.join(', ')}`, ''];
  for (const a of activities) {
    lines.push(`${a.type.padEnd(6)} ${a.module} ${a.func}`);
    lines.push(`       ${a.doc}`);
    for (const arg of a.arguments) {
      const dflt = arg.default !== undefined ? ` = ${JSON.stringify(arg.default)}` : '';
      lines.push(
        `         ${arg.name}${arg.required ? '' : '?'}: ${arg.type}${dflt}${arg.description ? `  ${arg.description}` : ''}`,
      );
    }
    lines.push('');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
