/**
 * Edge values Toxiproxy accepts without crashing (negative durations and
 * limits, which its Go code treats as 0) behave here as they do there: its
 * clients send them, so they must be accepted and mean the same thing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { latency } from '../../src/proxy/toxics/latency.js';
import { limitData } from '../../src/proxy/toxics/limit-data.js';
import { limitTime } from '../../src/proxy/toxics/limit-time.js';
import { resetPeer } from '../../src/proxy/toxics/reset-peer.js';
import { slowClose } from '../../src/proxy/toxics/slow-close.js';
import { timeout } from '../../src/proxy/toxics/timeout.js';
import { feed, makeToxic } from '../helpers/toxic-link.js';

describe('negative attributes act as 0, as in Toxiproxy', () => {
  test('latency -5, jitter -1: data passes at once', () => {
    const { toxic, link } = makeToxic(latency, { latency: -5, jitter: -1 });
    feed(toxic, link, 'abc');
    link.clock.advance(0);
    assert.equal(link.output, 'abc');
  });

  test('timeout -1: never closes (like 0)', () => {
    const { link } = makeToxic(timeout, { timeout: -1 });
    link.clock.advance(60_000);
    assert.equal(link.closed, null);
  });

  test('limit_data -1: closes on the first data, forwarding none (like 0)', () => {
    const { toxic, link } = makeToxic(limitData, { bytes: -1 });
    assert.equal(link.closed, null, 'not at connect');
    feed(toxic, link, 'abc');
    assert.equal(link.output, '');
    assert.notEqual(link.closed, null);
  });

  test('limit_time -1: closes at once', () => {
    const { link } = makeToxic(limitTime, { time: -1 });
    assert.notEqual(link.closed, null);
  });

  test('reset_peer -1: resets on the first data', () => {
    const { toxic, link } = makeToxic(resetPeer, { timeout: -1 });
    feed(toxic, link, 'x');
    assert.equal(link.resets, 1);
  });

  test('slow_close -1: the close is not held', () => {
    const { toxic, link } = makeToxic(slowClose, { delay: -1 });
    toxic.end?.();
    assert.notEqual(link.ended, null);
  });
});
