/**
 * The control subscription against a tiny local control endpoint standing in
 * for the Faultline server (and a file): apply, newer versions only, halted,
 * the bearer token, and rules that lapse by TTL once the endpoint is gone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FaultRegistry } from '../../src/sdk/core.js';
import type { SdkControlDocument } from '../../src/sdk/rules.js';
import { Subscription } from '../../src/sdk/subscribe.js';
import { startServer } from '../helpers/server.js';

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();
const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const fails = async (core: FaultRegistry, point = 'payments.charge') => {
  try {
    await core.point(point);
    return false;
  } catch {
    return true;
  }
};

test('subscription to a control endpoint: apply, newer only, halted, token, expiry after the endpoint goes away', async () => {
  let doc: SdkControlDocument = {
    service: 'checkout',
    version: 1,
    faults: [
      {
        id: 'f1',
        type: 'exception',
        percentage: 100,
        match: { point: 'payments.*' },
        expires_at: inMs(60_000),
      },
    ],
  };
  const control = await startServer((req, res) => {
    if (
      req.url !== '/faultline/sdk/v1/services/checkout/faults' ||
      req.headers.authorization !== 'Bearer s3cret'
    ) {
      res.writeHead(req.url?.includes('/services/') ? 401 : 404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(doc));
  });
  const core = new FaultRegistry({ env: {} }).enable({ otel: false });
  const controls: { ok: boolean; version?: number; applied?: boolean }[] = [];
  core.on('control', (e) => controls.push(e));
  // The SDK's own faults never touch its control traffic.
  const sub = new Subscription(core, {
    service: 'checkout',
    url: `${control.url}/`,
    token: 's3cret',
    intervalMs: 30,
  });
  try {
    await sub.ready;
    assert.equal(sub.version, 1);
    assert.equal(sub.lastError, undefined);
    assert.ok(await fails(core));
    assert.ok(control.requests.every((r) => r.headers.authorization === 'Bearer s3cret'));

    // Same version with other content: ignored.
    doc = { ...doc, faults: [] };
    await until(() => controls.length >= 3);
    assert.ok(await fails(core), 'version 1 again is not applied');
    assert.equal(controls.at(-1)?.applied, false);

    // Newer version: applied.
    doc = {
      service: 'checkout',
      version: 2,
      faults: [
        {
          id: 'f2',
          type: 'latency',
          latency_ms: 1,
          percentage: 100,
          match: { point: 'payments.*' },
          expires_at: inMs(60_000),
        },
      ],
    };
    await until(() => sub.version === 2);
    assert.equal(await fails(core), false);
    assert.deepEqual(
      core.rules().map((r) => r.id),
      ['f2'],
    );

    // Halted: every rule off (code rules too), new ones refused.
    core.addRule({ type: 'exception', match: { point: 'other' } });
    doc = { ...doc, version: 3, halted: true };
    await until(() => sub.version === 3);
    assert.equal(core.rules().length, 0);
    assert.ok(core.halted);
    assert.throws(() => core.addRule({ type: 'exception' }), /halt/);
    assert.equal(await fails(core, 'other'), false);

    // Lifted by a newer document; its rule has a short lease.
    doc = {
      service: 'checkout',
      version: 4,
      faults: [
        {
          id: 'f4',
          type: 'exception',
          percentage: 100,
          match: { point: 'payments.*' },
          expires_at: inMs(400),
        },
      ],
    };
    await until(() => sub.version === 4);
    assert.equal(core.halted, undefined);
    assert.ok(await fails(core));

    // The endpoint disappears: polls fail, the rule lapses at its expires_at.
    await control.close();
    await until(() => sub.lastError !== undefined);
    await until(() => !core.rules().some((r) => r.id === 'f4'), 2000);
    assert.equal(await fails(core), false);
    assert.ok(controls.some((c) => !c.ok));
  } finally {
    sub.stop();
  }
});

test('subscription to a file; a wrong token or service is an error, not a rule change', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-sdk-'));
  const file = join(dir, 'checkout.json');
  try {
    const core = new FaultRegistry({ env: {} }).enable({ otel: false });
    writeFileSync(
      file,
      JSON.stringify({
        service: 'checkout',
        version: 7,
        faults: [{ id: 'file1', type: 'reset', expires_at: inMs(60_000) }],
      }),
    );
    const sub = new Subscription(core, { service: 'checkout', file, intervalMs: 20 });
    await sub.ready;
    assert.equal(sub.version, 7);
    assert.ok(await fails(core, 'anything'));
    writeFileSync(file, JSON.stringify({ service: 'billing', version: 8, faults: [] }));
    await until(() => sub.lastError !== undefined);
    assert.match(sub.lastError ?? '', /billing/);
    assert.ok(await fails(core, 'anything'), 'rules kept');
    writeFileSync(file, '{ not json');
    await sub.poll();
    assert.ok(sub.lastError);
    sub.stop({ clear: true });
    assert.equal(core.rules().length, 0);

    assert.throws(() => new Subscription(core, { service: 'bad name!', file }), /service/);
    assert.throws(() => new Subscription(core, { service: 'ok' }), /exactly one/);

    const denied = await startServer((_q, s) => {
      s.writeHead(401);
      s.end('no');
    });
    const sub2 = new Subscription(core, { service: 'checkout', url: denied.url, token: 'wrong' });
    await sub2.ready;
    sub2.stop();
    assert.match(sub2.lastError ?? '', /401/);
    await denied.close();

    // Without `token`, the server's own variable is enough: FAULTLINE_PROXY_TOKEN.
    let seen: string | undefined;
    const guarded = await startServer((q, s) => {
      seen = q.headers.authorization;
      s.writeHead(401);
      s.end('no');
    });
    const saved = { sdk: process.env.FAULTLINE_SDK_TOKEN, proxy: process.env.FAULTLINE_PROXY_TOKEN };
    delete process.env.FAULTLINE_SDK_TOKEN;
    process.env.FAULTLINE_PROXY_TOKEN = 'shared-token';
    try {
      const sub3 = new Subscription(core, { service: 'checkout', url: guarded.url });
      await sub3.ready;
      sub3.stop();
      assert.equal(seen, 'Bearer shared-token');
    } finally {
      if (saved.proxy === undefined) delete process.env.FAULTLINE_PROXY_TOKEN;
      else process.env.FAULTLINE_PROXY_TOKEN = saved.proxy;
      if (saved.sdk !== undefined) process.env.FAULTLINE_SDK_TOKEN = saved.sdk;
      await guarded.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
