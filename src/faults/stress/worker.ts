/**
 * The stress worker: a separate Node process that Faultline spawns (detached,
 * in its own process group) for `stress.*` faults, so the load never runs in
 * the runner and a revert is one SIGKILL to the group.
 *
 *   node worker.js '<config as JSON>' faultline-stress=<tag>
 *
 * It imports nothing of Faultline's (it runs from dist/ as plain JS, or from
 * src/ under tsx) and bounds itself: it exits at its deadline and when its
 * parent (the runner) dies, cleaning up what it made (the fill file, the
 * lowered limits), so a runner killed with SIGKILL leaves no stress behind.
 * The trailing `faultline-stress=<tag>` argument lets a revert without the
 * worker's pid find it in /proc.
 *
 * Protocol: prints `ready <json>` once the stress is in place, or
 * `error <message>` and exits 1.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

export interface RestoreLimit {
  pid: number;
  start: string;
  /** The process's command-line digest at selection (select.ts cmdlineDigest); absent in older records. */
  cmd?: string;
  argv: string[];
}

export type WorkerConfig = {
  /** Epoch ms at which the worker exits by itself. */
  deadline: number;
  /** The runner's pid: the worker exits when its parent is no longer this one. */
  parent: number;
} & (
  | { mode: 'cpu'; workers: number; load: number }
  | { mode: 'memory'; mb: number; rateMbPerS: number | null }
  | { mode: 'disk'; file: string; bytes: number }
  /** Holds nothing: restores the lowered limits if the runner cannot. */
  | { mode: 'guard'; restore: RestoreLimit[] }
);

const MB = 1024 * 1024;
const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const cleanups: (() => void)[] = [];

// After `ready` the runner closes its end of the pipe: a late write must not crash the worker.
process.stdout.on('error', () => undefined);

function say(line: string): void {
  try {
    process.stdout.write(`${line}\n`);
  } catch {
    // The runner stopped listening after `ready`: nothing to tell it.
  }
}

function finish(code: number): never {
  for (const c of cleanups.splice(0)) {
    try {
      c();
    } catch {
      // Best effort: the runner's revert covers what is left.
    }
  }
  process.exit(code);
}

function fail(message: string): never {
  say(`error ${message}`);
  finish(1);
}

/** Past its deadline, or its parent (the runner) died: the worker must go (process.ppid is read live). */
const orphaned = () => Date.now() >= config.deadline || process.ppid !== config.parent;
// Bounded in time even if nobody ever reverts: the deadline, and the parent's death. A long
// synchronous fill never lets this timer run: the fill loops check orphaned() between chunks.
const watch = setInterval(() => {
  if (orphaned()) finish(0);
}, 200);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => finish(0));

// If memory runs out, the kernel should kill this worker, not the service under test.
try {
  writeFileSync('/proc/self/oom_score_adj', '1000');
} catch {
  // Not Linux, or not allowed: the worker is still bounded by its own limits.
}

const CPU_THREAD = `
const { workerData } = require('node:worker_threads');
const busy = workerData.load;
const nap = new Int32Array(new SharedArrayBuffer(4));
for (;;) {
  const t0 = Date.now();
  while (Date.now() - t0 < busy) {}
  if (busy < 100) Atomics.wait(nap, 0, 0, 100 - busy);
}`;

function startCpu(workers: number, load: number): void {
  const online = Array.from(
    { length: workers },
    () =>
      new Promise<void>((resolve, reject) => {
        const w = new Worker(CPU_THREAD, { eval: true, workerData: { load } });
        w.once('online', resolve);
        w.once('error', reject);
      }),
  );
  // Ready once every thread runs: the load is really on when inject() returns.
  Promise.all(online).then(
    () => say(`ready ${JSON.stringify({ workers, load })}`),
    (err: Error) => fail(`cannot start a CPU thread: ${err.message}`),
  );
}

function startMemory(mb: number, rate: number | null): void {
  const held: Buffer[] = [];
  let have = 0;
  // Filling every byte makes each page resident: an untouched allocation costs no RSS.
  const grow = (target: number) => {
    while (have < target) {
      // One MiB takes well under a millisecond: a runner killed mid-fill is noticed at once.
      if (orphaned()) finish(0);
      held.push(Buffer.allocUnsafeSlow(MB).fill(0xa5));
      have++;
    }
  };
  if (rate === null) {
    grow(mb);
    say(`ready ${JSON.stringify({ mb: have })}`);
    return;
  }
  const t0 = Date.now();
  const timer = setInterval(() => {
    grow(Math.min(mb, Math.floor(((Date.now() - t0) / 1000) * rate)));
    if (have >= mb) clearInterval(timer);
  }, 100);
  say(`ready ${JSON.stringify({ mb: 0, rate })}`);
}

function startDisk(file: string, bytes: number): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600); // never overwrites a file that is not ours
  } catch (err) {
    fail(`cannot create ${file}: ${(err as Error).message}`);
  }
  cleanups.push(() => unlinkSync(file));
  // Random bytes: a compressing or deduplicating filesystem really stores them.
  const chunk = randomBytes(4 * MB);
  let written = 0;
  let full = false;
  try {
    while (written < bytes) {
      if (orphaned()) finish(0); // the cleanup removes the file
      const n = Math.min(chunk.length, bytes - written);
      written += writeSync(fd, chunk, 0, n);
    }
    fsyncSync(fd);
  } catch (err) {
    // A full disk is the fault we were asked for: keep what was written.
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') fail(`writing ${file}: ${(err as Error).message}`);
    full = true;
  }
  closeSync(fd);
  say(`ready ${JSON.stringify({ written, full })}`);
}

function startGuard(restore: RestoreLimit[]): void {
  cleanups.push(() => {
    for (const r of restore) {
      try {
        // Only the same process: its pid may have been reused since (start time, then command line).
        const stat = readFileSync(`/proc/${r.pid}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] !== r.start) continue;
        if (r.cmd !== undefined) {
          // select.ts cmdlineDigest, repeated: the worker imports nothing of Faultline's.
          const cmdline = readFileSync(`/proc/${r.pid}/cmdline`, 'utf8')
            .replace(/\0+$/, '')
            .split('\0')
            .join(' ');
          if (createHash('sha256').update(cmdline).digest('hex').slice(0, 16) !== r.cmd) continue;
        }
        execFileSync('prlimit', r.argv, { stdio: 'ignore' });
      } catch {
        // Gone, or prlimit failed: the next one still gets its limits back.
      }
    }
  });
  say('ready {}');
}

switch (config.mode) {
  case 'cpu':
    startCpu(config.workers, config.load);
    break;
  case 'memory':
    startMemory(config.mb, config.rateMbPerS);
    break;
  case 'disk':
    startDisk(config.file, config.bytes);
    break;
  case 'guard':
    startGuard(config.restore);
    break;
  default:
    clearInterval(watch);
    fail(`unknown mode ${(config as { mode: string }).mode}`);
}
