/**
 * Starting and stopping stress workers (worker.ts): the argument arrays are
 * built by pure functions; the worker runs detached in its own process group
 * so a revert is one SIGKILL to the group, and every worker carries a
 * `faultline-stress=<tag>` argument so a revert that lacks its pid (the runner
 * died between spawning and recording it) still finds it in /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultlineError } from '../../core/errors.js';
import type { UndoRecord } from '../../core/fault.js';
import { entryBeside, type WorkerEntry } from '../child-entry.js';
import { processStartTime } from '../ledger.js';

export type { WorkerEntry };

import { listProcs } from '../process/select.js';
import type { WorkerConfig } from './worker.js';

/**
 * What the session tells inject() about the fault's lifetime. The worker's own
 * deadline comes from it; the contract's inject() does not pass it yet, so
 * without it the worker is bounded by its parent's life only (see FALLBACK_TTL_MS).
 */
export interface StressContext {
  ttlMs?: number;
}

/**
 * The worker's deadline when the TTL is unknown: the session's TTL timer and
 * the parent-death check bound the worker; this only caps a hung runner.
 */
export const FALLBACK_TTL_MS = 2_147_483_647;
/** The worker outlives the TTL by this much, so the session's revert (and its verify) is the normal path. */
export const DEADLINE_GRACE_MS = 2_000;

export const TAG_ARG = 'faultline-stress=';

export function newTag(): string {
  return randomBytes(6).toString('hex');
}

export function deadlineFor(ttlMs: number | undefined, now = Date.now()): number {
  return now + Math.min(ttlMs ?? FALLBACK_TTL_MS, FALLBACK_TTL_MS) + DEADLINE_GRACE_MS;
}

/** `node [--import <loader>] <script> <config JSON> faultline-stress=<tag>`, minus `node`. */
export function workerArgv(entry: WorkerEntry, config: WorkerConfig, tag: string): string[] {
  return [
    ...(entry.loader ? ['--import', entry.loader] : []),
    entry.script,
    JSON.stringify(config),
    `${TAG_ARG}${tag}`,
  ];
}

/** The stress worker's entry (worker.js or worker.ts beside this module). */
export function workerEntry(): WorkerEntry {
  return entryBeside(import.meta.url, 'worker');
}

export interface Started {
  pid: number;
  start: string | null;
  /** What the worker reported with `ready`. */
  info: Record<string, unknown>;
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * Spawns a worker and resolves once it printed `ready`. Throws FAULTLINE_ERR_FAULT
 * (after killing it) when it reports an error, exits, times out or `signal` aborts.
 */
export async function startWorker(
  kind: string,
  config: WorkerConfig,
  tag: string,
  { signal, readyTimeoutMs = 30_000 }: { signal?: AbortSignal | undefined; readyTimeoutMs?: number } = {},
): Promise<Started> {
  const child: ChildProcess = spawn(process.execPath, workerArgv(workerEntry(), config, tag), {
    detached: true, // own process group: one kill reaches everything it runs
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((res) => child.once('error', res));
    throw new FaultlineError(
      'FAULTLINE_ERR_FAULT',
      `${kind}: cannot start the stress worker: ${err.message}`,
    );
  }
  const start = await processStartTime(pid);
  let stderr = '';
  child.stderr?.on('data', (d) => {
    if (stderr.length < 4000) stderr += d;
  });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`not ready after ${readyTimeoutMs} ms`)),
        readyTimeoutMs,
      );
      const onAbort = () => reject(new Error('aborted: the run is being interrupted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      child.stdout?.on('data', (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          done();
          resolve(out.slice(0, nl));
        }
      });
      child.once('exit', (code, sig) => {
        done();
        reject(
          new Error(
            `exited (${sig ?? `code ${code}`}) before it was ready${stderr ? `: ${stderr.trim()}` : ''}`,
          ),
        );
      });
    });
    if (line.startsWith('error ')) throw new Error(line.slice('error '.length));
    if (!line.startsWith('ready')) throw new Error(`unexpected output: ${line}`);
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.removeAllListeners('exit');
    // Node reaps it when it exits; the runner need not stay alive for it.
    child.unref();
    const rest = line.slice('ready'.length).trim();
    return { pid, start, info: rest ? (JSON.parse(rest) as Record<string, unknown>) : {} };
  } catch (err) {
    killGroup(pid);
    child.stdout?.destroy();
    child.stderr?.destroy();
    throw new FaultlineError(
      'FAULTLINE_ERR_FAULT',
      `${kind}: the stress worker failed: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Live processes that are this record's worker: those with its tag argument in
 * their command line. The recorded pid and start time alone prove nothing (a
 * reused pid, a planted record): a record without a tag names no worker.
 */
export async function workerPids(record: UndoRecord): Promise<number[]> {
  if (typeof record.tag !== 'string' || record.tag === '') return [];
  const token = `${TAG_ARG}${record.tag}`;
  const found: number[] = [];
  for (const p of await listProcs()) {
    if (p.state !== 'Z' && p.state !== 'X' && p.cmdline.split(' ').includes(token)) found.push(p.pid);
  }
  return found;
}

/** SIGKILLs the record's worker (its whole process group) and waits until it is gone. */
export async function stopWorker(record: UndoRecord, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await workerPids(record);
    if (pids.length === 0) return;
    for (const pid of pids) killGroup(pid);
    if (Date.now() >= deadline) return; // verify() reports it
    await sleep(20);
  }
}

export async function workerGone(record: UndoRecord): Promise<boolean> {
  return (await workerPids(record)).length === 0;
}
