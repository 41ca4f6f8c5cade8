/**
 * One fault for a duration, from code: what `faultline inject` does (the
 * settings file's blast radius, a session and its ledger, the local halt
 * file, the duration and the caller's signal), as a call that resolves once
 * the fault is reverted. It never prints and never touches process signals:
 * the CLI maps Ctrl-C onto `signal` and renders the events.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { observeResolution } from '../activities/faults.js';
import { type BlastRadiusPolicy, checkBlastRadius } from '../core/blast-radius.js';
import { FaultlineError } from '../core/errors.js';
import type { FaultKind, FaultTarget, ResolvedTargets } from '../core/fault.js';
import type { FaultRecord } from '../core/journal.js';
import { watchInterrupts } from '../engine/interrupts.js';
import { loadSettings, settingsBlastRadius } from '../experiment/settings.js';
import { localHaltSource } from '../faults/halt-source.js';
import { exposedFaults } from '../faults/index.js';
import { Ledger } from '../faults/ledger.js';
import { type Selection, selectionOf } from '../faults/process/select.js';
import { type FaultEvent, MAX_FAULT_TTL_MS } from '../faults/session.js';
import { FaultSession } from './session.js';
import { type FaultlineHomeOptions, homeOf } from './status.js';

export interface PlanFaultOptions extends FaultlineHomeOptions {
  /** The settings file whose blast radius applies; default `<home>/settings.yaml` (if it exists). */
  settingsPath?: string;
}

export interface InjectFaultOptions extends PlanFaultOptions {
  /** How long the fault lasts (ms). Required unless `untilHalt` or the fault is irreversible. */
  durationMs?: number;
  /** Lasts until `signal` aborts or a halt is raised (the longest TTL a fault may have). */
  untilHalt?: boolean;
  /** Aborting it reverts the fault now (its reason becomes the result's `reason`). */
  signal?: AbortSignal;
  onEvent?: (event: InjectEvent) => void;
  /** The session's run id in the ledger (`faultline status` shows it); default a random UUID. */
  runId?: string;
}

/** What ended a fault: its duration, the caller's signal, a halt, or nothing to wait for. */
export type InjectEndedBy = 'duration' | 'signal' | 'halt' | 'irreversible';

/** What was injected, as the `injected` event and the result both say it. */
export interface InjectedFault {
  /** `group.name`, as `faultline inject` takes it. */
  fault: string;
  id: string;
  target: string;
  /** What it acts on, as checked against the blast radius. */
  targets: FaultTarget[];
  /** For process faults: every process that matched, those chosen and why. */
  selection?: Selection;
  irreversible: boolean;
}

export type InjectEvent =
  | (InjectedFault & {
      type: 'injected';
      /** How long it lasts (its TTL in the ledger). */
      ttlMs: number;
      untilHalt: boolean;
    })
  | {
      type: 'reverted';
      fault: string;
      id: string;
      verified: boolean;
      error?: string;
      endedBy: InjectEndedBy;
      reason: string;
      seconds: number;
    }
  /** The session's own fault events (its TTL expiring first, a revert that failed). */
  | { type: 'fault'; event: FaultEvent };

export interface InjectFaultResult extends InjectedFault {
  /** The fault as the journal records it, after its revert. */
  record: FaultRecord;
  /** Whether the revert was verified; when not, `faultline status` (faultStatus()) shows the fault. */
  revert: { verified: boolean; error?: string };
  endedBy: InjectEndedBy;
  /** Why, in words: `its duration elapsed`, `halted by \`faultline halt\`: <reason>`, the signal's reason. */
  reason: string;
  /** From the injection's start to the verified revert. */
  seconds: number;
}

export interface FaultPlan {
  fault: string;
  target: string;
  /** What it would act on, checked against the blast radius. */
  targets: FaultTarget[];
  /** For process faults: every process that matched, those that would be chosen and why. */
  selection?: Selection;
  /** The settings file's policies it was checked against (none: no policy set). */
  blastRadius: BlastRadiusPolicy[];
}

export interface FaultArgumentDoc {
  name: string;
  required: boolean;
  description?: string;
}

/** An exposed fault and its arguments: what `faultline inject` with no fault lists. */
export interface FaultDoc {
  /** `group.name`, as `injectFault` takes it. */
  name: string;
  /** The ledger's kind (`marker-file`). */
  kind: string;
  irreversible: boolean;
  doc: string;
  args: FaultArgumentDoc[];
}

/** The abort reason (and `reason`) when the duration elapses: the CLI has always said this. */
const DURATION_REASON = 'its duration elapsed';
/** An irreversible fault's ledger entry spans only its injection. */
const IRREVERSIBLE_TTL_MS = 60_000;

type JsonSchema = {
  properties?: Record<string, { description?: string }>;
  required?: string[];
};

/**
 * Every exposed fault with its arguments, by name.
 *
 * @example
 * for (const f of await listFaults()) console.log(f.name, f.args.map((a) => a.name));
 */
export async function listFaults(): Promise<FaultDoc[]> {
  return [...(await exposedFaults()).entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, kind]) => {
      const json = z.toJSONSchema(kind.args, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
      const required = new Set(json.required ?? []);
      return {
        name,
        kind: kind.kind,
        irreversible: kind.irreversible === true,
        doc: kind.expose?.doc ?? '',
        args: Object.entries(json.properties ?? {}).map(([key, s]) => ({
          name: key,
          required: required.has(key),
          ...(s.description ? { description: s.description } : {}),
        })),
      };
    });
}

/**
 * The exposed fault `name` names; FAULTLINE_ERR_USAGE naming the argument
 * (`field`) and where the list is (`listedBy`) otherwise. The CLI passes its
 * own words (`<fault>`, `faultline inject`).
 */
export async function exposedFault(
  name: string,
  field = 'fault',
  listedBy = 'listFaults()',
): Promise<FaultKind> {
  const faults = await exposedFaults();
  const kind = faults.get(name);
  if (!kind) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `${field}: unknown fault '${name}' (expected one of: ${[...faults.keys()].sort().join(', ')}; ${listedBy} lists them with their arguments)`,
    );
  }
  return kind;
}

async function blastRadiusOf(o: PlanFaultOptions, home: string): Promise<BlastRadiusPolicy[]> {
  return settingsBlastRadius(await loadSettings(o.settingsPath, home));
}

/**
 * What `injectFault` would act on, injecting nothing: validates the arguments,
 * resolves the targets (for process faults, which processes match and which
 * would be chosen) and checks them against the settings file's blast radius.
 *
 * @example
 * const plan = await planFault('process.pause', { name: 'worker', mode: 'oldest' });
 * console.log(plan.selection?.reason, plan.targets);
 */
export async function planFault(
  name: string,
  args: Record<string, unknown>,
  options: PlanFaultOptions = {},
): Promise<FaultPlan> {
  const kind = await exposedFault(name);
  const parsed = kind.args.safeParse(args);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = issues[0]!;
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `${name}: ${first.path ? `${first.path}: ` : ''}${first.message}`,
      { issues },
    );
  }
  const target = kind.target(parsed.data);
  const resolved: ResolvedTargets = kind.resolveTargets
    ? await kind.resolveTargets(parsed.data)
    : { targets: [{ type: kind.kind, name: target }] };
  const blastRadius = await blastRadiusOf(options, homeOf(options));
  checkBlastRadius(blastRadius, `${kind.kind} ${target}`, resolved);
  const selection = selectionOf(resolved);
  return { fault: name, target, targets: resolved.targets, ...(selection ? { selection } : {}), blastRadius };
}

/** The fault's TTL from the options; FAULTLINE_ERR_USAGE naming the option when they do not say one. */
function ttlOf(kind: FaultKind, o: InjectFaultOptions): number {
  if (kind.irreversible) return IRREVERSIBLE_TTL_MS;
  if (o.untilHalt) {
    if (o.durationMs !== undefined) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        'untilHalt: expected either durationMs or untilHalt, not both',
      );
    }
    return MAX_FAULT_TTL_MS;
  }
  if (o.durationMs === undefined) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      'durationMs: required; every fault is time-bounded unless untilHalt is set',
    );
  }
  if (!Number.isFinite(o.durationMs) || o.durationMs <= 0 || o.durationMs > MAX_FAULT_TTL_MS) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `durationMs: expected a positive number of milliseconds up to ${MAX_FAULT_TTL_MS}, got ${o.durationMs}`,
    );
  }
  return o.durationMs;
}

function reasonText(reason: unknown): string {
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error) return reason.message;
  return String(reason ?? '');
}

/**
 * Injects one exposed fault (`group.name`, as `faultline inject` takes it) and
 * resolves once it is reverted: when `durationMs` elapses, when `signal`
 * aborts, or when a halt is raised (`halt()` or `faultline halt` on this
 * host); an irreversible fault resolves at once. The settings file's blast
 * radius applies and the fault is ledgered before it acts, as from the CLI.
 * A revert that cannot be verified is in the result (`revert.verified`), not
 * thrown; a fault that cannot be injected throws a FaultlineError
 * (FAULTLINE_ERR_USAGE, _VALIDATION, _POLICY for the blast radius, _HALTED, _FAULT,
 * _INTERRUPTED).
 *
 * @example
 * const stop = new AbortController();
 * const result = await injectFault('marker.create', { path: '/tmp/flag' }, {
 *   durationMs: 30_000,
 *   signal: stop.signal,
 *   onEvent: (e) => e.type === 'injected' && console.log('in place:', e.targets),
 * });
 * if (!result.revert.verified) console.error(result.revert.error);
 */
export async function injectFault(
  name: string,
  args: Record<string, unknown>,
  options: InjectFaultOptions = {},
): Promise<InjectFaultResult> {
  const kind = await exposedFault(name);
  const ttlMs = ttlOf(kind, options);
  const untilHalt = !kind.irreversible && options.untilHalt === true;
  const emit = options.onEvent ?? (() => {});

  const home = homeOf(options);
  const session = new FaultSession({
    runId: options.runId ?? randomUUID(),
    ledger: new Ledger({ home }),
    blastRadius: await blastRadiusOf(options, home),
    onEvent: (event) => emit({ type: 'fault', event }),
  });

  // The caller's signal, a halt and the duration all end the wait.
  const interrupts = await watchInterrupts({
    halt: localHaltSource(home),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(kind.irreversible || untilHalt ? {} : { maxDurationMs: ttlMs, maxDurationReason: DURATION_REASON }),
  });
  const ended = interrupts.controller.signal;
  // Which of them came first: the caller's signal is aborted by then if it was that.
  let endedBy: InjectEndedBy | undefined;
  const classify = () => {
    endedBy ??= options.signal?.aborted ? 'signal' : ended.reason === DURATION_REASON ? 'duration' : 'halt';
  };
  if (ended.aborted) classify();
  else ended.addEventListener('abort', classify, { once: true });
  try {
    const started = Date.now();
    // Sees the targets the session resolves, so the caller learns what was chosen and why.
    const observed = observeResolution(kind);
    const handle = await session.inject(observed.kind, args, { ttlMs, signal: ended });
    const targets = session.records().find((r) => r.id === handle.id)?.targets ?? [];
    const selection = selectionOf(observed.resolved());
    const irreversible = kind.irreversible === true;
    emit({
      type: 'injected',
      fault: name,
      id: handle.id,
      target: handle.target,
      targets,
      ...(selection ? { selection } : {}),
      irreversible,
      ttlMs,
      untilHalt,
    });
    if (!irreversible && !ended.aborted) {
      // The interrupt timers are unref'd (they must not keep a finished run alive): hold the loop open.
      const keepAlive = setInterval(() => {}, 60_000);
      await new Promise((done) => ended.addEventListener('abort', done, { once: true }));
      clearInterval(keepAlive);
    }
    const [record] = await session.revertAll();
    const seconds = (Date.now() - started) / 1000;
    const reverted: FaultRecord = record ?? {
      id: handle.id,
      kind: kind.kind,
      target: handle.target,
      injected_at: '',
    };
    const revert = {
      verified: reverted.verified === true,
      ...(reverted.error === undefined ? {} : { error: reverted.error }),
    };
    const by: InjectEndedBy = irreversible ? 'irreversible' : (endedBy ?? 'halt');
    const reason = irreversible ? 'irreversible: nothing to revert' : reasonText(ended.reason);
    emit({ type: 'reverted', fault: name, id: handle.id, ...revert, endedBy: by, reason, seconds });
    return {
      fault: name,
      id: handle.id,
      target: handle.target,
      targets,
      ...(selection ? { selection } : {}),
      irreversible,
      record: reverted,
      revert,
      endedBy: by,
      reason,
      seconds,
    };
  } finally {
    interrupts.stop();
    await session.revertAll();
  }
}
