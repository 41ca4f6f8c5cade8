/**
 * Starting a child with its output captured, as the `process` provider needs it: stdin /dev/null,
 * stdout and stderr piped, in its own session (a process group to kill). On Linux this goes through
 * the small native addon built from native/spawn.c (posix_spawn: no fork of the whole Node process,
 * docs/benchmarks.md); anywhere it was not built, or with FAULTLINE_NATIVE_SPAWN=0, through
 * child_process.spawn. Both return the same few members of a ChildProcess and emit the same events:
 * `error` (could not start; message `spawn <file> <ERRNO>`) or `close` (code, signal) once the child
 * has exited and both pipes are closed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { PassThrough, type Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

export interface CapturedChild {
  readonly pid: number | undefined;
  readonly stdout: Readable;
  readonly stderr: Readable;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
}

interface Addon {
  spawn(
    file: string,
    argv: string[],
    onExit: (code: number, signal: number) => void,
  ): [number, number, number];
}

/** Built by scripts/build-native.mjs; the path holds from dist/providers/ and from src/providers/ (tests). */
export const NATIVE_ADDON = fileURLToPath(new URL('../../dist/native/spawn.node', import.meta.url));

let addon: Addon | null | undefined;

/** The addon, or null when it is not there (not built, not Linux) or turned off. */
function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.platform === 'linux' && process.env.FAULTLINE_NATIVE_SPAWN !== '0') {
    try {
      addon = createRequire(import.meta.url)(NATIVE_ADDON) as Addon;
    } catch {
      // Not built here (no compiler at build time): child_process.spawn does the same, more slowly.
    }
  }
  return addon;
}

/** Which way processes start here (the benchmarks print it). */
export function spawnMechanism(): 'posix_spawn' | 'child_process' {
  return loadAddon() ? 'posix_spawn' : 'child_process';
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

function ended(): Readable {
  const s = new PassThrough();
  s.end();
  return s;
}

class NativeChild extends EventEmitter implements CapturedChild {
  pid: number | undefined;
  stdout: Readable;
  stderr: Readable;

  constructor(native: Addon, file: string, argv: string[]) {
    super();
    let started: [number, number, number];
    let open = 3;
    let exit: [number | null, NodeJS.Signals | null] = [null, null];
    const closed = () => {
      if (--open === 0) this.emit('close', ...exit);
    };
    try {
      started = native.spawn(file, [file, ...argv], (code, signal) => {
        exit = signal ? [null, SIGNAL_NAMES.get(signal) ?? null] : [code, null];
        closed();
      });
    } catch (thrown) {
      // As child_process reports it: asynchronously, an `error` event named by the errno, empty streams.
      this.stdout = ended();
      this.stderr = ended();
      const errno = (thrown as { errno?: unknown }).errno;
      const code = typeof errno === 'number' ? getSystemErrorName(-errno) : undefined;
      const error = code
        ? Object.assign(new Error(`spawn ${file} ${code}`), {
            code,
            errno: -(errno as number),
            syscall: `spawn ${file}`,
            path: file,
            spawnargs: argv,
          })
        : thrown;
      process.nextTick(() => this.emit('error', error));
      return;
    }
    const [pid, out, err] = started;
    this.pid = pid;
    this.stdout = new Socket({ fd: out, readable: true, writable: false });
    this.stderr = new Socket({ fd: err, readable: true, writable: false });
    this.stdout.once('close', closed);
    this.stderr.once('close', closed);
  }
}

/** Starts `file` with `argv`, stdin /dev/null, output piped, in a new session. */
export function spawnCaptured(file: string, argv: string[]): CapturedChild {
  const native = loadAddon();
  if (native) return new NativeChild(native, file, argv);
  return spawn(file, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess &
    CapturedChild;
}
