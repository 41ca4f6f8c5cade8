import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkTolerance, validateTolerance } from '../../src/engine/tolerances/index.js';

function slot() {
  let v: number | undefined;
  return { get: () => v, set: (x: number) => (v = x) };
}
const ctx = (baseline = slot()) => ({ vars: {}, runProbe: async () => null, baseline });

test('the first check captures the baseline; later ones compare against it', async () => {
  const s = slot();
  const tol = { type: 'baseline' as const, max_ratio: 1.5 };
  assert.deepEqual(await checkTolerance(tol, 200, ctx(s)), { met: true });
  assert.equal(s.get(), 200);
  assert.equal((await checkTolerance(tol, 290, ctx(s))).met, true);
  const miss = await checkTolerance(tol, 310, ctx(s));
  assert.equal(miss.met, false);
  assert.match(miss.reason!, /1\.55x the baseline 200 \(at most 1\.5x\)/);
});

test('min_ratio, within, target, zero baselines and non-numbers', async () => {
  const s = slot();
  s.set(0.99);
  assert.equal((await checkTolerance({ type: 'baseline', min_ratio: 0.9 }, 0.95, ctx(s))).met, true);
  assert.equal((await checkTolerance({ type: 'baseline', min_ratio: 0.9 }, 0.8, ctx(s))).met, false);
  const w = slot();
  w.set(100);
  assert.equal(
    (await checkTolerance({ type: 'baseline', within: 0.1, target: 'p99' }, { p99: 109 }, ctx(w))).met,
    true,
  );
  assert.equal(
    (await checkTolerance({ type: 'baseline', within: 0.1, target: 'p99' }, { p99: 111 }, ctx(w))).met,
    false,
  );
  const z = slot();
  z.set(0);
  assert.equal((await checkTolerance({ type: 'baseline', max_ratio: 2 }, 0, ctx(z))).met, true);
  assert.equal((await checkTolerance({ type: 'baseline', max_ratio: 2 }, 1, ctx(z))).met, false);
  assert.match(
    (await checkTolerance({ type: 'baseline', max_ratio: 2 }, 'abc', ctx())).reason!,
    /not a number/,
  );
  assert.equal(
    (await checkTolerance({ type: 'baseline', max_ratio: 2 }, 1, { vars: {}, runProbe: async () => null }))
      .met,
    false,
  );
});

test('validation names what is missing or wrong', () => {
  assert.match(
    validateTolerance({ type: 'baseline' } as never)[0]!.message,
    /max_ratio, min_ratio or within/,
  );
  assert.equal(validateTolerance({ type: 'baseline', max_ratio: -1 } as never)[0]!.path, 'max_ratio');
  assert.deepEqual(validateTolerance({ type: 'baseline', within: 0.1 } as never), []);
});
