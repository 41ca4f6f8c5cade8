/**
 * A run's own revert (FaultSession.#doRevert): a revert that throws is still
 * verified (a target that no longer exists is reverted once verify says so), and
 * a claim another process holds too long is waited on, then looked at, never
 * reverted twice at once.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { z } from 'zod';
import type { FaultKind } from '../../src/core/fault.js';
import { type FaultEvent, FaultSession, Ledger } from '../../src/faults/index.js';
import { assertNothingLeftBehind, ledgerFiles } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';

let home: string;
let cleanup: () => Promise<void>;
let events: FaultEvent[];
let holders: ChildProcess[];

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  events = [];
  holders = [];
});
afterEach(async () => {
  for (const h of holders) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
  await Promise.all(holders.map((h) => (h.exitCode === null && h.signalCode === null ? once(h) : undefined)));
  await cleanup();
});

function once(child: ChildProcess): Promise<void> {
  return new Promise((r) => child.once('exit', () => r()));
}

function session(claimWaitMs?: number): FaultSession {
  return new FaultSession({
    runId: 'run-revert',
    ledger: new Ledger({ home }),
    onEvent: (e) => events.push(e),
    watchdog: false,
    ...(claimWaitMs === undefined ? {} : { claimWaitMs }),
  });
}

/** A live process of its own that "holds" a claim: a real pid other than ours. */
async function holder(): Promise<ChildProcess> {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  holders.push(child);
  await new Promise((r) => child.once('spawn', r));
  return child;
}

/** Moves the entry under a claim of a live process of its own, as if it were reverting it. */
async function claimedByOther(id: string): Promise<ChildProcess> {
  const other = await holder();
  const dir = join(home, 'ledger');
  await rename(join(dir, `${id}.json`), join(dir, `${id}.json.claim-${other.pid}`));
  return other;
}

const Args = z.object({ path: z.string() });

/** A file fault whose revert can be made to throw, as when its target's namespace or host is gone. */
function fileKind(hooks: {
  revertThrows?: () => string | undefined;
  reverts?: string[];
}): FaultKind<typeof Args> {
  return {
    kind: 'test-file',
    args: Args,
    target: (a) => a.path,
    plan: (a) => ({ path: a.path }),
    async inject(a) {
      await writeFile(a.path, 'x');
    },
    async revert(r) {
      hooks.reverts?.push(String(r.path));
      const why = hooks.revertThrows?.();
      if (why) throw new Error(why);
      await unlink(String(r.path)).catch(() => undefined);
    },
    async verify(r) {
      return !existsSync(String(r.path));
    },
  };
}

test('a revert that throws because its target is gone counts as reverted once verify finds nothing', async () => {
  const s = session();
  const path = join(home, 'gone');
  const h = await s.inject(
    fileKind({ revertThrows: () => 'Cannot open network namespace "fl-x": No such file or directory' }),
    { path },
  );
  await unlink(path); // the target went away with its effect (a namespace deleted)
  const r = await h.revert();
  assert.equal(r.verified, true);
  assert.equal(r.error, undefined);
  assert.deepEqual(
    events.map((e) => e.type),
    ['fault-injected', 'fault-reverted'],
  );
  assert.equal(s.active(), 0);
  await s.revertAll();
  await assertNothingLeftBehind(home, [path]);
});

test('a revert that throws with the effect still present is a failure with the revert error, and stays ledgered', async () => {
  let fail = true;
  const s = session();
  const path = join(home, 'present');
  const h = await s.inject(fileKind({ revertThrows: () => (fail ? 'permission denied' : undefined) }), {
    path,
  });
  const r = await h.revert();
  assert.equal(r.verified, false);
  assert.match(r.error ?? '', /permission denied/);
  const entry = await new Ledger({ home }).get(h.id);
  assert.match(entry?.lastError ?? '', /permission denied/);
  fail = false;
  await s.revertAll();
  await assertNothingLeftBehind(home, [path]);
});

test('a claim held past the wait by another live process: the fault is not reverted twice at once, it is reported', async () => {
  const reverts: string[] = [];
  const s = session(200);
  const path = join(home, 'held');
  const h = await s.inject(fileKind({ reverts }), { path });
  const other = await claimedByOther(h.id);

  const r = await h.revert();
  assert.equal(r.verified, false);
  assert.deepEqual(reverts, [], 'no revert while another process holds the claim');
  assert.match(r.error ?? '', new RegExp(`process ${other.pid} has held its revert for over 200 ms`));
  assert.match(r.error ?? '', /faultline recover/);
  assert.equal(existsSync(path), true);
  assert.deepEqual(
    await ledgerFiles(home),
    [`${h.id}.json.claim-${other.pid}`],
    "the holder's claim is left alone",
  );
  assert.equal(events.at(-1)?.type, 'fault-revert-failed');

  // Once the holder is gone its claim is taken over and the fault reverted.
  other.kill('SIGKILL');
  await once(other);
  const [again] = await s.revertAll();
  assert.equal(again?.verified, true);
  assert.deepEqual(reverts, [path]);
  await assertNothingLeftBehind(home, [path]);
});

test('a claim held past the wait by a process that did revert it: verified gone, reported reverted, entry removed', async () => {
  const reverts: string[] = [];
  const s = session(200);
  const path = join(home, 'done-by-other');
  const h = await s.inject(fileKind({ reverts }), { path });
  await claimedByOther(h.id);
  await unlink(path); // the holder reverted it and is slow to record that

  const r = await h.revert();
  assert.equal(r.verified, true);
  assert.equal(r.error, undefined);
  assert.deepEqual(reverts, [], 'looked at, not reverted');
  assert.equal(events.at(-1)?.type, 'fault-reverted');
  await s.revertAll();
  await assertNothingLeftBehind(home, [path]);
});
