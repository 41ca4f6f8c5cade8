import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bandwidth, paceChunk, transmitMs } from '../../src/proxy/toxics/bandwidth.js';
import { FakeLink, feed, makeToxic } from '../helpers/toxic-link.js';

describe('bandwidth pacing math', () => {
  test('KB/s with 1 KB = 1000 bytes: 20,000 bytes at rate 10 take 2 s', () => {
    assert.equal(transmitMs(20_000, 10), 2000);
    assert.equal(transmitMs(1, 0), Number.POSITIVE_INFINITY);
  });

  test('chunks larger than rate * 100 bytes go out in 100 ms slices', () => {
    assert.deepEqual(paceChunk(2500, 10), [1000, 1000, 500]);
    assert.deepEqual(paceChunk(1000, 10), [1000]);
    assert.deepEqual(paceChunk(700, 0), [700]);
  });
});

describe('bandwidth toxic (virtual clock)', () => {
  test('20,000 bytes at rate 10 arrive in 100 ms slices and finish at 2 s', () => {
    const { toxic, link } = makeToxic(bandwidth, { rate: 10 });
    feed(toxic, link, 'x'.repeat(20_000));
    link.clock.advance(99);
    assert.equal(link.output.length, 0);
    link.clock.advance(1);
    assert.equal(link.output.length, 1000);
    link.clock.advance(1900);
    assert.equal(link.output.length, 20_000);
    assert.equal(link.pushed.at(-1)?.t, 2000);
  });

  test('idle time earns no credit; a busy link queues chunks back to back', () => {
    const { toxic, link } = makeToxic(bandwidth, { rate: 1 }); // 1 byte per ms
    link.clock.advance(1000);
    feed(toxic, link, 'aaaaa');
    feed(toxic, link, 'bbbbb');
    link.clock.advance(5);
    assert.equal(link.output, 'aaaaa');
    link.clock.advance(5);
    assert.equal(link.output, 'aaaaabbbbb');
  });

  test('rate 0 stalls everything (end included) until the toxic is removed', () => {
    const { toxic, link, attributes } = makeToxic(bandwidth);
    assert.deepEqual(attributes, { rate: 0 });
    feed(toxic, link, 'held');
    toxic.end?.();
    link.clock.advance(60_000);
    assert.equal(link.output, '');
    assert.equal(link.ended, null);
    toxic.flush?.();
    assert.equal(link.output, 'held');
    assert.equal(link.ended, 0 + 60_000);
  });

  test('raising the rate re-paces what is queued', () => {
    const { toxic, link } = makeToxic(bandwidth, { rate: 0 });
    feed(toxic, link, 'x'.repeat(1000));
    toxic.update?.({ rate: 10 }); // 100 ms for 1000 bytes
    link.clock.advance(100);
    assert.equal(link.output.length, 1000);
  });

  test('a big upload is bounded: the source pauses at the high-water mark', () => {
    const link = new FakeLink('upstream', { highWaterMark: 64 * 1024 });
    const { toxic } = makeToxic(bandwidth, { rate: 1 }, link);
    for (let i = 0; i < 10; i++) feed(toxic, link, 'y'.repeat(16 * 1024));
    assert.equal(link.paused, true);
  });
});
