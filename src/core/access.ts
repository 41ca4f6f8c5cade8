/**
 * Who may talk to a Faultline server: loopback by default; anywhere else only
 * with a token (the proxy API, run metrics); never a web page from another
 * site (DNS rebinding, cross-origin requests). Pure functions, no listening here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** True for addresses that only this machine can reach (127/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (isIPv6(h)) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/**
 * A request check for `token`: `Authorization: Bearer <token>` or
 * `X-Faultline-Token: <token>`. Without a token every request passes.
 */
export function tokenCheck(token: string | undefined): (req: IncomingMessage) => boolean {
  if (token === undefined || token === '') return () => true;
  const digest = createHash('sha256').update(token).digest();
  return (req) => {
    const candidates: string[] = [];
    const auth = req.headers.authorization;
    const bearer = typeof auth === 'string' ? /^\s*Bearer[ \t]+(\S+)\s*$/i.exec(auth) : null;
    if (bearer?.[1]) candidates.push(bearer[1]);
    const header = req.headers['x-faultline-token'];
    if (typeof header === 'string') candidates.push(header.trim());
    // Compare digests so the comparison takes the same time whatever the length.
    return candidates.some((c) => timingSafeEqual(createHash('sha256').update(c).digest(), digest));
  };
}

export interface BrowserGuardOptions {
  /** The address the server listens on (its `host` option): a name given here is one clients may use. */
  boundHost: string;
  /** With a token the token is the credential, so `Host` is not checked unless `allowedHosts` is given. */
  token?: string | undefined;
  /**
   * Further names clients reach the server by: `proxy.internal`, or `.internal` for that name and every
   * subdomain (webpack-dev-server's and Vite's `allowedHosts`). When given, checked even with a token.
   */
  allowedHosts?: readonly string[] | undefined;
}

/** Why a request was refused: the header at fault and a message naming it and what was expected. */
export interface BrowserRefusal {
  header: 'Host' | 'Origin' | 'Sec-Fetch-Site';
  message: string;
}

const shown = (value: string) => JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value);

/** The name in a `Host` value (`name`, `name:port`, `[v6]:port`), lower-case, without a trailing dot. */
function hostName(value: string): string | undefined {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]\s/@]+))(?::\d{1,5})?$/.exec(value.trim().toLowerCase());
  if (!m) return undefined;
  if (m[1] !== undefined) return isIPv6(m[1]) ? m[1] : undefined;
  return m[2]!.replace(/\.$/, '');
}

function normaliseName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/**
 * The check that keeps web pages out of a Faultline server, for every route.
 *
 * - `Host` must be a name the server is reachable by (DNS rebinding: a page on
 *   `attacker.example` whose name now resolves to 127.0.0.1 sends
 *   `Host: attacker.example`): any IP literal (a page can only have one as its
 *   origin if it was served from that address), `localhost` and `*.localhost`
 *   (browsers resolve them to loopback themselves), the bound name, and
 *   `allowedHosts`. Not checked when a token is set and no `allowedHosts` are
 *   given: a page cannot know the token. A request without `Host` (HTTP/1.0)
 *   passes.
 * - A request with an `Origin` other than the server's own origin
 *   (`http://` + its `Host`), or with `Sec-Fetch-Site` other than
 *   `same-origin`/`none`, is refused: the servers serve no pages, and no
 *   programmatic client (curl, Toxiproxy's clients, Node's fetch) sends them.
 *
 * @example
 * const refuse = browserGuard({ boundHost: '127.0.0.1' });
 * const refusal = refuse(req); // undefined, or { header: 'Host', message: '...' }
 */
export function browserGuard(
  options: BrowserGuardOptions,
): (req: IncomingMessage) => BrowserRefusal | undefined {
  const listed = (options.allowedHosts ?? []).map(normaliseName).filter((h) => h !== '' && h !== '.');
  const bound = normaliseName(options.boundHost);
  const names = new Set([...listed.filter((h) => !h.startsWith('.')), ...(isIP(bound) ? [] : [bound])]);
  const suffixes = listed.filter((h) => h.startsWith('.'));
  const checkHost = listed.length > 0 || options.token === undefined || options.token === '';
  const allowed = (name: string) =>
    isIP(name) !== 0 ||
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    names.has(name) ||
    suffixes.some((s) => name === s.slice(1) || name.endsWith(s));
  const expected = `expected localhost, an IP address${names.size > 0 ? `, ${[...names].join(', ')}` : ''}${
    suffixes.length > 0 ? `, a name ending in ${suffixes.join(', ')}` : ''
  } or a name given in allowedHosts`;
  return (req) => {
    const host = req.headers.host;
    if (checkHost && host !== undefined && host !== '') {
      const name = hostName(host);
      if (name === undefined || !allowed(name)) {
        return {
          header: 'Host',
          message: `Host header ${shown(host)} is not a name this server answers to (a DNS-rebinding page sends its own name): ${expected}`,
        };
      }
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let same = false;
      try {
        same = host !== undefined && new URL(origin).origin === new URL(`http://${host}`).origin;
      } catch {
        same = false;
      }
      if (!same) {
        return {
          header: 'Origin',
          message: `cross-origin request refused: Origin header ${shown(origin)} is not this server's origin${
            host ? ` (http://${host})` : ''
          }; the API serves no web pages, so only clients that send no Origin (curl, Toxiproxy clients) are served`,
        };
      }
    }
    const site = req.headers['sec-fetch-site'];
    if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') {
      return {
        header: 'Sec-Fetch-Site',
        message: `cross-site request refused: Sec-Fetch-Site header is ${shown(site)}, expected same-origin or none (a web page from another origin sent it)`,
      };
    }
    return undefined;
  };
}
