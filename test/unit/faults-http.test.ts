/** http.fault: its arguments, the toxic each type becomes (checked by the proxy's own schemas), and what a workload fills. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { filledByWorkload, WorkloadSchema } from '../../src/core/workload.js';
import { globRegex, HttpFaultArgs, httpFaultKind, toxicFor } from '../../src/faults/http/fault.js';
import { applyWorkload } from '../../src/fleet/workloads.js';
import { compileMatch } from '../../src/proxy/http/match.js';
import { toxicKinds } from '../../src/proxy/toxics/index.js';

const base = { api_url: 'http://127.0.0.1:8474', proxy: 'front' };
const args = (a: Record<string, unknown>) => HttpFaultArgs.parse({ ...base, ...a });

/** The attributes as the proxy's toxic type validates them (what the API would accept). */
function accepted(type: string, attributes: Record<string, unknown>) {
  const kind = toxicKinds.get(type);
  assert.ok(kind, `toxic type ${type}`);
  return kind.attributes.parse(attributes) as Record<string, unknown>;
}

describe('http.fault arguments', () => {
  test('exposed as faultline.http / fault, kind name in the http group', () => {
    assert.deepEqual(
      { group: httpFaultKind.expose?.group, name: httpFaultKind.expose?.name },
      { group: 'http', name: 'fault' },
    );
    assert.match(httpFaultKind.kind, /^http-/);
  });

  test('percentage defaults to 100 and is bounded', () => {
    assert.equal(args({ type: 'http_error' }).percentage, 100);
    for (const p of [-1, 101]) {
      const r = HttpFaultArgs.safeParse({ ...base, type: 'http_error', percentage: p });
      assert.equal(r.success, false);
      assert.match(r.error!.issues[0]!.message, /percentage from 0 to 100/);
    }
  });

  test('unknown type, unknown field, bad URL, bad method are refused naming the field', () => {
    const issue = (a: Record<string, unknown>) => {
      const r = HttpFaultArgs.safeParse({ ...base, ...a });
      assert.equal(r.success, false);
      return r.error!.issues[0]!;
    };
    assert.deepEqual(issue({ type: 'exception' }).path, ['type']);
    assert.match(issue({ type: 'latency', delay: 5 }).message, /delay/);
    assert.deepEqual(issue({ type: 'latency', api_url: 'ftp://x' }).path, ['api_url']);
    assert.deepEqual(issue({ type: 'latency', match: { method: 'GET /' } }).path, ['match', 'method']);
    assert.deepEqual(issue({ type: 'latency', latency_ms: 1.5 }).path, ['latency_ms']);
  });

  test('api_url and proxy may be left to a workload (validation of a fault aimed at workloads)', () => {
    const r = HttpFaultArgs.safeParse({ type: 'http_error', status: 503 });
    assert.equal(r.success, false);
    const a = { type: 'http_error', status: 503 };
    assert.ok(r.error!.issues.every((i) => filledByWorkload(a, i.path, i.message)));
    // A filled field given wrong is still an issue.
    const bad = HttpFaultArgs.safeParse({ type: 'http_error', api_url: 'nope', proxy: 'p' });
    assert.ok(!bad.error!.issues.every((i) => filledByWorkload({ api_url: 'nope' }, i.path, i.message)));
  });
});

describe('the toxic each type becomes', () => {
  test('latency -> http_delay on the upstream stream, with percentage and match', () => {
    const t = toxicFor(
      args({
        type: 'latency',
        latency_ms: 5000,
        jitter_ms: 100,
        percentage: 10,
        match: { path_prefix: '/api' },
      }),
    );
    assert.equal(t.type, 'http_delay');
    assert.equal(t.stream, 'upstream');
    assert.equal(t.toxicity, 1);
    assert.deepEqual(accepted(t.type, t.attributes), {
      delay: 5000,
      jitter: 100,
      percentage: 10,
      method: '',
      path_prefix: '/api',
      path_regex: '',
      header_name: '',
      header_value: '',
    });
  });

  test('http_error -> http_abort with status (default 503), body and headers', () => {
    const t = toxicFor(args({ type: 'http_error', percentage: 40 }));
    assert.equal(t.type, 'http_abort');
    assert.equal(accepted(t.type, t.attributes).status, 503);
    assert.equal(accepted(t.type, t.attributes).percentage, 40);
    const u = toxicFor(
      args({ type: 'http_error', status: 429, body: 'slow down', headers: { 'retry-after': '1' } }),
    );
    const a = accepted(u.type, u.attributes);
    assert.deepEqual([a.status, a.body, a.headers], [429, 'slow down', { 'retry-after': '1' }]);
  });

  test('reset -> reset_peer on whole connections (toxicity = percentage), no match', () => {
    const t = toxicFor(args({ type: 'reset', percentage: 25 }));
    assert.deepEqual(t, {
      type: 'reset_peer',
      stream: 'upstream',
      toxicity: 0.25,
      attributes: { timeout: 0 },
    });
    assert.throws(() => toxicFor(args({ type: 'reset', match: { method: 'GET' } })), /arguments\.match/);
  });

  test('arguments of another type and a latency without latency_ms are refused by name', () => {
    assert.throws(() => toxicFor(args({ type: 'latency' })), /arguments\.latency_ms/);
    assert.throws(() => toxicFor(args({ type: 'latency', latency_ms: 5, status: 503 })), /arguments\.status/);
    assert.throws(() => toxicFor(args({ type: 'http_error', latency_ms: 5 })), /arguments\.latency_ms/);
    assert.throws(
      () => toxicFor(args({ type: 'http_error', match: { path: '/a*', path_regex: '^/a' } })),
      /path \(a glob\) or path_regex/,
    );
  });

  test('match: a path glob, method list and header become the proxy matcher', () => {
    const t = toxicFor(
      args({
        type: 'http_error',
        match: { path: '/api/*.json', method: 'get,post', header: { name: 'end-user', value: '^jason$' } },
      }),
    );
    const m = compileMatch(accepted(t.type, t.attributes) as never);
    const req = (method: string, path: string, headers: Record<string, string> = { 'end-user': 'jason' }) =>
      m({ method, path, headers, version: 'HTTP/1.1' } as never);
    assert.equal(req('GET', '/api/v1/x.json'), true);
    assert.equal(req('POST', '/api/x.json'), true);
    assert.equal(req('PUT', '/api/x.json'), false);
    assert.equal(req('GET', '/api/xjson'), false, 'the dot is literal');
    assert.equal(req('GET', '/other/x.json'), false);
    assert.equal(req('GET', '/api/x.json', {}), false);
    assert.equal(req('GET', '/api/x.json', { 'end-user': 'bob' }), false);
  });

  test('globRegex escapes everything but * and ?', () => {
    assert.equal(globRegex('/a?(b)*'), '^/a.\\(b\\).*$');
  });

  test('plan gives each fault its own toxic name and refuses a bad combination before the ledger', async () => {
    const a = args({ type: 'http_error' });
    const r1 = await httpFaultKind.plan(a);
    const r2 = await httpFaultKind.plan(a);
    assert.notEqual(r1.name, r2.name);
    assert.match(String(r1.name), /^faultline_http_http_error_[0-9a-f]{8}$/);
    assert.deepEqual([r1.api_url, r1.proxy], [base.api_url, base.proxy]);
    assert.throws(() => httpFaultKind.plan(args({ type: 'latency' })), /latency_ms/);
  });
});

describe('http.fault on a workload', () => {
  const front = WorkloadSchema.parse({
    name: 'front',
    namespace: 'web',
    proxy: { api_url: 'http://127.0.0.1:8474', name: 'front' },
  });
  const sdkOnly = WorkloadSchema.parse({
    name: 'api',
    namespace: 'pay',
    sdk: { service: 'api', control_url: 'http://127.0.0.1:8474' },
  });

  test("the workload's proxy fills api_url and proxy", async () => {
    const applied = await applyWorkload('http-fault', { type: 'http_error', percentage: 40 }, front);
    assert.deepEqual(applied, {
      kind: 'http-fault',
      args: { type: 'http_error', percentage: 40, api_url: 'http://127.0.0.1:8474', proxy: 'front' },
    });
    assert.equal(HttpFaultArgs.safeParse(applied.args).success, true);
  });

  test('a workload without a proxy is refused naming it (its SDK faults outbound calls, not these)', async () => {
    await assert.rejects(
      applyWorkload('http-fault', { type: 'latency', latency_ms: 5 }, sdkOnly),
      (err: Error & { code?: string }) =>
        err.code === 'FAULTLINE_ERR_POLICY' &&
        /workload pay\/api: has no proxy: HTTP faults from Istio\/Chaos Mesh\/Litmus act on requests to the workload: give it a proxy in its --workloads entry/.test(
          err.message,
        ),
    );
  });

  test('a different proxy given in the arguments, or a peer, is refused', async () => {
    await assert.rejects(
      applyWorkload('http-fault', { type: 'reset', proxy: 'other' }, front),
      /arguments\.proxy: the workload web\/front names its proxy/,
    );
    await assert.rejects(
      applyWorkload('http-fault', { type: 'reset' }, front, { peer: '10.0.0.1' }),
      /takes no peers/,
    );
  });
});
