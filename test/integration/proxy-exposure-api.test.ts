/**
 * Issue #13 item 4, the attack that found it: a client of a token-less control
 * API on loopback created a proxy listening on 0.0.0.0 whose upstream was the
 * API itself (or 169.254.169.254), republishing both to the network. Each test
 * replays a variant through the real API and real sockets, and checks what is
 * listening afterwards in this process (/proc/self), not only the answer.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { after, afterEach, before, describe, test } from 'node:test';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { AddressPolicy } from '../../src/proxy/listen.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import {
  DialRefusedError,
  type Resolver,
  resolveAll,
  UpstreamLookup,
} from '../../src/proxy/upstream-lookup.js';
import { echoRoundTrip, http } from '../helpers/http-raw.js';
import { client, portOf, startEcho, startUpstream, type Upstream } from '../helpers/proxy-net.js';

/** The TCP listeners this process holds, as /proc/net/tcp{,6} shows them ("0100007F:1F90"). */
async function ownListeners(): Promise<string[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  const found: string[] = [];
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && inodes.has(f[9] ?? '')) found.push(f[1]!);
    }
  }
  return found.sort();
}

interface ApiError {
  status: number;
  error: string;
}

async function post(api: ControlServer, path: string, body: unknown) {
  const r = await http(api.url, 'POST', path, JSON.stringify(body));
  return { status: r.status, json: JSON.parse(r.body || 'null') as unknown };
}

/** A 403 in Toxiproxy's error shape whose message matches every pattern. */
function assertRefused(r: { status: number; json: unknown }, ...patterns: RegExp[]): void {
  assert.equal(r.status, 403, JSON.stringify(r.json));
  const body = r.json as ApiError;
  assert.equal(body.status, 403);
  for (const p of patterns) assert.match(body.error, p);
}

const proxyNames = async (api: ControlServer) =>
  Object.keys(JSON.parse((await http(api.url, 'GET', '/proxies')).body) as object).sort();

describe('a control API on loopback without a token', () => {
  let manager: ProxyManager;
  let api: ControlServer;
  let echo: Upstream;
  before(async () => {
    manager = new ProxyManager();
    api = await startControlServer({ control: manager, port: 0 });
    manager.addControlAddress(api.host, api.port);
    echo = await startEcho();
  });
  afterEach(async () => {
    for (const p of manager.list()) await manager.remove(p.name);
  });
  after(async () => {
    await api.close();
    await manager.close();
    await echo.close();
  });

  test('the attack: a proxy on 0.0.0.0 to the API itself is refused, and nothing more listens', async () => {
    const before = await ownListeners();
    assert.ok(before.length > 0, 'the API and the echo server are seen listening');
    const r = await post(api, '/proxies', {
      name: 'republish',
      listen: '0.0.0.0:0',
      upstream: `127.0.0.1:${api.port}`,
    });
    assertRefused(
      r,
      /^listen 0\.0\.0\.0:0: /,
      /not a loopback address/,
      /--allow-public-listen/,
      /allowPublicListen/,
    );
    assert.deepEqual(await proxyNames(api), []);
    assert.deepEqual(await ownListeners(), before, 'no listener was opened');
  });

  test('an upstream that is the control API is refused however it is written', async () => {
    for (const upstream of [
      `127.0.0.1:${api.port}`,
      `localhost:${api.port}`,
      `:${api.port}`,
      `[::ffff:127.0.0.1]:${api.port}`,
      `0.0.0.0:${api.port}`,
      `[::]:${api.port}`,
    ]) {
      const r = await post(api, '/proxies', { name: 'loop', listen: '127.0.0.1:0', upstream });
      assertRefused(r, new RegExp(`^upstream ${upstream.replace(/[[\].]/g, '\\$&')}`), /control API/);
    }
    assert.deepEqual(await proxyNames(api), []);
  });

  test('upstreams to link-local and metadata addresses are refused, names resolved', async () => {
    for (const [upstream, resolved] of [
      ['169.254.169.254:80', undefined],
      ['[::ffff:169.254.169.254]:80', undefined],
      ['[::ffff:a9fe:a9fe]:80', undefined],
      ['[fe80::1]:80', undefined],
      ['[fd00:ec2::254]:80', undefined],
      // Numeric forms getaddrinfo reads as 169.254.169.254: names to Node, no hosts file needed.
      ['2852039166:80', '169.254.169.254'],
      ['0251.0376.0251.0376:80', '169.254.169.254'],
    ] as const) {
      const r = await post(api, '/proxies', { name: 'meta', listen: '127.0.0.1:0', upstream });
      assertRefused(
        r,
        /link-local address/,
        /--allow-upstream/,
        /allowUpstream/,
        ...(resolved ? [new RegExp(`resolves to ${resolved.replaceAll('.', '\\.')}`)] : []),
      );
    }
    assert.deepEqual(await proxyNames(api), []);
  });

  test('disabled proxies, updates and populate follow the same rules', async () => {
    const before = await ownListeners();
    assertRefused(
      await post(api, '/proxies', {
        name: 'later',
        listen: '0.0.0.0:0',
        upstream: echo.address,
        enabled: false,
      }),
      /^listen 0\.0\.0\.0:0/,
    );
    const created = await post(api, '/proxies', {
      name: 'db',
      listen: '127.0.0.1:0',
      upstream: echo.address,
    });
    assert.equal(created.status, 201);
    const listen = (created.json as { listen: string }).listen;
    assertRefused(await post(api, '/proxies/db', { listen: '0.0.0.0:0' }), /^listen 0\.0\.0\.0:0/);
    assertRefused(await post(api, '/proxies/db', { upstream: '169.254.169.254:80' }), /link-local/);
    assert.deepEqual((await post(api, '/proxies/db', {})).json, {
      name: 'db',
      listen,
      upstream: echo.address,
      enabled: true,
      toxics: [],
    });
    assert.equal((await echoRoundTrip(portOf(listen), 'still here')).reply, 'still here');

    const populate = await post(api, '/populate', [
      { name: 'a', listen: '127.0.0.1:0', upstream: echo.address },
      { name: 'b', listen: '127.0.0.1:0', upstream: '169.254.169.254:80' },
    ]);
    assertRefused(populate, /^proxy b: upstream 169\.254\.169\.254:80 is a link-local address/);
    assert.deepEqual(await proxyNames(api), ['db'], 'a refused populate creates nothing');
    assert.equal((await http(api.url, 'POST', '/reset')).status, 204);
    assert.equal((await ownListeners()).length, before.length + 1, 'only db listens');
  });

  test('a listen that names no host binds loopback', async () => {
    for (const listen of ['', ':0']) {
      const r = await post(api, '/proxies', { name: 'nohost', listen, upstream: echo.address });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      const bound = (r.json as { listen: string }).listen;
      assert.match(bound, /^127\.0\.0\.1:\d+$/);
      assert.equal((await echoRoundTrip(portOf(bound), 'lo')).reply, 'lo');
      await manager.remove('nohost');
    }
  });
});

describe('with the explicit options', () => {
  let manager: ProxyManager;
  let api: ControlServer;
  let echo: Upstream;
  before(async () => {
    manager = new ProxyManager({ allowPublicListen: true, allowUpstream: ['169.254.169.254/32'] });
    api = await startControlServer({ control: manager, port: 0, token: 'exposure-test-token' });
    manager.addControlAddress(api.host, api.port);
    echo = await startEcho();
  });
  after(async () => {
    await api.close();
    await manager.close();
    await echo.close();
  });
  const auth = { authorization: 'Bearer exposure-test-token' };
  const create = async (body: unknown) => {
    const r = await http(api.url, 'POST', '/proxies', JSON.stringify(body), auth);
    return { status: r.status, json: JSON.parse(r.body) as unknown };
  };

  test('0.0.0.0 and the allowed metadata address work; other link-local and the API do not', async () => {
    const pub = await create({ name: 'pub', listen: '0.0.0.0:0', upstream: echo.address });
    assert.equal(pub.status, 201, JSON.stringify(pub.json));
    const listen = (pub.json as { listen: string }).listen;
    assert.match(listen, /^(0\.0\.0\.0|\[::\]):\d+$/);
    assert.equal((await echoRoundTrip(portOf(listen), 'public')).reply, 'public');

    const meta = await create({ name: 'meta', listen: '127.0.0.1:0', upstream: '169.254.169.254:80' });
    assert.equal(meta.status, 201, JSON.stringify(meta.json));
    assertRefused(
      await create({ name: 'other', listen: '127.0.0.1:0', upstream: '169.254.169.253:80' }),
      /link-local/,
    );
    assertRefused(
      await create({ name: 'api', listen: '0.0.0.0:0', upstream: `127.0.0.1:${api.port}` }),
      /control API/,
    );
  });

  test('an allowUpstream that is no CIDR is refused naming it', () => {
    assert.throws(
      () => new ProxyManager({ allowUpstream: ['10.0.0.0/8', '169.254.0.0/99'] }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
        assert.match(
          err.message,
          /^allowUpstream\[1\]: expected an IP address or CIDR .* got '169\.254\.0\.0\/99'$/,
        );
        return true;
      },
    );
  });
});

describe('at dial time', () => {
  test('proxies created before the API address was known stop dialling it (literal and named)', async () => {
    let accepted = 0;
    const target = await startUpstream((s) => {
      accepted++;
      s.pipe(s);
    });
    const manager = new ProxyManager();
    try {
      const literal = await manager.create({ name: 'lit', listen: '127.0.0.1:0', upstream: target.address });
      const named = await manager.create({
        name: 'named',
        listen: '127.0.0.1:0',
        upstream: `localhost:${target.port}`,
      });
      for (const p of [literal, named]) assert.equal((await echoRoundTrip(portOf(p.listen), 'x')).reply, 'x');
      assert.equal(accepted, 2);

      // The upstream's port is now "the control API": each new connection is closed without a dial to it.
      manager.addControlAddress('127.0.0.1', target.port);
      for (const p of [literal, named]) {
        const c = await client(portOf(p.listen));
        c.socket.write('never forwarded');
        const outcome = await c.outcome;
        assert.equal(outcome.data.length, 0);
      }
      assert.equal(accepted, 2, 'no connection reached the protected address');
    } finally {
      await manager.close();
      await target.close();
    }
  });

  const lookupAll = (lookup: UpstreamLookup, host: string) =>
    new Promise<LookupAddress[]>((resolve, reject) =>
      lookup.lookup(host, { all: true }, (err, addresses) =>
        err ? reject(err) : resolve(addresses as LookupAddress[]),
      ),
    );

  test('a name getaddrinfo resolves to 169.254.169.254 is refused by the dial lookup (real resolver)', async () => {
    const policy = new AddressPolicy();
    const lookup = new UpstreamLookup((a) => policy.upstreamRefusal('2852039166:80', a, 80));
    await assert.rejects(lookupAll(lookup, '2852039166'), (err: Error) => {
      assert.ok(err instanceof DialRefusedError);
      assert.match(
        err.message,
        /^upstream 2852039166:80 resolves to 169\.254\.169\.254, which is a link-local/,
      );
      return true;
    });
    const allowed = new AddressPolicy({ allowUpstream: ['169.254.169.254'] });
    const open = new UpstreamLookup((a) => allowed.upstreamRefusal('2852039166:80', a, 80));
    assert.deepEqual(
      (await lookupAll(open, '2852039166')).map((a) => a.address),
      ['169.254.169.254'],
    );
  });

  test('DNS rebinding: a name that passed the create check answers a link-local address at dial', async () => {
    // A resolver whose answer changes between the create-time check and the dial, as a rebinding DNS server's does.
    const answers = [[{ address: '127.0.0.1', family: 4 }], [{ address: '169.254.169.254', family: 4 }]];
    const rebinding: Resolver = (_host, _options, callback) => callback(null, answers.shift() ?? []);
    const policy = new AddressPolicy();
    const check = (a: string) => policy.upstreamRefusal('rebind.test:80', a, 80);
    const atCreate = await resolveAll('rebind.test', 1000, rebinding);
    assert.deepEqual(
      atCreate.map((a) => check(a)),
      [null],
    );
    await assert.rejects(
      lookupAll(new UpstreamLookup(check, rebinding), 'rebind.test'),
      /resolves to 169\.254\.169\.254, which is a link-local address/,
    );
  });

  test('of several addresses, only the refused ones are dropped', async () => {
    const mixed: Resolver = (_host, _options, callback) =>
      callback(null, [
        { address: 'fe80::1', family: 6 },
        { address: '127.0.0.1', family: 4 },
      ]);
    const policy = new AddressPolicy();
    const lookup = new UpstreamLookup((a) => policy.upstreamRefusal('mixed.test:80', a, 80), mixed);
    assert.deepEqual(
      (await lookupAll(lookup, 'mixed.test')).map((a) => a.address),
      ['127.0.0.1'],
    );
  });
});
