/**
 * The Toxiproxy-compatible control API on a real socket (port 0) in front of
 * the real ProxyManager: every endpoint, Toxiproxy's status codes, shapes and
 * error texts byte for byte, headers, the browser and token guards, and hostile
 * input (wrong types, huge and garbage bodies, slow clients, a seeded fuzz).
 */
import assert from 'node:assert/strict';
import { connect, createServer as createTcpServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import type { ProxyControl } from '../../src/proxy/model.js';
import { echoRoundTrip, echoServer, http, prng, rawExchange } from '../helpers/http-raw.js';

let manager: ProxyManager;
let api: ControlServer;
let upstream: Awaited<ReturnType<typeof echoServer>>;
let UP: string;

const call = (method: string, path: string, body?: string | Buffer, headers?: Record<string, string>) =>
  http(api.url, method, path, body, headers);

/** Toxiproxy's http.Error: JSON in text/plain with a trailing newline and nosniff. */
function assertApiError(res: Awaited<ReturnType<typeof call>>, status: number, message: string | RegExp) {
  assert.equal(res.status, status, res.body);
  assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.ok(res.body.endsWith('}\n'), `trailing newline: ${JSON.stringify(res.body)}`);
  const parsed = JSON.parse(res.body);
  assert.deepEqual(Object.keys(parsed), ['error', 'status']);
  assert.equal(parsed.status, status);
  if (typeof message === 'string') {
    assert.equal(parsed.error, message);
    assert.equal(res.body, `${JSON.stringify({ error: message, status })}\n`);
  } else assert.match(parsed.error, message);
}

/** Faultline-only errors (auth, limits, timeouts): application/json `{"error","status"}`. */
function assertJsonError(res: Awaited<ReturnType<typeof call>>, status: number, message?: RegExp) {
  assert.equal(res.status, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const parsed = JSON.parse(res.body);
  assert.deepEqual(Object.keys(parsed), ['error', 'status']);
  assert.equal(parsed.status, status);
  if (message) assert.match(parsed.error, message);
}

const json = (res: { body: string }) => JSON.parse(res.body);

async function createProxy(name: string, extra: Record<string, unknown> = {}) {
  const res = await call(
    'POST',
    '/proxies',
    JSON.stringify({ name, listen: '127.0.0.1:0', upstream: UP, ...extra }),
  );
  assert.equal(res.status, 201, res.body);
  return json(res);
}

async function deleteAll() {
  for (const name of Object.keys(json(await call('GET', '/proxies')))) {
    await call('DELETE', `/proxies/${encodeURIComponent(name)}`);
  }
}

before(async () => {
  upstream = await echoServer();
  UP = `127.0.0.1:${upstream.port}`;
  manager = new ProxyManager();
  api = await startControlServer({ control: manager, port: 0 });
});

after(async () => {
  await api.close();
  await manager.close();
  await upstream.close();
});

describe('GET /version and headers', () => {
  test('exact bytes, content type and our own version header', async () => {
    const res = await call('GET', '/version');
    assert.equal(res.status, 200);
    assert.equal(res.body, '{"version": "2.12.0"}\n');
    assert.equal(res.headers['content-type'], 'application/json;charset=utf-8');
    assert.match(String(res.headers['x-faultline-version']), /^\d+\.\d+\.\d+/);
  });

  test('every response carries a distinct X-Toxiproxy-Request-Id', async () => {
    const ids = new Set<string>();
    for (const [m, p] of [
      ['GET', '/version'],
      ['GET', '/proxies'],
      ['GET', '/proxies/nope'],
      ['GET', '/nope'],
      ['PUT', '/proxies'],
    ] as const) {
      const id = (await call(m, p)).headers['x-toxiproxy-request-id'];
      assert.match(String(id), /^[0-9a-v]{20}$/, `${m} ${p}`);
      ids.add(String(id));
    }
    assert.equal(ids.size, 5);
  });

  test('unknown paths are 404 `404 page not found`, wrong methods 405 with an empty body', async () => {
    for (const p of ['/nope', '/proxies/', '/proxies/a/b', '/proxies/a/toxics/', '/version/', '//proxies']) {
      const res = await call('GET', p);
      assert.equal(res.status, 404, p);
      assert.equal(res.body, '404 page not found\n');
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    }
    for (const [m, p] of [
      ['PUT', '/proxies'],
      ['DELETE', '/version'],
      ['HEAD', '/version'],
      ['GET', '/reset'],
      ['GET', '/populate'],
      ['PUT', '/proxies/x/toxics/y'],
      ['OPTIONS', '/proxies'],
    ] as const) {
      const res = await call(m, p);
      assert.equal(res.status, 405, `${m} ${p}`);
      assert.equal(res.body, '');
    }
  });

  test('browsers are refused: User-Agent starting with Mozilla/ gets 403', async () => {
    const ua = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' };
    assertApiError(await call('GET', '/proxies', undefined, ua), 403, 'User agent not allowed');
    assertApiError(
      await call('POST', '/proxies', JSON.stringify({ name: 'evil', upstream: UP }), ua),
      403,
      'User agent not allowed',
    );
    assert.equal((await call('GET', '/proxies/evil')).status, 404, 'nothing was created');
    assert.equal(
      (await call('GET', '/version', undefined, { 'user-agent': 'curl/8.0 Mozilla/' })).status,
      200,
    );
  });
});

describe('proxies', () => {
  after(deleteAll);

  test('create answers 201 with the proxy in Toxiproxy key order and the bound address', async () => {
    const res = await call(
      'POST',
      '/proxies',
      JSON.stringify({ name: 'api', listen: 'localhost:0', upstream: UP }),
    );
    assert.equal(res.status, 201, res.body);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.ok(!res.body.endsWith('\n'));
    const p = json(res);
    assert.deepEqual(Object.keys(p), ['name', 'listen', 'upstream', 'enabled', 'toxics']);
    assert.match(p.listen, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(p.listen, '127.0.0.1:0');
    assert.deepEqual(
      { ...p, listen: 'x' },
      { name: 'api', listen: 'x', upstream: UP, enabled: true, toxics: [] },
    );
    const port = Number(p.listen.split(':')[1]);
    assert.equal((await echoRoundTrip(port, 'hello')).reply, 'hello', 'traffic flows through the new proxy');
  });

  test('enabled: false is created without listening; null means true', async () => {
    const off = json(
      await call(
        'POST',
        '/proxies',
        JSON.stringify({ name: 'off', listen: 'localhost:0', upstream: UP, enabled: false }),
      ),
    );
    assert.equal(off.enabled, false);
    assert.equal(off.listen, 'localhost:0', 'disabled-at-create echoes the raw listen');
    const on = await createProxy('nulled', { enabled: null });
    assert.equal(on.enabled, true);
  });

  test('duplicate name 409; missing name then upstream 400, name checked first', async () => {
    assertApiError(
      await call('POST', '/proxies', JSON.stringify({ name: 'api', upstream: UP })),
      409,
      'proxy already exists',
    );
    assertApiError(await call('POST', '/proxies', '{}'), 400, 'missing required field: name');
    assertApiError(await call('POST', '/proxies', '{"name":""}'), 400, 'missing required field: name');
    assertApiError(await call('POST', '/proxies', '{"name":"x"}'), 400, 'missing required field: upstream');
    assertApiError(await call('POST', '/proxies', 'null'), 400, 'missing required field: name');
  });

  test('Go decoding: EOF, syntax and type errors word for word; keys case-insensitive; unknown keys ignored', async () => {
    assertApiError(await call('POST', '/proxies', ''), 400, 'bad request body: EOF');
    assertApiError(await call('POST', '/proxies', '  \n '), 400, 'bad request body: EOF');
    assertApiError(await call('POST', '/proxies', '{"name":'), 400, 'bad request body: unexpected EOF');
    assertApiError(
      await call('POST', '/proxies', 'garbage'),
      400,
      "bad request body: invalid character 'g' looking for beginning of value",
    );
    assertApiError(
      await call('POST', '/proxies', '{"name" "x"}'),
      400,
      `bad request body: invalid character '"' after object key`,
    );
    assertApiError(
      await call('POST', '/proxies', '{"name":"x",}'),
      400,
      `bad request body: invalid character '}' looking for beginning of object key string`,
    );
    assertApiError(
      await call('POST', '/proxies', '{"name": tru}'),
      400,
      "bad request body: invalid character '}' in literal true (expecting 'e')",
    );
    assertApiError(
      await call('POST', '/proxies', JSON.stringify({ name: 5, upstream: UP })),
      400,
      'bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type string',
    );
    assertApiError(
      await call('POST', '/proxies', JSON.stringify({ name: 'y', upstream: UP, enabled: 'yes' })),
      400,
      'bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool',
    );
    assertApiError(
      await call('POST', '/proxies', '[1,2]'),
      400,
      'bad request body: json: cannot unmarshal array into Go value of type toxiproxy.Proxy',
    );
    const p = json(
      await call(
        'POST',
        '/proxies',
        `{"NAME":"cased","Listen":"127.0.0.1:0","UPSTREAM":"${UP}","whatever":[1,{"a":2}]} trailing garbage`,
      ),
    );
    assert.equal(p.name, 'cased');
    assert.equal(p.upstream, UP);
  });

  test('GET /proxies is a map sorted by name; GET /proxies/{name}; 404 for unknown', async () => {
    await createProxy('10');
    await createProxy('9');
    const res = await call('GET', '/proxies');
    assert.equal(res.status, 200);
    const names = [...res.body.matchAll(/"([^"]+)":\{"name"/g)].map((m) => m[1]);
    assert.deepEqual(
      names,
      [...names].sort((a, b) => Buffer.compare(Buffer.from(a!), Buffer.from(b!))),
    );
    assert.ok(names.indexOf('10') < names.indexOf('9'), 'bytewise, as Go sorts map keys');
    assert.deepEqual(Object.keys(json(res).api), ['name', 'listen', 'upstream', 'enabled', 'toxics']);
    assert.equal(json(await call('GET', '/proxies/api')).name, 'api');
    assertApiError(await call('GET', '/proxies/missing'), 404, 'proxy not found');
  });

  test('update with POST or PATCH keeps unsent fields, ignores name; 404 before the body is read', async () => {
    const before = json(await call('GET', '/proxies/api'));
    const patched = await call('PATCH', '/proxies/api', JSON.stringify({ enabled: false, name: 'renamed' }));
    assert.equal(patched.status, 200, patched.body);
    assert.deepEqual(json(patched), { ...before, enabled: false });
    const posted = await call('POST', '/proxies/api', JSON.stringify({ enabled: true }));
    assert.deepEqual(json(posted), before, 'the concrete port is kept across disable/enable');
    assertApiError(await call('PATCH', '/proxies/missing', 'garbage'), 404, 'proxy not found');
    assertApiError(await call('PATCH', '/proxies/api', ''), 400, 'bad request body: EOF');
    assertApiError(
      await call('PATCH', '/proxies/api', '{"upstream": 1}'),
      400,
      'bad request body: json: cannot unmarshal number into Go struct field Proxy.upstream of type string',
    );
  });

  test('delete answers 204 with no body, then 404', async () => {
    await createProxy('doomed');
    const res = await call('DELETE', '/proxies/doomed');
    assert.equal(res.status, 204);
    assert.equal(res.body, '');
    assert.equal(res.headers['content-type'], undefined);
    assertApiError(await call('DELETE', '/proxies/doomed'), 404, 'proxy not found');
  });

  test('names are URL-decoded path segments', async () => {
    await createProxy('with space');
    assert.equal(json(await call('GET', '/proxies/with%20space')).name, 'with space');
    assert.equal((await call('DELETE', '/proxies/with%20space')).status, 204);
  });
});

describe('toxics', () => {
  let port: number;
  before(async () => {
    port = Number((await createProxy('tox')).listen.split(':')[1]);
  });
  after(deleteAll);

  test('create answers 200 (not 201) with defaults: downstream, toxicity 1, every attribute, <type>_<stream>', async () => {
    const res = await call('POST', '/proxies/tox/toxics', JSON.stringify({ type: 'latency' }));
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['content-type'], 'application/json');
    const t = json(res);
    assert.deepEqual(Object.keys(t), ['attributes', 'name', 'type', 'stream', 'toxicity']);
    assert.deepEqual(t, {
      attributes: { latency: 0, jitter: 0 },
      name: 'latency_downstream',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
    });
  });

  test('stream is case-insensitive and kept as sent; names unique across both streams', async () => {
    const up = json(
      await call(
        'POST',
        '/proxies/tox/toxics',
        JSON.stringify({ type: 'latency', stream: 'UPSTREAM', toxicity: 0.2 }),
      ),
    );
    assert.equal(up.name, 'latency_UPSTREAM');
    assert.equal(up.stream, 'UPSTREAM');
    assert.equal(up.toxicity, 0.2);
    assertApiError(
      await call(
        'POST',
        '/proxies/tox/toxics',
        JSON.stringify({ type: 'noop', name: 'latency_downstream', stream: 'upstream' }),
      ),
      409,
      'toxic already exists',
    );
    assertApiError(
      await call('POST', '/proxies/tox/toxics', JSON.stringify({ type: 'latency', stream: 'sideways' })),
      400,
      'stream was invalid, can be either upstream or downstream',
    );
    for (const type of ['down', 'nope', '']) {
      assertApiError(
        await call('POST', '/proxies/tox/toxics', JSON.stringify({ type, name: `t-${type}` })),
        400,
        'invalid toxic type',
      );
    }
    const noop = json(
      await call('POST', '/proxies/tox/toxics', JSON.stringify({ type: 'noop', toxicity: 0 })),
    );
    assert.deepEqual(noop.attributes, {});
    assert.equal(noop.toxicity, 0, 'an explicit 0 is kept');
  });

  test('list gives the upstream chain first; get one; 404s for unknown proxy and toxic', async () => {
    const list = json(await call('GET', '/proxies/tox/toxics'));
    assert.deepEqual(
      list.map((t: { name: string }) => t.name),
      ['latency_UPSTREAM', 'latency_downstream', 'noop_downstream'],
    );
    assert.equal(json(await call('GET', '/proxies/tox/toxics/noop_downstream')).type, 'noop');
    assertApiError(await call('GET', '/proxies/tox/toxics/missing'), 404, 'toxic not found');
    assertApiError(await call('GET', '/proxies/missing/toxics'), 404, 'proxy not found');
    assertApiError(await call('GET', '/proxies/missing/toxics/x'), 404, 'proxy not found');
    assertApiError(await call('POST', '/proxies/missing/toxics', 'garbage'), 404, 'proxy not found');
    assert.deepEqual(json(await call('GET', '/proxies/tox')).toxics, list, 'the proxy shows the same toxics');
  });

  test('body errors: EOF, type mismatches at the top level and in attributes, fractions in integers', async () => {
    assertApiError(await call('POST', '/proxies/tox/toxics', ''), 400, 'bad request body: EOF');
    assertApiError(
      await call(
        'POST',
        '/proxies/tox/toxics',
        JSON.stringify({ type: 'latency', name: 'x', toxicity: 'high' }),
      ),
      400,
      'bad request body: json: cannot unmarshal string into Go struct field ToxicWrapper.toxicity of type float32',
    );
    assertApiError(
      await call(
        'POST',
        '/proxies/tox/toxics',
        JSON.stringify({ type: 'latency', name: 'x', attributes: 'fast' }),
      ),
      400,
      'bad request body: json: cannot unmarshal string into Go struct field ToxicWrapper.attributes of type toxics.NoopToxic',
    );
    assertApiError(
      await call(
        'POST',
        '/proxies/tox/toxics',
        JSON.stringify({ type: 'latency', name: 'x', attributes: { latency: 'x' } }),
      ),
      400,
      'bad request body: json: cannot unmarshal string into Go struct field LatencyToxic.attributes.latency of type int64',
    );
    assertApiError(
      await call(
        'POST',
        '/proxies/tox/toxics',
        JSON.stringify({ type: 'latency', name: 'x', attributes: { latency: 1.5 } }),
      ),
      400,
      /^bad request body: json: cannot unmarshal number 1\.5 into Go struct field LatencyToxic\.attributes\.latency of type int64$/,
    );
    assert.equal((await call('GET', '/proxies/tox/toxics/x')).status, 404, 'nothing was added');
  });

  test('update (POST and PATCH) merges attributes and keeps toxicity when absent; name/type/stream ignored', async () => {
    await call(
      'POST',
      '/proxies/tox/toxics',
      JSON.stringify({ type: 'latency', name: 'lat', attributes: { latency: 10, jitter: 5 } }),
    );
    const a = await call('POST', '/proxies/tox/toxics/lat', JSON.stringify({ attributes: { latency: 20 } }));
    assert.equal(a.status, 200, a.body);
    assert.deepEqual(json(a).attributes, { latency: 20, jitter: 5 });
    const b = json(
      await call(
        'PATCH',
        '/proxies/tox/toxics/lat',
        JSON.stringify({ toxicity: 0.5, name: 'zzz', type: 'noop', stream: 'upstream' }),
      ),
    );
    assert.deepEqual(b, {
      attributes: { latency: 20, jitter: 5 },
      name: 'lat',
      type: 'latency',
      stream: 'downstream',
      toxicity: 0.5,
    });
    assertApiError(await call('PATCH', '/proxies/tox/toxics/missing', 'garbage'), 404, 'toxic not found');
    assertApiError(await call('PATCH', '/proxies/tox/toxics/lat', ''), 400, 'bad request body: EOF');
    assertApiError(
      await call('PATCH', '/proxies/tox/toxics/lat', '{"toxicity":"x"}'),
      400,
      'bad request body: json: cannot unmarshal string into Go struct field .toxicity of type float32',
    );
  });

  test('a latency toxic added through the API delays real traffic; removing it (204) restores it', async () => {
    await call('DELETE', '/proxies/tox/toxics/latency_UPSTREAM');
    await call('DELETE', '/proxies/tox/toxics/latency_downstream');
    await call('DELETE', '/proxies/tox/toxics/lat');
    const res = await call(
      'POST',
      '/proxies/tox/toxics',
      JSON.stringify({ type: 'latency', name: 'slow', attributes: { latency: 150 } }),
    );
    assert.equal(res.status, 200, res.body);
    const slow = await echoRoundTrip(port, 'abc');
    assert.equal(slow.reply, 'abc');
    assert.ok(slow.ms >= 140, `round trip ${slow.ms} ms with a 150 ms latency toxic`);
    const del = await call('DELETE', '/proxies/tox/toxics/slow');
    assert.equal(del.status, 204);
    assert.equal(del.body, '');
    const fast = await echoRoundTrip(port, 'abc');
    assert.ok(fast.ms < 100, `round trip ${fast.ms} ms without the toxic`);
    assertApiError(await call('DELETE', '/proxies/tox/toxics/slow'), 404, 'toxic not found');
  });

  test('ttl (Faultline): the toxic shows it and removes itself', async () => {
    const t = json(
      await call('POST', '/proxies/tox/toxics', JSON.stringify({ type: 'noop', name: 'brief', ttl: 200 })),
    );
    assert.equal(typeof t.ttl, 'number');
    assert.ok(t.ttl > 0 && t.ttl <= 200);
    const deadline = Date.now() + 5000;
    while ((await call('GET', '/proxies/tox/toxics/brief')).status === 200) {
      assert.ok(Date.now() < deadline, 'the toxic expired');
      await new Promise((r) => setTimeout(r, 50));
    }
    assertApiError(
      await call('POST', '/proxies/tox/toxics', JSON.stringify({ type: 'noop', name: 'x', ttl: 'soon' })),
      400,
      'bad request body: json: cannot unmarshal string into Go struct field ToxicWrapper.ttl of type int64',
    );
  });
});

describe('populate and reset', () => {
  after(deleteAll);

  test('populate answers 201 {"proxies":[...]} in input order; [] gives {"proxies":null}', async () => {
    const res = await call(
      'POST',
      '/populate',
      JSON.stringify([
        { name: 'p2', listen: '127.0.0.1:0', upstream: UP },
        { name: 'p1', listen: '127.0.0.1:0', upstream: UP, enabled: false },
      ]),
    );
    assert.equal(res.status, 201, res.body);
    assert.equal(res.headers['content-type'], 'application/json');
    const body = json(res);
    assert.deepEqual(Object.keys(body), ['proxies']);
    assert.deepEqual(
      body.proxies.map((p: { name: string; enabled: boolean }) => [p.name, p.enabled]),
      [
        ['p2', true],
        ['p1', false],
      ],
    );
    const empty = await call('POST', '/populate', '[]');
    assert.equal(empty.status, 201);
    assert.equal(empty.body, '{"proxies":null}');
  });

  test('an existing proxy with the same listen and upstream is kept untouched (toxics stay)', async () => {
    const p2 = json(await call('GET', '/proxies/p2'));
    await call('POST', '/proxies/p2/toxics', JSON.stringify({ type: 'noop' }));
    const res = await call(
      'POST',
      '/populate',
      JSON.stringify([{ name: 'p2', listen: p2.listen, upstream: UP }]),
    );
    assert.equal(res.status, 201, res.body);
    assert.equal(json(res).proxies[0].toxics.length, 1);
  });

  test('errors are application/json with "proxies"; validation happens before anything is created', async () => {
    const missing = await call(
      'POST',
      '/populate',
      JSON.stringify([{ name: 'new1', upstream: UP, listen: '127.0.0.1:0' }, { name: 'new2' }]),
    );
    assert.equal(missing.status, 400);
    assert.equal(missing.headers['content-type'], 'application/json');
    assert.equal(
      missing.body,
      '{"error":"missing required field: upstream at proxy 2","status":400,"proxies":null}',
    );
    assert.equal((await call('GET', '/proxies/new1')).status, 404, 'nothing created');
    const eof = await call('POST', '/populate', '');
    assert.equal(eof.body, '{"error":"bad request body: EOF","status":400,"proxies":null}');
    const wrong = await call('POST', '/populate', '{"name":"x"}');
    assert.equal(wrong.status, 400);
    assert.match(
      json(wrong).error,
      /^bad request body: json: cannot unmarshal object into Go value of type \[\]/,
    );
  });

  test('a bind failure stops populate with 500 and lists the proxies already done (no rollback)', async () => {
    const blocker = createTcpServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const busy = `127.0.0.1:${(blocker.address() as { port: number }).port}`;
    try {
      const res = await call(
        'POST',
        '/populate',
        JSON.stringify([
          { name: 'ok1', listen: '127.0.0.1:0', upstream: UP },
          { name: 'clash', listen: busy, upstream: UP },
        ]),
      );
      assert.equal(res.status, 500, res.body);
      const body = json(res);
      assert.deepEqual(Object.keys(body), ['error', 'status', 'proxies']);
      assert.match(body.error, /address already in use/);
      assert.deepEqual(
        body.proxies.map((p: { name: string }) => p.name),
        ['ok1'],
      );
      assert.equal((await call('GET', '/proxies/ok1')).status, 200);
    } finally {
      blocker.close();
    }
  });

  test('reset (204) enables every proxy and removes every toxic, deleting nothing', async () => {
    const p1Before = json(await call('GET', '/proxies/p1'));
    assert.equal(p1Before.enabled, false);
    const res = await call('POST', '/reset');
    assert.equal(res.status, 204);
    assert.equal(res.body, '');
    const all = json(await call('GET', '/proxies'));
    assert.ok(Object.keys(all).length >= 3);
    for (const p of Object.values(all) as { enabled: boolean; toxics: unknown[] }[]) {
      assert.equal(p.enabled, true);
      assert.deepEqual(p.toxics, []);
    }
  });

  test('GET /metrics answers Prometheus text', async () => {
    const res = await call('GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
  });
});

describe('token', () => {
  test('a token is required on every request when configured, even on loopback', async () => {
    const secured = await startControlServer({ control: manager, port: 0, token: 's3cret-token' });
    try {
      const get = (headers: Record<string, string>) =>
        http(secured.url, 'GET', '/version', undefined, headers);
      const none = await get({});
      assertJsonError(none, 401, /token/);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      assertJsonError(await get({ authorization: 'Bearer wrong' }), 401);
      assertJsonError(await get({ authorization: 'Basic czNjcmV0LXRva2Vu' }), 401);
      assertJsonError(await get({ 'x-faultline-token': 's3cret-token-but-longer' }), 401);
      assert.equal((await get({ authorization: 'Bearer s3cret-token' })).status, 200);
      assert.equal((await get({ authorization: 'bearer s3cret-token' })).status, 200);
      assert.equal((await get({ 'x-faultline-token': 's3cret-token' })).status, 200);
      assertJsonError(await http(secured.url, 'POST', '/reset', undefined, {}), 401);
      assert.ok(!none.body.includes('s3cret'));
    } finally {
      await secured.close();
    }
  });

  test('refuses a non-loopback host without a token; accepts it with one', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.1', 'example.com']) {
      await assert.rejects(
        startControlServer({ control: manager, host, port: 0 }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
          assert.match(err.message, /token/);
          return true;
        },
      );
    }
    const open = await startControlServer({ control: manager, host: '0.0.0.0', port: 0, token: 'tkn' });
    try {
      assertJsonError(await http(open.url, 'GET', '/proxies'), 401);
      assert.equal(
        (await http(open.url, 'GET', '/proxies', undefined, { authorization: 'Bearer tkn' })).status,
        200,
      );
    } finally {
      await open.close();
    }
  });

  test('listen failures are reported, not thrown later', async () => {
    await assert.rejects(startControlServer({ control: manager, port: api.port }), /address already in use/);
  });
});

describe('hostile requests', () => {
  let fragile: ControlServer;
  let stuck: ProxyControl;
  before(async () => {
    // The real manager, except that reset never finishes: the API must still answer.
    stuck = new Proxy(manager, {
      get(target, prop, receiver) {
        if (prop === 'reset') return () => new Promise(() => {});
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    fragile = await startControlServer({
      control: stuck,
      port: 0,
      headersTimeoutMs: 400,
      bodyTimeoutMs: 400,
      handlerTimeoutMs: 300,
      maxBodyBytes: 64 * 1024,
    });
  });
  after(async () => {
    await fragile.close();
    await deleteAll();
  });

  test('a body over the cap gets 413 JSON (declared or chunked) and the server carries on', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024 + 1, 0x20);
    assertJsonError(await call('POST', '/proxies', big), 413, /larger than 1048576 bytes/);
    const chunked = await rawExchange(fragile.port, [
      'POST /proxies HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      ...Array.from({ length: 20 }, () => `4000\r\n${' '.repeat(0x4000)}\r\n`),
      '0\r\n\r\n',
    ]);
    assert.match(chunked.data, /^HTTP\/1\.1 413 /);
    assert.match(chunked.data, /\{"error":"request body larger than 65536 bytes","status":413\}/);
    assert.equal((await call('GET', '/version')).status, 200);
  });

  test('garbage bytes and malformed HTTP get a 400 JSON and a closed connection', async () => {
    for (const junk of [
      'GARBAGE\r\n\r\n',
      '\x00\x01\x02\x03\xff\xfe\r\n\r\n',
      'GET /version HTTP/9.9\r\n\r\n',
      'GET /version HTTP/1.1\r\nBad Header\r\n\r\n',
      'POST /proxies HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n',
      'POST /proxies HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    ]) {
      const r = await rawExchange(api.port, [junk]);
      assert.match(r.data, /^HTTP\/1\.1 400 /, JSON.stringify(junk));
      assert.match(r.data, /\r\n\r\n\{"error":"[^"]+","status":400\}$/);
      assert.ok(r.closedByServer);
    }
    const huge = await rawExchange(api.port, [
      `GET /version HTTP/1.1\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
    ]);
    assert.match(huge.data, /^HTTP\/1\.1 431 /);
    assert.equal((await call('GET', '/version')).status, 200);
  });

  test('slowloris: partial headers get 408 and the connection closes, while others are served', async () => {
    const slow = rawExchange(
      fragile.port,
      ['GET /version HTTP/1.1\r\nHost: localhost\r\n', 'X-A: 1\r\n', 'X-B: 2\r\n'],
      {
        gapMs: 100,
        waitMs: 5000,
      },
    );
    const silent = rawExchange(fragile.port, [], { waitMs: 5000 });
    for (let i = 0; i < 5; i++) assert.equal((await http(fragile.url, 'GET', '/version')).status, 200);
    const [s, q] = await Promise.all([slow, silent]);
    assert.match(s.data, /^HTTP\/1\.1 408 /);
    assert.match(s.data, /"status":408/);
    assert.ok(s.closedByServer && s.elapsedMs < 4000, `closed after ${s.elapsedMs} ms`);
    assert.ok(q.closedByServer && q.elapsedMs < 4000, `an idle connection closed after ${q.elapsedMs} ms`);
  });

  test('a body that never finishes gets 408 JSON', async () => {
    const r = await rawExchange(
      fragile.port,
      ['POST /proxies HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"name":'],
      { waitMs: 5000 },
    );
    assert.match(r.data, /^HTTP\/1\.1 408 /);
    assert.match(r.data, /\{"error":"request body not received within 400 ms","status":408\}/);
    assert.ok(r.closedByServer);
  });

  test('an operation that never finishes answers 503 after the handler timeout, and the API stays up', async () => {
    const started = Date.now();
    const res = await http(fragile.url, 'POST', '/reset');
    assertJsonError(res, 503, /did not finish within 300 ms/);
    assert.ok(Date.now() - started < 2000);
    assert.equal((await http(fragile.url, 'GET', '/proxies')).status, 200);
  });

  test('deep nesting, odd strings and prototype keys are just bad or ignored input', async () => {
    assertApiError(
      await call('POST', '/proxies', '['.repeat(200_000)),
      400,
      "bad request body: invalid character '[' exceeded max depth",
    );
    assertApiError(
      await call('POST', '/proxies', `{"name":"${'\\u'}zz"}`),
      400,
      /in \\\\?u hexadecimal character escape/,
    );
    assertApiError(
      await call('POST', '/proxies', '{"name":"a\nb"}'),
      400,
      "bad request body: invalid character '\\n' in string literal",
    );
    const p = json(
      await call(
        'POST',
        '/proxies',
        `{"__proto__":{"polluted":1},"constructor":1,"name":"pp\\ud800","upstream":"${UP}","listen":"127.0.0.1:0"}`,
      ),
    );
    assert.equal(p.name, 'pp\ufffd', 'a lone surrogate becomes U+FFFD, as in Go');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const html = await call(
      'POST',
      '/proxies',
      JSON.stringify({ name: '<b>&', upstream: UP, listen: '127.0.0.1:0' }),
    );
    assert.ok(html.body.includes('"\\u003cb\\u003e\\u0026"'), 'Go escapes <, > and & in JSON');
    assert.equal(json(html).name, '<b>&');
  });

  test('seeded fuzz: hundreds of random requests, each answered quickly with a well-formed response', async () => {
    const rand = prng(0xfa017);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const methods = ['GET', 'POST', 'PATCH', 'DELETE', 'PUT'] as const;
    const paths = [
      '/version',
      '/proxies',
      '/populate',
      '/reset',
      '/metrics',
      '/proxies/fz',
      '/proxies/fz/toxics',
      '/proxies/fz/toxics/t',
      '/proxies/fz/toxics/latency_downstream',
      '/proxies/%zz',
      '/proxies/fz/toxics/t/x',
      '/nope',
    ];
    const values = [
      null,
      true,
      0,
      -1,
      1.5,
      '__BIG__',
      '',
      'x',
      'latency',
      'upstream',
      '127.0.0.1:0',
      UP,
      [],
      {},
      { latency: 5 },
      [1, 'a'],
    ];
    const keys = [
      'name',
      'NAME',
      'listen',
      'upstream',
      'enabled',
      'type',
      'stream',
      'toxicity',
      'attributes',
      'ttl',
      'junk',
    ];
    const body = (): string | Buffer | undefined => {
      const r = rand();
      if (r < 0.1) return undefined;
      if (r < 0.2)
        return Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
      const obj: Record<string, unknown> = {};
      for (let i = Math.floor(rand() * 5); i > 0; i--) obj[pick(keys)] = pick(values);
      if (rand() < 0.3) obj.name = 'fz';
      if (rand() < 0.3) obj.type = pick(['latency', 'noop', 'down', 'bandwidth', 'limit_data']);
      if (rand() < 0.3) obj.upstream = UP;
      let text = JSON.stringify(rand() < 0.15 ? [obj, obj] : obj).replace(/"__BIG__"/g, '1e400');
      if (rand() < 0.15) text = text.slice(0, Math.floor(rand() * text.length)); // truncated
      if (rand() < 0.05) text = text.replace(/"/g, "'");
      return text;
    };
    const allowed = new Set([200, 201, 204, 400, 403, 404, 405, 409, 500]);
    for (let i = 0; i < 400; i++) {
      const method = pick(methods);
      const path = pick(paths);
      const b = body();
      const started = Date.now();
      const res = await call(method, path, b, rand() < 0.03 ? { 'user-agent': 'Mozilla/5.0' } : {});
      const what = `#${i} ${method} ${path} ${b === undefined ? '' : JSON.stringify(b.toString())} -> ${res.status} ${res.body}`;
      assert.ok(Date.now() - started < 3000, `slow: ${what}`);
      assert.ok(allowed.has(res.status), what);
      assert.ok(res.headers['x-toxiproxy-request-id'], what);
      if (res.status === 405) assert.equal(res.body, '', what);
      else if (res.status === 404 && res.body === '404 page not found\n') assert.ok(true);
      else if (res.status >= 400) {
        const parsed = JSON.parse(res.body);
        assert.equal(parsed.status, res.status, what);
        assert.equal(typeof parsed.error, 'string', what);
        if (res.status === 500) assert.match(parsed.error, /listen|bind|address|port/i, what);
      } else if (res.status !== 204 && path !== '/metrics') JSON.parse(res.body);
    }
    assert.equal((await call('GET', '/version')).status, 200, 'still serving');
    await call('POST', '/reset');
  });
});

test('close() ends keep-alive connections and frees the port', async () => {
  const temp = await startControlServer({ control: manager, port: 0 });
  const socket = connect(temp.port, '127.0.0.1');
  await new Promise<void>((r) => socket.on('connect', () => r()));
  socket.write('GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await new Promise((r) => socket.once('data', r));
  const closed = new Promise((r) => socket.on('close', r));
  await temp.close();
  await closed;
  const again = await startControlServer({ control: manager, port: temp.port });
  await again.close();
});
