import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EARLY_MS, TimedQueue } from '../../src/proxy/queue.js';
import { latency } from '../../src/proxy/toxics/latency.js';
import { FakeLink, feed, makeToxic } from '../helpers/toxic-link.js';

describe('latency toxic (virtual clock)', () => {
  test('holds each chunk latency ms from its arrival; back-to-back chunks do not add up', () => {
    const { toxic, link } = makeToxic(latency, { latency: 100 });
    feed(toxic, link, 'a');
    link.clock.advance(30);
    feed(toxic, link, 'b');
    link.clock.advance(69);
    assert.equal(link.output, '');
    link.clock.advance(1);
    assert.deepEqual(
      link.pushed.map((p) => [p.data, p.t]),
      [['a', 100]],
    );
    link.clock.advance(30);
    assert.deepEqual(
      link.pushed.map((p) => [p.data, p.t]),
      [
        ['a', 100],
        ['b', 130],
      ],
    );
  });

  test('moves the timestamp, so two latency toxics add up', () => {
    const { toxic, link } = makeToxic(latency, { latency: 100 });
    feed(toxic, link, 'x');
    link.clock.advance(100);
    assert.equal(link.pushed[0]?.at, 100);
  });

  test('latency 0 (no attributes) passes chunks through synchronously', () => {
    const { toxic, link, attributes } = makeToxic(latency);
    assert.deepEqual(attributes, { latency: 0, jitter: 0 });
    feed(toxic, link, 'now');
    assert.equal(link.output, 'now');
  });

  test('jitter draws whole milliseconds in [latency - jitter, latency + jitter)', () => {
    const { toxic, link } = makeToxic(latency, { latency: 50, jitter: 20 });
    const delays = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const sent = link.clock.now();
      feed(toxic, link, 'x');
      link.clock.advance(100);
      const delay = link.pushed.at(-1)!.t - sent;
      assert.ok(Number.isInteger(delay) && delay >= 30 && delay < 70, `delay ${delay}`);
      delays.add(delay);
    }
    assert.ok(delays.size > 20, 'the delays vary');
  });

  test('order is kept: a chunk never overtakes the one ahead of it', () => {
    const { toxic, link } = makeToxic(latency, { latency: 50, jitter: 20 });
    const sent = Array.from({ length: 200 }, (_, i) => String.fromCharCode(65 + (i % 26)));
    for (const c of sent) feed(toxic, link, c);
    link.clock.advance(100);
    assert.equal(link.output, sent.join(''));
    const times = link.pushed.map((p) => p.t);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    assert.ok(times.every((t) => t >= 30 - EARLY_MS && t < 70));
  });

  test('end-of-stream follows the held chunks', () => {
    const { toxic, link } = makeToxic(latency, { latency: 100 });
    feed(toxic, link, 'a');
    toxic.end?.();
    assert.equal(link.ended, null);
    link.clock.advance(100);
    assert.equal(link.output, 'a');
    assert.equal(link.ended, 100);
  });

  test('an update re-times held chunks from their arrival; flush releases everything at once', () => {
    const { toxic, link } = makeToxic(latency, { latency: 10_000 });
    feed(toxic, link, 'a');
    link.clock.advance(50);
    toxic.update?.({ latency: 20, jitter: 0 });
    assert.equal(link.output, 'a', 'arrival + 20 ms is already past');
    feed(toxic, link, 'b');
    toxic.update?.({ latency: 5000, jitter: 0 });
    link.clock.advance(100);
    assert.equal(link.output, 'a');
    toxic.flush?.();
    assert.equal(link.output, 'ab');
  });

  test('pauses the source past the high-water mark and resumes below half of it', () => {
    const link = new FakeLink('upstream', { highWaterMark: 10 });
    const { toxic } = makeToxic(latency, { latency: 100 }, link);
    feed(toxic, link, '123456');
    assert.equal(link.paused, false);
    feed(toxic, link, '789012');
    assert.equal(link.paused, true);
    link.clock.advance(100);
    assert.equal(link.paused, false);
    assert.equal(link.output, '123456789012');
  });
});

describe('TimedQueue', () => {
  test('one timer per queue, armed for the head only', () => {
    const link = new FakeLink();
    const q = new TimedQueue(link);
    for (let i = 0; i < 50; i++) q.add(Buffer.from('x'), 0, 100 + i);
    assert.equal(link.clock.pending, 1);
    link.clock.advance(200);
    assert.equal(link.pushed.length, 50);
    assert.equal(link.clock.pending, 0);
  });

  test('releases what is due within half a millisecond, never later items first', () => {
    const link = new FakeLink();
    const q = new TimedQueue(link);
    q.add(Buffer.from('a'), 0, 10.4);
    q.add(Buffer.from('b'), 0, 5); // due earlier but queued behind 'a'
    link.clock.advance(10);
    assert.equal(link.output, 'ab');
  });

  test('dispose drops everything and stops the timer', () => {
    const link = new FakeLink();
    const q = new TimedQueue(link);
    q.add(Buffer.from('a'), 0, 10);
    q.dispose();
    link.clock.advance(20);
    assert.equal(link.output, '');
    assert.equal(link.clock.pending, 0);
  });
});
