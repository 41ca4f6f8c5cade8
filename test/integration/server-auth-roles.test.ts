/**
 * Every route x every role, as a table: anonymous callers get 401 (once a
 * user exists), a role below the route's action gets 403 `forbidden`, and a
 * role at or above it gets the route's own answer (whatever that is: 200,
 * 201, 404 for a run that does not exist), never 401 or 403. The table must
 * name every route of the OpenAPI document, so a new route without a row
 * fails here. Then the address rules: beyond loopback (0.0.0.0, port 0) the
 * start is refused without an admin and accepted with one, and there even
 * with no credentials nothing but health and sign-in answers.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isFaultlineError } from '../../src/core/errors.js';
import { allows, PERMISSIONS, type Permission, ROLES, type Role } from '../../src/server/auth/roles.js';
import { hashPassword } from '../../src/server/auth/secrets.js';
import { openStore } from '../../src/server/db/index.js';
import { startServer } from '../../src/server/server.js';
import { tempHome } from '../helpers/home.js';
import { http } from '../helpers/http-raw.js';
import { markerExperiment } from '../helpers/serve.js';
import { type AuthServer, type Caller, startAuthServer } from '../helpers/serve-auth.js';

const NO_RUN = '00000000-0000-4000-8000-000000000000';

interface Row {
  method: string;
  path: string;
  /** The OpenAPI path this row covers. */
  route: string;
  action: Permission | 'open';
  body?: (role: string) => unknown;
  /** For an open route: its answer to anyone. */
  open?: number;
}

const ROUTES: Row[] = [
  { method: 'GET', path: '/api/health', route: '/api/health', action: 'open', open: 200 },
  // Signing in is open to all; a wrong password is a 401 for everyone (one name each: no rate limit).
  {
    method: 'POST',
    path: '/api/session',
    route: '/api/session',
    action: 'open',
    open: 401,
    body: (who) => ({ name: `nobody-${who}`, password: 'wrong-password' }),
  },
  { method: 'GET', path: '/api/openapi.json', route: '/api/openapi.json', action: 'read' },
  { method: 'GET', path: '/api/experiments', route: '/api/experiments', action: 'read' },
  {
    method: 'POST',
    path: '/api/experiments',
    route: '/api/experiments',
    action: 'experiment.upload',
    body: (role) => ({
      name: `by-${role}`,
      format: 'yaml',
      source: markerExperiment('/nonexistent/never.marker'),
    }),
  },
  { method: 'GET', path: '/api/experiments/target', route: '/api/experiments/{name}', action: 'read' },
  {
    method: 'GET',
    path: '/api/experiments/target/versions',
    route: '/api/experiments/{name}/versions',
    action: 'read',
  },
  // An experiment that does not exist: the role check passes, nothing is queued (404).
  {
    method: 'POST',
    path: '/api/runs',
    route: '/api/runs',
    action: 'run.start',
    body: () => ({ experiment: 'absent' }),
  },
  { method: 'GET', path: '/api/runs', route: '/api/runs', action: 'read' },
  {
    method: 'POST',
    path: '/api/runs/import',
    route: '/api/runs/import',
    action: 'run.push',
    body: () => ({ journal: {} }),
  },
  { method: 'GET', path: `/api/runs/${NO_RUN}`, route: '/api/runs/{id}', action: 'read' },
  { method: 'GET', path: `/api/runs/${NO_RUN}/report`, route: '/api/runs/{id}/report', action: 'read' },
  { method: 'POST', path: `/api/runs/${NO_RUN}/abort`, route: '/api/runs/{id}/abort', action: 'run.abort' },
  {
    method: 'GET',
    path: `/api/runs/compare?a=${NO_RUN}&b=${NO_RUN}`,
    route: '/api/runs/compare',
    action: 'read',
  },
  { method: 'GET', path: '/api/trends', route: '/api/trends', action: 'read' },
  { method: 'GET', path: `/api/runs/${NO_RUN}/live`, route: '/api/runs/{id}/live', action: 'read' },
  // An event stream: answered with its first event (the emergency stop's state), then closed.
  { method: 'GET', path: '/api/live', route: '/api/live', action: 'read' },
  // Approvals (approvals/routes.ts): `target` is not tagged for production (409 approval_not_needed past the
  // role check); NO_RUN is no approval (404).
  {
    method: 'POST',
    path: '/api/experiments/target/approvals',
    route: '/api/experiments/{name}/approvals',
    action: 'approval.request',
    body: () => ({}),
  },
  { method: 'GET', path: '/api/approvals', route: '/api/approvals', action: 'read' },
  { method: 'GET', path: `/api/approvals/${NO_RUN}`, route: '/api/approvals/{id}', action: 'read' },
  {
    method: 'POST',
    path: `/api/approvals/${NO_RUN}/approve`,
    route: '/api/approvals/{id}/approve',
    action: 'run.approve',
    body: () => ({}),
  },
  {
    method: 'POST',
    path: `/api/approvals/${NO_RUN}/reject`,
    route: '/api/approvals/{id}/reject',
    action: 'run.approve',
    body: () => ({}),
  },
  // Schedules (schedules/routes.ts): of an experiment that is not stored (422 past the role check), or absent (404).
  {
    method: 'POST',
    path: '/api/schedules',
    route: '/api/schedules',
    action: 'schedule.manage',
    body: (who) => ({ name: `s-${who}`.replace(':', '-'), experiment: 'absent', timing: { cron: '@daily' } }),
  },
  { method: 'GET', path: '/api/schedules', route: '/api/schedules', action: 'read' },
  { method: 'GET', path: '/api/schedules/absent', route: '/api/schedules/{name}', action: 'read' },
  {
    method: 'PUT',
    path: '/api/schedules/absent',
    route: '/api/schedules/{name}',
    action: 'schedule.manage',
    body: () => ({ experiment: 'absent', timing: { cron: '@daily' } }),
  },
  {
    method: 'DELETE',
    path: '/api/schedules/absent',
    route: '/api/schedules/{name}',
    action: 'schedule.manage',
  },
  {
    method: 'POST',
    path: '/api/schedules/absent/pause',
    route: '/api/schedules/{name}/pause',
    action: 'schedule.manage',
  },
  {
    method: 'POST',
    path: '/api/schedules/absent/resume',
    route: '/api/schedules/{name}/resume',
    action: 'schedule.manage',
  },
  {
    method: 'GET',
    path: '/api/schedules/absent/firings',
    route: '/api/schedules/{name}/firings',
    action: 'read',
  },
  // Blackout windows (blackouts/routes.ts): one far in the future, so it stops nothing the other rows do.
  { method: 'GET', path: '/api/blackouts', route: '/api/blackouts', action: 'read' },
  {
    method: 'POST',
    path: '/api/blackouts',
    route: '/api/blackouts',
    action: 'blackout.manage',
    body: (who) => ({
      name: `b-${who}`.replace(':', '-'),
      dates: [{ from: '2099-01-01', to: '2099-01-02' }],
    }),
  },
  {
    method: 'PUT',
    path: '/api/blackouts/absent',
    route: '/api/blackouts/{name}',
    action: 'blackout.manage',
    body: () => ({ dates: [{ from: '2099-01-01', to: '2099-01-02' }] }),
  },
  {
    method: 'DELETE',
    path: '/api/blackouts/absent',
    route: '/api/blackouts/{name}',
    action: 'blackout.manage',
  },
  // Game days (gamedays/routes.ts): NO_RUN is no game day (404 past the role check); the body is not a plan (422).
  {
    method: 'POST',
    path: '/api/gamedays',
    route: '/api/gamedays',
    action: 'gameday.manage',
    body: () => ({ source: 'name: not a plan' }),
  },
  { method: 'GET', path: '/api/gamedays', route: '/api/gamedays', action: 'read' },
  { method: 'GET', path: `/api/gamedays/${NO_RUN}`, route: '/api/gamedays/{id}', action: 'read' },
  {
    method: 'POST',
    path: `/api/gamedays/${NO_RUN}/start`,
    route: '/api/gamedays/{id}/start',
    action: 'gameday.run',
  },
  {
    method: 'POST',
    path: `/api/gamedays/${NO_RUN}/steps/look/confirm`,
    route: '/api/gamedays/{id}/steps/{step}/confirm',
    action: 'gameday.run',
    body: () => ({ ok: true }),
  },
  {
    method: 'POST',
    path: `/api/gamedays/${NO_RUN}/steps/look/decide`,
    route: '/api/gamedays/{id}/steps/{step}/decide',
    action: 'gameday.run',
    body: () => ({ choice: 'go on' }),
  },
  {
    method: 'POST',
    path: `/api/gamedays/${NO_RUN}/notes`,
    route: '/api/gamedays/{id}/notes',
    action: 'gameday.run',
    body: (who) => ({ text: `a note by ${who}` }),
  },
  {
    method: 'POST',
    path: `/api/gamedays/${NO_RUN}/stop`,
    route: '/api/gamedays/{id}/stop',
    action: 'gameday.run',
    body: () => ({ reason: 'the role table' }),
  },
  {
    method: 'POST',
    path: `/api/gamedays/${NO_RUN}/criteria/comms`,
    route: '/api/gamedays/{id}/criteria/{criterion}',
    action: 'gameday.run',
    body: () => ({ met: true }),
  },
  {
    method: 'GET',
    path: `/api/gamedays/${NO_RUN}/report`,
    route: '/api/gamedays/{id}/report',
    action: 'read',
  },
  { method: 'GET', path: `/api/gamedays/${NO_RUN}/live`, route: '/api/gamedays/{id}/live', action: 'read' },
  { method: 'GET', path: '/api/followups', route: '/api/followups', action: 'read' },
  {
    method: 'POST',
    path: '/api/followups',
    route: '/api/followups',
    action: 'gameday.manage',
    body: () => ({ gameday: NO_RUN, text: 'a follow-up' }),
  },
  {
    method: 'POST',
    path: `/api/followups/${NO_RUN}/close`,
    route: '/api/followups/{id}/close',
    action: 'gameday.manage',
  },
  { method: 'GET', path: '/api/halt', route: '/api/halt', action: 'read' },
  // Raising and releasing run last among the rows' calls (each role raises, then releases in turn).
  {
    method: 'POST',
    path: '/api/halt',
    route: '/api/halt',
    action: 'halt',
    body: (role) => ({ reason: `raised by ${role} in the role table` }),
  },
  { method: 'DELETE', path: '/api/halt', route: '/api/halt', action: 'halt.release' },
  { method: 'GET', path: '/api/audit', route: '/api/audit', action: 'read' },
  { method: 'GET', path: '/api/session', route: '/api/session', action: 'read' },
  { method: 'DELETE', path: '/api/session', route: '/api/session', action: 'read' },
  { method: 'GET', path: '/api/users', route: '/api/users', action: 'users.manage' },
  {
    method: 'POST',
    path: '/api/users',
    route: '/api/users',
    action: 'users.manage',
    body: (role) => ({ name: `made-by-${role}`, password: 'a-long-enough-password', role: 'viewer' }),
  },
  { method: 'DELETE', path: '/api/users/absent', route: '/api/users/{name}', action: 'users.manage' },
  {
    method: 'PATCH',
    path: '/api/users/absent',
    route: '/api/users/{name}',
    action: 'users.manage',
    body: () => ({ disabled: true }),
  },
  { method: 'GET', path: '/api/tokens', route: '/api/tokens', action: 'tokens.manage' },
  {
    method: 'POST',
    path: '/api/tokens',
    route: '/api/tokens',
    action: 'tokens.manage',
    body: (role) => ({ name: `made-by-${role}`, role: 'viewer' }),
  },
  { method: 'DELETE', path: '/api/tokens/absent', route: '/api/tokens/{name}', action: 'tokens.manage' },
];

describe('roles on every route', () => {
  let t: AuthServer;
  const callers = new Map<string, Caller>();
  before(async () => {
    t = await startAuthServer();
    const up = await t.anonymous.call('POST', '/api/experiments', {
      name: 'target',
      format: 'yaml',
      source: markerExperiment('/nonexistent/never.marker'),
    });
    assert.equal(up.status, 201, up.body);
    await t.addUser('root', 'admin', 'root-password-0001');
    // Sessions for half the roles (cookie + CSRF), tokens for all: both paths meet the same check.
    for (const role of ROLES) {
      callers.set(`token:${role}`, t.bearer(await t.addToken(`t-${role}`, role)));
      await t.addUser(`u-${role}`, role, `password-of-${role}`);
      callers.set(`session:${role}`, await t.signIn(`u-${role}`, `password-of-${role}`));
    }
  });
  after(async () => {
    await t?.close();
  });

  test('the table names every route of the OpenAPI document, and the role table every action', async () => {
    const doc = await (callers.get('token:viewer') as Caller).call('GET', '/api/openapi.json');
    assert.equal(doc.status, 200);
    const documented = Object.entries(doc.json.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const covered = new Set(ROUTES.map((r) => `${r.method} ${r.route}`));
    for (const op of documented) assert.ok(covered.has(op), `${op} has no row in the role table test`);
    for (const action of Object.keys(PERMISSIONS))
      assert.ok(ROLES.includes(PERMISSIONS[action as Permission]));
  });

  test("docs/server.md's roles table is roles.ts's, both ways", async () => {
    const doc = await readFile(fileURLToPath(new URL('../../docs/server.md', import.meta.url)), 'utf8');
    const section = doc.slice(doc.indexOf('### Roles'), doc.indexOf('### Signing in'));
    const documented = Object.fromEntries(
      [...section.matchAll(/^\| `([a-z.]+)` \| ([a-z]+) \|/gm)].map((m) => [m[1], m[2]]),
    );
    assert.deepEqual(documented, { ...PERMISSIONS });
  });

  for (const row of ROUTES) {
    test(`${row.method} ${row.path} (${row.action})`, async () => {
      const anon = await t.anonymous.call(row.method, row.path, row.body?.('anonymous'));
      if (row.action === 'open') assert.equal(anon.status, row.open, anon.body);
      else {
        assert.equal(anon.status, 401, `anonymous: ${anon.body}`);
        assert.equal(anon.json.error.code, 'unauthorized');
      }
      for (const kind of ['token', 'session']) {
        for (const role of ROLES) {
          // Signing out is a row like the others, but it would end the session the next rows use.
          if (row.method === 'DELETE' && row.path === '/api/session' && kind === 'session') continue;
          const who = `${kind}:${role}`;
          const r = await (callers.get(who) as Caller).call(
            row.method,
            row.path,
            row.body?.(`${kind}-${role}`),
          );
          const allowed = row.action === 'open' || allows(role as Role, row.action);
          if (row.action === 'open') {
            assert.equal(r.status, row.open, `${who}: ${r.body}`);
          } else if (allowed) {
            assert.ok(
              r.status !== 401 && r.status !== 403,
              `${who} may ${row.action}: got ${r.status} ${r.body}`,
            );
            assert.ok(r.status < 500, `${who}: ${r.status} ${r.body}`);
          } else {
            assert.equal(r.status, 403, `${who} may not ${row.action}: got ${r.status} ${r.body}`);
            assert.equal(r.json.error.code, 'forbidden');
          }
        }
      }
    });
  }
});

describe('listening beyond loopback', () => {
  test('0.0.0.0 is refused without an admin (exit-2 error naming the fix) and accepted with one', async () => {
    const home = await tempHome();
    const dbDir = home.home;
    const store = await openStore({ home: home.home, database: join(dbDir, 'exposed.db') });
    try {
      await assert.rejects(
        startServer({ store, home: home.home, host: '0.0.0.0', port: 0 }),
        (err: unknown) =>
          isFaultlineError(err) &&
          err.exitCode === 2 &&
          /host 0\.0\.0\.0: .*no admin user yet.*faultline serve user add NAME --role admin/.test(
            err.message,
          ),
      );
      // A viewer is not enough: someone must be able to manage users.
      await store.createUser({
        name: 'viewer',
        role: 'viewer',
        passwordHash: await hashPassword('viewer-password'),
      });
      await assert.rejects(startServer({ store, home: home.home, host: '0.0.0.0', port: 0 }));
    } finally {
      await store.close();
      await home.cleanup();
    }
  });

  describe('with an admin', () => {
    let t: AuthServer;
    before(async () => {
      t = await startAuthServerWithAdmin();
    });
    after(async () => {
      await t?.close();
    });

    test('bound to 0.0.0.0, reached on 127.0.0.1: only health and sign-in without credentials, any Host', async () => {
      assert.match(t.server.url, /^http:\/\/0\.0\.0\.0:\d+$/);
      const port = t.server.port;
      const health = await http(t.url, 'GET', '/api/health', undefined, { host: `127.0.0.1:${port}` });
      assert.equal(health.status, 200);
      // No anonymous `local` beyond loopback, even with no other users.
      const anon = await t.anonymous.call('GET', '/api/experiments');
      assert.equal(anon.status, 401);
      // A public name is answered (credentials are what is checked there), not refused as rebinding.
      const named = await http(t.url, 'GET', '/api/experiments', undefined, {
        host: `faultline.example:${port}`,
      });
      assert.equal(named.status, 401, named.body);
      const s = await t.signIn('boss', 'boss-password');
      const list = await http(t.url, 'GET', '/api/experiments', undefined, {
        host: `faultline.example:${port}`,
        cookie: `faultline_session=${s.cookie}`,
      });
      assert.equal(list.status, 200, list.body);
      // The page of this server may post; a page of another site may not.
      const same = await http(
        t.url,
        'POST',
        '/api/tokens',
        JSON.stringify({ name: 'from-page', role: 'viewer' }),
        {
          host: `faultline.example:${port}`,
          origin: `https://faultline.example:${port}`,
          cookie: `faultline_session=${s.cookie}`,
          'x-csrf-token': s.csrf,
          'content-type': 'application/json',
        },
      );
      assert.equal(same.status, 201, same.body);
      const foreign = await http(
        t.url,
        'POST',
        '/api/tokens',
        JSON.stringify({ name: 'from-evil', role: 'viewer' }),
        {
          host: `faultline.example:${port}`,
          origin: 'http://127.0.0.1:9999',
          cookie: `faultline_session=${s.cookie}`,
          'x-csrf-token': s.csrf,
          'content-type': 'application/json',
        },
      );
      assert.equal(foreign.status, 403, 'beyond loopback a loopback page is another site');
    });
  });
});

/** A server on 0.0.0.0 whose database got its admin before the start (as `serve user add` does). */
async function startAuthServerWithAdmin(): Promise<AuthServer> {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-auth-exposed-'));
  const file = join(dir, 'faultline.db');
  const home = await tempHome();
  try {
    const store = await openStore({ home: home.home, database: file });
    try {
      await store.createUser({
        name: 'boss',
        role: 'admin',
        passwordHash: await hashPassword('boss-password'),
      });
    } finally {
      await store.close();
    }
    const t = await startAuthServer({ host: '0.0.0.0', database: file });
    return {
      ...t,
      async close() {
        await t.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    await home.cleanup();
  }
}
