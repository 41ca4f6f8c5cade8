import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeAttributes } from '../../src/proxy/manager.js';
import { ProxyApiError } from '../../src/proxy/model.js';
import { type ConnectGate, hasConnectHook } from '../../src/proxy/toxic.js';
import { toxicKinds } from '../../src/proxy/toxics/index.js';
import { lossRoller, packetLoss } from '../../src/proxy/toxics/packet-loss.js';
import { resetConnect } from '../../src/proxy/toxics/reset-connect.js';
import { slowOpen } from '../../src/proxy/toxics/slow-open.js';
import { feed, makeToxic, seeded } from '../helpers/toxic-link.js';

function gate() {
  const seen = { reset: false, delay: 0 };
  const g: ConnectGate = {
    reset: () => {
      seen.reset = true;
    },
    delay: (ms) => {
      seen.delay += ms;
    },
  };
  return { g, seen };
}

describe('connection toxics', () => {
  test('reset_connect resets at connect; data passes on live connections', () => {
    const { toxic, link } = makeToxic(resetConnect);
    assert.ok(hasConnectHook(toxic));
    const { g, seen } = gate();
    toxic.onConnect(g);
    assert.equal(seen.reset, true);
    feed(toxic, link, 'x');
    assert.equal(link.output, 'x');
  });

  test('slow_open delays the dial by delay ms', () => {
    const { toxic } = makeToxic(slowOpen, { delay: 250 });
    assert.ok(hasConnectHook(toxic));
    const { g, seen } = gate();
    toxic.onConnect(g);
    assert.deepEqual(seen, { reset: false, delay: 250 });
  });
});

describe('packet_loss (TCP-style stalls)', () => {
  test('loss decisions follow loss_rate; correlation makes them bursty', () => {
    const roll = lossRoller(seeded(3));
    let lost = 0;
    for (let i = 0; i < 20_000; i++) if (roll(0.2, 0)) lost++;
    assert.ok(Math.abs(lost / 20_000 - 0.2) < 0.02, `loss ${lost / 20_000}`);
    const runs = (correlation: number) => {
      const r = lossRoller(seeded(5));
      let changes = 0;
      let prev = false;
      for (let i = 0; i < 20_000; i++) {
        const l = r(0.5, correlation);
        if (l !== prev) changes++;
        prev = l;
      }
      return changes;
    };
    assert.ok(runs(0.9) < runs(0) / 2, 'correlated losses change state less often');
  });

  test('a lost chunk is held stall ms and everything behind it waits (head-of-line)', () => {
    const { toxic, link, attributes } = makeToxic(packetLoss, { loss_rate: 1, stall: 200 });
    assert.deepEqual(attributes, { loss_rate: 1, correlation: 0, stall: 200 });
    feed(toxic, link, 'a');
    toxic.update?.({ loss_rate: 0, correlation: 0, stall: 200 });
    feed(toxic, link, 'b');
    link.clock.advance(199);
    assert.equal(link.output, '');
    link.clock.advance(1);
    assert.equal(link.output, 'ab');
  });

  test('loss_rate 0 (the default) passes data through at once', () => {
    const { toxic, link } = makeToxic(packetLoss);
    feed(toxic, link, 'x');
    assert.equal(link.output, 'x');
  });

  test('loss_rate and correlation are probabilities', () => {
    assert.throws(
      () => decodeAttributes(packetLoss, {}, { loss_rate: 1.5 }),
      (err: unknown) =>
        err instanceof ProxyApiError && err.status === 400 && err.message.includes('loss_rate'),
    );
  });
});

describe('every toxic type', () => {
  test("returns every attribute with Toxiproxy's zero values by default", () => {
    const expected: Record<string, unknown> = {
      latency: { latency: 0, jitter: 0 },
      bandwidth: { rate: 0 },
      slow_close: { delay: 0 },
      timeout: { timeout: 0 },
      reset_peer: { timeout: 0 },
      limit_data: { bytes: 0 },
      noop: {},
      reset_connect: {},
      slow_open: { delay: 0 },
      packet_loss: { loss_rate: 0, correlation: 0, stall: 200 },
      limit_time: { time: 0 },
    };
    for (const [type, attributes] of Object.entries(expected)) {
      assert.deepEqual(decodeAttributes(toxicKinds.get(type)!, {}, undefined), attributes, type);
    }
  });

  test('every registered type has a type name, a Go struct name and an object schema', () => {
    for (const [name, kind] of toxicKinds.entries()) {
      assert.equal(kind.type, name);
      assert.match(kind.goName, /^[A-Z]\w*Toxic$/);
      assert.equal(typeof kind.attributes.shape, 'object');
      assert.equal(typeof kind.create, 'function');
    }
  });

  test('integer attributes reject fractions and strings with Go decoder messages', () => {
    const latency = toxicKinds.get('latency')!;
    assert.throws(() => decodeAttributes(latency, {}, { latency: 'x' }), {
      message:
        'bad request body: json: cannot unmarshal string into Go struct field LatencyToxic.attributes.latency of type int64',
    });
    assert.throws(() => decodeAttributes(latency, {}, { latency: 1.5 }), {
      message:
        'bad request body: json: cannot unmarshal number 1.5 into Go struct field LatencyToxic.attributes.latency of type int64',
    });
  });

  test('merging is field by field, keys case-insensitive, nulls and unknown keys ignored', () => {
    const latency = toxicKinds.get('latency')!;
    const current = { latency: 100, jitter: 10 };
    assert.deepEqual(decodeAttributes(latency, current, { LATENCY: 1000, jitter: null, other: 1 }), {
      latency: 1000,
      jitter: 10,
    });
  });
});
