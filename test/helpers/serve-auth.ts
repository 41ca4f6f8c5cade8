/**
 * A real control plane for the sign-in tests: like serve.ts's, with the
 * address, the sign-in limits and the database chosen by the test, every
 * problem the server reports kept (to grep for secrets), and clients that
 * call it as `local` (nothing), with a session (cookie + CSRF token) or with
 * a bearer token. Every response text is kept too. `close()` removes all.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '../../src/server/auth/roles.js';
import { hashPassword, newToken, secretHash } from '../../src/server/auth/secrets.js';
import { openStore } from '../../src/server/db/index.js';
import { type RunningServer, type ServeOptions, startServer } from '../../src/server/server.js';
import type { Store } from '../../src/server/store.js';
import { tempHome } from './home.js';
import { http, type RawResponse } from './http-raw.js';

export interface Reply extends RawResponse {
  json: any;
}

export interface Caller {
  /** `Authorization` / `Cookie` and `X-CSRF-Token` as this caller sends them. */
  headers(method: string): Record<string, string>;
  call(method: string, path: string, body?: unknown, extra?: Record<string, string>): Promise<Reply>;
}

export interface AuthServer {
  server: RunningServer;
  store: Store;
  dir: string;
  url: string;
  /** What the server reported (onProblem): its log. */
  problems: string[];
  /** Every response body this helper saw. */
  seen: string[];
  /** Every response's headers, as JSON. */
  seenHeaders: string[];
  anonymous: Caller;
  /** A user in the store (hashed as the API does), straight through the store. */
  addUser(name: string, role: Role, password: string): Promise<void>;
  /** A token in the store owned by `owner` (default local): its secret. */
  addToken(name: string, role: Role, owner?: string): Promise<string>;
  /** Signs in through the API: a caller with the session's cookie and CSRF token. */
  signIn(name: string, password: string): Promise<Caller & { cookie: string; csrf: string; signIn: Reply }>;
  bearer(token: string): Caller;
  close(): Promise<void>;
}

export async function startAuthServer(
  opts: { database?: string; host?: string } & Pick<ServeOptions, 'signInLimits' | 'sessionTtlMs'> = {},
): Promise<AuthServer> {
  const home = await tempHome();
  const dir = await mkdtemp(join(tmpdir(), 'faultline-auth-test-'));
  const store = await openStore({ home: home.home, database: opts.database ?? join(dir, 'faultline.db') });
  const problems: string[] = [];
  const seen: string[] = [];
  const seenHeaders: string[] = [];
  let server: RunningServer | undefined;
  const cleanup = async () => {
    await server?.close();
    await store.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await home.cleanup();
  };
  const start = async () => {
    try {
      server = await startServer({
        store,
        home: home.home,
        port: 0,
        pollMs: 200,
        ...(opts.host ? { host: opts.host } : {}),
        ...(opts.signInLimits ? { signInLimits: opts.signInLimits } : {}),
        ...(opts.sessionTtlMs !== undefined ? { sessionTtlMs: opts.sessionTtlMs } : {}),
        onProblem: (m) => problems.push(m),
      });
    } catch (err) {
      await cleanup();
      throw err;
    }
  };
  await start();
  const running = server as unknown as RunningServer;
  // Bound to 0.0.0.0 the URL says so; the tests talk to it on 127.0.0.1.
  const url = `http://127.0.0.1:${running.port}`;

  const caller = (headers: (method: string) => Record<string, string>): Caller => ({
    headers,
    async call(method, path, body, extra = {}) {
      const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const r = await http(url, method, path, text, {
        host: `127.0.0.1:${running.port}`,
        ...(text === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers(method),
        ...extra,
      });
      seen.push(r.body);
      seenHeaders.push(JSON.stringify(r.headers));
      let json: unknown;
      try {
        json = JSON.parse(r.body);
      } catch {
        json = undefined;
      }
      return { ...r, json };
    },
  });
  const anonymous = caller(() => ({}));
  const bearer = (token: string) => caller(() => ({ authorization: `Bearer ${token}` }));

  return {
    server: running,
    store,
    dir,
    url,
    problems,
    seen,
    seenHeaders,
    anonymous,
    async addUser(name, role, password) {
      const user = await store.createUser({ name, role, passwordHash: await hashPassword(password) });
      if (!user) throw new Error(`user ${name} exists`);
    },
    async addToken(name, role, owner = 'local') {
      const secret = newToken();
      const token = await store.createToken({ name, owner, role, tokenHash: secretHash(secret) });
      if (!token) throw new Error(`token ${name} exists`);
      return secret;
    },
    async signIn(name, password) {
      const r = await anonymous.call('POST', '/api/session', { name, password });
      if (r.status !== 200) throw new Error(`sign-in of ${name}: ${r.status} ${r.body}`);
      const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? []);
      const cookie = /faultline_session=([^;]+)/.exec(setCookie.join('\n'))?.[1];
      if (!cookie) throw new Error(`sign-in of ${name}: no session cookie in ${setCookie.join(' | ')}`);
      const csrf = r.json.csrfToken as string;
      return {
        ...caller((method) => ({
          cookie: `faultline_session=${cookie}`,
          ...(method === 'GET' ? {} : { 'x-csrf-token': csrf }),
        })),
        cookie,
        csrf,
        signIn: r,
      };
    },
    bearer,
    close: cleanup,
  };
}
