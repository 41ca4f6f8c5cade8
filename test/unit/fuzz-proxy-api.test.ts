/**
 * Fuzzing of the proxy control API (issue #13, Tests): a seeded random mix of
 * valid and hostile requests against a real server on port 0, with the newer
 * checks in reach (toxics per proxy, name lengths, body sizes, http_abort
 * header values, ttl and toxicity ranges, SDK rule sizes) and data-plane
 * traffic through whatever toxics are in place. Every answer must be below
 * 500 (but Toxiproxy's 500 for a listen address that cannot be bound), every
 * 4xx a JSON error (but Toxiproxy's plain 404 page for unknown paths and its
 * empty 405), and the API and the data plane must still work
 * afterwards. Bounded by a request count and a time budget, whichever ends
 * first; FUZZ_SEED=<n> replays a run.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { toxicKinds } from '../../src/proxy/toxics/index.js';
import { sdkControlMount } from '../../src/sdk-control/api.js';
import { SdkControlStore } from '../../src/sdk-control/store.js';
import { http, prng, type RawResponse } from '../helpers/http-raw.js';
import { client, portOf, roundTrip, startEcho, type Upstream } from '../helpers/proxy-net.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_206);
const REQUESTS = 1500;
/** Wall-clock budget for the random part: on a loaded machine fewer requests run, never longer. */
const BUDGET_MS = 10_000;
const CONCURRENCY = 4;
const LIMITS = { proxies: 12, toxicsPerProxy: 6, nameLength: 40, addressLength: 200 };
const MAX_BODY = 32 * 1024;

const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const chance = (p: number) => random() < p;

const NUMBERS = [
  0,
  1,
  -1,
  2,
  0.5,
  1.5,
  100,
  599,
  600,
  99,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 53,
  -(2 ** 53),
  1e308,
  -1e308,
  3e9,
  1e-9,
];
const STRINGS = ['', 'x', 'a\r\nSet-Cookie: x=1', 'ok', '\u0000', 'é', '^/(a+)+$', '(', '*', '../..', '%00'];

function name(): string {
  if (chance(0.1)) return 'n'.repeat(LIMITS.nameLength + 1 + int(200));
  if (chance(0.05)) return pick(['', ' ', '/', '%2F', '..', '\u0000', 'a/b']);
  return `p${int(20)}`;
}

function value(depth = 0): unknown {
  const r = int(depth > 1 ? 3 : 6);
  if (r === 0) return pick(NUMBERS);
  if (r === 1) return pick(STRINGS);
  if (r === 2) return pick([true, false, null]);
  if (r === 3) return Array.from({ length: int(3) }, () => value(depth + 1));
  if (r === 4)
    return Object.fromEntries(Array.from({ length: int(3) }, () => [pick(STRINGS), value(depth + 1)]));
  return 'v'.repeat(int(3) === 0 ? MAX_BODY * 2 : int(300));
}

/** Attributes for a toxic type: its own names with plausible or hostile values, sometimes unknown ones. */
function attributes(type: string): Record<string, unknown> {
  const kind = toxicKinds.get(type);
  const keys = kind ? Object.keys(kind.attributes.shape) : ['latency', 'rate'];
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    if (!chance(0.6)) continue;
    if (k === 'headers') {
      out[k] = chance(0.5) ? { 'X-Ok': 'yes', [pick(['Bad Name', 'X-A', 'a:b'])]: pick(STRINGS) } : value();
    } else if (k === 'path_regex' || k === 'content_type' || k === 'method' || k === 'body') {
      out[k] = chance(0.7) ? pick(STRINGS) : value();
    } else {
      out[k] = chance(0.7) ? pick(NUMBERS.filter((n) => Math.abs(n) < 1e4)) : value();
    }
  }
  if (chance(0.1)) out[pick(STRINGS)] = value();
  return out;
}

interface Req {
  method: string;
  path: string;
  body?: string | Buffer;
}

const TYPES = [...toxicKinds.names(), 'nope', ''];

function toxicBody(): string | Buffer {
  const type = pick(TYPES);
  const toxic: Record<string, unknown> = {
    name: chance(0.7) ? `t${int(10)}` : name(),
    type,
    attributes: attributes(type),
  };
  if (chance(0.5)) toxic.stream = pick(['upstream', 'downstream', 'sideways', 1]);
  if (chance(0.5)) toxic.toxicity = chance(0.7) ? pick([0, 0.3, 1, -1, 2, 1.5]) : value();
  // ttl ranges: none, short, beyond a timer's range, negative, not an integer.
  if (chance(0.4)) toxic.ttl = pick([0, 50, 60_000, 2 ** 31, 2 ** 53, -5, 1.5, 1e308, '10']);
  return body(toxic);
}

/** JSON of `v`, or hostile bytes instead (invalid JSON, truncated, too large, binary). */
function body(v: unknown): string | Buffer {
  const r = int(20);
  if (r === 0) return '{"name": ';
  if (r === 1) return Buffer.from(Array.from({ length: 64 }, () => int(256)));
  if (r === 2) return `{"pad": "${'x'.repeat(MAX_BODY + 10)}"}`;
  if (r === 3) return JSON.stringify([v]);
  return JSON.stringify(v);
}

function request(proxies: readonly string[]): Req {
  const p = proxies.length > 0 && chance(0.8) ? pick(proxies) : name();
  const enc = encodeURIComponent;
  switch (int(14)) {
    case 0:
    case 1:
      return {
        method: 'POST',
        path: '/proxies',
        body: body({
          name: name(),
          listen: chance(0.85)
            ? pick(['127.0.0.1:0', 'localhost:0'])
            : pick(['', ':', '127.0.0.1:x', 'h', value()]),
          upstream: chance(0.9) ? upstream.address : pick(['', 'nowhere.invalid:1', value()]),
          ...(chance(0.3) ? { enabled: pick([true, false, 'yes']) } : {}),
        }),
      };
    case 2:
    case 3:
    case 4:
      return { method: 'POST', path: `/proxies/${enc(p)}/toxics`, body: toxicBody() };
    case 5:
      return {
        method: pick(['POST', 'PATCH']),
        path: `/proxies/${enc(p)}/toxics/t${int(10)}`,
        body: toxicBody(),
      };
    case 6:
      return { method: 'DELETE', path: `/proxies/${enc(p)}/toxics/t${int(10)}` };
    case 7:
      return {
        method: pick(['POST', 'PATCH']),
        path: `/proxies/${enc(p)}`,
        body: body({ enabled: pick([true, false, 0]), ...(chance(0.3) ? { listen: '127.0.0.1:0' } : {}) }),
      };
    case 8:
      return chance(0.3)
        ? { method: 'DELETE', path: `/proxies/${enc(p)}` }
        : { method: 'GET', path: '/proxies' };
    case 9:
      return chance(0.5)
        ? { method: 'POST', path: '/reset' }
        : {
            method: 'POST',
            path: '/populate',
            body: body(
              Array.from({ length: int(4) }, () => ({
                name: name(),
                listen: '127.0.0.1:0',
                upstream: upstream.address,
              })),
            ),
          };
    case 10: {
      const rule: Record<string, unknown> = {
        type: pick(['latency', 'http_error', 'exception', 'reset', 'timeout', 'nope']),
        ttl_ms: pick([1, 60_000, 0, -1, 2 ** 31, 1.5, 'x']),
      };
      if (chance(0.5)) rule.latency_ms = pick(NUMBERS);
      if (chance(0.3)) rule.match = { point: 'db.*', labels: { k: 'v'.repeat(int(2) ? 10 : 40_000) } };
      if (chance(0.3)) rule.message = 'm'.repeat(int(2) ? 10 : 33_000);
      return {
        method: pick(['PUT', 'POST']),
        path: `/faultline/sdk/v1/services/${enc(pick(['svc', 'a'.repeat(200), '..', 'x y']))}/faults/${enc(pick(['r1', 'r2', '', ':x']))}`,
        body: body(rule),
      };
    }
    case 11:
      return {
        method: pick(['GET', 'DELETE', 'PATCH']),
        path: `/faultline/sdk/v1/${pick(['services', 'halt', 'services/svc/faults', 'services/svc/faults?wait_version=x', 'nope'])}`,
      };
    case 12:
      return {
        method: pick(['GET', 'PUT', 'TRACE', 'OPTIONS']),
        path: pick(['/version', '/metrics', '/proxies/%zz', '/', '/proxies/a/b/c/d', `/${'x'.repeat(3000)}`]),
      };
    default:
      return { method: 'GET', path: `/proxies/${enc(p)}/toxics` };
  }
}

let upstream: Upstream;
let manager: ProxyManager;
let store: SdkControlStore;
let api: ControlServer;

function send(req: Req): Promise<RawResponse> {
  return http(
    api.url,
    req.method,
    req.path,
    req.body,
    req.body === undefined ? {} : { 'content-type': 'application/json' },
  );
}

/** What every answer must be: below 500, and a JSON error for every 4xx but Toxiproxy's own 404 page and 405. */
function check(req: Req, res: RawResponse): void {
  const what = `seed ${SEED}: ${req.method} ${req.path.slice(0, 120)} -> ${res.status} ${res.body.slice(0, 300)}`;
  if (res.status === 500 && /^\/(proxies|populate|reset)/.test(req.path)) {
    // Toxiproxy's one deliberate 500 (tested in proxy-manager.test.ts): a listen address that cannot be
    // bound, with Go's text, also from /reset or /populate enabling such a proxy. Nothing else.
    assert.match(JSON.parse(res.body).error, /listen tcp\b/, what);
    return;
  }
  assert.ok(res.status >= 200 && res.status < 500, what);
  if (res.status < 400) return;
  if (res.status === 405) {
    assert.ok(res.headers.allow, `405 without Allow: ${what}`);
    return;
  }
  // Toxiproxy's router page for unknown paths (its JSON errors are sent as text/plain too: the body decides).
  if (res.status === 404 && res.body === '404 page not found\n') return;
  let parsed: { error?: unknown };
  try {
    parsed = JSON.parse(res.body);
  } catch {
    assert.fail(`a ${res.status} that is not JSON: ${what}`);
  }
  assert.equal(typeof parsed.error, 'string', `a ${res.status} without an error message: ${what}`);
  assert.ok((parsed.error as string).length > 0, what);
}

/** A burst of bytes through a proxy (HTTP-like or not); the answer does not matter, the server's survival does. */
async function traffic(port: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, 100);
    s.on('error', done);
    s.on('close', done);
    s.write(
      chance(0.5)
        ? `GET /${'a'.repeat(int(40))}! HTTP/1.1\r\nHost: x\r\n\r\n`
        : Buffer.from(Array.from({ length: 200 }, () => int(256))),
    );
  });
}

describe('fuzzing the proxy control API', { timeout: 120_000 }, () => {
  before(async () => {
    upstream = await startEcho();
    manager = new ProxyManager({ limits: LIMITS });
    store = new SdkControlStore();
    api = await startControlServer({
      control: manager,
      port: 0,
      maxBodyBytes: MAX_BODY,
      mounts: [sdkControlMount(store)],
    });
  });
  after(async () => {
    await api.close();
    await manager.close();
    store.close();
    await upstream.close();
  });

  test('the newer limits answer 4xx naming what was refused', async () => {
    const made = await send({
      method: 'POST',
      path: '/proxies',
      body: JSON.stringify({ name: 'lim', listen: '127.0.0.1:0', upstream: upstream.address }),
    });
    assert.equal(made.status, 201, made.body);
    const add = (toxic: Record<string, unknown>) =>
      send({ method: 'POST', path: '/proxies/lim/toxics', body: JSON.stringify(toxic) });
    for (let i = 0; i < LIMITS.toxicsPerProxy; i++) {
      assert.equal((await add({ name: `l${i}`, type: 'latency' })).status, 200);
    }
    const cases: [Record<string, unknown> | string, RegExp][] = [
      [{ name: 'one-more', type: 'latency' }, /limits\.toxicsPerProxy/],
      [{ name: 'n'.repeat(LIMITS.nameLength + 1), type: 'latency' }, /limits\.nameLength/],
      [{ type: 'http_abort', attributes: { headers: { 'X-A': 'a\r\nSet-Cookie: x=1' } } }, /headers/],
      [{ type: 'http_abort', attributes: { content_type: 'text/html\r\nX: y' } }, /content_type/],
      [{ type: 'latency', toxicity: 2 }, /toxicity/],
      [{ type: 'latency', ttl: -5 }, /ttl/],
      [`{"pad": "${'x'.repeat(MAX_BODY)}"}`, /larger than/],
    ];
    await send({ method: 'POST', path: '/reset' });
    for (let i = 0; i < LIMITS.toxicsPerProxy; i++) await add({ name: `l${i}`, type: 'latency' });
    for (const [toxic, message] of cases) {
      const req = {
        method: 'POST',
        path: '/proxies/lim/toxics',
        body: typeof toxic === 'string' ? toxic : JSON.stringify(toxic),
      };
      const res = await send(req);
      check(req, res);
      assert.ok(res.status >= 400, `${req.body.slice(0, 80)} -> ${res.status}`);
      assert.match(JSON.parse(res.body).error, message);
      // After the first case the proxy is full: free a slot so each later case meets its own check.
      if (message.source.includes('toxicsPerProxy'))
        await send({ method: 'DELETE', path: '/proxies/lim/toxics/l0' });
    }
    assert.equal((await send({ method: 'DELETE', path: '/proxies/lim' })).status, 204);
  });

  test('a seeded random mix: no 5xx, every 4xx a JSON error, no crash', async (t) => {
    const started = Date.now();
    let sent = 0;
    const statuses = new Map<number, number>();
    const worker = async () => {
      while (sent < REQUESTS && Date.now() - started < BUDGET_MS) {
        sent++;
        const proxies = manager.list().map((p) => p.name);
        const req = request(proxies);
        const res = await send(req);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        check(req, res);
        if (sent % 15 === 0) {
          const live = manager.list().filter((p) => p.enabled);
          if (live.length > 0) await traffic(portOf(pick(live).listen));
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    t.diagnostic(
      `seed ${SEED}: ${sent} requests in ${Date.now() - started} ms; statuses ${JSON.stringify([...statuses])}`,
    );
  });

  test('afterwards the API answers and a new proxy carries data', async () => {
    // Delete first: /reset enables every disabled proxy, and one the mix left disabled may name a port
    // another process has bound since, which is Toxiproxy's deliberate 500 (see check), not a fault.
    for (const p of manager.list())
      await send({ method: 'DELETE', path: `/proxies/${encodeURIComponent(p.name)}` });
    assert.equal(manager.list().length, 0);
    assert.equal((await send({ method: 'POST', path: '/reset' })).status, 204);
    assert.equal((await send({ method: 'GET', path: '/version' })).status, 200);
    assert.equal((await send({ method: 'GET', path: '/faultline/sdk/v1/services' })).status, 200);
    const made = await send({
      method: 'POST',
      path: '/proxies',
      body: JSON.stringify({ name: 'after', listen: '127.0.0.1:0', upstream: upstream.address }),
    });
    assert.equal(made.status, 201, made.body);
    const c = await client(portOf(JSON.parse(made.body).listen));
    try {
      await roundTrip(c);
      assert.equal(c.received().toString(), 'ping');
    } finally {
      c.socket.destroy();
    }
  });
});
