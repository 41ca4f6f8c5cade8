/**
 * The SDK control store's cap on one rule's size (issue #13 item 1: a single
 * rule with a huge `match` or value was accepted): refused with 413 naming the
 * limit and the field, through the real control API; and a service full of
 * rules at the cap is still a document an SDK with the default maxDocumentBytes applies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { FaultRegistry } from '../../src/sdk/core.js';
import { Subscription } from '../../src/sdk/subscribe.js';
import { sdkControlMount } from '../../src/sdk-control/api.js';
import { DEFAULT_MAX_SDK_RULE_BYTES, SdkControlStore } from '../../src/sdk-control/store.js';
import { http } from '../helpers/http-raw.js';

const P = '/faultline/sdk/v1';
const put = (url: string, path: string, rule: unknown) =>
  http(url, 'PUT', `${P}${path}`, JSON.stringify(rule), { 'content-type': 'application/json' });

describe('per-rule size cap', () => {
  let manager: ProxyManager;
  let api: ControlServer;
  before(async () => {
    manager = new ProxyManager();
    api = await startControlServer({ control: manager, port: 0, mounts: [sdkControlMount()] });
  });
  after(async () => {
    await api.close();
    await manager.close();
  });

  test('a huge match.labels map is refused with 413 naming the field and the limit', async () => {
    const labels: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) labels[`k${i}`] = 'v'.repeat(20);
    const r = await put(api.url, '/services/checkout/faults/big', {
      type: 'exception',
      match: { point: 'db.*', labels },
      ttl_ms: 60_000,
    });
    assert.equal(r.status, 413);
    const body = JSON.parse(r.body);
    assert.equal(body.field, 'match.labels');
    assert.match(body.error, new RegExp(`^match\\.labels: .*${DEFAULT_MAX_SDK_RULE_BYTES} bytes per rule`));
    const doc = JSON.parse((await http(api.url, 'GET', `${P}/services/checkout/faults`)).body);
    assert.deepEqual(doc.faults, []);
  });

  test('a huge value is refused naming that value; one under the cap is stored', async () => {
    const big = await put(api.url, '/services/checkout/faults/msg', {
      type: 'exception',
      message: 'x'.repeat(DEFAULT_MAX_SDK_RULE_BYTES),
      ttl_ms: 60_000,
    });
    assert.equal(big.status, 413);
    assert.equal(JSON.parse(big.body).field, 'message');
    const long = 'x'.repeat(DEFAULT_MAX_SDK_RULE_BYTES - 200);
    const ok = await put(api.url, '/services/checkout/faults/msg', {
      type: 'exception',
      message: long,
      ttl_ms: 60_000,
    });
    assert.equal(ok.status, 201, ok.body);
    assert.equal(JSON.parse(ok.body).message, long);
    // Replacing a stored rule with an oversized one is refused and keeps the stored one.
    const replaced = await put(api.url, '/services/checkout/faults/msg', {
      type: 'http_error',
      status: 503,
      body: 'y'.repeat(DEFAULT_MAX_SDK_RULE_BYTES + 1),
      ttl_ms: 60_000,
    });
    assert.equal(replaced.status, 413);
    assert.equal(JSON.parse(replaced.body).field, 'body');
    const kept = JSON.parse((await http(api.url, 'GET', `${P}/services/checkout/faults/msg`)).body);
    assert.equal(kept.message, long);
    assert.equal((await http(api.url, 'DELETE', `${P}/services/checkout/faults`)).status, 200);
  });

  test('the cap is an option of the store, counted in bytes (multi-byte characters included)', () => {
    const store = new SdkControlStore({ maxRuleBytes: 300 });
    try {
      store.put('svc', 'a', { type: 'exception', percentage: 100, message: 'x'.repeat(150) }, 1000);
      assert.throws(
        () => store.put('svc', 'b', { type: 'exception', percentage: 100, message: 'é'.repeat(150) }, 1000),
        (err: Error & { status?: number; field?: string }) =>
          err.status === 413 && err.field === 'message' && /limit of 300 bytes/.test(err.message),
      );
      assert.equal(store.get('svc', 'b'), undefined);
    } finally {
      store.close();
    }
  });

  test('a service full of rules at the cap is a document an SDK with the default maxDocumentBytes applies', async () => {
    const fill = 'z'.repeat(DEFAULT_MAX_SDK_RULE_BYTES - 300);
    for (let i = 0; i < 100; i++) {
      const r = await put(api.url, `/services/full/faults/r${i}`, {
        type: 'exception',
        message: fill,
        match: { point: `p${i}` },
        ttl_ms: 60_000,
      });
      assert.equal(r.status, 201, r.body);
    }
    const core = new FaultRegistry({ env: {} }).enable({ otel: false });
    const sub = new Subscription(core, {
      service: 'full',
      url: api.url,
      intervalMs: 60_000,
      // Size is what this checks, not speed (a loaded machine).
      requestTimeoutMs: 60_000,
    });
    try {
      await sub.ready;
      assert.equal(sub.lastError, undefined);
      assert.equal(core.rules().length, 100);
    } finally {
      sub.stop({ clear: true });
      core.disable();
      await http(api.url, 'DELETE', `${P}/services/full/faults`);
    }
  });
});
