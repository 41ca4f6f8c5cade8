/**
 * Hostile input against the sign-in, user and token routes of a real control
 * plane (port 0, SQLite, a user so sign-in is required): random and malformed
 * bodies, wrong types, unknown fields, huge bodies, forged cookies, CSRF
 * headers and Authorization headers, path tricks under /api/users and
 * /api/tokens. Every answer is a 4xx with the JSON error shape, never a 5xx,
 * a stack trace or a hang, nothing is created by it, and the server stays
 * healthy and still signs its admin in.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClientError, http, prng, randomJson } from '../helpers/http-raw.js';
import { type AuthServer, startAuthServer } from '../helpers/serve-auth.js';

let t: AuthServer;
let admin: Awaited<ReturnType<AuthServer['signIn']>>;
let host: Record<string, string>;
before(async () => {
  // Limits high enough that hundreds of random sign-ins are answered as sign-ins, not as 429.
  t = await startAuthServer({ signInLimits: { perUser: 100_000, perAddress: 100_000, windowMs: 60_000 } });
  await t.addUser('admin', 'admin', 'admin-password-1');
  admin = await t.signIn('admin', 'admin-password-1');
  host = { host: `127.0.0.1:${t.server.port}` };
});
after(async () => {
  await t?.close();
});

/** The fields the routes read: random bodies use them as keys. */
const AUTH_FIELDS = ['name', 'password', 'role', 'owner', 'secret', 'disabled'];

const ROUTES = ['/api/session', '/api/users', '/api/tokens'];

test('random JSON bodies on the sign-in, user and token routes: 4xx JSON errors, never a 5xx', async () => {
  const rand = prng(5);
  const headers = {
    ...host,
    'content-type': 'application/json',
    cookie: `faultline_session=${admin.cookie}`,
    'x-csrf-token': admin.csrf,
  };
  for (let i = 0; i < 300; i++) {
    const path = ROUTES[i % ROUTES.length] as string;
    const body = JSON.stringify(randomJson(rand, AUTH_FIELDS)) ?? 'null';
    const r = await http(t.url, 'POST', path, body, headers);
    assertClientError(r, `POST ${path} ${body.slice(0, 120)}`);
  }
  const users = await admin.call('GET', '/api/users');
  assert.deepEqual(
    users.json.map((u: { name: string }) => u.name),
    ['admin'],
    'no user was made by the fuzz',
  );
  assert.deepEqual((await admin.call('GET', '/api/tokens')).json, [], 'no token was made by the fuzz');
});

test('wrong types, unknown fields and bad values name the field', async () => {
  const cases: [string, unknown, string][] = [
    ['/api/session', { name: 'admin' }, 'password'],
    ['/api/session', { name: 7, password: 'x' }, 'name'],
    ['/api/session', { name: 'admin', password: 'admin-password-1', remember: true }, 'remember'],
    ['/api/users', { name: 'a', password: 'long-enough-1', role: 'root' }, 'role'],
    ['/api/users', { name: '../etc', password: 'long-enough-1', role: 'viewer' }, 'name'],
    ['/api/users', { name: 'b', password: 'long-enough-1', role: 'viewer', disabled: false }, 'disabled'],
    ['/api/users', { name: 'c', password: 'x'.repeat(2000), role: 'viewer' }, 'password'],
    ['/api/tokens', { name: 'ci', role: 'viewer', secret: 'flt_mine' }, 'secret'],
    ['/api/tokens', { name: 'a b', role: 'viewer' }, 'name'],
  ];
  for (const [path, body, field] of cases) {
    const r = await admin.call('POST', path, body);
    assert.equal(r.status, 400, `${path} ${JSON.stringify(body).slice(0, 100)}: ${r.body}`);
    assertClientError(r, path);
    assert.ok(r.body.includes(field), `${path}: the error names ${field}: ${r.body}`);
  }
});

test('forged cookies, CSRF and Authorization headers are 401/403, never a 5xx', async () => {
  const cookies = [
    'faultline_session=',
    'faultline_session=x',
    `faultline_session=${'A'.repeat(5000)}`,
    `faultline_session=${admin.cookie}x`,
    `faultline_session=${admin.cookie.slice(1)}`,
    'faultline_session=%00%ff',
    'faultline_session=a; faultline_session=b',
    `other=1; faultline_session=../../${admin.cookie}`,
  ];
  for (const cookie of cookies) {
    const r = await http(t.url, 'GET', '/api/experiments', undefined, { ...host, cookie });
    assert.equal(r.status, 401, `${cookie.slice(0, 60)}: ${r.body}`);
    assertClientError(r, cookie.slice(0, 60));
  }
  const auths = [
    'Bearer',
    'Bearer  ',
    'bearer flt_x',
    `Bearer flt_${'a'.repeat(300)}`,
    'Bearer flt_\u00ff',
    'Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtMQ==',
    `Bearer ${admin.cookie}`,
    'Bearer flt_a, Bearer flt_b',
  ];
  for (const authorization of auths) {
    const r = await http(t.url, 'GET', '/api/experiments', undefined, { ...host, authorization });
    assert.equal(r.status, 401, `${authorization.slice(0, 60)}: ${r.body}`);
    assertClientError(r, authorization.slice(0, 60));
  }
  for (const csrf of [
    '',
    ' ',
    admin.csrf.toUpperCase(),
    `${admin.csrf}x`,
    'x'.repeat(10_000),
    admin.cookie,
  ]) {
    const r = await http(t.url, 'POST', '/api/tokens', JSON.stringify({ name: 'forged', role: 'viewer' }), {
      ...host,
      'content-type': 'application/json',
      cookie: `faultline_session=${admin.cookie}`,
      'x-csrf-token': csrf,
    });
    assert.equal(r.status, 403, `csrf ${csrf.slice(0, 30)}: ${r.body}`);
    assertClientError(r, 'csrf');
  }
});

test('huge sign-in bodies are 413; path tricks under /api/users and /api/tokens are 4xx', async () => {
  const huge = JSON.stringify({ name: 'admin', password: 'x'.repeat(6 * 1024 * 1024) });
  const r = await http(t.url, 'POST', '/api/session', huge, { ...host, 'content-type': 'application/json' });
  assert.equal(r.status, 413);
  assertClientError(r, 'huge sign-in');
  const long = await t.anonymous.call('POST', '/api/session', { name: 'admin', password: 'x'.repeat(5000) });
  assert.equal(long.status, 400, 'a password over the bound is refused before it is hashed');
  for (const path of [
    '/api/users/..',
    '/api/users/%2e%2e',
    '/api/users/a%2Fb',
    '/api/users/admin/..',
    '/api/users/%00',
    '/api/users/local',
    `/api/users/${'a'.repeat(3000)}`,
    '/api/tokens/..%2f..%2fetc',
    '/api/tokens/%ff%fe',
    '/api/tokens/a/b',
  ]) {
    for (const method of ['DELETE', 'GET', 'PUT', 'PATCH']) {
      const res = await admin.call(method, path, method === 'PUT' || method === 'PATCH' ? {} : undefined);
      assert.ok(res.status >= 400 && res.status < 500, `${method} ${path}: ${res.status} ${res.body}`);
      assertClientError(res, `${method} ${path}`);
    }
  }
  assert.ok((await t.store.getUserCredentials('admin')) !== undefined, 'the admin is still there');
});

test('after all of it the server is healthy and signs its admin in', async () => {
  assert.equal((await t.anonymous.call('GET', '/api/health')).status, 200);
  const again = await t.signIn('admin', 'admin-password-1');
  assert.equal((await again.call('GET', '/api/session')).json.actor, 'admin');
  assert.deepEqual(t.problems, [], 'the server reported no internal error');
});
