/** The revert schedulers: at most `limit` at once; one key's items in order, one at a time. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachByKeyLimit, forEachLimit } from '../../src/core/concurrency.js';

test('forEachLimit: starts items in order, never more than the limit at once, rethrows after all ran', async () => {
  const started: number[] = [];
  let running = 0;
  let peak = 0;
  await assert.rejects(
    forEachLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
      started.push(n);
      peak = Math.max(peak, ++running);
      await sleep(5);
      running--;
      if (n === 2) throw new Error('two failed');
    }),
    /two failed/,
  );
  assert.deepEqual(started, [1, 2, 3, 4, 5, 6], 'a failure does not stop the rest');
  assert.equal(peak, 2);
});

test('forEachByKeyLimit: one key in the given order and never overlapping; keys concurrently', async () => {
  const log: string[] = [];
  const running = new Map<string, number>();
  let overlapSameKey = false;
  let peakKeys = 0;
  const items = ['a3', 'b2', 'a2', 'c1', 'b1', 'a1'];
  await forEachByKeyLimit(
    items,
    (s) => s[0] as string,
    8,
    async (s) => {
      const key = s[0] as string;
      if ((running.get(key) ?? 0) > 0) overlapSameKey = true;
      running.set(key, (running.get(key) ?? 0) + 1);
      peakKeys = Math.max(peakKeys, [...running.values()].filter((n) => n > 0).length);
      await sleep(10);
      log.push(s);
      running.set(key, (running.get(key) ?? 1) - 1);
    },
  );
  assert.equal(overlapSameKey, false);
  assert.equal(peakKeys, 3, 'the three keys ran at once');
  for (const key of ['a', 'b']) {
    assert.deepEqual(
      log.filter((s) => s.startsWith(key)),
      items.filter((s) => s.startsWith(key)),
      `${key} in the given order`,
    );
  }
});

test('forEachByKeyLimit: a failure in one key still runs the rest of that key and the others, then rethrows', async () => {
  const done: string[] = [];
  await assert.rejects(
    forEachByKeyLimit(
      ['x2', 'x1', 'y1'],
      (s) => s[0] as string,
      1,
      async (s) => {
        if (s === 'x2') throw new Error('x2 failed');
        done.push(s);
      },
    ),
    /x2 failed/,
  );
  assert.deepEqual(done.sort(), ['x1', 'y1']);
});
