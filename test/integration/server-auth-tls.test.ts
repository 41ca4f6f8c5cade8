/**
 * The server speaking HTTPS itself (`tls`, the CLI's --tls-cert/--tls-key) with a
 * self-signed certificate made by openssl for the test: the URL says https, a
 * sign-in over it sets a Secure cookie, and the session works over it. And a
 * session that outlives its lifetime is refused (401) and can sign in again.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashPassword } from '../../src/server/auth/secrets.js';
import { openStore } from '../../src/server/db/index.js';
import { startServer } from '../../src/server/server.js';
import { tempHome } from '../helpers/home.js';
import { startAuthServer } from '../helpers/serve-auth.js';
import { until } from '../helpers/until.js';

function httpsCall(
  url: string,
  method: string,
  path: string,
  ca: Buffer,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any }> {
  const u = new URL(url);
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: u.port,
        method,
        path,
        ca,
        servername: 'localhost',
        agent: false,
        headers: {
          host: `localhost:${u.port}`,
          ...(text === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            json: JSON.parse(Buffer.concat(chunks).toString() || 'null'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

test('HTTPS with a certificate and key: Secure session cookies', async (t) => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    t.skip('openssl is not installed (it makes the test certificate)');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'faultline-auth-tls-'));
  const home = await tempHome();
  let store: Awaited<ReturnType<typeof openStore>> | undefined;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore' },
    );
    const ca = await readFile(cert);
    store = await openStore({ home: home.home, database: join(dir, 'faultline.db') });
    await store.createUser({
      name: 'alice',
      role: 'admin',
      passwordHash: await hashPassword('alice-password'),
    });
    server = await startServer({
      store,
      home: home.home,
      port: 0,
      tls: { cert: ca, key: await readFile(key) },
    });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const signIn = await httpsCall(server.url, 'POST', '/api/session', ca, {
      name: 'alice',
      password: 'alice-password',
    });
    assert.equal(signIn.status, 200);
    const setCookie = String(signIn.headers['set-cookie']);
    assert.match(setCookie, /; Secure/);
    assert.match(setCookie, /HttpOnly/);
    const cookie = /faultline_session=[^;]+/.exec(setCookie)?.[0] as string;
    const who = await httpsCall(server.url, 'GET', '/api/session', ca, undefined, { cookie });
    assert.equal(who.status, 200);
    assert.equal(who.json.actor, 'alice');
  } finally {
    // Newest first: the server, its store, then the files they used.
    await server?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
    await home.cleanup();
  }
});

test('a session past its lifetime is refused with 401; signing in again works', async (t) => {
  const s = await startAuthServer({ sessionTtlMs: 1000 });
  t.after(() => s.close());
  await s.addUser('bob', 'viewer', 'bob-password');
  const session = await s.signIn('bob', 'bob-password');
  await until(
    'the session to expire',
    async () => (await session.call('GET', '/api/experiments')).status === 401,
    30_000,
  );
  const r = await session.call('GET', '/api/session');
  assert.equal(r.status, 401);
  assert.match(r.json.error.message, /session has ended/);
  const again = await s.signIn('bob', 'bob-password');
  assert.equal((await again.call('GET', '/api/experiments')).status, 200);
});
