/**
 * The proxy server under the attacks of issue #13, each scaled to run in
 * seconds: a chain of thousands of toxics and one byte (stack overflow), the
 * server's limits, catastrophic `path_regex` patterns fed by a data-plane
 * client, response splitting through `http_abort`, `/reset` with a broken
 * proxy, out-of-range toxicity and timer-overflowing durations.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager, type ProxyManagerOptions } from '../../src/proxy/manager.js';
import { ROOT } from '../helpers/cli.js';
import { http } from '../helpers/http-raw.js';
import { client, portOf, roundTrip, startEcho, type Upstream } from '../helpers/proxy-net.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Closed after the test, in reverse order. */
function track<T extends { close(): Promise<void> | void }>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

const manager = (options: ProxyManagerOptions = {}) => track(new ProxyManager(options));
const echo = async (): Promise<Upstream> => track(await startEcho());

async function api(options: ProxyManagerOptions = {}): Promise<{ m: ProxyManager; server: ControlServer }> {
  const m = manager(options);
  const server = track(await startControlServer({ control: m, port: 0 }));
  return { m, server };
}

/** Creates a proxy that does not listen (enough to hold toxics). */
async function disabledProxy(server: ControlServer, name: string, listen = '127.0.0.1:0'): Promise<void> {
  const body = JSON.stringify({ name, listen, upstream: '127.0.0.1:1', enabled: false });
  const res = await http(server.url, 'POST', '/proxies', body);
  assert.equal(res.status, 201, res.body);
}

/** A Faultline/Toxiproxy JSON error: the status and a message matching `message`. */
function assertError(res: { status: number; body: string }, status: number, message: RegExp): void {
  assert.equal(res.status, status, res.body);
  const parsed = JSON.parse(res.body);
  assert.equal(parsed.status, status);
  assert.match(parsed.error, message);
}

describe('a long toxic chain (issue #13 item 1)', () => {
  for (const type of ['latency', 'slicer'] as const) {
    test(`4,000 ${type} toxics on one stream and one byte: the byte goes through, nothing overflows the stack`, async () => {
      const up = await echo();
      const m = manager({ limits: { toxicsPerProxy: 5000 } });
      const p = await m.create({ name: 'deep', listen: '127.0.0.1:0', upstream: `127.0.0.1:${up.port}` });
      const attributes = type === 'slicer' ? { average_size: 1, size_variation: 0, delay: 0 } : {};
      // The report's crash came at about 1,900 on one stream; twice that leaves no doubt.
      for (let i = 0; i < 4000; i++) {
        m.addToxic('deep', { name: `t${i}`, type, stream: 'downstream', attributes });
      }
      const c = await client(portOf(p.listen));
      cleanups.push(() => void c.socket.destroy());
      await roundTrip(c, 'x');
      await roundTrip(c, 'hello, deep chain');
      assert.equal(c.received().toString(), 'xhello, deep chain');
    });
  }
});

describe('limits (issue #13 item 1)', () => {
  test('toxics per proxy: the one beyond the limit is a 400 naming it; the others stay', async () => {
    const { server } = await api({ limits: { toxicsPerProxy: 3 } });
    const created = await http(
      server.url,
      'POST',
      '/proxies',
      JSON.stringify({ name: 'p', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', enabled: false }),
    );
    assert.equal(created.status, 201, created.body);
    for (let i = 0; i < 3; i++) {
      const res = await http(
        server.url,
        'POST',
        '/proxies/p/toxics',
        JSON.stringify({ name: `t${i}`, type: 'noop' }),
      );
      assert.equal(res.status, 200, res.body);
    }
    const over = await http(
      server.url,
      'POST',
      '/proxies/p/toxics',
      JSON.stringify({ name: 't3', type: 'noop' }),
    );
    assertError(over, 400, /too many toxics on proxy p: the limit is 3 per proxy \(limits\.toxicsPerProxy\)/);
    assert.equal(JSON.parse((await http(server.url, 'GET', '/proxies/p/toxics')).body).length, 3);
  });

  test('the default limit refuses the 1,900-toxic attack of the report', async () => {
    const m = manager();
    await m.create({ name: 'p', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', enabled: false });
    let refusedAt = -1;
    for (let i = 0; i < 1900 && refusedAt < 0; i++) {
      try {
        m.addToxic('p', { name: `t${i}`, type: 'latency' });
      } catch {
        refusedAt = i;
      }
    }
    assert.equal(refusedAt, m.limits.toxicsPerProxy);
  });

  test('proxies per server, through create and populate (nothing created when populate would exceed it)', async () => {
    const { server } = await api({ limits: { proxies: 2 } });
    const proxy = (name: string) => ({
      name,
      listen: '127.0.0.1:0',
      upstream: '127.0.0.1:1',
      enabled: false,
    });
    assert.equal((await http(server.url, 'POST', '/proxies', JSON.stringify(proxy('a')))).status, 201);
    const pop = await http(
      server.url,
      'POST',
      '/populate',
      JSON.stringify([proxy('a'), proxy('b'), proxy('c')]),
    );
    assertError(pop, 400, /too many proxies: the limit is 2 per server \(limits\.proxies\)/);
    assert.deepEqual(Object.keys(JSON.parse((await http(server.url, 'GET', '/proxies')).body)), ['a']);
    assert.equal((await http(server.url, 'POST', '/proxies', JSON.stringify(proxy('b')))).status, 201);
    const over = await http(server.url, 'POST', '/proxies', JSON.stringify(proxy('c')));
    assertError(over, 400, /too many proxies: the limit is 2 per server/);
  });

  test('a 1 MiB toxic name and a 1 MiB proxy name are refused naming limits.nameLength', async () => {
    const { server } = await api();
    const huge = 'n'.repeat(1024 * 1024 - 100);
    const p = await http(
      server.url,
      'POST',
      '/proxies',
      JSON.stringify({ name: huge, listen: '127.0.0.1:0', upstream: '127.0.0.1:1', enabled: false }),
    );
    assertError(p, 400, /proxy name too long: 1048476 characters \(the limit is 256: limits\.nameLength\)/);
    const ok = await http(
      server.url,
      'POST',
      '/proxies',
      JSON.stringify({ name: 'p', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', enabled: false }),
    );
    assert.equal(ok.status, 201);
    const t = await http(
      server.url,
      'POST',
      '/proxies/p/toxics',
      JSON.stringify({ name: huge, type: 'noop' }),
    );
    assertError(t, 400, /toxic name too long: 1048476 characters \(the limit is 256/);
    const up = await http(
      server.url,
      'POST',
      '/proxies/p',
      JSON.stringify({ upstream: `${'h'.repeat(2000)}:1` }),
    );
    assertError(up, 400, /upstream too long: 2002 characters \(the limit is 1024: limits\.addressLength\)/);
  });
});

/**
 * A proxy server in a child process (a frozen event loop there cannot freeze the
 * test), with the API on a free port and an echo upstream; resolves the API URL.
 */
async function serverProcess(): Promise<{ url: string; upstream: string; child: ChildProcess }> {
  const script = `
    import { createServer } from 'node:net';
    import { ProxyManager } from './src/proxy/manager.ts';
    import { startControlServer } from './src/proxy/api/server.ts';
    const up = createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
    await new Promise((r) => up.once('listening', r));
    const api = await startControlServer({ control: new ProxyManager(), port: 0 });
    console.log(JSON.stringify({ url: api.url, upstream: '127.0.0.1:' + up.address().port }));
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => {
    child.kill('SIGKILL');
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const { url, upstream } = JSON.parse(line.toString()) as { url: string; upstream: string };
  return { url, upstream, child };
}

/** `GET /version` answered within `ms`, or false (the server's loop is stalled). */
function answersWithin(url: string, ms: number): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  return fetch(`${url}/version`, { signal: controller.signal })
    .then((r) => r.ok)
    .catch(() => false)
    .finally(() => clearTimeout(timer));
}

describe('catastrophic patterns (issue #13 item 2)', () => {
  test('path_regex ^/(a+)+$ and a 35-byte path from a data-plane client: the API keeps answering', async () => {
    const srv = await serverProcess();
    const post = (path: string, body: unknown) => http(srv.url, 'POST', path, JSON.stringify(body));
    const created = await post('/proxies', { name: 'web', listen: '127.0.0.1:0', upstream: srv.upstream });
    assert.equal(created.status, 201, created.body);
    const toxic = await post('/proxies/web/toxics', {
      type: 'http_abort',
      stream: 'upstream',
      attributes: { path_regex: '^/(a+)+$', status: 418 },
    });
    assert.equal(toxic.status, 200, toxic.body);
    // The attacker needs no API access: one request through the proxy.
    const path = `/${'a'.repeat(33)}!`;
    assert.equal(path.length, 35);
    const port = Number(JSON.parse(created.body).listen.split(':').pop());
    const socket = connect(port, '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    await once(socket, 'connect');
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const echoed = once(socket, 'data');
    // Backtracking takes minutes on this path; RE2 microseconds. 15 s leaves room for a loaded machine.
    assert.equal(await answersWithin(srv.url, 15_000), true, 'the API answers while the pattern is matched');
    // Not matched (the path ends in "!"): forwarded to the echo upstream, which sends the request back.
    assert.match(String((await echoed)[0]), /^GET \/a+! HTTP\/1\.1/);
    const hit = connect(port, '127.0.0.1');
    cleanups.push(() => void hit.destroy());
    await once(hit, 'connect');
    hit.write(`GET /${'a'.repeat(33)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(String((await once(hit, 'data'))[0]), /^HTTP\/1\.1 418 /);
  });

  test('patterns RE2 cannot run are refused at creation, naming the attribute', async () => {
    const { server } = await api();
    await disabledProxy(server, 'p');
    for (const [field, pattern] of [
      ['path_regex', '^/(a)\\1$'],
      ['header_value', '(?=x)'],
      ['path_regex', '('],
    ]) {
      const res = await http(
        server.url,
        'POST',
        '/proxies/p/toxics',
        JSON.stringify({ type: 'http_delay', stream: 'upstream', attributes: { [field!]: pattern } }),
      );
      assertError(
        res,
        400,
        new RegExp(`invalid attribute ${field} for http_delay: must be a valid RE2 regular expression`),
      );
    }
  });
});

describe('response splitting (issue #13 item 5)', () => {
  test('http_abort headers and content_type are checked as HTTP does: no CR/LF/NUL, token names', async () => {
    const { server } = await api();
    await disabledProxy(server, 'p');
    const add = (attributes: Record<string, unknown>) =>
      http(
        server.url,
        'POST',
        '/proxies/p/toxics',
        JSON.stringify({ type: 'http_abort', stream: 'upstream', attributes }),
      );
    const refused: [Record<string, unknown>, RegExp][] = [
      [
        { content_type: 'text/html\r\nSet-Cookie: session=evil' },
        /invalid attribute content_type for http_abort: must not contain CR, LF/,
      ],
      [
        { headers: { 'X-A': 'v\r\nSet-Cookie: session=evil' } },
        /invalid attribute headers for http_abort: value of header "X-A" contains CR, LF/,
      ],
      [{ headers: { 'X-A': 'v\nx' } }, /contains CR, LF/],
      [{ headers: { 'X-A': 'v\u0000' } }, /contains CR, LF, NUL/],
      [
        { headers: { 'Set-Cookie: a=b\r\nX': 'v' } },
        /header name "Set-Cookie: a=b\\r\\nX" is not an HTTP token/,
      ],
      [{ headers: { 'X A': 'v' } }, /is not an HTTP token/],
      [{ headers: { '': 'v' } }, /header name "" is not an HTTP token/],
    ];
    for (const [attributes, message] of refused) assertError(await add(attributes), 400, message);
    assert.equal(JSON.parse((await http(server.url, 'GET', '/proxies/p/toxics')).body).length, 0);
    // Ordinary values, tabs and obs-text included, are still accepted; an update is checked the same way.
    const ok = await add({
      content_type: 'application/json; charset=utf-8',
      headers: { 'Retry-After': '5', 'X-Why': 'a\tb é' },
    });
    assert.equal(ok.status, 200, ok.body);
    const upd = await http(
      server.url,
      'POST',
      '/proxies/p/toxics/http_abort_upstream',
      JSON.stringify({ attributes: { headers: { 'X-B': '\r\n\r\n<script>' } } }),
    );
    assertError(upd, 400, /value of header "X-B" contains CR, LF/);
  });
});

describe('reset and toxicity (issue #13 item 7)', () => {
  test('a disabled proxy with an unresolvable listen: reset cleans every other proxy and names it', async () => {
    const up = await echo();
    const { server } = await api();
    await disabledProxy(server, 'broken', 'no-such-host.invalid:9');
    const good = await http(
      server.url,
      'POST',
      '/proxies',
      JSON.stringify({ name: 'zgood', listen: '127.0.0.1:0', upstream: `127.0.0.1:${up.port}` }),
    );
    assert.equal(good.status, 201, good.body);
    for (const proxy of ['broken', 'zgood']) {
      const res = await http(
        server.url,
        'POST',
        `/proxies/${proxy}/toxics`,
        JSON.stringify({ type: 'latency' }),
      );
      assert.equal(res.status, 200, res.body);
    }
    assert.equal(
      (await http(server.url, 'POST', '/proxies/zgood', JSON.stringify({ enabled: false }))).status,
      200,
    );
    for (let round = 0; round < 2; round++) {
      const reset = await http(server.url, 'POST', '/reset');
      assertError(
        reset,
        500,
        /reset removed every toxic but could not enable 1 proxy: broken: listen tcp: .*no-such-host\.invalid/,
      );
      const proxies = JSON.parse((await http(server.url, 'GET', '/proxies')).body);
      assert.deepEqual(proxies.broken.toxics, []);
      assert.deepEqual(proxies.zgood.toxics, []);
      assert.equal(proxies.zgood.enabled, true);
      assert.equal(proxies.broken.enabled, false);
    }
    // Once the broken proxy is gone, reset is a plain 204 again.
    assert.equal((await http(server.url, 'DELETE', '/proxies/broken')).status, 204);
    assert.equal((await http(server.url, 'POST', '/reset')).status, 204);
  });

  test('toxicity outside 0..1 is refused on create and update', async () => {
    const { server } = await api();
    await disabledProxy(server, 'p');
    for (const toxicity of [-1, 2, 1.0001]) {
      const res = await http(
        server.url,
        'POST',
        '/proxies/p/toxics',
        JSON.stringify({ type: 'noop', toxicity }),
      );
      assertError(res, 400, new RegExp(`invalid toxicity: must be between 0 and 1, got ${toxicity}`));
    }
    const ok = await http(
      server.url,
      'POST',
      '/proxies/p/toxics',
      JSON.stringify({ type: 'noop', toxicity: 0 }),
    );
    assert.equal(ok.status, 200, ok.body);
    const upd = await http(
      server.url,
      'PATCH',
      '/proxies/p/toxics/noop_downstream',
      JSON.stringify({ toxicity: -0.5 }),
    );
    assertError(upd, 400, /invalid toxicity: must be between 0 and 1, got -0.5/);
  });
});

describe('durations beyond a timer (issue #13 item 8)', () => {
  test('a toxic ttl of 2^31 ms is kept (it used to go after 1 ms) and shows its time left', async () => {
    const m = manager();
    await m.create({ name: 'p', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', enabled: false });
    m.addToxic('p', { name: 'long', type: 'noop', ttl: 2 ** 31 });
    m.addToxic('p', { name: 'longer', type: 'noop', ttl: 3e12 });
    await new Promise((r) => setTimeout(r, 100));
    const ttls = Object.fromEntries(m.listToxics('p').map((t) => [t.name, t.ttl]));
    assert.ok(ttls.long! > 2 ** 31 - 60_000, `long: ${ttls.long}`);
    assert.ok(ttls.longer! > 3e12 - 60_000, `longer: ${ttls.longer}`);
  });

  test('latency 3e9 ms holds the data without spinning a 1 ms timer (no TimeoutOverflowWarning)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    cleanups.push(() => void process.off('warning', onWarning));
    const up = await echo();
    const m = manager();
    const p = await m.create({ name: 'slow', listen: '127.0.0.1:0', upstream: `127.0.0.1:${up.port}` });
    m.addToxic('slow', { type: 'latency', attributes: { latency: 3e9 } });
    const c = await client(portOf(p.listen));
    cleanups.push(() => void c.socket.destroy());
    c.socket.write('held');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.received().length, 0);
    assert.deepEqual(warnings, []);
    // Removing the toxics releases the data: nothing was lost while it was held.
    m.removeToxic('slow', 'latency_downstream');
    await c.waitFor(4);
    assert.equal(c.received().toString(), 'held');
  });
});
