/**
 * People and access on a real control plane (port 0), on SQLite and on the
 * real PostgreSQL: the anonymous `local` while there are no users and its end
 * when one appears, sign-in and sign-out with the cookie's flags, CSRF on
 * cookie changes (missing and wrong refused, bearer tokens exempt), tokens
 * made, used and deleted, users made and deleted (never the last admin), the
 * real actor in runs and the audit log, the same answer for a wrong password
 * and an unknown name, the rate limit, and no secret in any response, log,
 * audit row or (in clear) in the database.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { verifyPassword } from '../../src/server/auth/secrets.js';
import { pgScratchRole, pgSkipReason, type ScratchRole } from '../helpers/pg.js';
import { markerExperiment } from '../helpers/serve.js';
import { type AuthServer, startAuthServer } from '../helpers/serve-auth.js';

const ADMIN_PASSWORD = 'correct horse battery staple';
const OPERATOR_PASSWORD = 'operator-pass-0001';

function suite(kind: 'sqlite' | 'postgres') {
  let t: AuthServer;
  let role: ScratchRole | undefined;
  // What must never leak, by kind: passwords and tokens anywhere but the token's one answer; session ids
  // anywhere but their Set-Cookie; CSRF tokens are answered to their session by design, never logged.
  const secrets = {
    passwords: [ADMIN_PASSWORD, OPERATOR_PASSWORD],
    tokens: [] as string[],
    sessions: [] as string[],
    csrf: [] as string[],
  };
  const keep = (s: { cookie: string; csrf: string }) => {
    secrets.sessions.push(s.cookie);
    secrets.csrf.push(s.csrf);
  };

  before(async () => {
    if (kind === 'postgres') {
      role = await pgScratchRole('faultline_auth');
      t = await startAuthServer({ database: role.url() });
    } else {
      t = await startAuthServer();
    }
  });
  after(async () => {
    await t?.close();
    await role?.drop();
  });

  test('no users on loopback: requests are the anonymous admin `local`', async () => {
    const who = await t.anonymous.call('GET', '/api/session');
    assert.equal(who.status, 200, who.body);
    assert.deepEqual(who.json, { actor: 'local', role: 'admin', kind: 'local' });
    const list = await t.anonymous.call('GET', '/api/experiments');
    assert.equal(list.status, 200);
  });

  test('once a user exists, everything but health and sign-in needs a session or a token', async () => {
    // Added straight in the store, as `faultline serve user add` does from another process.
    await t.addUser('alice', 'admin', ADMIN_PASSWORD);
    await t.addUser('olga', 'operator', OPERATOR_PASSWORD);
    for (const [method, path] of [
      ['GET', '/api/experiments'],
      ['GET', '/api/session'],
      ['GET', '/api/runs'],
      ['GET', '/api/audit'],
      ['GET', '/api/openapi.json'],
      ['GET', '/api/users'],
      ['DELETE', '/api/session'],
      ['GET', '/api/nothing-here'],
    ] as const) {
      const r = await t.anonymous.call(method, path);
      assert.equal(r.status, 401, `${method} ${path}: ${r.body}`);
      assert.equal(r.json.error.code, 'unauthorized');
    }
    const upload = await t.anonymous.call('POST', '/api/experiments', {
      name: 'x',
      format: 'yaml',
      source: 'title: x',
    });
    assert.equal(upload.status, 401);
    assert.equal((await t.anonymous.call('GET', '/api/health')).status, 200);
  });

  test('sign-in sets an HttpOnly, SameSite=Strict, Path=/ cookie (Secure behind https) and answers the CSRF token', async () => {
    const s = await t.signIn('alice', ADMIN_PASSWORD);
    keep(s);
    const set = ([] as string[]).concat(s.signIn.headers['set-cookie'] ?? []).join('\n');
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Path=\//);
    assert.match(set, /Max-Age=\d+/);
    assert.doesNotMatch(set, /Secure/, 'plain http: no Secure flag (the browser would drop the cookie)');
    assert.equal(s.signIn.json.actor, 'alice');
    assert.equal(s.signIn.json.role, 'admin');
    assert.equal(typeof s.csrf, 'string');
    assert.ok(s.csrf.length >= 32);
    const who = await s.call('GET', '/api/session');
    assert.equal(who.status, 200);
    assert.equal(who.json.actor, 'alice');
    assert.equal(who.json.csrfToken, s.csrf, 'a reloaded page gets the CSRF token again');

    const proxied = await t.anonymous.call(
      'POST',
      '/api/session',
      { name: 'alice', password: ADMIN_PASSWORD },
      { 'x-forwarded-proto': 'https' },
    );
    assert.equal(proxied.status, 200);
    assert.match(String(proxied.headers['set-cookie']), /Secure/);
    const proxiedId = /faultline_session=([^;]+)/.exec(String(proxied.headers['set-cookie']))?.[1];
    keep({ cookie: proxiedId as string, csrf: proxied.json.csrfToken });
  });

  test('a change with a session cookie needs its CSRF token: missing or wrong is 403, right is done', async () => {
    const s = await t.signIn('olga', OPERATOR_PASSWORD);
    keep(s);
    const body = {
      name: 'csrf-check',
      format: 'yaml',
      source: markerExperiment(join(t.dir, 'never.marker')),
    };
    const cookieOnly = { 'x-csrf-token': '' };
    const missing = await t.anonymous.call('POST', '/api/experiments', body, {
      cookie: `faultline_session=${s.cookie}`,
    });
    assert.equal(missing.status, 403, missing.body);
    assert.equal(missing.json.error.code, 'csrf');
    const empty = await s.call('POST', '/api/experiments', body, cookieOnly);
    assert.equal(empty.status, 403);
    const wrong = await s.call('POST', '/api/experiments', body, {
      'x-csrf-token': `${s.csrf.slice(0, -2)}xx`,
    });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json.error.code, 'csrf');
    // Another session's token is wrong for this one.
    const other = await t.signIn('olga', OPERATOR_PASSWORD);
    keep(other);
    const crossed = await s.call('POST', '/api/experiments', body, { 'x-csrf-token': other.csrf });
    assert.equal(crossed.status, 403);
    const experiments = await s.call('GET', '/api/experiments');
    assert.ok(!experiments.json.some((e: { name: string }) => e.name === 'csrf-check'), 'nothing was stored');

    const right = await s.call('POST', '/api/experiments', body);
    assert.equal(right.status, 201, right.body);
    assert.equal(right.json.createdBy, 'olga');
  });

  test('bearer tokens: work without CSRF, act as token:NAME, are never listed, stop when deleted', async () => {
    const admin = await t.signIn('alice', ADMIN_PASSWORD);
    keep(admin);
    const made = await admin.call('POST', '/api/tokens', { name: 'ci', role: 'operator' });
    assert.equal(made.status, 201, made.body);
    const secret = made.json.secret as string;
    secrets.tokens.push(secret);
    assert.match(secret, /^flt_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(Object.keys(made.json.token).sort(), ['createdAt', 'name', 'owner', 'role']);
    assert.equal(made.json.token.owner, 'alice');
    const dup = await admin.call('POST', '/api/tokens', { name: 'ci', role: 'viewer' });
    assert.equal(dup.status, 409);

    const ci = t.bearer(secret);
    const who = await ci.call('GET', '/api/session');
    assert.deepEqual(who.json, { actor: 'token:ci', role: 'operator', kind: 'token' });
    const run = await ci.call('POST', '/api/runs', { experiment: 'csrf-check' });
    assert.equal(run.status, 202, run.body);
    assert.equal(run.json.requestedBy, 'token:ci');
    const abort = await ci.call('POST', `/api/runs/${run.json.id}/abort`);
    assert.ok([200, 202, 409].includes(abort.status), abort.body);
    const users = await ci.call('GET', '/api/users');
    assert.equal(users.status, 403, 'an operator token cannot manage users');
    assert.equal(users.json.error.code, 'forbidden');

    const list = await admin.call('GET', '/api/tokens');
    assert.equal(list.status, 200);
    assert.ok(list.json.some((x: { name: string }) => x.name === 'ci'));
    assert.ok(!list.body.includes(secret), 'the list never shows a token');

    const above = await ci.call('POST', '/api/tokens', { name: 'escalate', role: 'admin' });
    assert.equal(above.status, 403);

    for (const bad of ['Bearer flt_nope', 'Bearer ', 'Basic YWxpY2U6eA==', `Bearer ${secret}x`, secret]) {
      const r = await t.anonymous.call('GET', '/api/experiments', undefined, { authorization: bad });
      assert.equal(r.status, 401, `${bad}: ${r.body}`);
    }

    assert.equal((await admin.call('DELETE', '/api/tokens/ci')).status, 200);
    const gone = await ci.call('GET', '/api/experiments');
    assert.equal(gone.status, 401);
    assert.equal((await admin.call('DELETE', '/api/tokens/ci')).status, 404);
  });

  test('a token acts no higher than its owner, and ends with its owner', async () => {
    await t.addUser('vera', 'viewer', 'viewer-pass-0001');
    secrets.passwords.push('viewer-pass-0001');
    const secret = await t.addToken('vera-admin', 'admin', 'vera');
    secrets.tokens.push(secret);
    const who = await t.bearer(secret).call('GET', '/api/session');
    assert.equal(who.json.role, 'viewer');
    assert.equal((await t.bearer(secret).call('GET', '/api/users')).status, 403);
    const admin = await t.signIn('alice', ADMIN_PASSWORD);
    keep(admin);
    assert.equal((await admin.call('DELETE', '/api/users/vera')).status, 200);
    assert.equal((await t.bearer(secret).call('GET', '/api/experiments')).status, 401);
    const tokens = await admin.call('GET', '/api/tokens');
    assert.ok(
      !tokens.json.some((x: { name: string }) => x.name === 'vera-admin'),
      "the owner's tokens went with it",
    );
  });

  test('users: created with a role (password never answered), duplicates 409, the last admin is kept', async () => {
    const admin = await t.signIn('alice', ADMIN_PASSWORD);
    keep(admin);
    const pw = 'new-user-password-1';
    secrets.passwords.push(pw);
    const made = await admin.call('POST', '/api/users', { name: 'nina', password: pw, role: 'approver' });
    assert.equal(made.status, 201, made.body);
    assert.deepEqual(Object.keys(made.json).sort(), ['createdAt', 'disabled', 'name', 'role']);
    assert.equal(
      (await admin.call('POST', '/api/users', { name: 'nina', password: pw, role: 'viewer' })).status,
      409,
    );
    const short = await admin.call('POST', '/api/users', { name: 'sam', password: 'short', role: 'viewer' });
    assert.equal(short.status, 400);
    assert.match(short.body, /password/);
    const local = await admin.call('POST', '/api/users', { name: 'local', password: pw, role: 'viewer' });
    assert.equal(local.status, 400, 'local is the anonymous actor, not a user name');
    const list = await admin.call('GET', '/api/users');
    assert.deepEqual(
      list.json.map((u: { name: string; role: string }) => `${u.name}:${u.role}`),
      ['alice:admin', 'nina:approver', 'olga:operator'],
    );
    const stored = await t.store.getUserCredentials('nina');
    assert.ok(stored && (await verifyPassword(pw, stored.passwordHash)));
    assert.match(stored.passwordHash, /^scrypt\$32768\$8\$1\$/);
    const nina = await t.signIn('nina', pw);
    keep(nina);
    assert.equal((await nina.call('GET', '/api/users')).status, 403, 'an approver does not manage users');

    const last = await admin.call('DELETE', '/api/users/alice');
    assert.equal(last.status, 409);
    assert.equal(last.json.error.code, 'last_admin');
    assert.equal((await admin.call('DELETE', '/api/users/nina')).status, 200);
    assert.equal((await nina.call('GET', '/api/experiments')).status, 401, "a deleted user's session ends");
    assert.equal((await admin.call('DELETE', '/api/users/nina')).status, 404);
  });

  test('a user disabled, demoted or given a new password: sessions end, the last admin is kept', async () => {
    const admin = await t.signIn('alice', ADMIN_PASSWORD);
    keep(admin);
    const pw = 'patched-user-pass-1';
    const pw2 = 'patched-user-pass-2';
    secrets.passwords.push(pw, pw2);
    assert.equal(
      (await admin.call('POST', '/api/users', { name: 'pat', password: pw, role: 'operator' })).status,
      201,
    );
    const pat = await t.signIn('pat', pw);
    keep(pat);
    const token = await admin.call('POST', '/api/tokens', { name: 'pat-made', role: 'admin' });
    secrets.tokens.push(token.json.secret);

    const demoted = await admin.call('PATCH', '/api/users/pat', { role: 'viewer' });
    assert.equal(demoted.status, 200, demoted.body);
    assert.equal(demoted.json.role, 'viewer');
    const who = await pat.call('GET', '/api/session');
    assert.equal(who.json.role, 'viewer', 'a role change applies to the live session');
    assert.equal((await pat.call('POST', '/api/runs', { experiment: 'absent' })).status, 403);

    assert.equal((await admin.call('PATCH', '/api/users/pat', { password: pw2 })).status, 200);
    assert.equal((await pat.call('GET', '/api/experiments')).status, 401, 'a new password ends the sessions');
    const old = await t.anonymous.call('POST', '/api/session', { name: 'pat', password: pw });
    assert.equal(old.status, 401);
    const fresh = await t.signIn('pat', pw2);
    keep(fresh);

    assert.equal((await admin.call('PATCH', '/api/users/pat', { disabled: true })).status, 200);
    assert.equal((await fresh.call('GET', '/api/experiments')).status, 401, 'disabling ends the sessions');
    const disabled = await t.anonymous.call('POST', '/api/session', { name: 'pat', password: pw2 });
    assert.equal(disabled.status, 401);
    assert.equal(disabled.json.error.code, 'sign_in_failed', 'the same answer as a wrong password');
    assert.equal((await admin.call('PATCH', '/api/users/pat', { disabled: false })).status, 200);
    keep(await t.signIn('pat', pw2));

    for (const change of [{ role: 'operator' }, { disabled: true }]) {
      const r = await admin.call('PATCH', '/api/users/alice', change);
      assert.equal(r.status, 409, `${JSON.stringify(change)}: ${r.body}`);
      assert.equal(r.json.error.code, 'last_admin');
    }
    const empty = await admin.call('PATCH', '/api/users/pat', {});
    assert.equal(empty.status, 400);
    assert.equal((await admin.call('PATCH', '/api/users/ghost', { role: 'viewer' })).status, 404);
    assert.equal((await admin.call('DELETE', '/api/users/pat')).status, 200);
  });

  test('sign-out ends the session (with CSRF), clears the cookie; the old cookie is refused', async () => {
    const s = await t.signIn('olga', OPERATOR_PASSWORD);
    keep(s);
    const noCsrf = await s.call('DELETE', '/api/session', undefined, { 'x-csrf-token': 'nope' });
    assert.equal(noCsrf.status, 403);
    const out = await s.call('DELETE', '/api/session');
    assert.equal(out.status, 200, out.body);
    assert.match(String(out.headers['set-cookie']), /faultline_session=;.*Max-Age=0/);
    const after = await s.call('GET', '/api/experiments');
    assert.equal(after.status, 401);
    assert.match(after.json.error.message, /session has ended/);
    const tokenOut = await t.bearer(await t.addToken('no-session', 'viewer')).call('DELETE', '/api/session');
    assert.equal(tokenOut.status, 409);
  });

  test('the audit log carries the real actors; sign-in, sign-out, user and token changes are audited', async () => {
    const admin = await t.signIn('alice', ADMIN_PASSWORD);
    keep(admin);
    const audit = await admin.call('GET', '/api/audit?limit=500');
    assert.equal(audit.status, 200);
    const entries = audit.json as { actor: string; action: string; subject?: string }[];
    const has = (actor: string, action: string, subject?: string) =>
      entries.some(
        (e) => e.actor === actor && e.action === action && (subject === undefined || e.subject === subject),
      );
    assert.ok(has('alice', 'session.sign_in', 'alice'));
    assert.ok(has('olga', 'session.sign_out', 'olga'));
    assert.ok(has('olga', 'experiment.upload', 'csrf-check'));
    assert.ok(has('token:ci', 'run.start'));
    assert.ok(has('alice', 'token.create', 'ci'));
    assert.ok(has('alice', 'token.delete', 'ci'));
    assert.ok(has('alice', 'user.create', 'nina'));
    assert.ok(has('alice', 'user.delete', 'nina'));
    assert.ok(has('alice', 'user.delete', 'vera'));
    assert.ok(has('alice', 'user.update', 'pat'));
    const passwordChange = entries.find(
      (e) => e.action === 'user.update' && JSON.stringify(e).includes('changed'),
    );
    assert.ok(passwordChange, 'a password change is audited as changed, without it');
  });

  test('a wrong password and an unknown name get the same answer', async () => {
    const wrong = await t.anonymous.call('POST', '/api/session', {
      name: 'olga',
      password: 'not-her-password',
    });
    const unknown = await t.anonymous.call('POST', '/api/session', {
      name: 'nobody',
      password: 'not-her-password',
    });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.body, unknown.body);
    assert.equal(wrong.headers['set-cookie'], undefined);
  });

  test('no secret in any response, the server log, the audit log, or the database in clear', async () => {
    const admin = await t.signIn('alice', ADMIN_PASSWORD);
    keep(admin);
    const audit = await admin.call('GET', '/api/audit?limit=500');
    const rows = JSON.stringify(await t.store.listAudit({ limit: 1000 }));
    const hashes = (await Promise.all(['alice', 'olga'].map((n) => t.store.getUserCredentials(n)))).map(
      (u) => u?.passwordHash as string,
    );
    const bodies = t.seen.filter((s) => !s.includes('"secret":"flt_'));
    const logs = [...t.problems, rows, audit.body];
    const never = (list: readonly string[], where: readonly string[], what: string) => {
      for (const secret of list) {
        assert.ok(secret && secret.length >= 8, `a ${what} to look for`);
        for (const text of where)
          assert.ok(!text.includes(secret), `a ${what} leaked into: ${text.slice(0, 200)}`);
      }
    };
    never(
      [...secrets.passwords, ...secrets.tokens, ...hashes],
      [...bodies, ...t.seenHeaders, ...logs],
      'password, token or hash',
    );
    never(secrets.sessions, [...t.seen, ...logs], 'session id');
    never(secrets.csrf, logs, 'CSRF token');
    // A token appears in its one answer and nowhere else.
    for (const token of secrets.tokens.filter((x) => t.seen.some((s) => s.includes(x))))
      assert.equal(t.seen.filter((s) => s.includes(token)).length, 1, 'a token is answered once');

    // In the database: hashes of passwords, tokens and session ids, never them.
    let dump: string;
    if (kind === 'sqlite') {
      const file = join(t.dir, 'faultline.db');
      dump = (await readFile(file, 'latin1')) + (await readFile(`${file}-wal`, 'latin1').catch(() => ''));
    } else {
      const c = new pg.Client({ connectionString: role?.url(), connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        const lines: string[] = [];
        for (const table of ['users', 'api_tokens', 'sessions', 'audit_log'])
          lines.push(JSON.stringify((await c.query(`select * from ${table}`)).rows));
        dump = lines.join('\n');
      } finally {
        await c.end();
      }
    }
    assert.ok(dump.includes('scrypt$'), 'the dump holds the users');
    never(
      [...secrets.passwords, ...secrets.tokens, ...secrets.sessions],
      [dump],
      'secret in clear in the database',
    );
  });

  test('the failed sign-ins above were rate limited per name: the sixth is 429 for a real and an unknown name alike', async () => {
    for (const name of ['olga', 'nobody']) {
      let last = await t.anonymous.call('POST', '/api/session', { name, password: 'guess-0' });
      for (let i = 1; i < 8 && last.status !== 429; i++)
        last = await t.anonymous.call('POST', '/api/session', { name, password: `guess-${i}` });
      assert.equal(last.status, 429, `${name}: ${last.body}`);
      assert.equal(last.json.error.code, 'too_many_attempts');
      assert.match(String(last.headers['retry-after']), /^\d+$/);
    }
    const olga = await t.anonymous.call('POST', '/api/session', {
      name: 'olga',
      password: OPERATOR_PASSWORD,
    });
    assert.equal(olga.status, 429, 'while limited, even the right password waits');
    const nobody = await t.anonymous.call('POST', '/api/session', {
      name: 'nobody',
      password: OPERATOR_PASSWORD,
    });
    assert.equal(olga.body.replace(/\d+ s/, 'N s'), nobody.body.replace(/\d+ s/, 'N s'));
    assert.equal(
      (await t.anonymous.call('POST', '/api/session', { name: 'alice', password: ADMIN_PASSWORD })).status,
      200,
    );
  });
}

describe('people and access (SQLite)', () => suite('sqlite'));

describe('people and access (PostgreSQL)', async () => {
  const skip = await pgSkipReason();
  if (skip) {
    test('PostgreSQL', { skip }, () => {});
    return;
  }
  suite('postgres');
});
