/**
 * Crash safety with real processes: a runner killed with SIGKILL leaves its
 * faults in the ledger, and recovery from another process reverts them; a
 * halt from another process reverts a live runner's faults.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  haltState,
  Ledger,
  listActiveFaults,
  type RecoveryReport,
  recoverOrphans,
  registerFaultKind,
  releaseHalt,
} from '../../src/faults/index.js';
import { hangingKind } from '../fixtures/faults/kinds.js';
import { assertNothingLeftBehind, type Fixture, faultFixture, fixturesPerTest } from '../helpers/faults.js';

registerFaultKind(hangingKind);
// These tests are about what recovery does with a dead runner's entries: the dead-man switch
// (test/integration/watchdog.test.ts) would race them, so their runners start none.
process.env.FAULTLINE_WATCHDOG = '0';

const fx = fixturesPerTest();

function holder(runId: string): Fixture {
  return fx.spawn(faultFixture('holder.ts'), [runId]);
}

test('faults of a runner killed with SIGKILL are reverted by the next recovery', async () => {
  const h = holder('doomed-run');
  const marker = join(fx.home, 'marker');
  await h.waitFor('ready');
  h.send(`inject ${marker}`);
  const id = await h.waitFor('injected');
  assert.equal(existsSync(marker), true);

  h.child.kill('SIGKILL');
  assert.equal((await h.exited).signal, 'SIGKILL');

  assert.equal(existsSync(marker), true, 'a killed runner cannot revert anything');
  const [fault, ...rest] = await listActiveFaults({ home: fx.home });
  assert.deepEqual(rest, []);
  assert.equal(fault?.id, id);
  assert.equal(fault?.runId, 'doomed-run');
  assert.equal(fault?.ownerAlive, false);
  assert.equal(await new Ledger({ home: fx.home }).isRunAlive('doomed-run'), false);

  const report = await recoverOrphans({ home: fx.home });
  assert.deepEqual(
    report.reverted.map((r) => [r.id, r.reason, r.verified]),
    [[id, 'dead-owner', true]],
  );
  assert.deepEqual(report.failed, []);
  assert.deepEqual(report.removedRuns, ['doomed-run']);
  assert.equal(existsSync(marker), false);
  assert.deepEqual(await listActiveFaults({ home: fx.home }), []);
  assert.deepEqual((await recoverOrphans({ home: fx.home })).reverted, [], 'a second recovery finds nothing');
  await assertNothingLeftBehind(fx.home, [marker]);
});

test('a runner killed in the middle of injecting leaves a pending entry that recovery reverts', async () => {
  const h = holder('mid-inject');
  const file = join(fx.home, 'half-done');
  await h.waitFor('ready');
  h.send(`hang ${file}`);
  await h.waitFor('acting');
  h.child.kill('SIGKILL');
  await h.exited;

  const [fault] = await listActiveFaults({ home: fx.home });
  assert.equal(fault?.state, 'pending');
  assert.equal(fault?.kind, 'test-hanging-file');
  assert.equal(existsSync(file), true);

  // Recovery from a separate process, as the next `faultline` command would.
  const ops = fx.spawn(faultFixture('ops.ts'), ['recover']);
  const report = JSON.parse(await ops.waitFor('result')) as RecoveryReport;
  assert.equal(report.reverted.length, 1);
  assert.equal(existsSync(file), false);
  await assertNothingLeftBehind(fx.home, [file]);
});

test("halt from another process reverts a live runner's fault and blocks its next inject", async () => {
  const h = holder('live-run');
  const marker = join(fx.home, 'live-marker');
  const second = join(fx.home, 'second');
  await h.waitFor('ready');
  h.send(`inject ${marker}`);
  const id = await h.waitFor('injected');

  // The live runner's fault is not an orphan.
  assert.deepEqual((await recoverOrphans({ home: fx.home, includeExpired: true })).reverted, []);
  assert.equal(existsSync(marker), true);

  const halter = fx.spawn(faultFixture('ops.ts'), ['halt', 'drill']);
  const report = JSON.parse(await halter.waitFor('result')) as RecoveryReport;
  assert.deepEqual(
    report.reverted.map((r) => [r.id, r.runId, r.reason]),
    [[id, 'live-run', 'halt']],
  );
  assert.equal(existsSync(marker), false);
  assert.equal((await haltState({ home: fx.home }))?.reason, 'drill');

  h.send(`inject ${second}`);
  assert.equal(await h.waitFor('error'), 'FAULTLINE_ERR_HALTED');
  assert.equal(existsSync(second), false);

  h.send('revert');
  const records = JSON.parse(await h.waitFor('reverted')) as { id: string; verified: boolean }[];
  assert.deepEqual(
    records.map((r) => [r.id, r.verified]),
    [[id, true]],
  );
  assert.equal((await h.exited).code, 0);
  assert.equal(await releaseHalt({ home: fx.home }), true);
  await assertNothingLeftBehind(fx.home, [marker, second]);
});
