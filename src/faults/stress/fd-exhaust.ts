/**
 * `stress-fd-exhaust` (`faultline.stress` / `fd_exhaust`): lowers the
 * RLIMIT_NOFILE of the selected processes (same selection as the process
 * faults) with `prlimit`, so their next open()/socket()/accept() fails with
 * EMFILE. By default the new limit is the process's lowest free descriptor
 * number, so the very next open fails while what it holds stays open.
 *
 * The old soft:hard limits (from /proc/<pid>/limits) are in the undo record;
 * revert sets them back. With CAP_SYS_RESOURCE both limits are lowered (the
 * target cannot raise them again); without it (not root, or root in a
 * container that drops it) only the soft limit is, because raising a hard
 * limit back needs that capability: the target could raise its soft limit
 * itself, which services do not do after start-up. A guard worker restores the limits
 * by itself at the deadline or if the runner dies.
 *
 * Two lowerings of one process never undo each other: the first one's guard
 * worker (alive exactly while its fault is in place, of any run) names the
 * process, so a second is refused (or, among several selected, skips it):
 * it would read the first one's limit as the one to restore, and the first
 * revert would lift it. Two injected at once both start their guard and look
 * again: the younger guard's fault gives way. A revert restores only the
 * processes its own fault lowered.
 *
 * Why not a worker that opens descriptors: RLIMIT_NOFILE is per process, so a
 * worker holding descriptors exhausts only itself, and exhausting the
 * system-wide file-max would hit every process on the host, Faultline included.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind, UndoRecord } from '../../core/fault.js';
import {
  AmountFields,
  actedHere,
  checkSelection,
  describeSelector,
  listProcs,
  type NofileLimits,
  ownProcesses,
  parseNofile,
  prlimitArgs,
  procKey,
  resolveSelection,
  SelectorFields,
  selectionFor,
  stillSelected,
} from '../process/select.js';
import {
  deadlineFor,
  newTag,
  type StressContext,
  startWorker,
  stopWorker,
  TAG_ARG,
  workerGone,
} from './spawn.js';

const run = promisify(execFile);

export const FdExhaustArgsSchema = z
  .strictObject({
    ...SelectorFields,
    ...AmountFields,
    limit: z
      .number({ error: 'expected a number of descriptors' })
      .int('expected an integer')
      .min(0, 'expected 0 or more')
      .optional()
      .describe(
        "the new open-files limit (default: the process's lowest free descriptor, so its next open fails)",
      ),
  })
  .superRefine(checkSelection);

const num = (v: string) => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v));

/** The limits to set: `limit` but never above the old ones; the hard limit only when we can raise it back. */
export function loweredLimits(old: NofileLimits, limit: number, lowerHard: boolean): NofileLimits {
  const soft = String(Math.min(limit, num(old.soft)));
  return { soft, hard: lowerHard ? String(Math.min(limit, num(old.hard))) : old.hard };
}

/** The lowest descriptor number not in `open`: with that as the limit, the next open() fails. */
export function lowestFree(open: readonly number[]): number {
  const set = new Set(open);
  let n = 0;
  while (set.has(n)) n++;
  return n;
}

interface Limited {
  pid: number;
  start: string;
  comm: string;
  /** cmdlineDigest() at selection (absent in older records). */
  cmd?: string;
  old: NofileLimits;
  set: NofileLimits;
}

function limitedFrom(record: UndoRecord): Limited[] {
  const list = Array.isArray(record.processes) ? record.processes : [];
  return list.filter(
    (p): p is Limited & UndoRecord =>
      typeof p === 'object' &&
      p !== null &&
      !Array.isArray(p) &&
      typeof p.pid === 'number' &&
      typeof p.start === 'string',
  ) as unknown as Limited[];
}

/** The processes this fault lowered itself (select.ts ownProcesses: the `lowered` list). */
const ownLowered = (record: UndoRecord): Limited[] =>
  ownProcesses(String(record.tag ?? ''), limitedFrom(record), record.lowered);

async function readLimits(pid: number): Promise<NofileLimits | null> {
  const text = await readFile(`/proc/${pid}/limits`, 'utf8').catch(() => null);
  return text === null ? null : parseNofile(text);
}

async function prlimit(args: string[]): Promise<void> {
  try {
    await run('prlimit', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new FaultlineError(
        'FAULTLINE_ERR_UNSUPPORTED',
        'stress-fd-exhaust needs prlimit (util-linux), which is not installed: install util-linux, or use the proxy to refuse connections instead',
      );
    }
    throw new Error(`prlimit ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** A live guard worker: one fd_exhaust fault in place (of any run), and the processes it holds. */
interface Guard {
  pid: number;
  start: string;
  tag: string;
  holds: Set<string>;
}

/** The guard workers alive now, read from their command lines (`<config JSON> faultline-stress=<tag>`). */
async function liveGuards(): Promise<Guard[]> {
  const out: Guard[] = [];
  for (const p of await listProcs()) {
    if (!p.cmdline.includes(TAG_ARG) || !p.cmdline.includes('"guard"')) continue;
    const args = (await readFile(`/proc/${p.pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const tag = args.find((a) => a.startsWith(TAG_ARG))?.slice(TAG_ARG.length);
    let config: { mode?: unknown; restore?: unknown } | undefined;
    try {
      config = JSON.parse(args.find((a) => a.startsWith('{')) ?? 'null');
    } catch {
      continue;
    }
    if (!tag || config?.mode !== 'guard' || !Array.isArray(config.restore)) continue;
    const holds = new Set(
      (config.restore as { pid?: unknown; start?: unknown }[]).map((r) => `${r.pid}:${r.start}`),
    );
    out.push({ pid: p.pid, start: p.start, tag, holds });
  }
  return out;
}

const older = (a: Pick<Guard, 'start' | 'tag'>, b: Pick<Guard, 'start' | 'tag'>) =>
  Number(a.start) < Number(b.start) || (a.start === b.start && a.tag < b.tag);

/** The refusal of a second lowering: the first one's revert would lift it, and it would restore the wrong limit. */
function alreadyLowered(procs: readonly { pid: number; comm: string }[], guard: number): FaultlineError {
  const which = procs.map((p) => `pid ${p.pid} (${p.comm})`).join(', ');
  return new FaultlineError(
    'FAULTLINE_ERR_FAULT',
    `stress-fd-exhaust: ${which} already ${procs.length === 1 ? 'has its' : 'have their'} open-files limit ` +
      `lowered by another fd_exhaust fault (its guard worker is pid ${guard}): a second one would take that ` +
      "fault's limit for the one to restore, and the first revert would lift it; revert the other first, or " +
      'select another process',
  );
}

/** CAP_SYS_RESOURCE: raising a hard limit needs it (root in a container may lack it). */
export const CAP_SYS_RESOURCE = 24;

/** True when the `CapEff:` line of /proc/<pid>/status has capability `bit`. */
export function hasCapability(status: string, bit: number): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)/im.exec(status);
  return m?.[1] ? ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n : false;
}

async function canRaiseHardLimits(): Promise<boolean> {
  return hasCapability(await readFile('/proc/self/status', 'utf8').catch(() => ''), CAP_SYS_RESOURCE);
}

export const stressFdExhaustKind: FaultKind<typeof FdExhaustArgsSchema> = {
  kind: 'stress-fd-exhaust',
  args: FdExhaustArgsSchema,
  expose: {
    group: 'stress',
    name: 'fd_exhaust',
    doc: 'Exhausts the file descriptors of processes selected like the process faults (count default 1) by lowering their open-files limit with prlimit; the old limits are restored on revert.',
  },
  target: (args) => `${describeSelector(args)} nofile=${args.limit ?? 'lowest free'}`,
  resolveTargets: (args) => resolveSelection(args, args, 1),
  async plan(args, resolved) {
    const processes: Limited[] = [];
    const lowerHard = await canRaiseHardLimits();
    const selected = await selectionFor(resolved, args, args, 1);
    const guards = await liveGuards();
    const heldBy = (s: { pid: number; start: string }) => guards.find((g) => g.holds.has(procKey(s)));
    const free = selected.filter((s) => !heldBy(s));
    if (free.length === 0) throw alreadyLowered(selected, heldBy(selected[0]!)?.pid ?? 0);
    for (const s of free) {
      const old = await readLimits(s.pid);
      if (!old)
        throw new FaultlineError(
          'FAULTLINE_ERR_FAULT',
          `stress-fd-exhaust: cannot read the limits of pid ${s.pid}`,
        );
      let limit = args.limit;
      if (limit === undefined) {
        const fds = await readdir(`/proc/${s.pid}/fd`).catch(() => null);
        if (!fds) {
          throw new FaultlineError(
            'FAULTLINE_ERR_UNSUPPORTED',
            `stress-fd-exhaust: cannot list the descriptors of pid ${s.pid} (another user's process): run as root or as its user, or give limit`,
          );
        }
        limit = lowestFree(fds.map(Number));
      }
      processes.push({
        pid: s.pid,
        start: s.start,
        comm: s.comm,
        ...(s.cmd === undefined ? {} : { cmd: s.cmd }),
        old,
        set: loweredLimits(old, limit, lowerHard),
      });
    }
    return { tag: newTag(), processes: processes as unknown as UndoRecord[] };
  },
  async inject(_args, record, signal, ctx?: StressContext) {
    const limited = limitedFrom(record);
    const tag = String(record.tag);
    // What this fault lowers, as it does: a revert after a throw restores only those.
    const here = new Set<string>();
    actedHere.set(tag, here);
    // The guard first: once any limit is lowered, a dying runner still gets it restored.
    const guard = await startWorker(
      'stress-fd-exhaust',
      {
        mode: 'guard',
        restore: limited.map((p) => ({
          pid: p.pid,
          start: p.start,
          ...(p.cmd === undefined ? {} : { cmd: p.cmd }),
          argv: prlimitArgs(p.pid, p.old),
        })),
        deadline: deadlineFor(ctx?.ttlMs),
        parent: process.pid,
      },
      tag,
      { signal },
    );
    const refined = { ...record, pid: guard.pid, start: guard.start };
    // Injected at the same moment as another lowering of one of ours? The younger guard gives way.
    const rival = (await liveGuards()).find(
      (g) =>
        g.tag !== tag &&
        older(g, { start: guard.start ?? '', tag }) &&
        limited.some((p) => g.holds.has(procKey(p))),
    );
    if (rival) {
      await stopWorker(refined); // SIGKILL: it restores nothing
      throw alreadyLowered(
        limited.filter((p) => rival.holds.has(procKey(p))),
        rival.pid,
      );
    }
    const lowered: number[] = [];
    for (const p of limited) {
      if (!(await stillSelected(p))) continue;
      await prlimit(prlimitArgs(p.pid, p.set));
      here.add(procKey(p));
      lowered.push(p.pid);
    }
    if (lowered.length === 0) {
      await stopWorker(refined);
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        'stress-fd-exhaust: every selected process exited first',
      );
    }
    return { ...refined, lowered };
  },
  async revert(record) {
    const failed: string[] = [];
    for (const p of ownLowered(record)) {
      if (!(await stillSelected(p))) continue;
      await prlimit(prlimitArgs(p.pid, p.old)).catch((err: Error) => failed.push(err.message));
    }
    // The guard stays while a restore failed: it tries again at the deadline or when the runner dies.
    if (failed.length > 0) throw new Error(failed.join('; '));
    await stopWorker(record);
  },
  async verify(record) {
    for (const p of ownLowered(record)) {
      if (!(await stillSelected(p))) continue;
      const now = await readLimits(p.pid);
      if (now && (now.soft !== p.old.soft || now.hard !== p.old.hard)) return false;
    }
    return workerGone(record);
  },
};
