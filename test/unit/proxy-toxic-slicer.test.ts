import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeAttributes } from '../../src/proxy/manager.js';
import { ProxyApiError } from '../../src/proxy/model.js';
import { slicePlan, slicer } from '../../src/proxy/toxics/slicer.js';
import { feed, makeToxic, seeded } from '../helpers/toxic-link.js';

describe('slicer sizes (pure)', () => {
  test('without variation every piece is average_size, the last what is left', () => {
    assert.deepEqual(slicePlan(25, 10, 0, seeded()), [10, 10, 5]);
    assert.deepEqual(slicePlan(1, 10, 0, seeded()), [1]);
    assert.deepEqual(slicePlan(0, 10, 0, seeded()), []);
  });

  test('with variation pieces stay within average ± variation and cover the chunk exactly', () => {
    const sizes = slicePlan(100_000, 100, 40, seeded(7));
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      100_000,
    );
    for (const s of sizes.slice(0, -1)) assert.ok(s >= 60 && s <= 140, `piece of ${s}`);
    const mean = 100_000 / sizes.length;
    assert.ok(Math.abs(mean - 100) < 3, `mean piece ${mean}`);
  });
});

describe('slicer toxic (virtual clock)', () => {
  test('delay 0: all pieces at once, in order', () => {
    const { toxic, link } = makeToxic(slicer, { average_size: 3 });
    feed(toxic, link, 'abcdefgh');
    assert.deepEqual(
      link.pushed.map((p) => p.data),
      ['abc', 'def', 'gh'],
    );
  });

  test('delay is in microseconds between pieces', () => {
    const { toxic, link } = makeToxic(slicer, { average_size: 1, delay: 10_000 }); // 10 ms
    feed(toxic, link, 'abcd');
    link.clock.advance(10);
    assert.equal(link.output, 'a');
    link.clock.advance(30);
    assert.equal(link.output, 'abcd');
  });
});

describe('slicer attributes: what crashes Toxiproxy is a 400 naming the attribute', () => {
  const rejects = (attrs: unknown, field: string) =>
    assert.throws(
      () => decodeAttributes(slicer, {}, attrs),
      (err: unknown) => err instanceof ProxyApiError && err.status === 400 && err.message.includes(field),
    );
  test('average_size 0 (also the default when attributes are omitted)', () => {
    rejects({}, 'average_size');
    rejects({ average_size: 0 }, 'average_size');
  });
  test('size_variation > average_size (Toxiproxy panics); equal is accepted, as Toxiproxy does', () => {
    rejects({ average_size: 10, size_variation: 11 }, 'size_variation');
    // toxiproxy-node-client's own suite sends average_size = size_variation = 1000.
    assert.deepEqual(decodeAttributes(slicer, {}, { average_size: 1000, size_variation: 1000 }), {
      average_size: 1000,
      size_variation: 1000,
      delay: 0,
    });
  });
  test('negative size_variation is refused (rand.Intn panics in Toxiproxy)', () => {
    rejects({ average_size: 10, size_variation: -1 }, 'size_variation');
  });
  test('a negative delay is accepted and means none, as in Toxiproxy', () => {
    assert.equal(decodeAttributes(slicer, {}, { average_size: 10, delay: -1 }).delay, -1);
    const { toxic, link } = makeToxic(slicer, { average_size: 2, delay: -5_000 });
    feed(toxic, link, 'abcde');
    assert.equal(link.output, 'abcde');
  });
  test('size_variation = average_size slices real data, every byte once, in order', () => {
    const { toxic, link } = makeToxic(slicer, { average_size: 4, size_variation: 4 });
    const data = 'the quick brown fox jumps over the lazy dog'.repeat(20);
    feed(toxic, link, data);
    assert.equal(link.output, data);
    assert.ok(link.pushed.length > 1, 'sliced into pieces');
    for (const p of link.pushed) assert.ok(p.data.length >= 1 && p.data.length <= 8, `piece ${p.data}`);
  });
});
