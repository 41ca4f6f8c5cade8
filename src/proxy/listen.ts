/**
 * Listen addresses the way Toxiproxy's `net.Listen("tcp", listen)` reads them,
 * with Go's error texts (clients show them verbatim):
 *   ""               all interfaces, a free port   -> "[::]:41234"
 *   ":8080"          all interfaces                -> "[::]:8080"
 *   "localhost:0"    127.0.0.1, a free port        -> "127.0.0.1:41234"
 *   "[::1]:7070"     IPv6 loopback                 -> "[::1]:7070"
 *   "local373"       listen tcp: address local373: missing port in address
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface ListenTarget {
  /** An IP address, or "" for all interfaces. */
  host: string;
  port: number;
}

/** A listen or dial address that cannot be used; `message` is Go's text. */
export class AddressError extends Error {
  override name = 'AddressError';
}

/** Go's `net.SplitHostPort`, with its error texts (`address <a>: <why>`). */
export function splitHostPort(address: string): { host: string; port: string } {
  const fail = (why: string) => new AddressError(`address ${address}: ${why}`);
  const i = address.lastIndexOf(':');
  if (i < 0) throw fail('missing port in address');
  let host: string;
  let j = 0;
  let k = 0;
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    if (end < 0) throw fail("missing ']' in address");
    if (end + 1 === address.length) throw fail('missing port in address');
    if (end + 1 !== i)
      throw fail(address[end + 1] === ':' ? 'too many colons in address' : 'missing port in address');
    host = address.slice(1, end);
    j = 1;
    k = end + 1;
  } else {
    host = address.slice(0, i);
    if (host.includes(':')) throw fail('too many colons in address');
  }
  if (address.slice(j).includes('[')) throw fail("unexpected '[' in address");
  if (address.slice(k).includes(']')) throw fail("unexpected ']' in address");
  return { host, port: address.slice(i + 1) };
}

function parsePort(port: string): number {
  if (port === '') return 0;
  if (/^\d+$/.test(port)) {
    const n = Number(port);
    if (n > 65535) throw new AddressError(`address ${port}: invalid port`);
    return n;
  }
  throw new AddressError(`lookup tcp/${port}: unknown port`);
}

/** Formats an address as Go's `TCPAddr.String()` does ("" host = all interfaces: ":8080"). */
export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Resolves a listen address to an IP and port, as `net.Listen` would: a host
 * name resolves to its first IPv4 address (localhost -> 127.0.0.1).
 * @throws AddressError with Go's text (without the `listen tcp: ` prefix).
 */
export async function resolveListen(listen: string): Promise<ListenTarget> {
  if (listen === '') return { host: '', port: 0 };
  const { host, port: portText } = splitHostPort(listen);
  const port = parsePort(portText);
  return { host: await resolveHost(host), port };
}

async function resolveHost(host: string): Promise<string> {
  if (host === '' || isIP(host) !== 0) return host;
  if (host.toLowerCase() === 'localhost') return '127.0.0.1';
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch {
    try {
      return (await lookup(host)).address;
    } catch {
      throw new AddressError(`lookup ${host}: no such host`);
    }
  }
}

/** True when two resolved addresses are the same place ("[::]:N", "0.0.0.0:N" and ":N" are all interfaces). */
export function sameListen(a: ListenTarget, b: ListenTarget): boolean {
  const any = (h: string) => h === '' || h === '::' || h === '0.0.0.0';
  return a.port === b.port && (a.host === b.host || (any(a.host) && any(b.host)));
}

/** Parses a stored listen string ("127.0.0.1:41234", "[::]:8080") without any lookup; null if it is not one. */
export function parseResolved(listen: string): ListenTarget | null {
  try {
    const { host, port } = splitHostPort(listen);
    if (host !== '' && isIP(host) === 0) return null;
    return { host, port: parsePort(port) };
  } catch {
    return null;
  }
}

const BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EAFNOSUPPORT: 'address family not supported by protocol',
};

/** Go's text for a failed bind: `listen tcp 127.0.0.1:3310: bind: address already in use`. */
export function bindErrorMessage(target: ListenTarget, err: NodeJS.ErrnoException): string {
  const why = (err.code && BIND_ERRORS[err.code]) ?? err.message;
  return `listen tcp ${formatAddress(target.host, target.port)}: bind: ${why}`;
}

/** Parses an upstream "host:port" for dialling; null when it cannot be dialled (the client is then closed). */
export function parseUpstream(upstream: string): { host: string; port: number } | null {
  try {
    const { host, port } = splitHostPort(upstream);
    const n = parsePort(port);
    if (n === 0) return null;
    return { host: host === '' ? 'localhost' : host, port: n };
  } catch {
    return null;
  }
}
