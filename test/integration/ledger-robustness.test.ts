/**
 * The ledger under the conditions that made it lie (issue #12 items 5, 14, 15, 17):
 * a failed injection, a target that no longer exists, a full and a read-only
 * home, corrupt entries, and recover's concurrency. Real files, real tmpfs
 * mounts (as root), the real PostgreSQL for an injection that cannot connect.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { FaultlineError } from '../../src/core/errors.js';
import type { FaultKind, UndoRecord } from '../../src/core/fault.js';
import { Registry } from '../../src/core/registry.js';
import { CLAIM_WAIT_MS, Ledger, type LedgerEntry, newFaultId } from '../../src/faults/ledger.js';
import { markerKind } from '../../src/faults/marker.js';
import { slowQueriesKind } from '../../src/faults/postgres/slow-queries.js';
import { faultStatus, hasFaultsInPlace, releaseHalt } from '../../src/faults/recovery.js';
import { haltAll, recoverOrphans } from '../../src/lib/faults.js';
import { FaultSession } from '../../src/lib/session.js';
import { assertNothingLeftBehind, ledgerFiles } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';
import { deadOwnerEntry, deadPid } from '../helpers/ledger-entries.js';

const isRoot = process.getuid?.() === 0;

let home: string;
let scratch: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  scratch = await mkdtemp(join(tmpdir(), 'faultline-robust-'));
});
afterEach(async () => {
  await cleanup();
  await rm(scratch, { recursive: true, force: true });
});

/** A ledger entry for `kind` as a runner that has since died would have left it. */
function orphan(
  kind: string,
  target: string,
  record: UndoRecord,
  over: Partial<LedgerEntry> = {},
): LedgerEntry {
  return deadOwnerEntry(newFaultId(), kind, target, record, { runId: 'run-dead', ...over });
}

/** An injected marker fault, recorded as a dead runner's: what recovery and halt find after a kill -9. */
async function orphanMarker(ledger: Ledger, name: string): Promise<{ entry: LedgerEntry; path: string }> {
  const path = join(scratch, name);
  const record = await markerKind.inject({ path }, await markerKind.plan({ path }, { targets: [] }));
  const entry = orphan('marker-file', path, record ?? { path });
  await ledger.write(entry);
  return { entry, path };
}

function mountTmpfs(dir: string, size: string): void {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  assert.equal(r.status, 0, `mount tmpfs: ${r.stderr}`);
}
function umount(dir: string): void {
  spawnSync('umount', ['-l', dir]);
}

describe('a failed injection never becomes a phantom (item 5)', () => {
  test('an injection that cannot connect is recorded as failed; nothing counts it as in place', async () => {
    const ledger = new Ledger({ home });
    const session = new FaultSession({ runId: 'typo', ledger });
    // A typo'd port: nothing listens on it, so the injection, its cleanup and its verify all fail.
    await assert.rejects(
      session.inject(slowQueriesKind, { host: '127.0.0.1', port: 5499, user: 'postgres', database: 'test' }),
      (err: FaultlineError) =>
        err.code === 'FAULTLINE_ERR_FAULT' &&
        /cannot inject/.test(err.message) &&
        /recorded as failed/.test(err.message),
    );
    assert.equal(session.active(), 0, 'the session holds nothing to revert');
    assert.deepEqual(await session.revertAll(), []);
    const { entries } = await ledger.list();
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.state, 'failed');
    assert.match(String(entries[0]?.lastError), /injection failed: .*ECONNREFUSED/);
    // The process that injected it is gone, as after `faultline inject` exited.
    await ledger.write({ ...entries[0]!, ownerPid: deadPid(), ownerStart: null });

    const auto = await recoverOrphans({ home });
    assert.deepEqual([auto.reverted, auto.failed, auto.notApplied], [[], [], []], 'every command: silent');
    const recover = await recoverOrphans({ home, includeExpired: true });
    assert.equal(recover.notApplied.length, 1);
    assert.equal(hasFaultsInPlace(recover), false, 'recover exits 0');
    const halt = await haltAll({ home });
    assert.equal(halt.notApplied.length, 1);
    assert.equal(hasFaultsInPlace(halt), false, 'halt exits 0');
    assert.equal(await releaseHalt({ home }), true);

    await ledger.forget(entries[0]!.id);
    assert.equal((await faultStatus({ home })).forgotten.length, 1);
    await ledger.unregisterRun('typo');
    await assertNothingLeftBehind(home);
  });

  test('a revert that errors counts as reverted once verify finds the effect gone (its target no longer exists)', async () => {
    // A flag file inside a directory that is the target: deleting the directory makes the revert throw.
    const goneTarget: FaultKind = {
      kind: 'test-dir-flag',
      args: z.strictObject({ dir: z.string() }),
      target: (a) => (a as { dir: string }).dir,
      plan: (a) => ({ dir: (a as { dir: string }).dir }),
      async inject(_a, r) {
        await writeFile(join(String(r.dir), 'flag'), '');
      },
      async revert(r) {
        await unlink(join(String(r.dir), 'flag'));
      },
      verify: async (r) => !existsSync(join(String(r.dir), 'flag')),
    };
    const kinds = new Registry<FaultKind>('fault kind');
    kinds.register(goneTarget.kind, goneTarget);
    const dir = join(scratch, 'target');
    await mkdir(dir);
    await goneTarget.inject({ dir }, { dir });
    const ledger = new Ledger({ home });
    await ledger.write(orphan(goneTarget.kind, dir, { dir }));
    await rm(dir, { recursive: true });

    const report = await recoverOrphans({ home, kinds });
    assert.equal(report.failed.length, 0, JSON.stringify(report.failed));
    assert.equal(report.reverted.length, 1);
    assert.match(String(report.reverted[0]?.revertError), /ENOENT/);
    await assertNothingLeftBehind(home);
  });
});

describe('a fault never outlives its record (item 15)', () => {
  test('when the "active" write fails on a full home, the fault is reverted at once, never waiting on its own claim', {
    skip: !isRoot && 'needs root to mount a tiny tmpfs',
  }, async () => {
    mountTmpfs(home, '64k');
    try {
      const filler = join(home, 'filler');
      // The marker fault, whose injection fills the home as a busy disk would meanwhile.
      const filling: FaultKind = {
        ...(markerKind as unknown as FaultKind),
        async inject(args, record, signal, opts) {
          const refined = await markerKind.inject(args as { path: string }, record, signal, opts);
          const fh = await open(filler, 'w');
          try {
            for (;;) await fh.write(Buffer.alloc(4096, 1));
          } catch (err) {
            assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
          } finally {
            await fh.close().catch(() => undefined);
          }
          return refined;
        },
      };
      const ledger = new Ledger({ home });
      const session = new FaultSession({ runId: 'full', ledger });
      const marker = join(scratch, 'full.marker');
      const started = Date.now();
      await assert.rejects(
        session.inject(filling, { path: marker }, { ttlMs: 60_000 }),
        (err: FaultlineError) =>
          err.code === 'FAULTLINE_ERR_LEDGER' && /cannot record it as active/.test(err.message),
      );
      assert.equal(existsSync(marker), false, 'reverted at once');
      // The bug waited CLAIM_WAIT_MS (30 s) twice on its own claim; a loaded machine takes well under half.
      assert.ok(Date.now() - started < CLAIM_WAIT_MS / 2, `took ${Date.now() - started} ms`);
      assert.deepEqual(await ledgerFiles(home), [], 'its entry is gone, no claim left');
      assert.equal(session.active(), 0);
      await unlink(filler);
      await session.revertAll();
      await assertNothingLeftBehind(home);
    } finally {
      umount(home);
    }
  });

  test('corrupt entries are reported by status, recover and halt, and reverted from what can be read', async () => {
    const ledger = new Ledger({ home });
    const { entry, path } = await orphanMarker(ledger, 'corrupt.marker');
    const file = join(ledger.dir, `${entry.id}.json`);
    const text = await readFile(file, 'utf8');
    // Torn just after the undo record: the owner cannot be read.
    await writeFile(file, text.slice(0, text.indexOf('"state"')));

    const status = await faultStatus({ home });
    assert.deepEqual(status.faults, []);
    assert.equal(status.corrupt.length, 1);
    assert.equal(status.corrupt[0]?.id, entry.id);
    assert.equal(status.corrupt[0]?.salvaged.kind, 'marker-file');
    assert.equal(status.corrupt[0]?.salvaged.target, path);

    // Every command's automatic check leaves an entry whose owner it cannot read, and says so.
    const auto = await recoverOrphans({ home });
    assert.equal(auto.corrupt[0]?.handled, 'left');
    assert.equal(existsSync(path), true);

    const recover = await recoverOrphans({ home, includeExpired: true });
    assert.equal(recover.corrupt[0]?.handled, 'reverted');
    assert.equal(recover.reverted[0]?.corrupt, true);
    assert.equal(existsSync(path), false, 'reverted from what could be read');
    assert.deepEqual(await ledgerFiles(home), []);

    // One with nothing to revert from is still reported, and halt says it may be in place.
    const second = await orphanMarker(ledger, 'garbled.marker');
    await writeFile(join(ledger.dir, `${second.entry.id}.json`), '\u0000\u0000garbage');
    const halt = await haltAll({ home });
    assert.equal(halt.corrupt.length, 1);
    assert.equal(halt.corrupt[0]?.handled, 'unrevertable');
    assert.equal(hasFaultsInPlace(halt), true);
    await releaseHalt({ home });
    await ledger.remove(second.entry.id);
    await unlink(second.path);
    await assertNothingLeftBehind(home);
  });
});

describe('recover reverts like halt (item 17)', () => {
  test('orphans on different targets are reverted concurrently, one target in order', async () => {
    let inFlight = 0;
    let most = 0;
    const order: string[] = [];
    const slow: FaultKind = {
      kind: 'test-slow-revert',
      args: z.strictObject({}),
      target: () => '',
      plan: () => ({}),
      inject: async () => undefined,
      async revert(r) {
        inFlight++;
        most = Math.max(most, inFlight);
        await sleep(50);
        order.push(String(r.name));
        inFlight--;
      },
      verify: async () => true,
    };
    const kinds = new Registry<FaultKind>('fault kind');
    kinds.register(slow.kind, slow);
    const ledger = new Ledger({ home });
    for (let i = 0; i < 20; i++) await ledger.write(orphan(slow.kind, `t${i}`, { name: `t${i}` }));
    // Two on one target: newest first, one after the other.
    await ledger.write(orphan(slow.kind, 'shared', { name: 'shared-old' }));
    await sleep(2);
    await ledger.write(orphan(slow.kind, 'shared', { name: 'shared-new' }));
    const report = await recoverOrphans({ home, kinds });
    assert.equal(report.reverted.length, 22);
    assert.ok(most > 1, `reverts ran one at a time (at most ${most} at once)`);
    assert.ok(order.indexOf('shared-new') < order.indexOf('shared-old'), order.join(' '));
    await assertNothingLeftBehind(home);
  });
});

describe('a halt always halts (item 14)', () => {
  test('on a read-only home it reverts every fault it can read and says it could not raise the flag', {
    skip: !isRoot && 'needs root to mount a read-only tmpfs',
  }, async () => {
    mountTmpfs(home, '1m');
    try {
      const ledger = new Ledger({ home });
      const { path } = await orphanMarker(ledger, 'ro.marker');
      assert.equal(spawnSync('mount', ['-o', 'remount,ro', home]).status, 0);
      const report = await haltAll({ home, reason: 'drill' });
      assert.equal(report.flag.raised, false);
      assert.match(report.flag.raised ? '' : report.flag.error, /EROFS/);
      assert.equal(report.reverted.length, 1);
      assert.equal(existsSync(path), false, 'the fault is reverted all the same');
      assert.match(String(report.reverted[0]?.ledgerError), /EROFS/);
      assert.equal(spawnSync('mount', ['-o', 'remount,rw', home]).status, 0);
      // The entry it could not remove is reverted again (idempotently) by the next halt.
      const again = await haltAll({ home });
      assert.equal(again.flag.raised, true);
      assert.equal(again.reverted.length, 1);
      await releaseHalt({ home });
      await assertNothingLeftBehind(home);
    } finally {
      umount(home);
    }
  });

  test('on a full home it reverts and removes every entry although the flag cannot be written', {
    skip: !isRoot && 'needs root to mount a tiny tmpfs',
  }, async () => {
    mountTmpfs(home, '64k');
    try {
      const ledger = new Ledger({ home });
      const { path } = await orphanMarker(ledger, 'full.marker');
      const fh = await open(join(home, 'filler'), 'w');
      await fh.write(Buffer.alloc(128 * 1024)).catch(() => undefined);
      await fh.close();
      const report = await haltAll({ home });
      assert.equal(report.flag.raised, false);
      assert.match(report.flag.raised ? '' : report.flag.error, /ENOSPC/);
      assert.equal(report.reverted.length, 1);
      assert.equal(report.reverted[0]?.ledgerError, undefined, 'removing needs no space');
      assert.equal(existsSync(path), false);
      assert.equal(hasFaultsInPlace(report), false);
      await assertNothingLeftBehind(home);
    } finally {
      umount(home);
    }
  });

  test('a home that is a file: nothing to revert from, said in one line, never thrown', async () => {
    const file = join(scratch, 'not-a-dir');
    await writeFile(file, '');
    const report = await haltAll({ home: file });
    assert.equal(report.flag.raised, false);
    assert.match(String(report.ledgerError), /ENOTDIR/);
    assert.equal(hasFaultsInPlace(report), true, 'it cannot tell: halt exits 1');
  });
});
