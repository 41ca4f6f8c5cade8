/**
 * Who is asking, for every request: a session cookie (a person signed in
 * from a browser), a bearer token (CI, scripts), or nobody. Nobody is
 * allowed only while the server listens on loopback and no user exists (the
 * first increment's laptop case: the anonymous actor `local`, with admin
 * rights); otherwise every route but health and sign-in needs one of the
 * two. A cookie-authenticated request that changes something must carry the
 * session's CSRF token in `X-CSRF-Token`; a bearer token is no ambient
 * credential (a browser never adds it on its own), so it needs none.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { isFaultlineError } from '../../core/errors.js';
import { ApiError } from '../api-error.js';
import type { ApiToken, Session, Store, User } from '../store.js';
import { allows, lesserRole, PERMISSIONS, type Permission, type Role } from './roles.js';
import { sameSecret, secretHash, TOKEN_PREFIX } from './secrets.js';

export const SESSION_COOKIE = 'faultline_session';
export const CSRF_HEADER = 'X-CSRF-Token';
/** The anonymous actor: loopback, no users. */
export const LOCAL_ACTOR = 'local';

export interface Principal {
  /** What the audit log and runs record: a user name, `token:<name>`, or `local`. */
  actor: string;
  role: Role;
  kind: 'local' | 'session' | 'token';
  user?: User;
  session?: Session;
  token?: ApiToken;
}

export type AuthEnv = { Variables: { principal: Principal } };

const LOCAL: Principal = { actor: LOCAL_ACTOR, role: 'admin', kind: 'local' };

/** Routes anyone may call: a health probe, and signing in. */
export function isOpenRoute(method: string, path: string): boolean {
  return (method === 'GET' && path === '/api/health') || (method === 'POST' && path === '/api/session');
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface AccessOptions {
  store: Store;
  /** Listening beyond loopback: nobody is never allowed. */
  exposed: boolean;
  now?: () => Date;
}

export class Access {
  readonly #store: Store;
  readonly #exposed: boolean;
  readonly now: () => Date;
  /** Once a user has been seen, anonymous access ends for this server's life (never re-opened). */
  #signInRequired: boolean;

  constructor(opts: AccessOptions) {
    this.#store = opts.store;
    this.#exposed = opts.exposed;
    this.#signInRequired = opts.exposed;
    this.now = opts.now ?? (() => new Date());
  }

  /** Whether a request without credentials is `local`: loopback and (still) no user. */
  async anonymousAllowed(): Promise<boolean> {
    if (this.#signInRequired) return false;
    // Asked each time until the first user appears: `faultline serve user add` may add one from
    // another process while the server runs, and from then on sign-in is required.
    if (await this.#store.hasUsers()) this.#signInRequired = true;
    return !this.#signInRequired;
  }

  get exposed(): boolean {
    return this.#exposed;
  }

  /** The credentials a request carries: undefined when none; 401 when they are wrong or stale. */
  async identify(c: Context): Promise<Principal | undefined> {
    const authorization = c.req.header('authorization');
    if (authorization !== undefined) {
      const m = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(authorization.trim());
      if (!m || !(m[1] as string).startsWith(TOKEN_PREFIX))
        throw unauthorized('the Authorization header is not `Bearer <token>` with a Faultline API token');
      const token = await this.#store.findToken(secretHash(m[1] as string));
      if (!token) throw unauthorized('the API token is not valid (unknown or deleted)');
      let role = token.role;
      if (token.owner !== LOCAL_ACTOR) {
        // A token acts for its owner: never above the owner's role, and not once the owner is gone.
        const owner = await this.#store.getUserCredentials(token.owner);
        if (!owner || owner.user.disabled)
          throw unauthorized('the API token is not valid (its owner is disabled or deleted)');
        role = lesserRole(role, owner.user.role);
      }
      return { actor: `token:${token.name}`, role, kind: 'token', token };
    }
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie === undefined) return undefined;
    const found = /^[A-Za-z0-9_-]{16,128}$/.test(cookie)
      ? await this.#store.findSession(secretHash(cookie), this.now().toISOString())
      : undefined;
    if (!found || found.user.disabled) return undefined;
    return {
      actor: found.user.name,
      role: found.user.role,
      kind: 'session',
      user: found.user,
      session: found.session,
    };
  }

  async #resolve(c: Context, open: boolean): Promise<Principal | undefined> {
    const principal = await this.identify(c);
    if (principal) return principal;
    if (await this.anonymousAllowed()) return LOCAL;
    // A stale cookie is a 401 that says so, so a browser knows to sign in again (on loopback without
    // users it was `local` above).
    if (!open && c.req.header('cookie')?.includes(`${SESSION_COOKIE}=`))
      throw unauthorized('the session has ended (signed out, expired, or the user was removed)');
    return undefined;
  }

  /**
   * The middleware for /api/*: sets `principal`, or refuses with 401 (no or bad credentials where
   * they are needed) or 403 (a cookie-authenticated change without the session's CSRF token).
   */
  middleware(): MiddlewareHandler<AuthEnv> {
    return async (c, next) => {
      const open = isOpenRoute(c.req.method, c.req.path);
      let principal: Principal | undefined;
      try {
        principal = await this.#resolve(c, open);
      } catch (err) {
        // Health and sign-in answer whatever else the request carries (health must answer while the
        // database is away: that is what it reports).
        if (!open) throw asUnhealthy(err);
      }
      if (!principal && !open)
        throw unauthorized(
          'sign in first (POST /api/session) or send an API token (Authorization: Bearer <token>)',
        );
      if (principal) c.set('principal', principal);
      if (principal?.kind === 'session' && !open && !SAFE_METHODS.has(c.req.method)) {
        const sent = c.req.header(CSRF_HEADER);
        if (sent === undefined || !sameSecret(sent, principal.session?.csrfToken ?? ''))
          throw new ApiError(
            403,
            'csrf',
            `a change made with a session cookie needs the session's CSRF token in the ${CSRF_HEADER} header (it came with the sign-in, and GET /api/session gives it again)`,
          );
      }
      await next();
    };
  }
}

/** The database failing while a request is authenticated: 503, as health and the run routes say it. */
function asUnhealthy(err: unknown): unknown {
  if (!isFaultlineError(err) || err.code !== 'FAULTLINE_ERR_STORE') return err;
  return new ApiError(
    503,
    'unhealthy',
    `the database is unreachable, so the request cannot be authenticated: ${err.message}`,
  );
}

export function unauthorized(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer' });
}

/** A route's own check: the principal's role must allow `action` (roles.ts). */
export function need(action: Permission): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const p = c.get('principal') as Principal | undefined;
    if (!p) throw unauthorized('sign in first (POST /api/session) or send an API token');
    if (!allows(p.role, action))
      throw new ApiError(
        403,
        'forbidden',
        `${action} needs the ${PERMISSIONS[action]} role; ${p.actor} is ${p.role === 'admin' ? 'an' : 'a'} ${p.role}`,
      );
    await next();
  };
}

export function principalOf(c: Context<AuthEnv>): Principal {
  const p = c.get('principal') as Principal | undefined;
  if (!p) throw unauthorized('sign in first (POST /api/session) or send an API token');
  return p;
}
