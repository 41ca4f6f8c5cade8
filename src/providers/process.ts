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
 * ends what a shell started; its stdin is /dev/null. It is started by
 * spawn-native.ts: posix_spawn where the addon was built (Node 20's own spawn
 * forks the whole process, twice the cost of a short command), else child_process.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { homedir, constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { ActivityFailed, type Issue } from '../core/errors.js';
import { isDict, pyStr } from '../core/python.js';
import type { ProcessProvider } from '../core/schema.js';
import { type LongTimeout, secondsToMs, setLongTimeout } from '../core/timers.js';
import type { ProviderRunner } from '../engine/context.js';
import { spawnCaptured } from './spawn-native.js';
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

    return new Promise<ProcessOutput>((resolve, reject) => {
      const child = spawnCaptured(cmd, argv);
      const out = new BoundedOutput(limit);
      const err = new BoundedOutput(limit);
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));

      let settled = false;
      let timer: LongTimeout | undefined;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        timer?.clear();
        signal.removeEventListener('abort', onAbort);
        fn();
      };
      // On timeout or abort, do not wait for the pipes: a process that left
      // the group could hold them open forever.
      const stop = (error: Error) => {
        killGroup(child.pid);
        child.stdout.destroy();
        child.stderr.destroy();
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

      child.on('error', (e) =>
        finish(() => reject(new ActivityFailed(`cannot run '${provider.path}': ${e.message}`, { cause: e }))),
      );
      child.on('close', (code, sig) => {
        // Python reports a process killed by a signal as -<signal number>.
        const status = code ?? -(sig ? (osConstants.signals[sig] ?? 0) : 0);
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
      });
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
