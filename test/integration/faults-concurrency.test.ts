/**
 * Several real processes write, list, revert and recover through one ledger
 * at once: no entry is lost or corrupted, and each fault is reverted exactly once.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ledger, type RecoveryReport, recoverOrphans } from '../../src/faults/index.js';
import { assertNothingLeftBehind, type Fixture, faultFixture, fixturesPerTest } from '../helpers/faults.js';

const WORKERS = 5;
const PER_WORKER = 12;

const fx = fixturesPerTest();

interface Injected {
  ids: string[];
  corrupt: number;
  missing: number;
}

async function startWorkers(dir: string): Promise<{ workers: Fixture[]; ids: string[] }> {
  const workers = Array.from({ length: WORKERS }, () =>
    fx.spawn(faultFixture('worker.ts'), [dir, String(PER_WORKER)]),
  );
  const ledger = new Ledger({ home: fx.home });
  // List concurrently with the workers' writes: never a corrupt entry.
  let listing = true;
  const lister = (async () => {
    let corrupt = 0;
    while (listing) corrupt += (await ledger.list()).corrupt.length;
    return corrupt;
  })();
  const results = (await Promise.all(workers.map((w) => w.waitFor('injected')))).map(
    (line) => JSON.parse(line) as Injected,
  );
  listing = false;
  assert.equal(await lister, 0, 'the test process saw a corrupt entry');
  for (const r of results) {
    assert.equal(r.corrupt, 0, 'a worker saw a corrupt entry');
    assert.equal(r.missing, 0, 'a worker did not find its own entry');
    assert.equal(r.ids.length, PER_WORKER);
  }
  const ids = results.flatMap((r) => r.ids);
  assert.equal(new Set(ids).size, WORKERS * PER_WORKER);
  const { entries, corrupt } = await ledger.list();
  assert.deepEqual(corrupt, []);
  assert.deepEqual(entries.map((e) => e.id).sort(), [...ids].sort());
  assert.ok(entries.every((e) => e.state === 'active'));
  assert.equal((await readdir(dir)).length, WORKERS * PER_WORKER);
  return { workers, ids };
}

test('processes injecting and listing at once lose and corrupt nothing, then revert everything', async () => {
  const dir = join(fx.home, 'markers');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir);
  const { workers } = await startWorkers(dir);

  // Every owner is alive: recovery must leave their faults alone.
  const report = await recoverOrphans({ home: fx.home });
  assert.deepEqual(report.reverted, []);
  assert.equal((await readdir(dir)).length, WORKERS * PER_WORKER);

  for (const w of workers) w.send('revert');
  for (const line of await Promise.all(workers.map((w) => w.waitFor('reverted')))) {
    assert.deepEqual(JSON.parse(line), { failed: 0 });
  }
  await Promise.all(workers.map((w) => w.exited));
  assert.deepEqual(await readdir(dir), []);
  await assertNothingLeftBehind(fx.home);
});

test('several recoverers racing over killed runners revert each fault exactly once', async () => {
  const dir = join(fx.home, 'markers');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir);
  const { workers, ids } = await startWorkers(dir);
  for (const w of workers) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  assert.equal((await readdir(dir)).length, WORKERS * PER_WORKER);

  const recoverers = Array.from({ length: 4 }, () => fx.spawn(faultFixture('ops.ts'), ['recover']));
  const reports = (await Promise.all(recoverers.map((r) => r.waitFor('result')))).map(
    (line) => JSON.parse(line) as RecoveryReport,
  );
  const reverted = reports.flatMap((r) => r.reverted.map((x) => x.id));
  assert.deepEqual(
    reports.flatMap((r) => r.failed),
    [],
  );
  assert.equal(reverted.length, ids.length, 'some fault was reverted twice or not at all');
  assert.deepEqual([...reverted].sort(), [...ids].sort());
  assert.deepEqual(await readdir(dir), []);
  await assertNothingLeftBehind(fx.home);
});
