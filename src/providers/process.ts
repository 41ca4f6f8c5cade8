/**
 * The `process` provider, with the behaviour of Chaos Toolkit's:
 *  - `path` is looked up on $PATH after `~` expansion (a path with a `/` is
 *    used as given, relative to the current directory);
 *  - list `arguments` are exec'd directly, each item as Python's `str()`, with
 *    null and "" dropped; a string runs as `/bin/sh -c "<path> <arguments>"`;
 *    a dict (deprecated) is flattened to key, value, ...;
 *  - the output is `{status, stdout, stderr}`; a non-zero exit does not fail;
 *  - `timeout` (seconds) kills the whole process group and fails the activity.
 * Unlike Chaos Toolkit, each of stdout and stderr keeps at most
 * FAULTLINE_MAX_OUTPUT_BYTES (1 MiB by default): the rest is still read (the
 * process is never blocked on a full pipe) but dropped, and a marker says so.
 * The child runs in its own process group so that a timeout or an abort also
 * ends what a shell started; its stdin is /dev/null.
 * Commands are started by the spawn helper (spawn-helper.ts: a small
 * long-lived Perl process that forks each one, 0.3 ms against 8-15 ms for a
 * fork of Node) when /usr/bin/perl is there and FAULTLINE_SPAWN_HELPER is not
 * 0; otherwise by child_process.spawn. The child is the same either way.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { homedir, constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { ActivityFailed, type Issue } from '../core/errors.js';
import { isDict, pyStr } from '../core/python.js';
import type { ProcessProvider } from '../core/schema.js';
import { type LongTimeout, secondsToMs, setLongTimeout } from '../core/timers.js';
import type { ProviderRunner } from '../engine/context.js';
import { type SpawnHelper, spawnHelper } from './spawn-helper.js';
import { abortedError, BoundedOutput, maxOutputBytes } from './util.js';

export interface ProcessOutput {
  status: number;
  stdout: string;
  stderr: string;
}

export interface LookupOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
}

/** Python's `os.path.expanduser` for the current user (`~` and `~/...`). */
export function expandUser(path: string, home = process.env.HOME || homedir()): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return path;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

type Lookup = { found: string } | { error: 'not-found' | 'not-executable' };

function lookup(path: string, opts: LookupOptions = {}): Lookup {
  const expanded = expandUser(path, opts.home);
  if (expanded.includes('/')) {
    if (!isFile(expanded)) return { error: 'not-found' };
    return isExecutable(expanded) ? { found: expanded } : { error: 'not-executable' };
  }
  let sawFile = false;
  for (const dir of ((opts.env ?? process.env).PATH ?? '').split(delimiter)) {
    const candidate = dir ? join(dir, expanded) : expanded;
    if (!isFile(candidate)) continue;
    if (isExecutable(candidate)) return { found: candidate };
    sawFile = true;
  }
  return { error: sawFile ? 'not-executable' : 'not-found' };
}

/** Python's `shutil.which(os.path.expanduser(path))`: the executable to run, or undefined. */
export function resolveExecutable(path: string, opts: LookupOptions = {}): string | undefined {
  const r = lookup(path, opts);
  return 'found' in r ? r.found : undefined;
}

/**
 * The command line for a resolved executable and the provider's `arguments`.
 * Pure, so the exact argv is unit-tested:
 *   ['a b', null, '', 3, true]  -> file, ['a b', '3', 'True']
 *   '-la $HOME'                 -> /bin/sh, ['-c', '<file> -la $HOME']
 *   {'-n': 3}                   -> file, ['-n', '3']
 */
export function buildCommand(file: string, args: unknown): { file: string; argv: string[]; shell: boolean } {
  if (typeof args === 'string') return { file: '/bin/sh', argv: ['-c', `${file} ${args}`], shell: true };
  const items = args === null || args === undefined ? [] : isDict(args) ? Object.entries(args).flat() : args;
  if (!Array.isArray(items))
    throw new ActivityFailed(`process arguments must be a list or a string, got ${typeof args}`);
  return {
    file,
    argv: items.filter((a) => a !== null && a !== undefined && a !== '').map((a) => pyStr(a)),
    shell: false,
  };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** What a started command reports; after error, lost or close nothing more is called. */
interface LaunchHandlers {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  /** It could not start (spawn's 'error'). */
  error(err: Error): void;
  /** The spawn helper died while it ran. */
  lost(err: ActivityFailed): void;
  /** It exited and both pipes reached EOF: the exit code, or -<signal number> as Python reports it. */
  close(status: number): void;
}

/** A started command: kill() ends its process group and stops reading its output. */
type Launch = (handlers: LaunchHandlers) => { kill(): void };

/** Python reports a process killed by a signal as -<signal number>. */
function exitStatus(code: number | null, signal: number | null): number {
  return code ?? -(signal ?? 0);
}

/** child_process.spawn: a fork of the whole Node process. */
function spawnLaunch(cmd: string, argv: string[]): Launch {
  return (h) => {
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', h.stdout);
    child.stderr.on('data', h.stderr);
    child.on('error', h.error);
    child.on('close', (code, sig) => h.close(exitStatus(code, sig ? (osConstants.signals[sig] ?? 0) : null)));
    return {
      kill() {
        killGroup(child.pid);
        child.stdout.destroy();
        child.stderr.destroy();
      },
    };
  };
}

/**
 * The spawn helper (spawn-helper.ts): the same child, forked by a small
 * long-lived process. Undefined when the helper cannot take this command
 * (process.cwd() fails, a NUL byte): spawn then runs it as before.
 */
function helperLaunch(helper: SpawnHelper, cmd: string, argv: string[]): Launch | undefined {
  let cwd: string;
  try {
    cwd = process.cwd();
  } catch {
    return undefined;
  }
  return (h) => {
    let pid: number | undefined;
    let killed = false;
    const job = helper.spawn(
      { file: cmd, argv, env: process.env, cwd },
      {
        started(p) {
          pid = p;
          // Killed before the helper said which pid: kill it now.
          if (killed) {
            killGroup(p);
            job?.forget();
          }
        },
        error: h.error,
        stdout: h.stdout,
        stderr: h.stderr,
        exit: (code, signal) => h.close(exitStatus(code, signal)),
        lost(e) {
          // Nobody reads its output any more: end it as a timeout would.
          killGroup(pid);
          h.lost(e);
        },
      },
    );
    if (!job) return spawnLaunch(cmd, argv)(h);
    return {
      kill() {
        killed = true;
        if (pid === undefined) return;
        killGroup(pid);
        job.forget();
      },
    };
  };
}

export const processProvider: ProviderRunner<ProcessProvider> = {
  type: 'process',
  // A dynamic configuration value read from a process is its stdout, stripped, and only on exit 0.
  dynamicValue(output) {
    const out = output as Partial<ProcessOutput> | null;
    if (out?.status !== 0) throw new Error(`process exited with ${String(out?.status)}`);
    return String(out.stdout ?? '').trim();
  },

  async run(provider, ctx) {
    const { signal } = ctx;
    if (signal.aborted) throw abortedError(signal, 'process activity');
    const file = resolveExecutable(provider.path);
    if (!file) throw new ActivityFailed(`path '${provider.path}' cannot be found`);
    const { file: cmd, argv } = buildCommand(file, provider.arguments);
    const limit = maxOutputBytes();
    const helper = await spawnHelper();
    if (signal.aborted) throw abortedError(signal, 'process activity');
    const launch = (helper && helperLaunch(helper, cmd, argv)) ?? spawnLaunch(cmd, argv);

    return new Promise<ProcessOutput>((resolve, reject) => {
      const out = new BoundedOutput(limit);
      const err = new BoundedOutput(limit);
      let settled = false;
      let timer: LongTimeout | undefined;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        timer?.clear();
        signal.removeEventListener('abort', onAbort);
        fn();
      };
      const child = launch({
        stdout: (b) => out.push(b),
        stderr: (b) => err.push(b),
        error: (e) =>
          finish(() =>
            reject(new ActivityFailed(`cannot run '${provider.path}': ${e.message}`, { cause: e })),
          ),
        lost: (e) => finish(() => reject(e)),
        close: (status) => {
          for (const [name, stream] of [
            ['stdout', out],
            ['stderr', err],
          ] as const) {
            if (stream.dropped > 0) {
              ctx.log(
                'warn',
                `process '${provider.path}': ${name} truncated to ${limit} bytes (${stream.dropped} bytes dropped)`,
              );
            }
          }
          finish(() =>
            resolve({
              status,
              stdout: out.text(),
              stderr: err.text(),
            }),
          );
        },
      });

      // On timeout or abort, do not wait for the pipes: a process that left
      // the group could hold them open forever.
      const stop = (error: Error) => {
        child.kill();
        finish(() => reject(error));
      };
      const onAbort = () => stop(abortedError(signal, 'process activity'));
      signal.addEventListener('abort', onAbort, { once: true });
      if (typeof provider.timeout === 'number') {
        timer = setLongTimeout(
          () => stop(new ActivityFailed('process activity took too long to complete')),
          secondsToMs(provider.timeout),
        );
      }
    });
  },

  check(provider) {
    const issues: Issue[] = [];
    const r = lookup(provider.path);
    if ('error' in r) {
      issues.push({
        path: 'path',
        message:
          r.error === 'not-found'
            ? `path '${provider.path}' cannot be found`
            : `no access permission to '${provider.path}': it is not executable`,
      });
    }
    return issues;
  },
};
