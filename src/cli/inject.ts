/**
 * `faultline inject <group.name> [key=value ...] --duration 30s`: one fault,
 * ad hoc, through the same session, ledger and blast radius as a run. It is
 * reverted when the duration elapses, on Ctrl-C / SIGTERM, or by `faultline
 * halt` from any terminal; a fault without a duration needs `--until-halt`.
 * `--dry-run` shows what it would act on (for process faults, every matching
 * process and which ones were chosen, and why) without injecting anything.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { observeResolution } from '../activities/faults.js';
import { checkBlastRadius, describeTarget } from '../core/blast-radius.js';
import { parseDuration } from '../core/duration.js';
import { FaultlineError } from '../core/errors.js';
import type { FaultKind, FaultTarget, ResolvedTargets } from '../core/fault.js';
import { watchInterrupts } from '../engine/interrupts.js';
import { loadSettings, settingsBlastRadius } from '../experiment/settings.js';
import { localHaltSource } from '../faults/halt-source.js';
import { faultlineHome } from '../faults/home.js';
import { exposedFaults } from '../faults/index.js';
import { Ledger } from '../faults/ledger.js';
import { formatCandidates, type Selection, selectionJson, selectionOf } from '../faults/process/select.js';
import { MAX_FAULT_TTL_MS } from '../faults/session.js';
import { FaultSession } from '../lib/session.js';
import type { Output } from './output.js';

export interface InjectFlags {
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

function describeFault(name: string, kind: FaultKind): string {
  const json = z.toJSONSchema(kind.args, { io: 'input', unrepresentable: 'any' }) as JsonSchema & {
    required?: string[];
  };
  const required = new Set(json.required ?? []);
  const lines = [`${name}${kind.irreversible ? ' (irreversible)' : ''}`, `    ${kind.expose?.doc ?? ''}`];
  for (const [key, s] of Object.entries(json.properties ?? {})) {
    const d = (s as { description?: string }).description;
    lines.push(`      ${key}${required.has(key) ? '' : '?'}${d ? `  ${d}` : ''}`);
  }
  return lines.join('\n');
}

function listFaults(): number {
  const faults = [...exposedFaults().entries()].sort(([a], [b]) => a.localeCompare(b));
  const text = faults.map(([name, kind]) => describeFault(name, kind)).join('\n\n');
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

/** `--dry-run`: validate, resolve the targets, check the blast radius; print what would be acted on. */
async function dryRun(
  name: string,
  kind: FaultKind,
  args: Record<string, unknown>,
  flags: InjectFlags,
): Promise<number> {
  const parsed = kind.args.safeParse(args);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = issues[0]!;
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `${name}: ${first.path ? `${first.path}: ` : ''}${first.message}`,
      {
        issues,
      },
    );
  }
  const target = kind.target(parsed.data);
  const resolved: ResolvedTargets = kind.resolveTargets
    ? await kind.resolveTargets(parsed.data)
    : { targets: [{ type: kind.kind, name: target }] };
  const policies = settingsBlastRadius(await loadSettings(flags.settings, faultlineHome()));
  checkBlastRadius(policies, `${kind.kind} ${target}`, resolved);
  const sel = selectionOf(resolved);
  if (flags.json) {
    const report = {
      fault: name,
      dry_run: true,
      target,
      targets: resolved.targets,
      ...(sel
        ? { selection: sel.reason, candidates: selectionJson(sel, Number.POSITIVE_INFINITY).candidates }
        : {}),
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  const lines = [
    `${name} (dry run: nothing injected): ${target}`,
    ...selectionLines(sel),
    `would act on ${describeWhere(resolved.targets) || target}`,
    policies.length ? "blast radius: within the settings file's policy" : 'blast radius: no policy set',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function injectCommand(
  fault: string | undefined,
  pairs: string[],
  flags: InjectFlags,
  out: Output,
): Promise<number> {
  if (fault === undefined) return listFaults();
  const faults = exposedFaults();
  const kind = faults.get(fault);
  if (!kind) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `<fault>: unknown fault '${fault}' (expected one of: ${[...faults.keys()].sort().join(', ')}; \`faultline inject\` lists them with their arguments)`,
    );
  }
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

  if (flags.dryRun) return dryRun(fault, kind, args, flags);

  let ttlMs: number;
  if (kind.irreversible) {
    ttlMs = 60_000; // nothing lasts: the ledger entry only spans the injection
  } else if (flags.untilHalt) {
    if (flags.duration !== undefined) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        '--until-halt: expected either --duration or --until-halt, not both',
      );
    }
    ttlMs = MAX_FAULT_TTL_MS;
  } else {
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
    ttlMs = ms;
  }

  const home = faultlineHome();
  const settings = await loadSettings(flags.settings, home);
  const session = new FaultSession({
    runId: randomUUID(),
    ledger: new Ledger({ home }),
    blastRadius: settingsBlastRadius(settings),
  });

  // Ctrl-C, SIGTERM and `faultline halt` all end the wait; so does the duration.
  const signals = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => signals.abort(`interrupted by ${sig}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const interrupts = await watchInterrupts({
    halt: localHaltSource(home),
    signal: signals.signal,
    ...(kind.irreversible || flags.untilHalt
      ? {}
      : { maxDurationMs: ttlMs, maxDurationReason: 'its duration elapsed' }),
  });
  try {
    const started = Date.now();
    // Sees the targets the session resolves, so the user is told what was chosen and why.
    const observed = observeResolution(kind);
    const handle = await session.inject(observed.kind, args, { ttlMs, signal: interrupts.controller.signal });
    const record = session.records().find((r) => r.id === handle.id);
    const where = describeWhere(record?.targets ?? []);
    const sel = selectionOf(observed.resolved());
    const injected = {
      fault: fault,
      id: handle.id,
      target: handle.target,
      targets: record?.targets ?? [],
      ...(sel ? { selection: sel.reason } : {}),
    };
    if (!flags.json) for (const line of selectionLines(sel)) out.summary(`${fault}: ${line}`);
    if (kind.irreversible) {
      await session.revertAll();
      if (flags.json) process.stdout.write(`${JSON.stringify({ ...injected, irreversible: true })}\n`);
      else out.summary(`${fault}: done ${what(handle.target, where)} (irreversible: nothing to revert)`);
      return 0;
    }
    out.summary(
      `${fault}: injected ${what(handle.target, where)} (fault ${handle.id.slice(0, 8)}); ` +
        `${flags.untilHalt ? 'until `faultline halt`' : `for ${ttlMs / 1000} s`}; Ctrl-C reverts it now`,
    );
    if (!interrupts.controller.signal.aborted) {
      // The interrupt timers are unref'd (they must not keep a finished run alive): hold the loop open.
      const keepAlive = setInterval(() => {}, 60_000);
      await new Promise((done) =>
        interrupts.controller.signal.addEventListener('abort', done, { once: true }),
      );
      clearInterval(keepAlive);
    }
    const [reverted] = await session.revertAll();
    const why = String(interrupts.controller.signal.reason ?? '');
    const elapsed = (Date.now() - started) / 1000;
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({ ...injected, ...reverted, seconds: elapsed, ended_by: why })}\n`,
      );
    }
    if (!reverted?.verified) {
      out.error(
        `${fault}: could NOT verify the revert of ${handle.target}: ${reverted?.error ?? 'unknown'}; see \`faultline status\``,
      );
      return 1;
    }
    if (!flags.json) {
      out.summary(`${fault}: reverted and verified after ${elapsed.toFixed(1)} s (${why})`);
    }
    return 0;
  } finally {
    interrupts.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await session.revertAll();
  }
}
