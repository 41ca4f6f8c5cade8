/** Spawns the built CLI (bin/faultline.js -> dist/) as a real child process. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempHome } from './home.js';

export const BIN = fileURLToPath(new URL('../../bin/faultline.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr (or stdout) has matched the pattern; rejects after the timeout. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<CliResult>;
}

/**
 * How long a CLI child may run before it counts as hung (a guard against a test waiting forever, not a
 * timing assertion): well past anything a test asks of one command, well short of a test file's
 * timeout, so a hang fails the one test with the command, its output and where it was waiting.
 */
export const CLI_HANG_MS = 240_000;

/** What a hung child was waiting on, from the diagnostic report Node writes on SIGUSR2. */
async function hangReport(child: ChildProcess, dir: string): Promise<string> {
  child.kill('SIGUSR2');
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const files = await readdir(dir).catch(() => [] as string[]);
    const file = files.find((f) => f.endsWith('.json'));
    if (!file) continue;
    try {
      const report = JSON.parse(await readFile(join(dir, file), 'utf8'));
      const handles = (report.libuv ?? [])
        .filter((h: { is_active?: boolean }) => h.is_active)
        .map((h: Record<string, unknown>) =>
          [h.type, h.remoteEndpoint ? JSON.stringify(h.remoteEndpoint) : '', h.timeout ?? '']
            .filter(Boolean)
            .join(' '),
        );
      return `active handles: ${handles.join('; ') || 'none'}; JS stack: ${(report.javascriptStack?.stack ?? []).join(' | ') || 'idle'}`;
    } catch {
      // Still being written.
    }
  }
  return 'no diagnostic report';
}

export function startCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; hangMs?: number } = {},
): Cli {
  const reports = mkdtempSync(join(tmpdir(), 'faultline-cli-report-'));
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: {
      ...process.env,
      NO_COLOR: '1',
      NODE_OPTIONS:
        `${process.env.NODE_OPTIONS ?? ''} --report-on-signal --report-signal=SIGUSR2 --report-directory=${reports}`.trim(),
      ...opts.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve(): void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(err) || w.re.test(out)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    check();
  });
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  else child.stdin!.end();
  const done = new Promise<CliResult>((resolve, reject) => {
    // Only for a command expected to end (runCli, or a caller that says so): agents and servers a
    // suite keeps running may outlive any bound.
    const hang =
      opts.hangMs === undefined
        ? undefined
        : setTimeout(async () => {
            const where = await hangReport(child, reports);
            child.kill('SIGKILL');
            reject(
              new Error(
                `faultline ${args.join(' ')} did not exit within ${opts.hangMs} ms (${where}); stderr:\n${err}\nstdout:\n${out}`,
              ),
            );
          }, opts.hangMs);
    child.on('close', (code, signal) => {
      clearTimeout(hang);
      rmSync(reports, { recursive: true, force: true });
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    done,
    waitFor(re, timeoutMs = 15_000) {
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`timed out waiting for ${re}; stderr:\n${err}\nstdout:\n${out}`)),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
        check();
      });
    },
  };
}

export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; hangMs?: number } = {},
): Promise<CliResult> {
  return startCli(args, { hangMs: CLI_HANG_MS, ...opts }).done;
}

/**
 * The setup every CLI e2e suite shares: before it, a temp FAULTLINE_HOME (given
 * to the CLI through `env`) and a scratch dir `work` named from `prefix`; after
 * it, asserts that no fault was left behind and removes both.
 */
export function cliSuite(prefix: string): { readonly work: string; readonly env: NodeJS.ProcessEnv } {
  let home: Awaited<ReturnType<typeof tempHome>> | undefined;
  let work: string | undefined;
  let env: NodeJS.ProcessEnv | undefined;
  before(async () => {
    home = await tempHome();
    work = await mkdtemp(join(tmpdir(), prefix));
    env = { FAULTLINE_HOME: home.home };
  });
  after(async () => {
    assert.deepEqual(await home!.activeFaults(), [], 'no fault left behind');
    await home!.cleanup();
    await rm(work!, { recursive: true, force: true });
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('cliSuite: the suite has not started');
    return value;
  };
  return {
    get work() {
      return ready(work);
    },
    get env() {
      return ready(env);
    },
  };
}

/** The parsed JSON journal at `path`. */
export const journalOf = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
