/**
 * The process faults' `cgroup` selector (how a workload's processes are found when a systemd unit or
 * a container holds them): a real cgroup made for the test, two real processes moved into it and
 * one left outside. A pause takes exactly the cgroup's processes (and is resumed on revert); a
 * kill with mode all kills both and not the outsider. Needs root and a writable cgroup hierarchy
 * (cgroup v2, or the unified one on a hybrid host); skips otherwise.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FaultSession, Ledger } from '../../src/faults/index.js';
import { processKillKind, processPauseKind } from '../../src/faults/process/index.js';
import { CGROUP_ROOT, parseCgroupProcs, readProc } from '../../src/faults/process/select.js';
import { assertNothingLeftBehind } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

/** A cgroup hierarchy this process may create a group in: v2 at the root, or the unified mount of a hybrid host. */
async function writableHierarchy(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const sub of ['', 'unified']) {
    const dir = join(CGROUP_ROOT, sub);
    if (existsSync(join(dir, 'cgroup.procs')) && existsSync(join(dir, 'cgroup.controllers'))) return sub;
  }
  return undefined;
}

const hierarchy = await writableHierarchy();
const skip = hierarchy === undefined ? 'needs root and a cgroup v2 hierarchy under /sys/fs/cgroup' : false;

describe('process faults select by cgroup', { skip }, () => {
  const group = join(hierarchy ?? '', `faultline-test-${process.pid}`);
  const dir = join(CGROUP_ROOT, group);
  let home: Awaited<ReturnType<typeof tempHome>>;
  const procs: ChildProcess[] = [];
  const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
  const state = async (pid: number) => (await readProc(pid))?.state ?? 'gone';
  const session = () =>
    new FaultSession({ runId: `cgroup-${process.pid}`, ledger: new Ledger({ home: home.home }) });

  before(async () => {
    home = await tempHome();
    await mkdir(dir);
    for (let i = 0; i < 3; i++) procs.push(spawn('sleep', ['600'], { stdio: 'ignore' }));
    // The first two join the group; the third stays where it is.
    for (const c of procs.slice(0, 2)) await writeFile(join(dir, 'cgroup.procs'), `${c.pid}\n`);
    assert.deepEqual(
      parseCgroupProcs(await readFile(join(dir, 'cgroup.procs'), 'utf8')).sort(),
      procs
        .slice(0, 2)
        .map((c) => c.pid!)
        .sort(),
    );
  });

  after(async () => {
    for (const c of procs) {
      if (alive(c)) {
        c.kill('SIGCONT');
        c.kill('SIGKILL');
      }
    }
    await until('the test processes exit', () => procs.every((c) => !alive(c)), 30_000);
    await rmdir(dir).catch(() => undefined);
    await home?.cleanup?.();
  });

  test('pause: exactly the processes the cgroup lists, resumed on revert', async () => {
    const s = session();
    const h = await s.inject(processPauseKind, { cgroup: group, mode: 'all' }, { ttlMs: 30_000 });
    assert.equal(await state(procs[0]!.pid!), 'T');
    assert.equal(await state(procs[1]!.pid!), 'T');
    assert.notEqual(await state(procs[2]!.pid!), 'T', 'the process outside the cgroup is untouched');
    const rec = await h.revert();
    assert.equal(rec.verified, true);
    for (const c of procs) assert.notEqual(await state(c.pid!), 'T');
    await s.revertAll();
    await assertNothingLeftBehind(home.home);
  });

  test('several processes and no mode: refused with the candidates, nothing done', async () => {
    await assert.rejects(session().inject(processKillKind, { cgroup: group, signal: 'SIGKILL' }), /cgroup/);
    assert.ok(procs.every(alive));
  });

  test('kill, mode all: both processes of the cgroup, not the one outside', async () => {
    const s = session();
    await s.inject(processKillKind, { cgroup: group, mode: 'all', signal: 'SIGKILL' });
    await until('both cgroup processes exit', () => !alive(procs[0]!) && !alive(procs[1]!), 30_000);
    assert.ok(alive(procs[2]!), 'the process outside the cgroup lives');
    await s.revertAll();
  });

  test('a cgroup that does not exist, or a path with .., is refused naming the field', async () => {
    await assert.rejects(
      session().inject(processKillKind, { cgroup: 'no-such-group-here', mode: 'all' }),
      /cgroup: cannot read/,
    );
    await assert.rejects(session().inject(processKillKind, { cgroup: 'a/../b', mode: 'all' }), /cgroup/);
  });
});
