/**
 * Process faults against real fixture processes: kill (with a signal),
 * kill_random, pause/resume (PID-reuse safe), blast radius, and recovery of a
 * pause whose runner was killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorLines } from '../../src/cli/error-lines.js';
import { loadBuiltinActivities } from '../../src/compose.js';
import type { FaultlineError } from '../../src/core/errors.js';
import type { Experiment } from '../../src/core/schema.js';
import { findBuiltin } from '../../src/engine/builtins.js';
import {
  exposedFaults,
  FaultSession,
  Ledger,
  listActiveFaults,
  recoverOrphans,
} from '../../src/faults/index.js';
import { processKillKind, processKillRandomKind, processPauseKind } from '../../src/faults/process/index.js';
import {
  cmdlineDigest,
  parseNofile,
  readProc,
  resolveSelection,
  type SelectionJson,
  selectionOf,
} from '../../src/faults/process/select.js';
import { stressFdExhaustKind } from '../../src/faults/stress/fd-exhaust.js';
import { runExperiment } from '../../src/lib/run.js';
import { activityContext } from '../helpers/activity-context.js';
import { assertNothingLeftBehind, type Fixture, repoRoot, spawnFixture } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';

await loadBuiltinActivities();

const TICKER = join(repoRoot, 'test', 'fixtures', 'process', 'ticker.mjs');
const RUNNER = join(repoRoot, 'test', 'fixtures', 'process', 'runner.ts');

interface Ticker {
  child: ChildProcess;
  pid: number;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ticks printed during the next `ms`. */
  ticksDuring(ms: number): Promise<number>;
  /** True once `n` more ticks arrived (false after the timeout): running again, however loaded the machine. */
  ticksAgain(n: number, timeoutMs?: number): Promise<boolean>;
  waitFor(prefix: string, timeoutMs?: number): Promise<string>;
}

let home: string;
let cleanup: () => Promise<void>;
let tickers: Ticker[];
let fixtures: Fixture[];
let tag: string;

/** A ticker renamed to `<tag><suffix>` (comm and command line), so selectors match only this test's processes. */
async function ticker(suffix = ''): Promise<Ticker> {
  const child = spawn(process.execPath, [TICKER, `${tag}${suffix}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal })),
  );
  const t: Ticker = {
    child,
    pid: child.pid!,
    lines,
    exited,
    async ticksDuring(ms) {
      const before = lines.filter((l) => l.startsWith('tick')).length;
      await sleep(ms);
      return lines.filter((l) => l.startsWith('tick')).length - before;
    },
    async ticksAgain(n, timeoutMs = 10_000) {
      const count = () => lines.filter((l) => l.startsWith('tick')).length;
      const target = count() + n;
      const deadline = Date.now() + timeoutMs;
      while (count() < target) {
        if (Date.now() > deadline) return false;
        await sleep(10);
      }
      return true;
    },
    async waitFor(prefix, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines.find((l) => l.startsWith(prefix));
        if (hit !== undefined) return hit.slice(prefix.length).trim();
        if (Date.now() > deadline) throw new Error(`ticker printed no '${prefix}'`);
        await sleep(10);
      }
    },
  };
  tickers.push(t);
  await t.waitFor('ready');
  await t.waitFor('tick'); // renamed and running
  return t;
}

const state = async (pid: number) => (await readProc(pid))?.state ?? 'gone';
const session = (blastRadius?: ConstructorParameters<typeof FaultSession>[0]['blastRadius']) =>
  new FaultSession({
    runId: `proc-${tag}`,
    ledger: new Ledger({ home }),
    ...(blastRadius ? { blastRadius } : {}),
  });

/** `t` paused by a runner in another process (the RUNNER fixture), as another run would. */
async function pausedByRunner(t: Ticker, runId: string): Promise<{ runner: Fixture; id: string }> {
  const runner = spawnFixture(RUNNER, [runId, 'process-pause', JSON.stringify({ pid: t.pid })], home);
  fixtures.push(runner);
  const [id = ''] = (await runner.waitFor('injected')).split(' ');
  assert.equal(await state(t.pid), 'T');
  return { runner, id };
}

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  tickers = [];
  fixtures = [];
  // comm holds 15 characters: 'fl' + 8 hex + a suffix of up to 5.
  tag = `fl${randomBytes(4).toString('hex')}`;
});
afterEach(async () => {
  for (const t of tickers) {
    // Resume first: a stopped process does not act on SIGKILL's exit until continued.
    t.child.kill('SIGCONT');
    t.child.kill('SIGKILL');
  }
  for (const f of fixtures) f.child.kill('SIGKILL');
  await Promise.all([...tickers.map((t) => t.exited), ...fixtures.map((f) => f.exited)]);
  await cleanup();
});

describe('kill', () => {
  test('sends SIGTERM by default; the ledger records the fault as irreversible; nothing is left', async () => {
    const t = await ticker();
    const s = session();
    const h = await s.inject(processKillKind, { name: tag }, { ttlMs: 30_000 });
    assert.equal(await t.waitFor('sigterm'), '');
    assert.deepEqual(await t.exited, { code: 0, signal: null });
    const [entry] = await listActiveFaults({ home });
    assert.equal(entry?.id, h.id);
    const stored = JSON.parse(await readFile(join(home, 'ledger', `${h.id}.json`), 'utf8'));
    assert.equal(stored.irreversible, true);
    assert.deepEqual(stored.record.signalled, [t.pid]);
    assert.equal(stored.record.signal, 'SIGTERM');
    const [rec] = await s.revertAll();
    assert.equal(rec?.irreversible, true);
    assert.equal(rec?.verified, true);
    await assertNothingLeftBehind(home);
  });

  test('a chosen signal, by pid; targets carry pid and name', async () => {
    const t = await ticker();
    const s = session();
    await s.inject(processKillKind, { pid: t.pid, signal: 'kill' });
    assert.deepEqual(await t.exited, { code: null, signal: 'SIGKILL' });
    const [rec] = s.records();
    assert.deepEqual(rec?.targets, [{ type: 'process', name: tag, pid: t.pid, host: 'localhost' }]);
    await s.revertAll();
    await assertNothingLeftBehind(home);
  });

  test('kill_random kills exactly one of N matching processes', async () => {
    const all = await Promise.all([ticker('a'), ticker('b'), ticker('c')]);
    const s = session();
    await s.inject(processKillRandomKind, { pattern: `^${tag}[abc]$`, signal: 'SIGKILL' });
    const first = await Promise.race(all.map((t, i) => t.exited.then(() => i)));
    await sleep(200);
    const alive = await Promise.all(all.map(async (t) => (await state(t.pid)) !== 'gone'));
    assert.deepEqual(
      alive.filter((a) => !a).length,
      1,
      `exactly one killed (the ${first}th); alive: ${alive}`,
    );
    const [rec] = s.records();
    assert.equal(rec?.targets?.length, 1);
    await s.revertAll();
    await assertNothingLeftBehind(home);
  });

  test('refuses pid 1, itself and no match, with FAULTLINE_ERR_FAULT; bad args with FAULTLINE_ERR_VALIDATION', async () => {
    const s = session();
    for (const args of [{ pid: 1 }, { pid: process.pid }, { name: `${tag}none` }]) {
      await assert.rejects(
        s.inject(processKillKind, args),
        (err: FaultlineError) => err.code === 'FAULTLINE_ERR_FAULT',
      );
    }
    await assert.rejects(s.inject(processKillKind, { name: 'x', pid: 5 }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
      assert.match(err.message, /^process-kill: name: expected only one of/);
      return true;
    });
    await assertNothingLeftBehind(home);
  });
});

describe('pause', () => {
  test('stops the process (no ticks, state T) and revert resumes it', async () => {
    const t = await ticker();
    const s = session();
    const h = await s.inject(processPauseKind, { name: tag }, { ttlMs: 30_000 });
    assert.equal(await state(t.pid), 'T');
    await sleep(100); // a tick already in the pipe may still arrive
    assert.equal(await t.ticksDuring(300), 0, 'a paused process does not tick');
    const stored = JSON.parse(await readFile(join(home, 'ledger', `${h.id}.json`), 'utf8'));
    const proc = await readProc(t.pid);
    assert.deepEqual(stored.record.processes, [
      { pid: t.pid, start: proc?.start, comm: tag, state: 'S', cmd: cmdlineDigest(proc!.cmdline) },
    ]);
    assert.equal(stored.irreversible, undefined);

    const rec = await h.revert();
    assert.equal(rec.verified, true);
    assert.notEqual(await state(t.pid), 'T');
    assert.ok(await t.ticksAgain(2), 'ticks again after revert');
    await s.revertAll();
    await assertNothingLeftBehind(home);
  });

  test('a name matching several processes is refused with the candidates, nothing paused; mode picks by start time', async () => {
    // Three processes of one name, started one after the other (the same name, as two `sleep`s are).
    const [first, second, third] = [await ticker('s'), await ticker('s'), await ticker('s')];
    const name = `${tag}s`;
    const s = session();
    await assert.rejects(s.inject(processPauseKind, { name }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
      assert.equal(err.exitCode, 2);
      assert.match(
        err.message,
        new RegExp(`^mode: name=${name} matches 3 processes and the fault acts on one`),
      );
      for (const t of [first!, second!, third!])
        assert.match(err.message, new RegExp(`pid ${t.pid} {2}started `));
      return true;
    });
    for (const t of [first!, second!, third!]) assert.notEqual(await state(t.pid), 'T', 'nothing paused');
    assert.deepEqual(await listActiveFaults({ home }), [], 'nothing ledgered');

    const newest = await s.inject(processPauseKind, { name, mode: 'newest' });
    assert.deepEqual(
      s.records()[0]?.targets?.map((t) => t.pid),
      [third!.pid],
    );
    assert.equal(await state(third!.pid), 'T');
    assert.equal((await newest.revert()).verified, true);
    const oldest = await s.inject(processPauseKind, { name, mode: 'oldest' });
    assert.equal(await state(first!.pid), 'T');
    assert.notEqual(await state(second!.pid), 'T');
    assert.equal((await oldest.revert()).verified, true);
    await s.inject(processPauseKind, { name, mode: 'all' });
    for (const t of [first!, second!, third!]) assert.equal(await state(t.pid), 'T');
    const reverted = await s.revertAll();
    assert.ok(reverted.every((r) => r.verified));

    // What was chosen and why travels with the resolved targets (inject and --dry-run show it).
    const resolved = await resolveSelection({ name }, { mode: 'newest' }, 1);
    const sel = selectionOf(resolved);
    assert.deepEqual(sel?.matched.map((p) => p.pid).sort(), [first!.pid, second!.pid, third!.pid].sort());
    assert.equal(sel?.reason, `the newest of 3 processes matching name=${name} (mode newest, default 1)`);
    await assertNothingLeftBehind(home);
  });

  test('the experiment action refuses an ambiguous selection with the same error, and pauses nothing', async () => {
    await ticker('e');
    await ticker('e');
    const pause = findBuiltin('faultline.process', 'pause');
    assert.ok(pause, 'faultline.process:pause is registered');
    const faults = session();
    const ctx = activityContext({ faults, runId: faults.runId, baseDir: home });
    await assert.rejects(
      pause.run(pause.arguments.parse({ name: `${tag}e`, duration: 5 }), ctx),
      new RegExp(`mode: name=${tag}e matches 2 processes .*say which with mode=oldest`),
    );
    assert.equal(faults.records().length, 0);
    for (const t of tickers) assert.notEqual(await state(t.pid), 'T');
    await assertNothingLeftBehind(home);
  });

  test('percentage 50 of 4 matches pauses 2; the blast radius refuses more than it allows', async () => {
    const all = await Promise.all(['a', 'b', 'c', 'd'].map((x) => ticker(x)));
    const pattern = `^${tag}[a-d]$`;
    const strict = session([{ source: 'test', policy: { max_percentage: 25 } }]);
    await assert.rejects(
      strict.inject(processPauseKind, { pattern, percentage: 50 }),
      (err: FaultlineError) => {
        assert.equal(err.code, 'FAULTLINE_ERR_POLICY');
        assert.match(err.message, /2 of 4/);
        return true;
      },
    );
    // Refused before acting: none is stopped (each is sleeping or, at that instant, running).
    assert.deepEqual(
      (await Promise.all(all.map((t) => state(t.pid)))).map((st) => (st === 'R' ? 'S' : st)),
      ['S', 'S', 'S', 'S'],
    );

    const s = session([{ source: 'test', policy: { max_percentage: 50 } }]);
    await s.inject(processPauseKind, { pattern, percentage: 50 });
    const states = await Promise.all(all.map((t) => state(t.pid)));
    assert.equal(states.filter((x) => x === 'T').length, 2, `states ${states}`);
    assert.equal(s.records()[0]?.targets?.length, 2);
    const [rec] = await s.revertAll();
    assert.equal(rec?.verified, true);
    assert.equal((await Promise.all(all.map((t) => state(t.pid)))).includes('T'), false);
    await assertNothingLeftBehind(home);
  });

  test('by pidfile; a record whose start time does not match (a reused pid) is not resumed', async () => {
    const t = await ticker();
    const pidfile = join(home, 'svc.pid');
    await writeFile(pidfile, `${t.pid}\n`);
    const s = session();
    const h = await s.inject(processPauseKind, { pidfile });
    assert.equal(await state(t.pid), 'T');
    // Another process now holding this pid would have another start time: revert leaves it alone.
    await processPauseKind.revert({ processes: [{ pid: t.pid, start: '1', comm: tag, state: 'S' }] });
    assert.equal(await state(t.pid), 'T');
    assert.equal(
      await processPauseKind.verify({ processes: [{ pid: t.pid, start: '1', comm: tag, state: 'S' }] }),
      true,
    );
    assert.equal((await h.revert()).verified, true);
    assert.notEqual(await state(t.pid), 'T');
    await s.revertAll();
    await assertNothingLeftBehind(home);
  });

  test('a process someone else stopped is neither counted nor resumed', async () => {
    const t = await ticker();
    t.child.kill('SIGSTOP');
    await sleep(50);
    const s = session();
    await assert.rejects(
      s.inject(processPauseKind, { pid: t.pid }),
      new RegExp(`pid ${t.pid} \\(${tag}\\) is already stopped \\(paused by another fault`),
    );
    assert.equal(await state(t.pid), 'T', 'still stopped: it was not ours to resume');
    t.child.kill('SIGCONT');
    await s.revertAll();
    await assertNothingLeftBehind(home);
  });

  test('two pauses of one process never undo each other: the second is refused, one of several is skipped', async () => {
    const [x, y] = [await ticker('x'), await ticker('y')];
    const first = session();
    const second = new FaultSession({ runId: `other-${tag}`, ledger: new Ledger({ home }) });
    const h1 = await first.inject(processPauseKind, { pid: x.pid });
    await assert.rejects(second.inject(processPauseKind, { pid: x.pid }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_FAULT');
      assert.match(err.message, /already stopped .*a second pause would be lifted when the first ends/);
      return true;
    });
    assert.equal((await listActiveFaults({ home })).length, 1, 'the refused pause left no entry');
    // Selecting both: only y is this fault's; x stays the first fault's.
    await second.inject(processPauseKind, { pattern: `^${tag}[xy]$`, mode: 'all' });
    const [own] = await first.revertAll();
    assert.equal(own?.id, h1.id);
    assert.equal(own?.verified, true);
    assert.notEqual(await state(x.pid), 'T', 'the first revert resumes what it paused');
    assert.equal(await state(y.pid), 'T', 'and not what the second paused');
    const [other] = await second.revertAll();
    assert.equal(other?.verified, true);
    assert.notEqual(await state(y.pid), 'T');
    await assertNothingLeftBehind(home);
  });

  test('two pauses of one process injected at the same moment: one pauses, the other is refused and resumes nothing', async () => {
    const t = await ticker();
    const [a, b] = [session(), new FaultSession({ runId: `other-${tag}`, ledger: new Ledger({ home }) })];
    const results = await Promise.allSettled([
      a.inject(processPauseKind, { pid: t.pid }),
      b.inject(processPauseKind, { pid: t.pid }),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.match(String(refused.reason), /already stopped/);
    assert.equal(await state(t.pid), 'T', "the refused pause's cleanup did not resume the other's");
    await sleep(100);
    assert.equal(await t.ticksDuring(300), 0);
    await Promise.all([a.revertAll(), b.revertAll()]);
    assert.notEqual(await state(t.pid), 'T');
    await assertNothingLeftBehind(home);
  });

  test("another runner's pause is not lifted by a second pause of the same process", async () => {
    const t = await ticker();
    const { runner } = await pausedByRunner(t, `holder-${tag}`);
    await assert.rejects(session().inject(processPauseKind, { pid: t.pid }), /already stopped/);
    assert.equal(await state(t.pid), 'T', "still the other runner's pause");
    runner.child.kill('SIGKILL');
    await runner.exited;
    const report = await recoverOrphans({ home });
    assert.equal(report.reverted.length, 1);
    assert.notEqual(await state(t.pid), 'T');
    await assertNothingLeftBehind(home);
  });

  test('a pause whose runner was killed with SIGKILL is resumed by recoverOrphans', async () => {
    const t = await ticker();
    const { runner, id } = await pausedByRunner(t, `doomed-${tag}`);
    runner.child.kill('SIGKILL');
    await runner.exited;
    assert.equal(await state(t.pid), 'T', 'a killed runner resumes nothing');
    assert.equal(await t.ticksDuring(200), 0);

    const report = await recoverOrphans({ home });
    assert.deepEqual(
      report.reverted.map((r) => [r.id, r.reason, r.verified]),
      [[id, 'dead-owner', true]],
    );
    assert.notEqual(await state(t.pid), 'T');
    assert.ok(await t.ticksAgain(2));
    await assertNothingLeftBehind(home);
  });
});

test('the process faults are exposed as faultline.process actions and `faultline inject process.*`', async () => {
  const names = [...(await exposedFaults()).keys()];
  for (const n of ['process.kill', 'process.kill_random', 'process.pause']) assert.ok(names.includes(n), n);
});

const marker = () => join(home, `marker-${tag}`);
const action = (name: string, module: string, func: string, args: Record<string, unknown>) => ({
  type: 'action' as const,
  name,
  provider: { type: 'faultline' as const, module, func, arguments: args },
});
const experiment = (method: unknown[], rollbacks: unknown[] = []): Experiment =>
  ({ title: 't', description: 'd', method, rollbacks }) as Experiment;
/** Runs with no blast-radius policy anywhere; collects the log lines. */
const run = async (e: Experiment, configuration?: Record<string, unknown>) => {
  const logs: string[] = [];
  const journal = await runExperiment(e, {
    home,
    ...(configuration ? { configuration } : {}),
    onEvent: (ev) => {
      if (ev.type === 'log') logs.push(`${ev.level} ${ev.message}`);
    },
  });
  return { journal, logs };
};

describe('preflight: a selection that cannot work refuses the run before anything is injected', () => {
  test('an ambiguous name in the method: exit 2 naming the action and mode; the marker before it is never created', async () => {
    const [a, b] = [await ticker('p'), await ticker('p')];
    const e = experiment([
      action('flag', 'faultline.marker', 'create', { path: marker(), duration: 30 }),
      action('pause-worker', 'faultline.process', 'pause', { name: `${tag}p`, duration: 1 }),
    ]);
    await assert.rejects(run(e), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
      assert.equal(err.exitCode, 2);
      assert.match(
        err.message,
        new RegExp(
          `^action 'pause-worker', the run was refused before anything was injected: method\\[1\\]\\.provider\\.arguments\\.mode: name=${tag}p matches 2 processes`,
        ),
      );
      for (const t of [a!, b!]) assert.match(err.message, new RegExp(`pid ${t.pid} `));
      assert.equal(err.issues[0]?.path, 'method[1].provider.arguments.mode');
      assert.deepEqual(errorLines(err), [err.message], 'the CLI prints it once');
      return true;
    });
    await assert.rejects(readFile(marker()), { code: 'ENOENT' });
    for (const t of [a!, b!]) assert.notEqual(await state(t.pid), 'T');
    await assertNothingLeftBehind(home);
  });

  test("an ambiguous selection in the rollbacks, a substituted one and fd_exhaust's are refused too", async () => {
    await ticker('q');
    await ticker('q');
    const pause = action('pause-later', 'faultline.process', 'pause', { name: `${tag}q`, duration: 1 });
    await assert.rejects(run(experiment([], [pause])), (err: FaultlineError) => {
      assert.equal(err.issues[0]?.path, 'rollbacks[0].provider.arguments.mode');
      return /^action 'pause-later'/.test(err.message);
    });
    // Known once the configuration is: checked like a literal.
    const fromVar = action('pause-var', 'faultline.process', 'pause', { name: '${svc}', duration: 1 });
    const withConfig = { ...experiment([fromVar]), configuration: { svc: `${tag}q` } } as Experiment;
    await assert.rejects(run(withConfig), /action 'pause-var', .*mode: name=fl[0-9a-f]{8}q matches 2/);
    const fd = action('limit-fds', 'faultline.stress', 'fd_exhaust', { name: `${tag}q`, duration: 1 });
    await assert.rejects(run(experiment([fd])), /action 'limit-fds', .*mode: name=fl[0-9a-f]{8}q matches 2/);
    for (const t of tickers) assert.notEqual(await state(t.pid), 'T');
    await assertNothingLeftBehind(home);
  });

  test('what cannot be known before the run is logged, not refused: no match yet, an undefined ${var}', async () => {
    const e = experiment([
      action('pause-absent', 'faultline.process', 'pause', { name: `${tag}z`, duration: 1 }),
      action('pause-later', 'faultline.process', 'pause', { name: '${started_later}', duration: 1 }),
    ]);
    const { journal, logs } = await run(e);
    assert.ok(
      logs.some((l) =>
        /^debug preflight: 'pause-absent' targets not resolvable before the run \(no process matches/.test(l),
      ),
      logs.join('\n'),
    );
    assert.ok(
      logs.some((l) => /^debug preflight: 'pause-later' uses \$\{started_later\}/.test(l)),
      logs.join('\n'),
    );
    // The run went ahead; each injection then failed on its own (nothing matched).
    assert.deepEqual(
      journal.run.map((r) => [r.activity.name, r.status]),
      [
        ['pause-absent', 'failed'],
        ['pause-later', 'failed'],
      ],
    );
    await assertNothingLeftBehind(home);
  });
});

test('the journal says which processes matched, which the fault chose and why', async () => {
  const [older, newer] = [await ticker('j'), await ticker('j')];
  const e = experiment([
    action('pause-newest', 'faultline.process', 'pause', { name: `${tag}j`, mode: 'newest', duration: 30 }),
  ]);
  const { journal } = await run(e);
  const output = journal.run[0]?.output as { selection?: SelectionJson } | undefined;
  assert.equal(journal.run[0]?.status, 'succeeded');
  assert.equal(
    output?.selection?.reason,
    `the newest of 2 processes matching name=${tag}j (mode newest, default 1)`,
  );
  assert.deepEqual(output?.selection?.chosen, [newer!.pid]);
  assert.deepEqual(
    output?.selection?.candidates.map((c) => [c.pid, c.comm, c.chosen]),
    [
      [older!.pid, `${tag}j`, false],
      [newer!.pid, `${tag}j`, true],
    ],
  );
  assert.equal(output?.selection?.matched, 2);
  assert.match(output?.selection?.candidates[0]?.started ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  // The fault lasted until the run ended, and was reverted then.
  assert.equal(journal.faultline.faults[0]?.verified, true);
  for (const t of [older!, newer!]) assert.notEqual(await state(t.pid), 'T');
  await assertNothingLeftBehind(home);
});

describe('fd_exhaust: two lowerings of one process never undo each other', () => {
  const nofile = async (pid: number) => parseNofile(await readFile(`/proc/${pid}/limits`, 'utf8'));
  const other = () => new FaultSession({ runId: `other-${tag}`, ledger: new Ledger({ home }) });

  test('the second is refused while the first is in place; the first revert restores the original limits', async () => {
    const t = await ticker();
    const original = await nofile(t.pid);
    const [a, b] = [session(), other()];
    await a.inject(stressFdExhaustKind, { pid: t.pid, limit: 50 });
    assert.equal((await nofile(t.pid))?.soft, '50');
    await assert.rejects(b.inject(stressFdExhaustKind, { pid: t.pid, limit: 40 }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_FAULT');
      assert.match(
        err.message,
        new RegExp(
          `pid ${t.pid} \\(${tag}\\) already has its open-files limit lowered by another fd_exhaust fault`,
        ),
      );
      return true;
    });
    assert.equal((await nofile(t.pid))?.soft, '50', 'the refusal changed nothing');
    const [rec] = await a.revertAll();
    assert.equal(rec?.verified, true, rec?.error);
    await b.revertAll();
    assert.deepEqual(await nofile(t.pid), original);
    await assertNothingLeftBehind(home);
  });

  test('two injected at the same moment: one lowers, the other gives way and restores nothing', async () => {
    const t = await ticker();
    const original = await nofile(t.pid);
    const [a, b] = [session(), other()];
    const results = await Promise.allSettled([
      a.inject(stressFdExhaustKind, { pid: t.pid, limit: 50 }),
      b.inject(stressFdExhaustKind, { pid: t.pid, limit: 40 }),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const winner = results[0]?.status === 'fulfilled' ? '50' : '40';
    assert.match(
      String((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason),
      /already has its open-files limit lowered/,
    );
    assert.equal((await nofile(t.pid))?.soft, winner, "the loser's cleanup left the winner's limit in place");
    await Promise.all([a.revertAll(), b.revertAll()]);
    assert.deepEqual(await nofile(t.pid), original);
    await assertNothingLeftBehind(home);
  });
});
