/**
 * SDK fault control: the store, the endpoint on the proxy server's control API
 * (every route, errors, fuzzed input, the token guard, long polls), and the
 * `sdk-enable-fault` kind through a FaultSession: inject, lease, renew,
 * revert, verify, halt from another process, and a SIGKILLed runner whose rule
 * expires by itself while recovery cleans its ledger entry.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import {
  FaultSession,
  Ledger,
  listActiveFaults,
  recoverOrphans,
  releaseHalt,
} from '../../src/faults/index.js';
import { SDK_LEASE_MS, sdkEnableFaultKind } from '../../src/faults/sdk/index.js';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { SdkControlDocumentSchema, SdkFaultRuleSchema } from '../../src/sdk/rules.js';
import { sdkControlMount } from '../../src/sdk-control/api.js';
import { SdkControlClient } from '../../src/sdk-control/client.js';
import { readControlFile, writeControlFile } from '../../src/sdk-control/file.js';
import { SdkControlStore } from '../../src/sdk-control/store.js';
import { assertNothingLeftBehind, type Fixture, repoRoot, spawnFixture } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';
import { http, rawExchange } from '../helpers/http-raw.js';

const P = '/faultline/sdk/v1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rule = { type: 'http_error' as const, status: 503, percentage: 40 };

async function until(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
  return Date.now() - started;
}

describe('the control store', () => {
  test('put, renew, remove, list; versions grow; documents match the shared schema', () => {
    let now = 1_000_000;
    const store = new SdkControlStore({ now: () => now });
    const empty = store.document('checkout');
    assert.deepEqual(empty.faults, []);
    const stored = store.put('checkout', 'a', rule, 5000);
    assert.equal(stored.expires_at, new Date(now + 5000).toISOString());
    SdkFaultRuleSchema.parse(stored);
    const v1 = store.document('checkout').version;
    assert.ok(v1 > empty.version);
    store.put('checkout', 'b', { type: 'latency', percentage: 100, latency_ms: 200 }, 5000);
    store.put('payments', 'c', { type: 'exception', percentage: 10, message: 'boom' }, 5000);
    const doc = SdkControlDocumentSchema.parse(store.document('checkout'));
    assert.deepEqual(
      doc.faults.map((f) => f.id),
      ['a', 'b'],
    );
    assert.ok(doc.version > v1);
    assert.deepEqual(
      store.services().map((s) => [s.service, s.faults]),
      [
        ['checkout', 2],
        ['payments', 1],
      ],
    );
    now += 1000;
    const renewed = store.renew('checkout', 'a', 10_000);
    assert.equal(renewed?.expires_at, new Date(now + 10_000).toISOString());
    assert.equal(store.renew('checkout', 'nope', 1000), undefined);
    assert.equal(store.remove('checkout', 'b'), true);
    assert.equal(store.remove('checkout', 'b'), false);
    assert.deepEqual(store.removeAll('payments'), ['c']);
    assert.throws(() => store.put('x', 'y', rule, 0), /ttl_ms/);
    assert.throws(() => store.put('x', 'y', rule, 1.5), /ttl_ms/);
    store.close();
  });

  test('rules expire at expires_at, and the version moves when they do', () => {
    let now = 5_000_000;
    const store = new SdkControlStore({ now: () => now });
    store.put('svc', 'short', rule, 1000);
    store.put('svc', 'long', rule, 3000);
    const v = store.document('svc').version;
    now += 1000;
    const doc = store.document('svc');
    assert.deepEqual(
      doc.faults.map((f) => f.id),
      ['long'],
    );
    assert.ok(doc.version > v);
    assert.equal(store.renew('svc', 'short', 1000), undefined, 'an expired rule cannot be renewed');
    now += 2000;
    assert.deepEqual(store.document('svc').faults, []);
    store.close();
  });

  test('halt switches every service off (even unknown ones) and release switches them back', () => {
    const store = new SdkControlStore();
    store.put('a', 'r1', rule, 60_000);
    const before = store.document('a').version;
    store.halt();
    assert.equal(store.document('a').halted, true);
    assert.ok(store.document('a').version > before);
    assert.equal(store.document('never-seen').halted, true);
    assert.throws(() => store.put('a', 'r2', rule, 1000), /halted/);
    const halted = store.document('a').version;
    store.release();
    assert.equal(store.document('a').halted, undefined);
    assert.ok(store.document('a').version > halted);
    assert.equal(store.document('a').faults.length, 1, 'release does not bring back or drop rules');
    store.close();
  });

  test('versions of a restarted store are newer than the old ones', () => {
    const a = new SdkControlStore();
    for (let i = 0; i < 50; i++) a.put('s', `r${i}`, rule, 1000);
    const old = a.document('s').version;
    a.close();
    const b = new SdkControlStore({ now: () => Date.now() + 100 });
    b.put('s', 'r', rule, 1000);
    assert.ok(b.document('s').version > old);
    b.close();
  });

  test('long polls answer on change, on expiry, on timeout, and on close', async () => {
    const store = new SdkControlStore();
    const v0 = store.document('s').version;
    const changed = store.waitForChange('s', v0, 5000);
    store.put('s', 'r', rule, 150);
    assert.equal((await changed).faults.length, 1);
    const v1 = store.document('s').version;
    const t0 = Date.now();
    const expired = await store.waitForChange('s', v1, 5000);
    assert.deepEqual(expired.faults, []);
    assert.ok(Date.now() - t0 < 2000, 'the expiry timer woke the poll');
    const t1 = Date.now();
    await store.waitForChange('s', expired.version, 100);
    assert.ok(Date.now() - t1 >= 90);
    const pending = store.waitForChange('s', expired.version, 60_000);
    store.close();
    assert.deepEqual((await pending).faults, []);
  });
});

describe('the control endpoint', () => {
  let manager: ProxyManager;
  let api: ControlServer;
  let client: SdkControlClient;

  before(async () => {
    manager = new ProxyManager();
    api = await startControlServer({ control: manager, port: 0, mounts: [sdkControlMount()] });
    client = new SdkControlClient({ url: api.url });
  });
  after(async () => {
    await api.close();
    await manager.close();
  });

  test('every route', async () => {
    const put = await http(
      api.url,
      'PUT',
      `${P}/services/checkout/faults/fl-0001`,
      JSON.stringify({ ...rule, ttl_ms: 30_000 }),
    );
    assert.equal(put.status, 201, put.body);
    const stored = SdkFaultRuleSchema.parse(JSON.parse(put.body));
    assert.equal(stored.id, 'fl-0001');
    assert.ok(Math.abs(Date.parse(stored.expires_at) - Date.now() - 30_000) < 2000);
    // POST is PUT too; replacing answers 200.
    const post = await http(
      api.url,
      'POST',
      `${P}/services/checkout/faults/fl-0001`,
      JSON.stringify({ id: 'fl-0001', type: 'latency', latency_ms: 100, ttl_ms: 30_000 }),
    );
    assert.equal(post.status, 200, post.body);
    assert.equal(JSON.parse(post.body).type, 'latency');
    await client.put('checkout', 'fl-0002', {
      ...rule,
      match: { path: '/v1/charge*', method: 'POST' },
      ttl_ms: 30_000,
    });

    const doc = SdkControlDocumentSchema.parse(await client.document('checkout'));
    assert.equal(doc.service, 'checkout');
    assert.deepEqual(
      doc.faults.map((f) => f.id),
      ['fl-0001', 'fl-0002'],
    );
    assert.equal((await client.get('checkout', 'fl-0002')).match?.path, '/v1/charge*');

    const patch = await http(api.url, 'PATCH', `${P}/services/checkout/faults/fl-0001`, '{"ttl_ms": 60000}');
    assert.equal(patch.status, 200, patch.body);
    assert.ok(Math.abs(Date.parse(JSON.parse(patch.body).expires_at) - Date.now() - 60_000) < 2000);
    const renewed = await client.renew('checkout', 'fl-0002', 45_000);
    assert.ok(Math.abs(Date.parse(renewed.expires_at) - Date.now() - 45_000) < 2000);

    const list = await client.services();
    assert.deepEqual(
      list.services.map((s) => [s.service, s.faults]),
      [['checkout', 2]],
    );
    assert.equal(list.halted, false);

    const del = await http(api.url, 'DELETE', `${P}/services/checkout/faults/fl-0001`);
    assert.equal(del.status, 204);
    const again = await http(api.url, 'DELETE', `${P}/services/checkout/faults/fl-0001`);
    assert.equal(again.status, 404);
    assert.equal(JSON.parse(again.body).field, 'id');
    assert.equal((await http(api.url, 'GET', `${P}/services/checkout/faults/fl-0001`)).status, 404);
    assert.equal(
      (await http(api.url, 'POST', `${P}/services/checkout/faults/fl-0001/renew`, '{"ttl_ms":1000}')).status,
      404,
    );
    assert.deepEqual(await client.removeAll('checkout'), ['fl-0002']);
    assert.deepEqual((await client.document('checkout')).faults, []);

    await client.halt();
    assert.equal((await client.document('anything')).halted, true);
    const refused = await http(
      api.url,
      'PUT',
      `${P}/services/checkout/faults/x`,
      JSON.stringify({ ...rule, ttl_ms: 1000 }),
    );
    assert.equal(refused.status, 409);
    assert.equal(JSON.parse((await http(api.url, 'GET', `${P}/halt`)).body).halted, true);
    await client.release();
    assert.equal((await client.document('anything')).halted, undefined);

    // The Toxiproxy routes are untouched.
    const version = await http(api.url, 'GET', '/version');
    assert.equal(version.status, 200);
    assert.match(version.body, /"version"/);
    assert.equal((await http(api.url, 'GET', '/proxies')).body, '{}');
    assert.equal((await http(api.url, 'GET', '/nope')).body, '404 page not found\n');
    assert.equal((await http(api.url, 'PUT', '/proxies')).status, 405);
  });

  test('long poll over HTTP: answers when the version moves, or at timeout_ms', async () => {
    const { version } = await client.document('poller');
    const started = Date.now();
    const waiting = client.document('poller', { waitVersion: version, timeoutMs: 10_000 });
    await sleep(100);
    await client.put('poller', 'r', { ...rule, ttl_ms: 10_000 });
    const doc = await waiting;
    assert.equal(doc.faults.length, 1);
    assert.ok(doc.version > version);
    assert.ok(Date.now() - started < 5000);
    const t = Date.now();
    const same = await client.document('poller', { waitVersion: doc.version, timeoutMs: 200 });
    assert.equal(same.version, doc.version);
    assert.ok(Date.now() - t >= 190);
    // An already newer version answers at once.
    const t2 = Date.now();
    await client.document('poller', { waitVersion: 0, timeoutMs: 10_000 });
    assert.ok(Date.now() - t2 < 1000);
    await client.removeAll('poller');
  });

  test('malformed requests: 4xx with a JSON error naming the field', async () => {
    const cases: [string, string, string | undefined, number, string][] = [
      ['PUT', `${P}/services/checkout/faults/r1`, undefined, 400, 'body'],
      ['PUT', `${P}/services/checkout/faults/r1`, '', 400, 'body'],
      ['PUT', `${P}/services/checkout/faults/r1`, '{', 400, 'body'],
      ['PUT', `${P}/services/checkout/faults/r1`, '[]', 400, 'body'],
      ['PUT', `${P}/services/checkout/faults/r1`, 'null', 400, 'body'],
      ['PUT', `${P}/services/checkout/faults/r1`, '"x"', 400, 'body'],
      ['PUT', `${P}/services/checkout/faults/r1`, '{"type":"http_error"}', 400, 'ttl_ms'],
      ['PUT', `${P}/services/checkout/faults/r1`, '{"type":"nope","ttl_ms":1}', 400, 'type'],
      ['PUT', `${P}/services/checkout/faults/r1`, '{"ttl_ms":1000}', 400, 'type'],
      ['PUT', `${P}/services/checkout/faults/r1`, '{"type":"latency","ttl_ms":-1}', 400, 'ttl_ms'],
      ['PUT', `${P}/services/checkout/faults/r1`, '{"type":"latency","ttl_ms":1.5}', 400, 'ttl_ms'],
      ['PUT', `${P}/services/checkout/faults/r1`, '{"type":"latency","ttl_ms":"1000"}', 400, 'ttl_ms'],
      ['PUT', `${P}/services/checkout/faults/r1`, '{"type":"latency","ttl_ms":1e300}', 400, 'ttl_ms'],
      [
        'PUT',
        `${P}/services/checkout/faults/r1`,
        '{"type":"latency","ttl_ms":1000,"percentage":101}',
        400,
        'percentage',
      ],
      [
        'PUT',
        `${P}/services/checkout/faults/r1`,
        '{"type":"http_error","ttl_ms":1000,"status":99}',
        400,
        'status',
      ],
      [
        'PUT',
        `${P}/services/checkout/faults/r1`,
        '{"type":"latency","ttl_ms":1000,"latency_ms":-5}',
        400,
        'latency_ms',
      ],
      [
        'PUT',
        `${P}/services/checkout/faults/r1`,
        '{"type":"latency","ttl_ms":1000,"match":{"hots":"x"}}',
        400,
        'match.hots',
      ],
      [
        'PUT',
        `${P}/services/checkout/faults/r1`,
        '{"type":"latency","ttl_ms":1000,"match":{"labels":{"a":1}}}',
        400,
        'match.labels.a',
      ],
      [
        'PUT',
        `${P}/services/checkout/faults/r1`,
        '{"type":"latency","ttl_ms":1000,"headers":[]}',
        400,
        'headers',
      ],
      [
        'PUT',
        `${P}/services/checkout/faults/r1`,
        '{"type":"latency","ttl_ms":1000,"extra":true}',
        400,
        'extra',
      ],
      ['PUT', `${P}/services/checkout/faults/r1`, '{"type":"latency","ttl_ms":1000,"id":"other"}', 400, 'id'],
      [
        'PUT',
        `${P}/services/checkout/faults/r1`,
        '{"type":"latency","ttl_ms":1000,"expires_at":"2030-01-01T00:00:00Z"}',
        400,
        'expires_at',
      ],
      ['PUT', `${P}/services/bad%20name/faults/r1`, '{"type":"latency","ttl_ms":1000}', 400, 'service'],
      ['PUT', `${P}/services/-x/faults/r1`, '{"type":"latency","ttl_ms":1000}', 400, 'service'],
      [
        'PUT',
        `${P}/services/${'a'.repeat(200)}/faults/r1`,
        '{"type":"latency","ttl_ms":1000}',
        400,
        'service',
      ],
      ['PUT', `${P}/services/checkout/faults/a%2Fb`, '{"type":"latency","ttl_ms":1000}', 400, 'id'],
      ['PUT', `${P}/services/%E0%A4%A/faults/r1`, '{"type":"latency","ttl_ms":1000}', 400, 'path'],
      ['PATCH', `${P}/services/checkout/faults/r1`, '{}', 400, 'ttl_ms'],
      ['PATCH', `${P}/services/checkout/faults/r1`, '{"ttl_ms":1000,"type":"latency"}', 400, 'type'],
      ['POST', `${P}/services/checkout/faults/r1/renew`, 'not json', 400, 'body'],
      ['GET', `${P}/services/checkout/faults?wait_version=abc`, undefined, 400, 'wait_version'],
      ['GET', `${P}/services/checkout/faults?wait_version=1&wait_version=2`, undefined, 400, 'wait_version'],
      ['GET', `${P}/services/checkout/faults?wait_version=1&timeout_ms=-1`, undefined, 400, 'timeout_ms'],
      ['GET', `${P}/services/checkout/faults?timeout_ms=10`, undefined, 400, 'timeout_ms'],
      ['GET', `${P}/services/checkout`, undefined, 404, 'path'],
      ['GET', `${P}/services//faults`, undefined, 404, 'path'],
      ['GET', `${P}/nothing/here`, undefined, 404, 'path'],
      ['GET', '/faultline/sdk/v2/services', undefined, 404, 'path'],
      ['PUT', `${P}/services`, '{}', 405, 'method'],
      ['DELETE', `${P}/services/checkout/faults/r1/renew`, undefined, 405, 'method'],
    ];
    for (const [method, path, body, status, field] of cases) {
      const r = await http(api.url, method, path, body);
      assert.equal(r.status, status, `${method} ${path} ${body}: ${r.body}`);
      const err = JSON.parse(r.body);
      assert.equal(err.field, field, `${method} ${path} ${body}: ${r.body}`);
      assert.equal(typeof err.error, 'string');
      assert.match(r.headers['content-type'] as string, /application\/json/);
    }
    const invalidUtf8 = await http(
      api.url,
      'PUT',
      `${P}/services/checkout/faults/r1`,
      Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    );
    assert.equal(invalidUtf8.status, 400);
    assert.equal((await client.document('checkout')).faults.length, 0, 'nothing was stored');
  });

  test('fuzzed bodies and paths never crash or hang the server', async () => {
    const seed = randomBytes(4).readUInt32BE(0);
    let state = seed || 1;
    const rnd = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const atoms = [
      '{',
      '}',
      '[',
      ']',
      '"type"',
      '"ttl_ms"',
      ':',
      ',',
      '1e999',
      '-0',
      'null',
      'true',
      '"http_error"',
      '"\\u0000"',
      '\u{1F600}',
      '"match"',
      '{"labels":',
      '"percentage"',
      '99999999999999999999',
      '"__proto__"',
      '"constructor"',
    ];
    const segs = [
      'services',
      'faults',
      'renew',
      'halt',
      '%00',
      '..',
      '%2e%2e',
      'a'.repeat(300),
      '',
      '%',
      'x y',
      '\u00e9',
    ];
    const methods = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
    for (let i = 0; i < 300; i++) {
      const body = Array.from({ length: rnd(12) }, () => atoms[rnd(atoms.length)]).join('');
      const path = `${P}/${Array.from({ length: 1 + rnd(6) }, () => encodeURI(segs[rnd(segs.length)]!)).join('/')}${rnd(4) === 0 ? '?wait_version=1&timeout_ms=5' : ''}`;
      const method = methods[rnd(methods.length)]!;
      const r = await http(api.url, method, path, method === 'GET' || method === 'HEAD' ? undefined : body);
      assert.ok(r.status < 500, `seed ${seed}: ${method} ${path} ${body} -> ${r.status} ${r.body}`);
      if (method !== 'HEAD' && r.status !== 204 && r.status < 300 === false) {
        assert.equal(typeof JSON.parse(r.body).error, 'string', `seed ${seed}: ${method} ${path}: ${r.body}`);
      }
    }
    // Valid JSON objects of random shapes.
    for (let i = 0; i < 200; i++) {
      const obj: Record<string, unknown> = {};
      const keys = [
        'type',
        'ttl_ms',
        'percentage',
        'status',
        'latency_ms',
        'match',
        'headers',
        'body',
        'message',
        'id',
      ];
      const values = [1, -1, 0, 1.5, 'x', 'latency', 'http_error', null, [], {}, { host: 'a' }, true, 1e12];
      for (let k = 0; k < 1 + rnd(5); k++) obj[keys[rnd(keys.length)]!] = values[rnd(values.length)];
      const r = await http(api.url, 'PUT', `${P}/services/fuzz/faults/f${i % 50}`, JSON.stringify(obj));
      assert.ok(
        [200, 201, 400].includes(r.status),
        `seed ${seed}: ${JSON.stringify(obj)} -> ${r.status} ${r.body}`,
      );
      if (r.status === 400) assert.ok(JSON.parse(r.body).field, r.body);
      else SdkFaultRuleSchema.parse(JSON.parse(r.body));
    }
    const doc = SdkControlDocumentSchema.parse(await client.document('fuzz'));
    await client.removeAll('fuzz');
    assert.ok(doc.faults.length >= 0);
    // Raw garbage on the socket: a 4xx and a close, as for the other routes.
    const raw = await rawExchange(api.port, [
      `PUT ${P}/services/x/faults/y HTTP/1.1\r\nContent-Length: zz\r\n\r\n`,
    ]);
    assert.match(raw.data, /^HTTP\/1\.1 400/);
    // The server still answers.
    assert.equal((await http(api.url, 'GET', `${P}/services`)).status, 200);
  });

  test('a store passed to the server is the one served; its limits answer 409', async () => {
    const store = new SdkControlStore({ maxRulesPerService: 2, maxServices: 2 });
    const m = new ProxyManager();
    const s = await startControlServer({ control: m, port: 0, mounts: [sdkControlMount(store)] });
    try {
      const c = new SdkControlClient({ url: s.url });
      store.put('direct', 'r0', rule, 60_000);
      assert.equal((await c.document('direct')).faults[0]?.id, 'r0');
      await c.put('direct', 'r1', { ...rule, ttl_ms: 60_000 });
      await assert.rejects(c.put('direct', 'r2', { ...rule, ttl_ms: 60_000 }), { status: 409, field: 'id' });
      await c.put('direct', 'r1', { ...rule, percentage: 5, ttl_ms: 60_000 }); // replacing is fine
      await c.put('other', 'r', { ...rule, ttl_ms: 60_000 });
      await assert.rejects(c.put('third', 'r', { ...rule, ttl_ms: 60_000 }), { status: 409 });
    } finally {
      await s.close();
      await m.close();
      store.close();
    }
  });

  test('bodies over the limit are refused with 413', async () => {
    const big = JSON.stringify({ type: 'exception', ttl_ms: 1000, message: 'x'.repeat(2 * 1024 * 1024) });
    const r = await http(api.url, 'PUT', `${P}/services/big/faults/r`, big);
    assert.equal(r.status, 413);
  });

  test('a token guards the SDK routes like the rest of the API', async () => {
    const guarded = await startControlServer({
      control: manager,
      port: 0,
      token: 's3cret',
      mounts: [sdkControlMount()],
    });
    try {
      const r = await http(guarded.url, 'GET', `${P}/services/checkout/faults`);
      assert.equal(r.status, 401);
      assert.match(JSON.parse(r.body).error, /token/);
      const put = await http(guarded.url, 'PUT', `${P}/services/checkout/faults/r`, '{}', {
        authorization: 'Bearer wrong',
      });
      assert.equal(put.status, 401);
      const ok = await http(guarded.url, 'GET', `${P}/services/checkout/faults`, undefined, {
        authorization: 'Bearer s3cret',
      });
      assert.equal(ok.status, 200);
      const withClient = new SdkControlClient({ url: guarded.url, token: 's3cret' });
      await withClient.put('checkout', 'r', { ...rule, ttl_ms: 1000 });
      await assert.rejects(new SdkControlClient({ url: guarded.url }).document('checkout'), { status: 401 });
      await withClient.remove('checkout', 'r');
    } finally {
      await guarded.close();
    }
  });

  test('closing the server answers pending long polls at once', async () => {
    const m = new ProxyManager();
    const s = await startControlServer({ control: m, port: 0, mounts: [sdkControlMount()] });
    const c = new SdkControlClient({ url: s.url });
    const { version } = await c.document('x');
    const polling = c.document('x', { waitVersion: version, timeoutMs: 15_000 });
    await sleep(100);
    const t = Date.now();
    await s.close();
    await polling.catch(() => undefined);
    assert.ok(Date.now() - t < 1500, `close took ${Date.now() - t} ms`);
    await m.close();
  });
});

describe('in-process proxies of a run', () => {
  test('serve the SDK endpoint too', async () => {
    // What a run starts: the composition root's resource, with the SDK control plane mounted.
    const { runResources } = await import('../../src/compose.js');
    const inProcessProxies = new Map(runResources).get('proxies')!;
    const started = await inProcessProxies.start([{ name: 'api', upstream: '127.0.0.1:9' }], {
      log: () => {},
    } as never);
    try {
      const c = new SdkControlClient({ url: String(started.configuration?.faultline_proxy_url) });
      await c.put('svc', 'r', { ...rule, ttl_ms: 5000 });
      assert.equal((await c.document('svc')).faults[0]?.id, 'r');
    } finally {
      await started.stop?.();
    }
  });
});

describe('file control mode', () => {
  test('writes a valid document atomically, with a newer version each time', async () => {
    const home = await tempHome();
    try {
      const path = join(home.home, 'faults.json');
      const expires = new Date(Date.now() + 60_000).toISOString();
      const a = await writeControlFile(path, {
        service: 'checkout',
        faults: [{ id: 'drill-1', type: 'http_error', status: 503, percentage: 40, expires_at: expires }],
      });
      assert.deepEqual(await readControlFile(path), a);
      const b = await writeControlFile(path, { service: 'checkout', faults: [], halted: true });
      assert.ok(b.version > a.version);
      await assert.rejects(
        writeControlFile(path, {
          service: 'checkout',
          faults: [{ id: '', type: 'latency', percentage: 1, expires_at: 'x' }],
        } as never),
        /faults\.0/,
      );
      assert.deepEqual(await readControlFile(path), b, 'a refused write leaves the file as it was');
    } finally {
      await home.cleanup();
    }
  });
});

describe('the sdk.enable_fault kind', () => {
  let home: Awaited<ReturnType<typeof tempHome>>;
  let manager: ProxyManager;
  let api: ControlServer;
  let client: SdkControlClient;
  let fixtures: Fixture[];

  beforeEach(async () => {
    home = await tempHome();
    manager = new ProxyManager();
    api = await startControlServer({ control: manager, port: 0, mounts: [sdkControlMount()] });
    client = new SdkControlClient({ url: api.url });
    fixtures = [];
  });
  afterEach(async () => {
    for (const f of fixtures) f.child.kill('SIGKILL');
    await Promise.all(fixtures.map((f) => f.exited));
    await api.close();
    await manager.close();
    await home.cleanup();
  });

  const session = (runId: string) => new FaultSession({ runId, ledger: new Ledger({ home: home.home }) });

  test('inject publishes the rule under a lease; renew extends it; revert removes and verifies', async () => {
    const faults = session('sdk-run');
    const h = await faults.inject(
      sdkEnableFaultKind,
      {
        service: 'checkout',
        api_url: api.url,
        type: 'http_error',
        status: 503,
        percentage: 40,
        match: { path: '/checkout*' },
        headers: { 'retry-after': '1' },
      },
      { ttlMs: 120_000 },
    );
    const [entry] = (await new Ledger({ home: home.home }).list()).entries;
    assert.equal(entry?.kind, 'sdk-enable-fault');
    const id = String(entry?.record.id);
    assert.match(id, /^fl-[0-9a-f]{8}$/);
    assert.equal(entry?.record.service, 'checkout');
    assert.equal(entry?.record.api_url, api.url);
    assert.deepEqual(faults.records()[0]?.targets, [
      { type: 'sdk', name: 'checkout', host: '127.0.0.1', port: api.port },
    ]);

    const [published] = (await client.document('checkout')).faults;
    assert.equal(published?.id, id);
    assert.equal(published?.type, 'http_error');
    assert.equal(published?.status, 503);
    assert.equal(published?.percentage, 40);
    assert.deepEqual(published?.match, { path: '/checkout*' });
    const leaseEnd = Date.parse(published!.expires_at);
    assert.ok(Math.abs(leaseEnd - Date.now() - SDK_LEASE_MS) < 2000, 'expires_at is about now + the lease');

    await sleep(300);
    await sdkEnableFaultKind.renew!(entry!.record as never, SDK_LEASE_MS);
    const renewed = await client.get('checkout', id);
    assert.ok(Date.parse(renewed.expires_at) >= leaseEnd + 250, 'renew moved expires_at');

    assert.equal(await sdkEnableFaultKind.verify(entry!.record), false, 'verify sees the rule');
    const r = await h.revert();
    assert.equal(r.verified, true);
    assert.deepEqual((await client.document('checkout')).faults, []);
    assert.equal(await sdkEnableFaultKind.verify(entry!.record), true);
    await sdkEnableFaultKind.revert(entry!.record); // idempotent: 404 is gone
    await faults.revertAll();
    await assertNothingLeftBehind(home.home);
  });

  test("a fault's TTL shorter than the lease bounds expires_at, and renewals never pass it", async () => {
    const faults = session('sdk-short');
    await faults.inject(
      sdkEnableFaultKind,
      { service: 'svc', api_url: api.url, type: 'latency', latency_ms: 50 },
      { ttlMs: 1500 },
    );
    const [rule1] = (await client.document('svc')).faults;
    assert.ok(Math.abs(Date.parse(rule1!.expires_at) - Date.now() - 1500) < 500);
    const [entry] = (await new Ledger({ home: home.home }).list()).entries;
    await sdkEnableFaultKind.renew!(entry!.record, SDK_LEASE_MS);
    const rule2 = await client.get('svc', rule1!.id);
    assert.ok(Date.parse(rule2.expires_at) <= Date.parse(rule1!.expires_at) + 50, 'renew stops at the TTL');
    // The session's TTL timer reverts it.
    await until(async () => (await client.document('svc')).faults.length === 0, 5000, 'the TTL revert');
    await until(async () => (await home.activeFaults()).length === 0, 5000, 'the ledger entry to go');
    await faults.revertAll();
    await assertNothingLeftBehind(home.home);
  });

  test('bad arguments are refused before anything is ledgered', async () => {
    const faults = session('sdk-bad');
    for (const [args, field] of [
      [{ service: 'no spaces', type: 'latency' }, /service/],
      [{ service: 'ok', type: 'nope' }, /type/],
      [{ service: 'ok', type: 'latency', api_url: 'ftp://x' }, /api_url/],
      [{ service: 'ok', type: 'latency', percentage: 200 }, /percentage/],
      [{ service: 'ok', type: 'latency', latency_ms: 3e9 }, /latency_ms.*600000/],
      [{ service: 'ok', type: 'latency', extra: 1 }, /extra|nrecognized/],
    ] as const) {
      await assert.rejects(faults.inject(sdkEnableFaultKind, args), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
        assert.match(err.message, field);
        return true;
      });
    }
    assert.deepEqual(await home.activeFaults(), []);
    await faults.revertAll();
  });

  test('an unreachable control server fails the inject and leaves nothing behind', async () => {
    const faults = session('sdk-unreachable');
    const dead = new ProxyManager();
    const gone = await startControlServer({ control: dead, port: 0, mounts: [sdkControlMount()] });
    const url = gone.url;
    await gone.close();
    await dead.close();
    await assert.rejects(
      faults.inject(sdkEnableFaultKind, { service: 'svc', api_url: url, type: 'exception', message: 'x' }),
      /cannot inject/,
    );
    await faults.revertAll();
    await assertNothingLeftBehind(home.home);
  });

  test('the token comes from FAULTLINE_PROXY_TOKEN and is never stored', async () => {
    const guarded = await startControlServer({
      control: manager,
      port: 0,
      token: 'tok-123',
      mounts: [sdkControlMount()],
    });
    const previous = process.env.FAULTLINE_PROXY_TOKEN;
    process.env.FAULTLINE_PROXY_TOKEN = 'tok-123';
    try {
      const faults = session('sdk-token');
      await faults.inject(sdkEnableFaultKind, { service: 'svc', api_url: guarded.url, type: 'reset' });
      const { entries } = await new Ledger({ home: home.home }).list();
      assert.doesNotMatch(JSON.stringify(entries), /tok-123/);
      const [r] = await faults.revertAll();
      assert.equal(r?.verified, true);
      await assertNothingLeftBehind(home.home);
    } finally {
      if (previous === undefined) delete process.env.FAULTLINE_PROXY_TOKEN;
      else process.env.FAULTLINE_PROXY_TOKEN = previous;
      await guarded.close();
    }
  });

  const holder = (runId: string, leaseMs: number) => {
    const f = spawnFixture(
      join(repoRoot, 'test', 'fixtures', 'sdk', 'holder.ts'),
      [runId, String(leaseMs), api.url, 'checkout'],
      home.home,
    );
    fixtures.push(f);
    return f;
  };

  test('a runner killed with SIGKILL: the rule expires by itself within the lease, recovery cleans the ledger', async () => {
    const lease = 900;
    const h = holder('doomed-sdk-run', lease);
    await h.waitFor('ready');
    h.send('inject 600000');
    const [faultId, ruleId] = (await h.waitFor('injected')).split(' ');
    assert.ok(ruleId?.startsWith('fl-'), `${faultId} ${ruleId}: ${h.stderr()}`);
    const first = await client.get('checkout', ruleId!);
    assert.ok(Date.parse(first.expires_at) - Date.now() <= lease + 100);
    // The live runner renews the lease (every lease / 3): the rule outlives several leases.
    await sleep(lease * 2.5);
    const later = await client.get('checkout', ruleId!);
    assert.ok(Date.parse(later.expires_at) > Date.parse(first.expires_at), 'the lease was renewed');

    h.child.kill('SIGKILL');
    await h.exited;
    const killedAt = Date.now();
    const took = await until(
      async () => (await client.document('checkout')).faults.length === 0,
      lease + 2000,
      'the rule to expire',
    );
    assert.ok(took <= lease + 200, `expired ${took} ms after the kill (lease ${lease} ms)`);
    assert.ok(Date.now() - killedAt <= lease + 300);

    const [orphan] = await listActiveFaults({ home: home.home });
    assert.equal(orphan?.id, faultId);
    assert.equal(orphan?.ownerAlive, false);
    const report = await recoverOrphans({ home: home.home });
    assert.deepEqual(
      report.reverted.map((r) => [r.id, r.reason, r.verified]),
      [[faultId, 'dead-owner', true]],
    );
    await assertNothingLeftBehind(home.home);
  });

  test('halt from another process reverts a live runner’s SDK fault', async () => {
    const h = holder('live-sdk-run', 15_000);
    await h.waitFor('ready');
    h.send('inject 600000');
    const [faultId, ruleId] = (await h.waitFor('injected')).split(' ');
    assert.equal((await client.document('checkout')).faults[0]?.id, ruleId);

    const halter = spawnFixture(
      join(repoRoot, 'test', 'fixtures', 'faults', 'ops.ts'),
      ['halt', 'sdk drill'],
      home.home,
    );
    fixtures.push(halter);
    const report = JSON.parse(await halter.waitFor('result'));
    assert.deepEqual(
      report.reverted.map((r: { id: string; reason: string; verified: boolean }) => [
        r.id,
        r.reason,
        r.verified,
      ]),
      [[faultId, 'halt', true]],
    );
    assert.deepEqual((await client.document('checkout')).faults, [], 'the rule is gone from the endpoint');
    await releaseHalt({ home: home.home });
    h.child.stdin!.end();
    await h.exited;
    await assertNothingLeftBehind(home.home);
  });
});
