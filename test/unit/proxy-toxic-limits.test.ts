import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limitData } from '../../src/proxy/toxics/limit-data.js';
import { limitTime } from '../../src/proxy/toxics/limit-time.js';
import { resetPeer } from '../../src/proxy/toxics/reset-peer.js';
import { slowClose } from '../../src/proxy/toxics/slow-close.js';
import { timeout } from '../../src/proxy/toxics/timeout.js';
import { feed, makeToxic } from '../helpers/toxic-link.js';

describe('limit_data', () => {
  test('forwards up to bytes (the last chunk cut short), then closes: 3 + 5 bytes, limit 5 -> abc, de, close', () => {
    const { toxic, link } = makeToxic(limitData, { bytes: 5 });
    feed(toxic, link, 'abc');
    assert.equal(link.closed, null);
    feed(toxic, link, 'defgh');
    assert.deepEqual(
      link.pushed.map((p) => p.data),
      ['abc', 'de'],
    );
    assert.notEqual(link.closed, null);
    feed(toxic, link, 'ignored');
    assert.equal(link.output, 'abcde');
  });

  test('exactly reaching the limit closes at once', () => {
    const { toxic, link } = makeToxic(limitData, { bytes: 3 });
    feed(toxic, link, 'abc');
    assert.equal(link.output, 'abc');
    assert.notEqual(link.closed, null);
  });

  test('bytes 0 closes on the first data, not before', () => {
    const { toxic, link } = makeToxic(limitData);
    assert.equal(link.closed, null);
    feed(toxic, link, 'x');
    assert.equal(link.output, '');
    assert.notEqual(link.closed, null);
  });

  test('the count survives an update', () => {
    const { toxic, link } = makeToxic(limitData, { bytes: 10 });
    feed(toxic, link, '12345678');
    toxic.update?.({ bytes: 9 });
    feed(toxic, link, 'abc');
    assert.equal(link.output, '123456789'.slice(0, 8) + 'a');
    assert.notEqual(link.closed, null);
  });
});

describe('timeout', () => {
  test('drops data and closes timeout ms after it started, not after the last byte', () => {
    const { toxic, link } = makeToxic(timeout, { timeout: 100 });
    link.clock.advance(60);
    feed(toxic, link, 'dropped');
    link.clock.advance(39);
    assert.equal(link.closed, null);
    link.clock.advance(1);
    assert.equal(link.closed, 100);
    assert.equal(link.output, '');
  });

  test('timeout 0 never closes; removing the toxic closes (the dropped data is gone)', () => {
    const { toxic, link } = makeToxic(timeout);
    feed(toxic, link, 'x');
    link.clock.advance(60_000);
    assert.equal(link.closed, null);
    toxic.flush?.();
    assert.notEqual(link.closed, null);
  });

  test('an update restarts the timer from now', () => {
    const { toxic, link } = makeToxic(timeout, { timeout: 100 });
    link.clock.advance(90);
    toxic.update?.({ timeout: 50 });
    link.clock.advance(49);
    assert.equal(link.closed, null);
    link.clock.advance(1);
    assert.equal(link.closed, 140);
  });
});

describe('reset_peer', () => {
  test('an idle link is never reset', () => {
    const { link } = makeToxic(resetPeer, { timeout: 10 });
    link.clock.advance(10_000);
    assert.equal(link.resets, 0);
  });
  test('resets timeout ms after the first data, dropping data meanwhile', () => {
    const { toxic, link } = makeToxic(resetPeer, { timeout: 50 });
    link.clock.advance(20);
    feed(toxic, link, 'a');
    feed(toxic, link, 'b');
    link.clock.advance(49);
    assert.equal(link.resets, 0);
    link.clock.advance(1);
    assert.equal(link.resets, 1);
    assert.equal(link.output, '');
  });
  test('end-of-stream also starts the countdown; timeout 0 resets at once', () => {
    const a = makeToxic(resetPeer, { timeout: 5 });
    a.toxic.end?.();
    a.link.clock.advance(5);
    assert.equal(a.link.resets, 1);
    const b = makeToxic(resetPeer);
    feed(b.toxic, b.link, 'x');
    assert.equal(b.link.resets, 1);
  });
});

describe('slow_close', () => {
  test('data passes; the end is forwarded delay ms late', () => {
    const { toxic, link } = makeToxic(slowClose, { delay: 300 });
    feed(toxic, link, 'data');
    assert.equal(link.output, 'data');
    link.clock.advance(10);
    toxic.end?.();
    link.clock.advance(299);
    assert.equal(link.ended, null);
    link.clock.advance(1);
    assert.equal(link.ended, 310);
  });
});

describe('limit_time (Faultline)', () => {
  test('data flows, then the connection is closed time ms after the start', () => {
    const { toxic, link } = makeToxic(limitTime, { time: 100 });
    feed(toxic, link, 'ok');
    assert.equal(link.output, 'ok');
    link.clock.advance(100);
    assert.equal(link.closed, 100);
  });
  test('an update moves the deadline relative to the start', () => {
    const { toxic, link } = makeToxic(limitTime, { time: 1000 });
    link.clock.advance(100);
    toxic.update?.({ time: 150 });
    link.clock.advance(49);
    assert.equal(link.closed, null);
    link.clock.advance(1);
    assert.equal(link.closed, 150);
    const late = makeToxic(limitTime, { time: 1000 });
    late.link.clock.advance(500);
    late.toxic.update?.({ time: 100 });
    assert.equal(late.link.closed, 500, 'a deadline already past closes at once');
  });
});
