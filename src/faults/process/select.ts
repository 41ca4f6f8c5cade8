/**
 * Process selection shared by the process faults and `stress.fd_exhaust`:
 * exactly one of `pid`, `pidfile`, `name` (exact /proc/<pid>/comm) or
 * `pattern` (regex on the command line), then `count` or `percentage` of the
 * matches, picked at random. pid 1, this process and its ancestors are never
 * selected: the runner must not stop or kill itself or what started it.
 *
 * Everything that reads /proc is split into a pure parser (unit-tested) and a
 * thin reader.
 */
import { readdir, readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultTarget, ResolvedTargets } from '../types.js';

/** Linux truncates comm to 15 bytes (TASK_COMM_LEN 16). */
export const COMM_MAX = 15;

const SELECTORS = ['pid', 'pidfile', 'name', 'pattern'] as const;

function validRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** The selector fields (no count/percentage): kill_random picks exactly one. */
export const SelectorFields = {
  pid: z
    .number({ error: 'expected a process id' })
    .int('expected an integer process id')
    .positive('expected a positive process id')
    .optional()
    .describe('select this process id'),
  pidfile: z
    .string({ error: 'expected a file path' })
    .min(1, 'expected a non-empty file path')
    .optional()
    .describe('select the process whose id this file holds'),
  name: z
    .string({ error: 'expected a process name' })
    .min(1, 'expected a non-empty process name')
    .optional()
    .describe(
      `select processes whose name (/proc/<pid>/comm, at most ${COMM_MAX} characters) is exactly this`,
    ),
  pattern: z
    .string({ error: 'expected a regular expression' })
    .min(1, 'expected a non-empty regular expression')
    .refine(validRegex, 'expected a valid JavaScript regular expression')
    .optional()
    .describe('select processes whose full command line (arguments joined by spaces) matches this regex'),
};

/** How many of the matches: at most one of the two; the kind decides the default. */
export const AmountFields = {
  count: z
    .number({ error: 'expected a number of processes' })
    .int('expected an integer')
    .positive('expected at least 1')
    .optional()
    .describe('how many of the matching processes to select (default 1)'),
  percentage: z
    .number({ error: 'expected a percentage' })
    .gt(0, 'expected a percentage above 0')
    .max(100, 'expected a percentage up to 100')
    .optional()
    .describe('which share of the matching processes to select, rounded down but at least 1'),
};

export type Selector = {
  pid?: number | undefined;
  pidfile?: string | undefined;
  name?: string | undefined;
  pattern?: string | undefined;
};
export type Amount = { count?: number | undefined; percentage?: number | undefined };

/**
 * The cross-field rules, as a zod refinement on the kind's object schema (so
 * `faultline validate` reports them with the field's path).
 */
export function checkSelection(args: Selector & Amount, ctx: z.RefinementCtx): void {
  const given = SELECTORS.filter((k) => args[k] !== undefined);
  if (given.length === 0) {
    ctx.addIssue({ code: 'custom', path: [], message: `expected one of ${SELECTORS.join(', ')}` });
  } else if (given.length > 1) {
    ctx.addIssue({
      code: 'custom',
      path: [given[1] as string],
      message: `expected only one of ${SELECTORS.join(', ')} (also got ${given[0]})`,
    });
  }
  if (args.count !== undefined && args.percentage !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['percentage'], message: 'expected count or percentage, not both' });
  }
}

/** A human-readable selector for `faultline status`. */
export function describeSelector(args: Selector & Amount): string {
  const what =
    args.pid !== undefined
      ? `pid ${args.pid}`
      : args.pidfile !== undefined
        ? `pidfile ${args.pidfile}`
        : args.name !== undefined
          ? `name=${args.name}`
          : `pattern /${args.pattern ?? ''}/`;
  const amount =
    args.count !== undefined
      ? ` (count ${args.count})`
      : args.percentage !== undefined
        ? ` (${args.percentage}%)`
        : '';
  return `process ${what}${amount}`;
}

// ---------------------------------------------------------------- signals

/**
 * The canonical name (`SIGTERM`) of a signal given as `SIGTERM`, `TERM` or
 * `term`; undefined when this platform has no such signal.
 */
export function normalizeSignal(value: string): NodeJS.Signals | undefined {
  const upper = value.trim().toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return Object.hasOwn(constants.signals, name) ? (name as NodeJS.Signals) : undefined;
}

export const SignalField = z
  .string({ error: 'expected a signal name such as SIGTERM' })
  .refine(
    (s) => normalizeSignal(s) !== undefined,
    'expected a signal name this system knows, such as SIGTERM or SIGKILL',
  )
  .default('SIGTERM')
  .describe('the signal to send (SIGTERM, SIGKILL, SIGINT, ...); default SIGTERM');

// ---------------------------------------------------------------- /proc parsing

export interface ProcStat {
  pid: number;
  comm: string;
  /** Field 3: R, S, D, T (stopped), t (traced), Z (zombie), ... */
  state: string;
  ppid: number;
  /** Field 22, clock ticks since boot: with the pid, identifies the process (PID reuse). */
  start: string;
}

/** Parses /proc/<pid>/stat; null when malformed. comm may hold spaces and ')': it ends at the LAST ')'. */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = rest[0];
  const ppid = Number(rest[1]);
  const start = rest[19];
  if (!Number.isInteger(pid) || !state || !Number.isInteger(ppid) || start === undefined) return null;
  return { pid, comm: text.slice(open + 1, close), state, ppid, start };
}

/** /proc/<pid>/cmdline: NUL-separated arguments, joined with spaces. Empty for kernel threads. */
export function parseCmdline(raw: string): string {
  // A process that set its title pads the old argv area with NULs: drop the trailing ones.
  return raw.replace(/\0+$/, '').split('\0').join(' ');
}

export interface NofileLimits {
  /** A number as text, or `unlimited`. */
  soft: string;
  hard: string;
}

/** The `Max open files` line of /proc/<pid>/limits; null when absent. */
export function parseNofile(limitsText: string): NofileLimits | null {
  for (const line of limitsText.split('\n')) {
    const m = /^Max open files\s+(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] && m[2]) return { soft: m[1], hard: m[2] };
  }
  return null;
}

/** `prlimit --pid <pid> --nofile=<soft>:<hard>` as an argument array (no shell). */
export function prlimitArgs(pid: number, limits: NofileLimits): string[] {
  return ['--pid', String(pid), `--nofile=${limits.soft}:${limits.hard}`];
}

// ---------------------------------------------------------------- matching and picking

export interface ProcInfo extends ProcStat {
  cmdline: string;
}

/** Kernel threads have no command line and descend from kthreadd (pid 2). */
export function isKernelThread(p: ProcInfo): boolean {
  return p.cmdline === '' && (p.pid === 2 || p.ppid === 2);
}

/** True when `p` matches the name or pattern selector (pid and pidfile are handled by the caller). */
export function matches(p: ProcInfo, sel: Selector): boolean {
  if (sel.name !== undefined) {
    return p.comm === sel.name || (sel.name.length > COMM_MAX && p.comm === sel.name.slice(0, COMM_MAX));
  }
  if (sel.pattern !== undefined) return new RegExp(sel.pattern).test(p.cmdline);
  return false;
}

/**
 * Why `pid` may never be selected, or null: pid 1, the runner itself and its
 * ancestors (the shell or supervisor that started it).
 */
export function protectedReason(pid: number, self: number, ancestors: ReadonlySet<number>): string | null {
  if (pid === 1) return 'pid 1 (init)';
  if (pid === self) return 'the Faultline process itself';
  if (ancestors.has(pid)) return 'an ancestor of the Faultline process';
  return null;
}

/** How many of `matched` to select: count (capped), a share rounded down but at least 1, or `fallback`. */
export function amountOf(matched: number, amount: Amount, fallback: number): number {
  if (matched === 0) return 0;
  if (amount.count !== undefined) return Math.min(amount.count, matched);
  if (amount.percentage !== undefined)
    return Math.max(1, Math.floor((matched * amount.percentage) / 100 + 1e-9));
  return Math.min(fallback, matched);
}

/** `n` distinct elements of `items` chosen at random (partial Fisher-Yates), in their original order. */
export function pickRandom<T>(items: readonly T[], n: number, random: () => number = Math.random): T[] {
  const idx = items.map((_, i) => i);
  const k = Math.min(n, idx.length);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
  }
  return idx
    .slice(0, k)
    .sort((a, b) => a - b)
    .map((i) => items[i] as T);
}

// ---------------------------------------------------------------- reading /proc

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return null; // gone (or hidden) between readdir and read
  }
}

/** The process `pid` as /proc shows it now, or null when it is gone. */
export async function readProc(pid: number): Promise<ProcInfo | null> {
  const statText = await readText(`/proc/${pid}/stat`);
  const stat = statText === null ? null : parseStat(statText);
  if (!stat) return null;
  const cmdline = await readText(`/proc/${pid}/cmdline`);
  return { ...stat, cmdline: parseCmdline(cmdline ?? '') };
}

/** Every process, skipping ones that vanish while we look. */
export async function listProcs(): Promise<ProcInfo[]> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    throw new FaultlineError(
      'FAULTLINE_ERR_UNSUPPORTED',
      'process faults need /proc (Linux): it cannot be read here; run Faultline on the Linux host of the processes',
    );
  }
  const out: ProcInfo[] = [];
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const p = await readProc(Number(n));
    if (p) out.push(p);
  }
  return out;
}

/** This process's ancestors (parent, grandparent, ... up to but excluding 0). */
export async function ancestorsOf(pid: number): Promise<Set<number>> {
  const out = new Set<number>();
  let cur = (await readProc(pid))?.ppid ?? 0;
  while (cur > 0 && !out.has(cur)) {
    out.add(cur);
    cur = (await readProc(cur))?.ppid ?? 0;
  }
  return out;
}

/** State of `pid` if it is still the process that started at `start`; null when gone or reused. */
export async function sameProcess(pid: number, start: string): Promise<ProcInfo | null> {
  const p = await readProc(pid);
  if (!p || p.start !== start || p.state === 'Z' || p.state === 'X') return null;
  return p;
}

// ---------------------------------------------------------------- selection

/** One selected process, as undo records store it. */
export interface Selected {
  pid: number;
  /** /proc start time: signals go only to the same process (PID reuse). */
  start: string;
  comm: string;
  /** State at selection (a process already stopped by someone else is not resumed by us). */
  state: string;
}

export interface Selection {
  selected: Selected[];
  candidates: number;
}

async function pidFromFile(file: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new FaultlineError(
      'FAULTLINE_ERR_FAULT',
      `pidfile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new FaultlineError('FAULTLINE_ERR_FAULT', `pidfile: ${file} does not hold a process id`);
  }
  return pid;
}

/**
 * Finds the processes the selector matches (minus the protected ones) and
 * picks `amount` of them at random (`fallback` when neither count nor
 * percentage is given). Throws FAULTLINE_ERR_FAULT when nothing matches.
 */
export async function selectProcesses(
  sel: Selector,
  amount: Amount,
  fallback: number,
  random: () => number = Math.random,
): Promise<Selection> {
  const self = process.pid;
  const ancestors = await ancestorsOf(self);
  const explicit = sel.pid ?? (sel.pidfile !== undefined ? await pidFromFile(sel.pidfile) : undefined);
  let matched: ProcInfo[];
  if (explicit !== undefined) {
    const why = protectedReason(explicit, self, ancestors);
    if (why)
      throw new FaultlineError('FAULTLINE_ERR_FAULT', `refusing to select pid ${explicit}: it is ${why}`);
    const p = await readProc(explicit);
    if (!p || p.state === 'Z' || p.state === 'X') {
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        `no process matches pid ${explicit}: it is not running`,
      );
    }
    matched = [p];
  } else {
    matched = (await listProcs()).filter(
      (p) =>
        !isKernelThread(p) &&
        p.state !== 'Z' &&
        p.state !== 'X' &&
        protectedReason(p.pid, self, ancestors) === null &&
        matches(p, sel),
    );
    if (matched.length === 0) {
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        `no process matches ${describeSelector(sel).slice('process '.length)} (pid 1, Faultline itself and its ancestors are never selected)`,
      );
    }
  }
  const picked = pickRandom(matched, amountOf(matched.length, amount, fallback), random);
  return {
    selected: picked.map((p) => ({ pid: p.pid, start: p.start, comm: p.comm, state: p.state })),
    candidates: matched.length,
  };
}

export function targetsOf(selected: readonly Selected[]): FaultTarget[] {
  return selected.map((s) => ({ type: 'process', name: s.comm, pid: s.pid, host: 'localhost' }));
}

/**
 * resolveTargets() selects once; plan() needs the start times the blast-radius
 * check does not carry. The session passes the same object to plan(), so the
 * selection is kept beside it.
 */
const selections = new WeakMap<ResolvedTargets, Selected[]>();

export async function resolveSelection(
  sel: Selector,
  amount: Amount,
  fallback: number,
): Promise<ResolvedTargets> {
  const { selected, candidates } = await selectProcesses(sel, amount, fallback);
  const resolved: ResolvedTargets = { targets: targetsOf(selected), candidates };
  selections.set(resolved, selected);
  return resolved;
}

/** The selection behind `resolved`, or a fresh one when plan() is called on its own. */
export async function selectionFor(
  resolved: ResolvedTargets | undefined,
  sel: Selector,
  amount: Amount,
  fallback: number,
): Promise<Selected[]> {
  const known = resolved ? selections.get(resolved) : undefined;
  return known ?? (await selectProcesses(sel, amount, fallback)).selected;
}

/** Selected processes from an undo record (pure JSON), skipping malformed items. */
export function selectedFrom(value: unknown): Selected[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (v): v is Selected =>
      typeof v === 'object' &&
      v !== null &&
      Number.isInteger((v as Selected).pid) &&
      typeof (v as Selected).start === 'string',
  );
}

/** Sends `signal` to `s` only if it is still the same process; false when it is gone. */
export async function signalSame(s: Selected, signal: NodeJS.Signals): Promise<boolean> {
  if (!(await sameProcess(s.pid, s.start))) return false;
  try {
    process.kill(s.pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}
