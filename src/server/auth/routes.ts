/**
 * The sign-in, user and token routes: `/api/session`, `/api/users`,
 * `/api/tokens`. Sign-in answers the same for a wrong password, an unknown
 * name and a disabled user (and takes as long: an unknown name is checked
 * against a dummy hash); failures are rate limited per name and per client
 * address. Every change here is audited, never with a secret in it.
 */

import { getConnInfo } from '@hono/node-server/conninfo';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { ApiError } from '../api-error.js';
import { ErrorSchema, json, jsonBody } from '../api-schemas.js';
import type { Store } from '../store.js';
import { type Access, type AuthEnv, need, principalOf, SESSION_COOKIE } from './access.js';
import type { SignInLimiter } from './rate-limit.js';
import { roleRank } from './roles.js';
import {
  ApiTokenSchema,
  CreatedTokenSchema,
  DeletedSchema,
  NewTokenSchema,
  NewUserSchema,
  SessionInfoSchema,
  SignInSchema,
  SignOutSchema,
  TokenParamsSchema,
  UpdateUserSchema,
  UserParamsSchema,
  UserSchema,
} from './schemas.js';
import {
  dummyPasswordHash,
  hashPassword,
  newSecret,
  newToken,
  secretHash,
  verifyPassword,
} from './secrets.js';

export const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface AuthRoutesOptions {
  store: Store;
  access: Access;
  /** Failed sign-ins per name and per address. */
  limiter: SignInLimiter;
  sessionTtlMs?: number;
  /** The server speaks TLS itself: cookies are Secure. */
  tls?: boolean;
  audit(c: Context, action: string, subject?: string, detail?: Record<string, unknown>): Promise<unknown>;
}

const errors = {
  400: json(ErrorSchema, 'The request is malformed: its issues say where'),
  401: json(ErrorSchema, 'No session or token, or a wrong one'),
  403: json(ErrorSchema, 'The role does not allow it, or the CSRF token is missing or wrong'),
};

function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // app.request() in tests has no socket.
    return 'unknown';
  }
}

/** Secure when this server speaks TLS, or a TLS proxy in front says the client used https. */
function secureRequest(c: Context, tls: boolean): boolean {
  return tls || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https';
}

export function registerAuthRoutes(app: OpenAPIHono<AuthEnv>, o: AuthRoutesOptions): void {
  const { store, access, limiter } = o;
  const ttl = o.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;

  const wrongSignIn = () =>
    new ApiError(401, 'sign_in_failed', 'the name or the password is wrong (or the user is disabled)');

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/session',
      summary: 'Sign in: sets the session cookie and answers the CSRF token for changes',
      security: [],
      request: jsonBody(SignInSchema),
      responses: {
        200: json(SessionInfoSchema, 'Signed in'),
        429: json(ErrorSchema, 'Too many failed sign-ins for this name or address: Retry-After says when'),
        ...errors,
      },
    }),
    async (c) => {
      const { name, password } = c.req.valid('json');
      const address = clientAddress(c);
      const wait = limiter.retryAfter(name, address);
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        throw new ApiError(
          429,
          'too_many_attempts',
          `too many failed sign-ins; try again in ${seconds} s`,
          undefined,
          { 'Retry-After': String(seconds) },
        );
      }
      const found = await store.getUserCredentials(name);
      const matches = await verifyPassword(password, found?.passwordHash ?? (await dummyPasswordHash()));
      if (!found || !matches || found.user.disabled) {
        limiter.fail(name, address);
        // The name only when it is a user's: a password typed into the name field stays out of the log.
        await o.audit(c, 'session.sign_in_failed', found ? found.user.name : undefined, {
          address,
        });
        throw wrongSignIn();
      }
      limiter.succeeded(name);
      const id = newSecret();
      const now = access.now();
      const session = {
        idHash: secretHash(id),
        user: found.user.name,
        csrfToken: newSecret(),
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ttl).toISOString(),
      };
      await store.deleteExpiredSessions(session.createdAt);
      await store.createSession(session);
      setCookie(c, SESSION_COOKIE, id, {
        httpOnly: true,
        sameSite: 'Strict',
        secure: secureRequest(c, o.tls ?? false),
        path: '/',
        maxAge: Math.floor(ttl / 1000),
      });
      c.set('principal', {
        actor: found.user.name,
        role: found.user.role,
        kind: 'session',
        user: found.user,
        session,
      });
      await o.audit(c, 'session.sign_in', found.user.name);
      return c.json(
        {
          actor: found.user.name,
          role: found.user.role,
          kind: 'session' as const,
          csrfToken: session.csrfToken,
          expiresAt: session.expiresAt,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/session',
      summary: 'Who is asking: the actor, its role, and for a session its CSRF token',
      middleware: [need('read')] as const,
      responses: { 200: json(SessionInfoSchema, 'The caller'), ...errors },
    }),
    async (c) => {
      const p = principalOf(c);
      return c.json(
        {
          actor: p.actor,
          role: p.role,
          kind: p.kind,
          ...(p.session ? { csrfToken: p.session.csrfToken, expiresAt: p.session.expiresAt } : {}),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/session',
      summary: 'Sign out: ends the session and clears its cookie',
      middleware: [need('read')] as const,
      responses: {
        200: json(SignOutSchema, 'Signed out'),
        409: json(ErrorSchema, 'The request was not made with a session'),
        ...errors,
      },
    }),
    async (c) => {
      const p = principalOf(c);
      if (!p.session) throw new ApiError(409, 'no_session', `${p.actor} is not signed in with a session`);
      await store.deleteSession(p.session.idHash);
      deleteCookie(c, SESSION_COOKIE, { path: '/', secure: secureRequest(c, o.tls ?? false) });
      await o.audit(c, 'session.sign_out', p.actor);
      return c.json({ signedOut: true as const }, 200);
    },
  );

  // ---------------------------------------------------------------- users

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/users',
      summary: 'Every user (never a password or its hash)',
      middleware: [need('users.manage')] as const,
      responses: { 200: json(z.array(UserSchema), 'The users'), ...errors },
    }),
    async (c) => c.json(await store.listUsers(), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/users',
      summary: 'Create a user with a password and a role',
      middleware: [need('users.manage')] as const,
      request: jsonBody(NewUserSchema),
      responses: {
        201: json(UserSchema, 'Created'),
        409: json(ErrorSchema, 'The name is taken'),
        ...errors,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const user = await store.createUser({
        name: body.name,
        role: body.role,
        passwordHash: await hashPassword(body.password),
      });
      if (!user) throw new ApiError(409, 'exists', `a user named ${body.name} exists`);
      await o.audit(c, 'user.create', user.name, { role: user.role });
      return c.json(user, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/api/users/{name}',
      summary: "Change a user's role, disable or enable it, or set its password (ends its sessions)",
      middleware: [need('users.manage')] as const,
      request: { params: UserParamsSchema, ...jsonBody(UpdateUserSchema) },
      responses: {
        200: json(UserSchema, 'Changed'),
        404: json(ErrorSchema, 'No such user'),
        409: json(ErrorSchema, 'It would leave no enabled admin'),
        ...errors,
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const body = c.req.valid('json');
      const found = await store.getUserCredentials(name);
      if (!found) throw new ApiError(404, 'not_found', `no user ${name}`);
      const demoted = (body.role !== undefined && body.role !== 'admin') || body.disabled === true;
      if (found.user.role === 'admin' && !found.user.disabled && demoted && (await store.countAdmins()) <= 1)
        throw new ApiError(
          409,
          'last_admin',
          `${name} is the last enabled admin: make another admin first (nobody could manage users otherwise)`,
        );
      const user = await store.updateUser(name, {
        ...(body.role !== undefined ? { role: body.role } : {}),
        ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
        ...(body.password !== undefined ? { passwordHash: await hashPassword(body.password) } : {}),
      });
      if (!user) throw new ApiError(404, 'not_found', `no user ${name}`);
      await o.audit(c, 'user.update', name, {
        ...(body.role !== undefined ? { role: body.role } : {}),
        ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
        ...(body.password !== undefined ? { password: 'changed' } : {}),
      });
      return c.json(user, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/users/{name}',
      summary: 'Delete a user, its sessions and its tokens (not the last admin)',
      middleware: [need('users.manage')] as const,
      request: { params: UserParamsSchema },
      responses: {
        200: json(DeletedSchema, 'Deleted'),
        404: json(ErrorSchema, 'No such user'),
        409: json(ErrorSchema, 'It is the last admin'),
        ...errors,
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const found = await store.getUserCredentials(name);
      if (!found) throw new ApiError(404, 'not_found', `no user ${name}`);
      if (found.user.role === 'admin' && !found.user.disabled && (await store.countAdmins()) <= 1)
        throw new ApiError(
          409,
          'last_admin',
          `${name} is the last admin: create another admin first (nobody could manage users otherwise)`,
        );
      if (!(await store.deleteUser(name))) throw new ApiError(404, 'not_found', `no user ${name}`);
      await o.audit(c, 'user.delete', name);
      return c.json({ deleted: name }, 200);
    },
  );

  // ---------------------------------------------------------------- tokens

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/tokens',
      summary: 'Every API token: names, owners and roles (never a token or its hash)',
      middleware: [need('tokens.manage')] as const,
      responses: { 200: json(z.array(ApiTokenSchema), 'The tokens'), ...errors },
    }),
    async (c) => c.json(await store.listTokens(), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/tokens',
      summary: 'Create an API token (for CI): the token is in this answer and nowhere else',
      middleware: [need('tokens.manage')] as const,
      request: jsonBody(NewTokenSchema),
      responses: {
        201: json(CreatedTokenSchema, 'Created: keep `secret`, it is not shown again'),
        409: json(ErrorSchema, 'The name is taken'),
        ...errors,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const p = principalOf(c);
      if (roleRank(body.role) > roleRank(p.role))
        throw new ApiError(403, 'forbidden', `${p.actor} cannot make a token above its own role (${p.role})`);
      const secret = newToken();
      const token = await store.createToken({
        name: body.name,
        // A token made with a token belongs to that token's owner (it can then act no higher).
        owner: p.token ? p.token.owner : p.actor,
        role: body.role,
        tokenHash: secretHash(secret),
      });
      if (!token) throw new ApiError(409, 'exists', `a token named ${body.name} exists`);
      await o.audit(c, 'token.create', token.name, { role: token.role, owner: token.owner });
      return c.json({ token, secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/tokens/{name}',
      summary: 'Delete an API token: it stops working at once',
      middleware: [need('tokens.manage')] as const,
      request: { params: TokenParamsSchema },
      responses: {
        200: json(DeletedSchema, 'Deleted'),
        404: json(ErrorSchema, 'No such token'),
        ...errors,
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      if (!(await store.deleteToken(name))) throw new ApiError(404, 'not_found', `no token ${name}`);
      await o.audit(c, 'token.delete', name);
      return c.json({ deleted: name }, 200);
    },
  );
}
