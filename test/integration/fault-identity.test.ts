/**
 * Stress workers and process faults check who they signal twice (issue #13:
 * a record's pid and start time were the only check). A ledger entry is
 * planted as a dead runner's, pointing at an unrelated process (what a pid
 * reused within the start time's clock tick looks like), and recovery reverts
 * it: the unrelated process is never signalled, re-limited or resumed. A
 * record that does name the process (positive control) still acts on it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultlineError } from '../../src/core/errors.js';
import type { UndoRecord } from '../../src/core/fault.js';
import { Ledger, newFaultId } from '../../src/faults/ledger.js';
import { processKillKind } from '../../src/faults/process/kill.js';
import { cmdlineDigest, parseNofile, readProc, sameProcess } from '../../src/faults/process/select.js';
import { recoverOrphans } from '../../src/lib/faults.js';
import { tempHome } from '../helpers/home.js';
import { deadOwnerEntry } from '../helpers/ledger-entries.js';

let home: string;
let cleanup: () => Promise<void>;
let bystanders: ChildProcess[];

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  bystanders = [];
});
afterEach(async () => {
  for (const c of bystanders) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.kill('SIGCONT');
    c.kill('SIGKILL');
    await once(c, 'exit');
  }
  await cleanup();
});

/** An unrelated process in its own process group (a group kill would reach it too), and its /proc view. */
async function bystander() {
  const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  bystanders.push(child);
  const pid = child.pid!;
  let p = await readProc(pid);
  // exec replaces the forked node image: wait until /proc shows sleep itself.
  while (p?.comm !== 'sleep') {
    await sleep(10);
    p = await readProc(pid);
  }
  return { child, pid, start: p.start, cmd: cmdlineDigest(p.cmdline) };
}

async function plant(kind: string, record: UndoRecord): Promise<void> {
  await new Ledger({ home }).write(deadOwnerEntry(newFaultId(), kind, 'planted', record));
}

async function nofile(pid: number) {
  return parseNofile(await readFile(`/proc/${pid}/limits`, 'utf8'));
}

describe('stress workers: the tag in the command line is the second check', () => {
  test('a planted stress record with an unrelated pid and start time kills nothing', async () => {
    const b = await bystander();
    await plant('stress-cpu', { tag: 'a1b2c3d4e5f6', pid: b.pid, start: b.start });
    await plant('stress-memory', { pid: b.pid, start: b.start });
    const report = await recoverOrphans({ home, includeExpired: true });
    assert.equal(report.reverted.length, 2, JSON.stringify(report));
    assert.ok(await sameProcess(b.pid, b.start), 'the unrelated process is alive');
    assert.equal(b.child.signalCode, null);
  });

  test('a planted fd_exhaust record neither re-limits nor kills an unrelated process', async () => {
    const b = await bystander();
    const before = await nofile(b.pid);
    const entry = { pid: b.pid, start: b.start, comm: 'sleep', cmd: cmdlineDigest('not sleep') };
    await plant('stress-fd-exhaust', {
      tag: 'f0f0f0f0f0f0',
      pid: b.pid,
      start: b.start,
      processes: [{ ...entry, old: { soft: '77', hard: '77' }, set: { soft: '3', hard: '3' } }],
      lowered: [b.pid],
    });
    const report = await recoverOrphans({ home, includeExpired: true });
    assert.equal(report.failed.length, 0, JSON.stringify(report));
    assert.deepEqual(await nofile(b.pid), before);
    assert.ok(await sameProcess(b.pid, b.start), 'the unrelated process is alive');
  });
});

describe('process faults: name and command line are checked with the start time', () => {
  const state = async (pid: number) => (await readProc(pid))?.state;
  const stopped = async (b: Awaited<ReturnType<typeof bystander>>) => {
    process.kill(b.pid, 'SIGSTOP');
    while ((await state(b.pid)) !== 'T') await sleep(10);
  };

  test('a planted pause record whose command line differs resumes nothing', async () => {
    const b = await bystander();
    await stopped(b);
    const proc = (cmd?: string, comm = 'sleep') => ({
      pid: b.pid,
      start: b.start,
      comm,
      state: 'S',
      ...(cmd === undefined ? {} : { cmd }),
    });
    await plant('process-pause', {
      tag: 'b1',
      processes: [proc(cmdlineDigest('sleep 1'))],
      stopped: [b.pid],
    });
    // A record from before the digest: its name is still checked.
    await plant('process-pause', { tag: 'b2', processes: [proc(undefined, 'postgres')], stopped: [b.pid] });
    const report = await recoverOrphans({ home, includeExpired: true });
    assert.equal(report.reverted.length, 2, JSON.stringify(report));
    assert.equal(await state(b.pid), 'T', 'the unrelated process stays as its owner left it');

    // Positive control: the record that does name it resumes it.
    await plant('process-pause', { tag: 'b3', processes: [proc(b.cmd)], stopped: [b.pid] });
    const resumed = await recoverOrphans({ home, includeExpired: true });
    assert.equal(resumed.reverted.length, 1, JSON.stringify(resumed));
    assert.notEqual(await state(b.pid), 'T');
  });

  test('a kill whose record names another command line signals nothing', async () => {
    const b = await bystander();
    const record = {
      signal: 'SIGKILL',
      processes: [{ pid: b.pid, start: b.start, comm: 'sleep', state: 'S', cmd: cmdlineDigest('sleep 1') }],
    };
    await assert.rejects(
      processKillKind.inject({ pid: b.pid, signal: 'SIGKILL' }, record),
      (err: FaultlineError) => {
        assert.equal(err.code, 'FAULTLINE_ERR_FAULT');
        assert.match(err.message, /every selected process exited before the SIGKILL/);
        return true;
      },
    );
    await sleep(50);
    assert.ok(await sameProcess(b.pid, b.start), 'the unrelated process is alive');
  });
});
