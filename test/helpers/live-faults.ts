/**
 * Helpers for the fault suites that run against a live server (PostgreSQL,
 * Redis): a fresh FAULTLINE_HOME and FaultSession per test, polling, and a
 * runner in another process that owns faults. Kept apart from faults.ts because
 * it loads src/faults/index.js (the catalog of built-in kinds, loaded by group
 * as faults are named).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach } from 'node:test';
import type { FaultlineError } from '../../src/core/errors.js';
import { FaultSession, Ledger, recoverOrphans, releaseHalt } from '../../src/faults/index.js';
import { assertNothingLeftBehind, type Fixture, repoRoot, spawnFixture } from './faults.js';
import { tempHome } from './home.js';

/**
 * Gives each test a temp FAULTLINE_HOME (`home`), a FaultSession on it
 * (`session()`) and the closing check (`done()`: nothing left behind, then the
 * home is removed); every live-server suite set these up the same way.
 */
export function faultHomePerTest(defaultRunId: string): {
  readonly home: string;
  session(runId?: string): FaultSession;
  done(): Promise<void>;
} {
  let current: Awaited<ReturnType<typeof tempHome>> | undefined;
  beforeEach(async () => {
    current = await tempHome();
  });
  const now = () => {
    if (!current) throw new Error('faultHomePerTest: no test is running');
    return current;
  };
  return {
    get home() {
      return now().home;
    },
    session: (runId = defaultRunId) => new FaultSession({ runId, ledger: new Ledger({ home: now().home }) }),
    async done() {
      await assertNothingLeftBehind(now().home);
      await now().cleanup();
    },
  };
}

/** Polls `check` every 50 ms until it holds; fails naming `what` after `ms`. */
export async function eventually(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The `connections` contract both servers' exhaust-connections kinds share:
 * with `leave` as well it is refused, naming `leave`; alone it opens exactly
 * `connections` (as `count` sees them) and the revert closes them all.
 */
export async function assertExhaustsExactly(
  s: FaultSession,
  kind: Parameters<FaultSession['inject']>[0],
  conn: object,
  connections: number,
  count: () => Promise<number>,
): Promise<void> {
  await assert.rejects(
    s.inject(kind, { ...conn, connections: 3, leave: 1 }),
    (err: FaultlineError) => err.code === 'FAULTLINE_ERR_VALIDATION' && err.issues[0]?.path === 'leave',
  );
  await s.inject(kind, { ...conn, connections });
  assert.equal(await count(), connections);
  await s.revertAll();
  assert.equal(await count(), 0);
}

/**
 * Starts a runner process (FAULTLINE_HOME `home`) that runs `injects` (statements
 * using `s`, a FaultSession of run `child-run`), prints READY and idles. The
 * "revert from another process" tests need a real process to own the faults and
 * differ only in what it injects.
 */
export async function spawnRunner(home: string, injects: string): Promise<Fixture> {
  const script = join(home, 'runner.mts');
  await writeFile(
    script,
    `import { FaultSession, Ledger } from ${JSON.stringify(join(repoRoot, 'src', 'faults/index.js'))};
const s = new FaultSession({ runId: 'child-run', ledger: new Ledger({ home: process.env.FAULTLINE_HOME! }) });
${injects}
console.log('READY');
setInterval(() => undefined, 1000);
`,
  );
  return spawnFixture(script, [], home);
}

/**
 * Runs `check` while a runner that ran `injects` (see spawnRunner) is frozen
 * with SIGSTOP: alive but hung, so only a revert from outside can release its
 * faults. Afterwards kills it, releases the halt and recovers, which forgets the
 * dead runner's run file.
 */
export async function whileRunnerFrozen(
  home: string,
  injects: string,
  check: () => Promise<void>,
): Promise<void> {
  const child = await spawnRunner(home, injects);
  try {
    await child.waitFor('READY');
    child.child.kill('SIGSTOP');
    await check();
  } finally {
    child.child.kill('SIGKILL');
    await child.exited;
    await releaseHalt({ home });
  }
  await recoverOrphans({ home });
}
