/**
 * netem correlation (Chaos Mesh's `correlation` on delay, loss, duplicate,
 * corrupt) as tc's `delay T J C%` / `loss P% C%` syntax: the argv is pure, so
 * it is checked here; sch_netem is missing on the test machines' kernel, so no
 * qdisc is installed.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { netemParams } from '../../src/faults/network/commands.js';
import { CorruptArgsSchema } from '../../src/faults/network/corrupt.js';
import { DuplicateArgsSchema } from '../../src/faults/network/duplicate.js';
import { LatencyArgsSchema } from '../../src/faults/network/latency.js';
import { LossArgsSchema, lossKind } from '../../src/faults/network/loss.js';

test('delay with jitter and correlation: delay 500ms 100ms 100% distribution normal (the seed)', () => {
  assert.deepEqual(netemParams({ delayMs: 500, jitterMs: 100, delayCorrelation: 100 }), [
    'delay',
    '500ms',
    '100ms',
    '100%',
    'distribution',
    'normal',
  ]);
});

test('a delay correlation without jitter is not written (tc would read it as the jitter)', () => {
  assert.deepEqual(netemParams({ delayMs: 90, delayCorrelation: 25 }), ['delay', '90ms']);
  assert.deepEqual(netemParams({ delayMs: 90, jitterMs: 0, delayCorrelation: 25 }), ['delay', '90ms']);
});

test('loss, duplicate and corrupt take their correlation after the percentage; 0 is left out', () => {
  assert.deepEqual(
    netemParams({
      lossPercent: 25,
      lossCorrelation: 25,
      duplicatePercent: 40,
      duplicateCorrelation: 0,
      corruptPercent: 40,
      corruptCorrelation: 12.5,
    }),
    ['loss', '25%', '25%', 'duplicate', '40%', 'corrupt', '40%', '12.5%'],
  );
});

test('the argument schemas take correlation as a number or a string of one, 0 to 100', () => {
  const base = { interface: 'eth0' };
  assert.equal(
    LatencyArgsSchema.parse({ ...base, delay: 90, jitter: 90, correlation: '25' }).correlation,
    25,
  );
  assert.equal(DuplicateArgsSchema.parse({ ...base, percent: 40, correlation: 25 }).correlation, 25);
  assert.equal(CorruptArgsSchema.parse({ ...base, percent: 40, correlation: 0 }).correlation, 0);
  const bad = CorruptArgsSchema.safeParse({ ...base, percent: 40, correlation: 150 });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues[0]?.path, ['correlation']);
  assert.match(bad.error?.issues[0]?.message ?? '', /percentage from 0 to 100/);
});

test('loss correlation needs the netem backend: the firewall backends refuse it naming the field', async () => {
  const args = LossArgsSchema.parse({ percent: 25, correlation: 25 });
  await assert.rejects(
    () => Promise.resolve(lossKind.plan(args, { targets: [] })),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
      assert.match(err.message, /network-loss: correlation: only backend netem/);
      return true;
    },
  );
});
