/**
 * Process selection shared by the process faults and `stress.fd_exhaust`:
 * exactly one of `pid`, `pidfile`, `name` (exact /proc/<pid>/comm),
 * `pattern` (regex on the command line) or `cgroup` (the processes a cgroup v2
 * lists, how a systemd unit or a container's processes are found), then which of the matches: `mode`
 * (one, all, random, oldest, newest) and `count` or `percentage`. A name or
 * pattern that matches more processes than the fault acts on, with neither a
 * mode nor an amount, is refused with the candidates listed: picking one of
 * them silently once paused someone else's `sleep`. pid 1, this process and
 * its ancestors are never selected: the runner must not stop or kill itself
 * or what started it.
 *
 * Everything that reads /proc is split into a pure parser (unit-tested) and a
 * thin reader.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultTarget, ResolvedTargets, UndoRecord } from '../../core/fault.js';
import { SafeRegexError, safeRegexCache } from '../../core/safe-regex.js';

/** Linux truncates comm to 15 bytes (TASK_COMM_LEN 16). */
export const COMM_MAX = 15;

const SELECTORS = ['pid', 'pidfile', 'name', 'pattern', 'cgroup'] as const;

/** cgroup v2's mount: a `cgroup` selector is a path below it. */
export const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * `pattern` runs in RE2 (linear time): a JavaScript RegExp such as `^(a+)+$`
 * against a long command line used to stall the runner (issue #13).
 */
const compilePattern = safeRegexCache({ field: 'pattern' });

function checkPattern(source: string, ctx: z.RefinementCtx): void {
  try {
    compilePattern(source);
  } catch (err) {
    if (!(err instanceof SafeRegexError)) throw err;
    ctx.addIssue({ code: 'custom', message: `expected a valid RE2 regular expression: ${err.reason}` });
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
    .superRefine(checkPattern)
    .optional()
    .describe(
      'select processes whose full command line (arguments joined by spaces) matches this regex (RE2 syntax, linear time)',
    ),
  cgroup: z
    .string({ error: 'expected a cgroup path such as system.slice/payment.service' })
    .regex(/^[A-Za-z0-9_.@:/-]{1,512}$/, 'expected a cgroup path such as system.slice/payment.service')
    .refine((p) => !p.split('/').includes('..'), 'expected a cgroup path without ..')
    .optional()
    .describe(`select the processes a cgroup v2 lists (its cgroup.procs, a path below ${CGROUP_ROOT})`),
};

export const SELECTION_MODES = ['one', 'all', 'random', 'oldest', 'newest'] as const;
export type SelectionMode = (typeof SELECTION_MODES)[number];

/** Which of the matches: a mode, and count or percentage (not both); the kind decides the default count. */
export const AmountFields = {
  mode: z
    .enum(SELECTION_MODES, { error: "expected 'one', 'all', 'random', 'oldest' or 'newest'" })
    .optional()
    .describe(
      "which of the matching processes: 'one' (exactly one may match), 'all', 'random', 'oldest' or 'newest' " +
        '(by start time; count or percentage of them, default 1). Required, or count/percentage, when a name or ' +
        'pattern matches more processes than the fault acts on',
    ),
  count: z
    .number({ error: 'expected a number of processes' })
    .int('expected an integer')
    .positive('expected at least 1')
    .optional()
    .describe('how many of the matching processes to select (at random unless mode says oldest or newest)'),
  percentage: z
    .number({ error: 'expected a percentage' })
    .gt(0, 'expected a percentage above 0')
    .max(100, 'expected a percentage up to 100')
    .optional()
    .describe(
      'which share of the matching processes to select, rounded down but at least 1 (at random unless mode says oldest or newest)',
    ),
};

export type Selector = {
  pid?: number | undefined;
  pidfile?: string | undefined;
  name?: string | undefined;
  pattern?: string | undefined;
  cgroup?: string | undefined;
};
export type Amount = {
  mode?: SelectionMode | undefined;
  count?: number | undefined;
  percentage?: number | undefined;
};

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
  if (args.mode === 'one' || args.mode === 'all') {
    for (const field of ['count', 'percentage'] as const) {
      if (args[field] === undefined) continue;
      const what = args.mode === 'one' ? 'it selects the only match' : 'it selects every match';
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: `expected no ${field} with mode '${args.mode}' (${what}); use mode random, oldest or newest with a ${field}`,
      });
    }
  }
}

/** The selector alone, for messages: `name=sleep`, `pid 42`, `pattern /worker/`. */
export function selectorText(args: Selector): string {
  return args.pid !== undefined
    ? `pid ${args.pid}`
    : args.pidfile !== undefined
      ? `pidfile ${args.pidfile}`
      : args.name !== undefined
        ? `name=${args.name}`
        : args.cgroup !== undefined
          ? `cgroup ${args.cgroup}`
          : `pattern /${args.pattern ?? ''}/`;
}

/** A human-readable selector for `faultline status`. */
export function describeSelector(args: Selector & Amount): string {
  const what = selectorText(args);
  const parts = [
    ...(args.mode === undefined ? [] : [`mode ${args.mode}`]),
    ...(args.count === undefined ? [] : [`count ${args.count}`]),
    ...(args.percentage === undefined ? [] : [`${args.percentage}%`]),
  ];
  return `process ${what}${parts.length ? ` (${parts.join(', ')})` : ''}`;
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
  if (sel.pattern !== undefined) return compilePattern(sel.pattern).test(p.cmdline);
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

/** What a selection chose and why, in words for the user: `the newest of 3 processes matching name=sleep`. */
export interface Choice {
  picked: ProcInfo[];
  reason: string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 'es'}`;
const byStart = (a: ProcInfo, b: ProcInfo) => Number(a.start) - Number(b.start) || a.pid - b.pid;

/**
 * One line per candidate, oldest first: pid, start time (when boot time is
 * known), command line (or [comm]), after `mark(p)` when given.
 */
export function formatCandidates(
  procs: readonly ProcInfo[],
  bootSeconds?: number,
  limit = 20,
  mark?: (p: ProcInfo) => string,
): string[] {
  const lines = [...procs]
    .sort(byStart)
    .slice(0, limit)
    .map((p) => {
      const at =
        bootSeconds === undefined ? `start ${p.start}` : `started ${startedAt(p.start, bootSeconds)}`;
      return `${mark ? mark(p) : ''}pid ${p.pid}  ${at}  ${p.cmdline || `[${p.comm}]`}`;
    });
  if (procs.length > limit) lines.push(`... and ${procs.length - limit} more`);
  return lines;
}

/** The refusal of an ambiguous selection: exit 2, the candidates, the argument to add. */
export function ambiguousSelection(
  selector: string,
  matched: readonly ProcInfo[],
  wanted: string,
  bootSeconds?: number,
): FaultlineError {
  const message =
    `${selector} matches ${plural(matched.length, 'process')} and ${wanted}: say which with mode=oldest, ` +
    'mode=newest, mode=random or mode=all (or count=N, percentage=P), or select one by pid=<pid>';
  const list = formatCandidates(matched, bootSeconds).map((l) => `\n  ${l}`);
  return new FaultlineError('FAULTLINE_ERR_VALIDATION', `mode: ${message}; candidates:${list.join('')}`, {
    issues: [{ path: 'mode', message }],
  });
}

/**
 * Which of `matched` (at least one) to act on, by mode, count or percentage,
 * and why. With neither a mode nor an amount, more than `fallback` matches of
 * a name or pattern (`ambiguous`) is refused rather than guessed.
 */
export function chooseProcesses(
  matched: readonly ProcInfo[],
  amount: Amount,
  opts: { fallback: number; selector: string; ambiguous: boolean; bootSeconds?: number },
  random: () => number = Math.random,
): Choice {
  const n = matched.length;
  const of = `${plural(n, 'process')} matching ${opts.selector}`;
  const only = n === 1 ? `the only process matching ${opts.selector}` : undefined;
  const refuse = (wanted: string) => ambiguousSelection(opts.selector, matched, wanted, opts.bootSeconds);
  const k = amountOf(n, amount, opts.fallback);
  const amountText =
    amount.count !== undefined
      ? `count ${amount.count}`
      : amount.percentage !== undefined
        ? `percentage ${amount.percentage}`
        : `default ${opts.fallback}`;
  switch (amount.mode) {
    case 'one':
      if (n > 1) throw refuse("mode 'one' expects exactly one");
      return { picked: [...matched], reason: `${only} (mode one)` };
    case 'all':
      return { picked: [...matched], reason: n === 1 ? `${only} (mode all)` : `all ${of} (mode all)` };
    case 'oldest':
    case 'newest': {
      const sorted = [...matched].sort(byStart);
      if (amount.mode === 'newest') sorted.reverse();
      const which = k === 1 ? `the ${amount.mode}` : `the ${k} ${amount.mode}`;
      return {
        picked: sorted.slice(0, k),
        reason:
          n === 1
            ? `${only} (mode ${amount.mode})`
            : `${which} of ${of} (mode ${amount.mode}, ${amountText})`,
      };
    }
    default: {
      const told = amount.mode === 'random' || amount.count !== undefined || amount.percentage !== undefined;
      if (!told && opts.ambiguous && n > opts.fallback) {
        throw refuse(`the fault acts on ${opts.fallback === 1 ? 'one' : opts.fallback}`);
      }
      if (n <= k) return { picked: [...matched], reason: only ?? `all ${of} (${amountText})` };
      return {
        picked: pickRandom(matched, k, random),
        reason: `${k} of ${of}, chosen at random (${amount.mode === 'random' ? 'mode random, ' : ''}${amountText})`,
      };
    }
  }
}

/** Wall-clock start of a process from its /proc start (clock ticks since boot, USER_HZ 100 on Linux). */
export function startedAt(startTicks: string, bootSeconds: number, hz = 100): string {
  const ms = (bootSeconds + Number(startTicks) / hz) * 1000;
  return `${new Date(Math.round(ms / 1000) * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC')}`;
}

/** The `btime` line of /proc/stat: boot time in seconds since the epoch; undefined when absent. */
export function parseBootTime(procStat: string): number | undefined {
  const m = /^btime\s+(\d+)$/m.exec(procStat);
  return m ? Number(m[1]) : undefined;
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

/**
 * A command line's fingerprint as records keep it (sha256, 16 hex digits): it
 * tells a reused pid apart without putting the text, which may hold secrets,
 * in the ledger.
 */
export function cmdlineDigest(cmdline: string): string {
  return createHash('sha256').update(cmdline).digest('hex').slice(0, 16);
}

/**
 * `s` as /proc shows it now if it is still the process a record names: the
 * same start time, and the same name and command line (as far as the record
 * holds them). A pid reused within the start time's clock tick (or a record
 * planted to point at another process) fails the second check: never signalled.
 */
export async function stillSelected(
  s: Pick<Selected, 'pid' | 'start'> & { comm?: unknown; cmd?: unknown },
): Promise<ProcInfo | null> {
  const p = await sameProcess(s.pid, s.start);
  if (!p) return null;
  if (typeof s.comm === 'string' && p.comm !== s.comm) return null;
  if (typeof s.cmd === 'string' && cmdlineDigest(p.cmdline) !== s.cmd) return null;
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
  /** cmdlineDigest() at selection: checked with the start time before any signal (absent in older records). */
  cmd?: string;
}

/** What an undo record keeps of a selected process (selectedFrom reads it back). */
export const recordOf = (p: Selected): UndoRecord => ({
  pid: p.pid,
  start: p.start,
  comm: p.comm,
  state: p.state,
  ...(p.cmd === undefined ? {} : { cmd: p.cmd }),
});

export interface Selection {
  selected: Selected[];
  candidates: number;
  /** Every process the selector matched (protected ones excluded), for `--dry-run` and messages. */
  matched: ProcInfo[];
  /** Why these: `the newest of 3 processes matching name=sleep (mode newest, default 1)`. */
  reason: string;
  /** Boot time (s since the epoch), to show start times as dates. */
  bootSeconds?: number;
}

async function bootSeconds(): Promise<number | undefined> {
  const text = await readText('/proc/stat');
  return text === null ? undefined : parseBootTime(text);
}

/** The processes a cgroup v2 lists (cgroup.procs); FAULTLINE_ERR_FAULT naming it when it cannot be read. */
async function cgroupPids(path: string): Promise<Set<number>> {
  const file = `${CGROUP_ROOT}/${path.replace(/^\/+/, '')}/cgroup.procs`;
  try {
    return new Set(parseCgroupProcs(await readFile(file, 'utf8')));
  } catch (err) {
    throw new FaultlineError(
      'FAULTLINE_ERR_FAULT',
      `cgroup: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** cgroup.procs: one process id a line. */
export function parseCgroupProcs(text: string): number[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
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
    const inCgroup = sel.cgroup === undefined ? undefined : await cgroupPids(sel.cgroup);
    matched = (await listProcs()).filter(
      (p) =>
        !isKernelThread(p) &&
        p.state !== 'Z' &&
        p.state !== 'X' &&
        protectedReason(p.pid, self, ancestors) === null &&
        (inCgroup ? inCgroup.has(p.pid) : matches(p, sel)),
    );
    if (matched.length === 0) {
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        `no process matches ${selectorText(sel)} (pid 1, Faultline itself and its ancestors are never selected)`,
      );
    }
  }
  const boot = await bootSeconds();
  const selector = selectorText(sel);
  const { picked, reason } = chooseProcesses(
    matched,
    amount,
    {
      fallback,
      selector,
      ambiguous: explicit === undefined,
      ...(boot === undefined ? {} : { bootSeconds: boot }),
    },
    random,
  );
  return {
    selected: picked.map((p) => ({
      pid: p.pid,
      start: p.start,
      comm: p.comm,
      state: p.state,
      cmd: cmdlineDigest(p.cmdline),
    })),
    candidates: matched.length,
    matched,
    reason,
    ...(boot === undefined ? {} : { bootSeconds: boot }),
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
const selections = new WeakMap<ResolvedTargets, Selection>();

export async function resolveSelection(
  sel: Selector,
  amount: Amount,
  fallback: number,
): Promise<ResolvedTargets> {
  const selection = await selectProcesses(sel, amount, fallback);
  const resolved: ResolvedTargets = {
    targets: targetsOf(selection.selected),
    candidates: selection.candidates,
  };
  selections.set(resolved, selection);
  return resolved;
}

/**
 * The process selection behind targets resolveTargets() returned (what
 * matched, what was chosen and why), or undefined for other kinds of fault:
 * `faultline inject` shows it, and `--dry-run` lists the candidates.
 */
export function selectionOf(resolved: ResolvedTargets | undefined): Selection | undefined {
  return resolved ? selections.get(resolved) : undefined;
}

/** One matching process in a journal or JSON report. */
export interface CandidateJson {
  pid: number;
  /** /proc start time (clock ticks since boot). */
  start: string;
  /** Wall-clock start, when the boot time is known. */
  started?: string;
  comm: string;
  cmdline: string;
  chosen: boolean;
}

/** What a selection matched, chose and why, as plain data (the journal, `--json`). */
export interface SelectionJson {
  reason: string;
  chosen: number[];
  /** Every match, oldest first, up to `limit`. */
  candidates: CandidateJson[];
  /** How many matched in all (more than `candidates` holds when the list was cut). */
  matched: number;
}

export function selectionJson(sel: Selection, limit = 50): SelectionJson {
  const chosen = new Set(sel.selected.map((p) => p.pid));
  return {
    reason: sel.reason,
    chosen: sel.selected.map((p) => p.pid),
    candidates: [...sel.matched]
      .sort(byStart)
      .slice(0, limit)
      .map((p) => ({
        pid: p.pid,
        start: p.start,
        ...(sel.bootSeconds === undefined ? {} : { started: startedAt(p.start, sel.bootSeconds) }),
        comm: p.comm,
        cmdline: p.cmdline,
        chosen: chosen.has(p.pid),
      })),
    matched: sel.matched.length,
  };
}

/** The selection behind `resolved`, or a fresh one when plan() is called on its own. */
export async function selectionFor(
  resolved: ResolvedTargets | undefined,
  sel: Selector,
  amount: Amount,
  fallback: number,
): Promise<Selected[]> {
  const known = resolved ? selections.get(resolved) : undefined;
  return (known ?? (await selectProcesses(sel, amount, fallback))).selected;
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

/** `pid:start`: one process, whatever reuses its pid later. */
export const procKey = (s: Pick<Selected, 'pid' | 'start'>) => `${s.pid}:${s.start}`;

/**
 * What each fault this runner injected acted on (its record's tag -> procKey),
 * filled as it acts: its revert knows even when inject() threw half-way and the
 * session reverts the planned record.
 */
export const actedHere = new Map<string, Set<string>>();

/**
 * The processes of `all` the fault with `tag` acted on itself: this runner
 * knows from actedHere; another process (recovery) reads the pids the record
 * lists (`recorded`), or, for a runner that died before recording them, takes
 * them all.
 */
export function ownProcesses<T extends Pick<Selected, 'pid' | 'start'>>(
  tag: string,
  all: readonly T[],
  recorded: unknown,
): T[] {
  const here = actedHere.get(tag);
  if (here) return all.filter((s) => here.has(procKey(s)));
  if (!Array.isArray(recorded)) return [...all];
  const mine = new Set(recorded);
  return all.filter((s) => mine.has(s.pid));
}

/** Sends `signal` to `s` only if it is still the same process (stillSelected); false when it is gone. */
export async function signalSame(s: Selected, signal: NodeJS.Signals): Promise<boolean> {
  if (!(await stillSelected(s))) return false;
  try {
    process.kill(s.pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}
