/**
 * Who may talk to a Faultline server: loopback by default; anywhere else only
 * with a token (the proxy API, run metrics). Pure functions, no listening here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';

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
