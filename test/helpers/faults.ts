/** Helpers for fault tests: fixture processes that talk in lines, and "nothing left behind" checks. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempHome } from './home.js';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const faultFixture = (name: string) => join(repoRoot, 'test', 'fixtures', 'faults', name);

export interface Fixture {
  child: ChildProcess;
  /** Resolves with the first line (seen or future) starting with `prefix`, minus the prefix. */
  waitFor(prefix: string, timeoutMs?: number): Promise<string>;
  send(line: string): void;
  /** Resolves when the process has exited (and been reaped: no zombie left). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Runs a TypeScript fixture with `node --import tsx`, with FAULTLINE_HOME set. */
export function spawnFixture(file: string, args: string[], home: string): Fixture {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: repoRoot,
    env: { ...process.env, FAULTLINE_HOME: home },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: (rest: string) => void }[] = [];
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (line.startsWith(w.prefix)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line.slice(w.prefix.length).trim());
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal })),
  );
  return {
    child,
    exited,
    stderr: () => err,
    send: (line) => child.stdin!.write(`${line}\n`),
    waitFor(prefix, timeoutMs = 20_000) {
      const seen = lines.find((l) => l.startsWith(prefix));
      if (seen !== undefined) return Promise.resolve(seen.slice(prefix.length).trim());
      return new Promise((res, rej) => {
        const timer = setTimeout(
          () =>
            rej(new Error(`fixture ${file} printed no '${prefix}' line in ${timeoutMs} ms; stderr: ${err}`)),
          timeoutMs,
        );
        const onExit = () =>
          rej(new Error(`fixture ${file} exited before printing '${prefix}'; stderr: ${err}`));
        child.once('exit', onExit);
        waiters.push({
          prefix,
          resolve: (rest) => {
            clearTimeout(timer);
            child.off('exit', onExit);
            res(rest);
          },
        });
      });
    },
  };
}

/** Every file in the ledger directory that holds an entry (plain or claimed). */
export async function ledgerFiles(home: string): Promise<string[]> {
  try {
    return (await readdir(join(home, 'ledger'))).filter((f) => !f.startsWith('.'));
  } catch {
    return [];
  }
}

/** The test's closing check: no ledger entry, no run file, and none of `paths` exists. */
export async function assertNothingLeftBehind(home: string, paths: string[] = []): Promise<void> {
  assert.deepEqual(await ledgerFiles(home), [], 'ledger entries left behind');
  const runs = await readdir(join(home, 'runs')).catch(() => [] as string[]);
  assert.deepEqual(
    runs.filter((f) => !f.startsWith('.')),
    [],
    'run files left behind',
  );
  for (const p of paths) assert.equal(existsSync(p), false, `fault left behind: ${p}`);
}

/**
 * Gives each test a temp FAULTLINE_HOME (`home`) and a `spawn` that starts a
 * fixture in it; after the test every fixture it started is killed (SIGKILL)
 * and reaped, then the home is removed, so no process outlives its test.
 */
export function fixturesPerTest(): { readonly home: string; spawn(file: string, args: string[]): Fixture } {
  let home: string | undefined;
  let cleanup: () => Promise<void> = async () => undefined;
  let fixtures: Fixture[] = [];
  beforeEach(async () => {
    ({ home, cleanup } = await tempHome());
    fixtures = [];
  });
  afterEach(async () => {
    for (const f of fixtures) f.child.kill('SIGKILL');
    await Promise.all(fixtures.map((f) => f.exited));
    await cleanup();
  });
  const current = () => {
    if (home === undefined) throw new Error('fixturesPerTest: no test is running');
    return home;
  };
  return {
    get home() {
      return current();
    },
    spawn(file, args) {
      const f = spawnFixture(file, args, current());
      fixtures.push(f);
      return f;
    },
  };
}
