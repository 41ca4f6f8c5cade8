/** The load generator's waker thread: sub-millisecond wake-ups without spinning. */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { Waker } from '../../src/load/waker.js';

async function ready(w: Waker): Promise<void> {
  const until = Date.now() + 5000;
  while (!w.ready && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  assert.ok(w.ready, 'the worker started');
}

test('wakeAt calls back at the time asked (not before), replaces an earlier request, cancel forgets it', async () => {
  const wakes: number[] = [];
  let resolve: (() => void) | undefined;
  const w = new Waker(() => {
    wakes.push(performance.now());
    resolve?.();
  });
  try {
    await ready(w);
    const late: number[] = [];
    for (let k = 0; k < 50; k++) {
      const at = performance.now() + 0.5;
      await new Promise<void>((r) => {
        resolve = r;
        w.wakeAt(at);
      });
      const t = wakes[wakes.length - 1] ?? 0;
      assert.ok(t >= at - 0.01, `woken ${(at - t).toFixed(3)} ms early`);
      late.push(t - at);
    }
    late.sort((a, b) => a - b);
    // Generous: CI boxes are busy. Typically 0.05-0.2 ms.
    assert.ok((late[25] ?? 99) < 5, `median lateness ${late[25]} ms`);

    // Replaced: only the second time fires.
    const n = wakes.length;
    w.wakeAt(performance.now() + 1);
    await new Promise<void>((r) => {
      resolve = r;
      w.wakeAt(performance.now() + 20);
    });
    assert.equal(wakes.length, n + 1);
    // Cancelled: nothing fires.
    w.wakeAt(performance.now() + 5);
    w.cancel();
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(wakes.length, n + 1);
  } finally {
    w.close();
  }
  assert.equal(w.ready, false);
});
