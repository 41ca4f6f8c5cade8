/**
 * The load generator's lifecycle against real servers on port 0: idle -> running
 * -> stopping (the schedule has ended, requests in flight drain) -> stopped, and
 * the shortcuts from idle. start() and stop() resolve with one summary whatever
 * the order they are called in. Every wait is for an event (a request arriving,
 * a state reached), never for an amount of time.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { LoadGenerator, type LoadState } from '../../src/load/generator.js';
import { startServer } from '../helpers/server.js';

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A server that answers nothing until release(), and at once after it. */
async function holdingServer() {
  const held: ServerResponse[] = [];
  let released = false;
  const s = await startServer((_req, res) => (released ? res.end('ok') : held.push(res)));
  return Object.assign(s, {
    held,
    release: () => {
      released = true;
      for (const res of held.splice(0)) res.end('ok');
    },
  });
}

test('idle -> running -> stopping while responses are outstanding -> stopped once they are in', async () => {
  const s = await holdingServer();
  try {
    const gen = new LoadGenerator({ rate: 20, requests: [{ url: s.url }] });
    const seen: LoadState[] = [gen.state];
    const done = gen.start();
    seen.push(gen.state);
    await until('two requests at the server', () => s.held.length >= 2);
    const stopped = gen.stop();
    seen.push(gen.state);
    assert.ok(gen.inFlight >= 2, `${gen.inFlight} in flight: the drain waits for them`);
    s.release();
    const sum = await stopped;
    seen.push(gen.state);
    assert.deepEqual(seen, ['idle', 'running', 'stopping', 'stopped']);
    assert.ok(sum.sent >= 2, `sent ${sum.sent}`);
    assert.equal(sum.totals.successes, sum.sent, 'requests in flight at the stop are counted');
    // One summary, whichever call asks for it.
    assert.equal(await done, sum);
    assert.equal(await gen.stop(), sum);
    assert.equal(await gen.stop({ abort: true }), sum);
    assert.equal(await gen.start(), sum);
  } finally {
    await s.close();
  }
});

test('the end of the duration: stopping while responses are outstanding, stopped once they are in', async () => {
  const s = await holdingServer();
  try {
    // Two requests due (at 0 and 50 ms), then the schedule ends with both unanswered.
    const gen = new LoadGenerator({ rate: 20, durationMs: 100, requests: [{ url: s.url }] });
    const done = gen.start();
    await until('the schedule to end', () => gen.state !== 'running');
    await until('both requests at the server', () => s.held.length === 2);
    assert.equal(gen.state, 'stopping', 'still draining: two responses are outstanding');
    s.release();
    const sum = await done;
    assert.equal(gen.state, 'stopped');
    assert.equal(sum.sent, 2);
    assert.equal(sum.totals.successes, 2);
  } finally {
    await s.close();
  }
});

test('stop() before start(): stopped at once, nothing sent, one summary for every later call', async () => {
  const s = await startServer((_req, res) => res.end('ok'));
  try {
    const gen = new LoadGenerator({ rate: 100, durationMs: 1000, requests: [{ url: s.url }] });
    const first = gen.stop();
    assert.equal(gen.state, 'stopped');
    const sum = await first;
    assert.equal(sum.sent, 0);
    assert.equal(sum.scheduled, 0);
    assert.equal(sum.duration_ms, 0);
    assert.deepEqual(sum.series, []);
    assert.equal(await gen.stop(), sum, 'a second stop() neither finishes again nor makes a new summary');
    assert.equal(await gen.start(), sum, 'start() after stop() sends nothing');
    assert.equal(gen.state, 'stopped');
    assert.equal(s.requests.length, 0);
  } finally {
    await s.close();
  }
});

test('start() with the signal already aborted: stopped, nothing sent', async () => {
  const s = await startServer((_req, res) => res.end('ok'));
  try {
    const controller = new AbortController();
    controller.abort();
    const gen = new LoadGenerator(
      { rate: 100, durationMs: 1000, requests: [{ url: s.url }] },
      { signal: controller.signal },
    );
    const sum = await gen.start();
    assert.equal(gen.state, 'stopped');
    assert.equal(sum.sent, 0);
    assert.equal(s.requests.length, 0);
  } finally {
    await s.close();
  }
});

test('stop({ abort: true }) while stopping cancels what is in flight and ends the drain', async () => {
  const s = await holdingServer();
  try {
    const gen = new LoadGenerator({ rate: 50, requests: [{ url: s.url }] });
    const done = gen.start();
    await until('two requests at the server', () => s.held.length >= 2);
    const draining = gen.stop();
    assert.equal(gen.state, 'stopping');
    const aborted = gen.stop({ abort: true });
    assert.equal(aborted, draining, 'one promise for the one stop');
    const sum = await aborted;
    assert.equal(gen.state, 'stopped');
    assert.equal(await done, sum);
    assert.ok(sum.sent >= 2, `sent ${sum.sent}`);
    assert.equal(sum.totals.requests, 0, 'cancelled requests are not outcomes');
    assert.equal(gen.inFlight, 0);
  } finally {
    s.release();
    await s.close();
  }
});
