/**
 * `faultline inject <group.name> [key=value ...] --duration 30s`: one fault,
 * ad hoc, through the same session, ledger and blast radius as a run. It is
 * reverted when the duration elapses, on Ctrl-C / SIGTERM, or by `faultline
 * halt` from any terminal; a fault without a duration needs `--until-halt`.
 * `--dry-run` shows what it would act on (for process faults, every matching
 * process and which ones were chosen, and why) without injecting anything.
 */
import { z } from 'zod';
import { describeTarget } from '../core/blast-radius.js';
import { parseDuration } from '../core/duration.js';
import { FaultlineError } from '../core/errors.js';
import type { FaultKind, FaultTarget } from '../core/fault.js';
import { onWorkloads } from '../core/fleet.js';
import { filledByWorkload } from '../core/workload.js';
import { formatCandidates, type Selection, selectionJson } from '../faults/process/select.js';
import { MAX_FAULT_TTL_MS } from '../faults/session.js';
import type { FleetTargets } from '../fleet/controller.js';
import { DEFAULT_LEASE_MS } from '../fleet/protocol.js';
import { MODES, parseSelector, TargetsSchema } from '../fleet/select.js';
import {
  exposedFault,
  type FaultDoc,
  type InjectEvent,
  injectFault,
  listFaults,
  planFault,
} from '../lib/inject.js';
import type { NatsFlags } from './nats-options.js';
import type { Output } from './output.js';

export interface InjectFlags extends NatsFlags {
  /** A label selector: inject on the fleet's agents it matches instead of locally. */
  on?: string;
  mode?: string;
  value?: string;
  /** With --on: pick the workloads the agents host in these namespaces (comma-separated) instead of agents. */
  namespaces?: string;
  /** With --on: pick workloads by name (`name` or `namespace/name`, comma-separated). */
  names?: string;
  lease?: string;
  duration?: string;
  untilHalt?: boolean;
  args?: string;
  settings?: string;
  json?: boolean;
  dryRun?: boolean;
}

type JsonSchema = {
  type?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
};

/** True when the argument's schema takes only strings: its value is never parsed as JSON. */
function stringOnly(s: JsonSchema | undefined): boolean {
  if (!s) return false;
  if (s.anyOf) return s.anyOf.every(stringOnly);
  if (s.enum) return s.enum.every((v) => typeof v === 'string');
  return s.type === 'string';
}

/**
 * `key=value` pairs into arguments. Values are JSON where the schema takes
 * something other than a string (`percent=25`, `ports=[80,443]`, `enabled=true`),
 * text otherwise; `a.b=1` sets a nested key.
 */
export function parseKeyValues(pairs: readonly string[], schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `argument '${pair}': expected key=value (for example percent=25)`,
      );
    }
    const path = pair.slice(0, eq).split('.');
    const text = pair.slice(eq + 1);
    let value: unknown = text;
    if (!(path.length === 1 && stringOnly(json.properties?.[path[0]!]))) {
      try {
        value = JSON.parse(text);
      } catch {
        value = text;
      }
    }
    let node = out;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      if (!next || typeof next !== 'object') node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path.at(-1)!] = value;
  }
  return out;
}

function describeFault(f: FaultDoc): string {
  const lines = [`${f.name}${f.irreversible ? ' (irreversible)' : ''}`, `    ${f.doc}`];
  for (const a of f.args) {
    lines.push(`      ${a.name}${a.required ? '' : '?'}${a.description ? `  ${a.description}` : ''}`);
  }
  return lines.join('\n');
}

async function printFaults(): Promise<number> {
  const text = (await listFaults()).map(describeFault).join('\n\n');
  process.stdout.write(`faults (faultline inject <fault> key=value ... --duration 30s):\n\n${text}\n`);
  return 0;
}

/**
 * Where a fault acts, for the "injected on ..." line: a host resource (stress)
 * is on its host, anything else is named by its target ("process 'sleep' (pid 42)").
 */
export function describeWhere(targets: readonly FaultTarget[]): string {
  return targets.map((t) => (t.type === 'host' ? (t.host ?? 'this host') : describeTarget(t))).join(', ');
}

/** `cpu 2 x 80% on localhost`; `on file '/tmp/flag'` when the target says it all already. */
const what = (target: string, where: string) =>
  !where ? target : where.includes(target) ? `on ${where}` : `${target} on ${where}`;

/** The lines that say which processes were chosen and why (empty for other kinds of fault). */
function selectionLines(sel: Selection | undefined): string[] {
  if (!sel) return [];
  const chosen = new Set(sel.selected.map((p) => p.pid));
  return [
    `${sel.matched.length} matching process${sel.matched.length === 1 ? '' : 'es'} (pid 1, Faultline and its ancestors excluded), oldest first; * = chosen:`,
    ...formatCandidates(sel.matched, sel.bootSeconds, 200, (p) => (chosen.has(p.pid) ? '  * ' : '    ')),
    `chosen: ${sel.reason}`,
  ];
}

/** `--dry-run`: the library's plan (validated, targets resolved, blast radius checked), printed. */
async function dryRun(name: string, args: Record<string, unknown>, flags: InjectFlags): Promise<number> {
  const plan = await planFault(name, args, settingsOption(flags));
  const sel = plan.selection;
  if (flags.json) {
    const report = {
      fault: name,
      dry_run: true,
      target: plan.target,
      targets: plan.targets,
      ...(sel
        ? { selection: sel.reason, candidates: selectionJson(sel, Number.POSITIVE_INFINITY).candidates }
        : {}),
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  const lines = [
    `${name} (dry run: nothing injected): ${plan.target}`,
    ...selectionLines(sel),
    `would act on ${describeWhere(plan.targets) || plan.target}`,
    plan.blastRadius.length
      ? "blast radius: within the settings file's policy"
      : 'blast radius: no policy set',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

const settingsOption = (flags: InjectFlags) =>
  flags.settings === undefined ? {} : { settingsPath: flags.settings };

/** `--duration` / `--until-halt` checked with their flag names, into the library's options. */
function durationOption(flags: InjectFlags): { durationMs: number } | { untilHalt: true } {
  if (flags.untilHalt) {
    if (flags.duration !== undefined) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        '--until-halt: expected either --duration or --until-halt, not both',
      );
    }
    return { untilHalt: true };
  }
  if (flags.duration === undefined) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      "--duration: required (such as '30s' or '5m'); every fault is time-bounded unless you say --until-halt",
    );
  }
  const ms = parseDuration(flags.duration);
  if (ms === undefined || ms > MAX_FAULT_TTL_MS) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--duration: expected a duration such as '30s', '500ms', '5m', got '${flags.duration}'`,
    );
  }
  return { durationMs: ms };
}

export async function injectCommand(
  fault: string | undefined,
  pairs: string[],
  flags: InjectFlags,
  out: Output,
): Promise<number> {
  if (fault === undefined) return printFaults();
  const kind = await exposedFault(fault, '<fault>', '`faultline inject`');
  let args = parseKeyValues(pairs, kind.args);
  if (flags.args !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(flags.args);
    } catch (err) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `--args: expected a JSON object: ${(err as Error).message}`,
      );
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new FaultlineError('FAULTLINE_ERR_USAGE', '--args: expected a JSON object');
    }
    args = { ...(parsed as Record<string, unknown>), ...args };
  }

  if (flags.on !== undefined) return fleetInject(fault, kind, args, flags, out);
  for (const flag of ['mode', 'value', 'lease', 'namespaces', 'names'] as const) {
    if (flags[flag] !== undefined) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `--${flag}: only with --on <selector> (a fleet inject)`,
      );
    }
  }
  if (flags.dryRun) return dryRun(fault, args, flags);
  // An irreversible fault lasts no time: its duration flags are not asked for.
  const lasting = kind.irreversible ? {} : durationOption(flags);

  // Ctrl-C and SIGTERM end the wait (the library watches `faultline halt` and the duration).
  const signals = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => signals.abort(`interrupted by ${sig}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const onEvent = (e: InjectEvent) => {
    if (e.type !== 'injected') return;
    if (!flags.json) for (const line of selectionLines(e.selection)) out.summary(`${fault}: ${line}`);
    if (e.irreversible) return;
    out.summary(
      `${fault}: injected ${what(e.target, describeWhere(e.targets))} (fault ${e.id.slice(0, 8)}); ` +
        `${e.untilHalt ? 'until `faultline halt`' : `for ${e.ttlMs / 1000} s`}; Ctrl-C reverts it now`,
    );
  };
  try {
    const r = await injectFault(fault, args, {
      ...lasting,
      ...settingsOption(flags),
      signal: signals.signal,
      onEvent,
    });
    const injected = {
      fault: fault,
      id: r.id,
      target: r.target,
      targets: r.targets,
      ...(r.selection ? { selection: r.selection.reason } : {}),
    };
    if (r.irreversible) {
      if (flags.json) process.stdout.write(`${JSON.stringify({ ...injected, irreversible: true })}\n`);
      else
        out.summary(
          `${fault}: done ${what(r.target, describeWhere(r.targets))} (irreversible: nothing to revert)`,
        );
      return 0;
    }
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({ ...injected, ...r.record, seconds: r.seconds, ended_by: r.reason })}\n`,
      );
    }
    if (!r.revert.verified) {
      out.error(
        `${fault}: could NOT verify the revert of ${r.target}: ${r.revert.error ?? 'unknown'}; see \`faultline status\``,
      );
      return 1;
    }
    if (!flags.json) {
      out.summary(`${fault}: reverted and verified after ${r.seconds.toFixed(1)} s (${r.reason})`);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `--on`, `--mode`, `--value` checked with their flag names. */
export function fleetTargets(flags: InjectFlags): FleetTargets {
  const on = flags.on ?? '';
  if (on.trim() === '') {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      "--on: expected a label selector such as 'app=payment,zone in (a,b)' (`faultline fleet` lists the agents' labels)",
    );
  }
  const selector = parseSelector(on, '--on');
  if (flags.mode === undefined) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--mode: required with --on (one of ${MODES.join(', ')})`,
    );
  }
  const list = (text: string | undefined) =>
    text === undefined
      ? undefined
      : text
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
  const workloads = flags.namespaces !== undefined || flags.names !== undefined;
  const r = TargetsSchema.safeParse({
    selector,
    mode: flags.mode,
    value: flags.value,
    ...(workloads ? { on: 'workloads' } : {}),
    ...(flags.namespaces === undefined ? {} : { namespaces: list(flags.namespaces) }),
    ...(flags.names === undefined ? {} : { names: list(flags.names) }),
  });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const flag = `--${String(issue.path[0] ?? 'value')}`;
    const got = (flags as Record<string, unknown>)[String(issue.path[0] ?? 'value')];
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `${flag}: ${issue.message}${got === undefined ? '' : `, got '${got}'`}`,
    );
  }
  return r.data;
}

/** `inject --on`: the fault on the agents the selector and mode pick, held by leases. */
async function fleetInject(
  fault: string,
  kind: FaultKind,
  args: Record<string, unknown>,
  flags: InjectFlags,
  out: Output,
): Promise<number> {
  const targets = fleetTargets(flags);
  const { MIN_LEASE_MS } = await import('../fleet/controller.js');
  const { durationFlag, fleetInjectCommand } = await import('./fleet.js');
  const leaseMs =
    flags.lease === undefined ? DEFAULT_LEASE_MS : durationFlag('--lease', flags.lease, MIN_LEASE_MS);
  // Checked here too so a typo fails at once (exit 2); each agent checks them again.
  const checked = kind.args.safeParse(args);
  // What each workload fills (its netns, interface, processes) may be left out when targets pick workloads.
  const issues = checked.success
    ? []
    : checked.error.issues.filter(
        (i) => !(onWorkloads(targets) && filledByWorkload(args, i.path, i.message)),
      );
  if (issues.length > 0) {
    const issue = issues[0]!;
    const where = issue.path.length ? `argument ${issue.path.join('.')}` : 'arguments';
    throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `${fault}: ${where}: ${issue.message}`);
  }
  let durationMs: number | undefined = 0;
  if (!kind.irreversible && !flags.dryRun) {
    const lasting = durationOption(flags);
    durationMs = 'durationMs' in lasting ? lasting.durationMs : undefined;
  }
  const ttlMs =
    durationMs === undefined ? MAX_FAULT_TTL_MS : Math.min(MAX_FAULT_TTL_MS, durationMs + leaseMs);
  return fleetInjectCommand(
    {
      fault,
      // Agents list and accept kinds by the name `faultline inject` takes.
      kind: fault,
      args,
      targets,
      leaseMs,
      durationMs,
      ttlMs,
      settings: flags.settings,
      json: flags.json,
      dryRun: flags.dryRun,
      nats: flags,
    },
    out,
  );
}
