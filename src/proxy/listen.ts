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
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { isLoopbackHost } from '../core/access.js';
import { FaultlineError } from '../core/errors.js';

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

// --- what proxies may listen on and dial (issue #13) ---------------------------------------------

/**
 * Link-local addresses, where cloud metadata services answer (169.254.169.254, AWS's fd00:ec2::254)
 * with the machine's credentials: a proxy to them hands those to whoever reaches its listener.
 */
export const LINK_LOCAL_RANGES: readonly string[] = ['169.254.0.0/16', 'fe80::/10', 'fd00:ec2::254/128'];

/** A CIDR ("169.254.169.254/32", "fe80::/10") or a single address; null when it is neither. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return null;
  return { address, prefix: Number(prefixText), family: version === 4 ? 'ipv4' : 'ipv6' };
}

function blockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const c = parseCidr(cidr)!;
    list.addSubnet(c.address, c.prefix, c.family);
  }
  return list;
}

const familyOf = (address: string): 'ipv4' | 'ipv6' => (isIP(address) === 6 ? 'ipv6' : 'ipv4');
const isWildcard = (host: string): boolean => host === '' || host === '0.0.0.0' || host === '::';

export interface AddressPolicyOptions {
  /** Let proxies listen beyond loopback (default false: only 127.0.0.0/8 and ::1). */
  allowPublicListen?: boolean;
  /** Link-local CIDRs (or addresses) proxies may dial all the same, e.g. `169.254.169.254/32`. */
  allowUpstream?: readonly string[];
}

/**
 * Where proxies may listen and what they may dial. A control API without a
 * token is reachable by any local user (and, through DNS rebinding, by web
 * pages), so by default nothing it creates is reachable from other machines,
 * nothing forwards to the metadata service, and no proxy forwards to the API
 * itself (which would republish it on the proxy's listener).
 */
export class AddressPolicy {
  readonly allowPublicListen: boolean;
  readonly #linkLocal = blockList(LINK_LOCAL_RANGES);
  readonly #allowed: BlockList;
  /** The control API's addresses: a dial to one of `reaches` on `port` reaches the API. */
  readonly #control: { port: number; reaches: BlockList }[] = [];

  constructor(options: AddressPolicyOptions = {}) {
    this.allowPublicListen = options.allowPublicListen ?? false;
    const allow = options.allowUpstream ?? [];
    allow.forEach((cidr, i) => {
      if (parseCidr(cidr) === null) {
        throw new FaultlineError(
          'FAULTLINE_ERR_USAGE',
          `allowUpstream[${i}]: expected an IP address or CIDR such as 169.254.169.254/32, got '${cidr}'`,
        );
      }
    });
    this.#allowed = blockList(allow);
  }

  /**
   * Records the control API's bound address, so that no proxy dials it. An API
   * on all interfaces is reached through every local address.
   */
  addControlAddress(host: string, port: number): void {
    const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    const reaches = new BlockList();
    // Dialling 0.0.0.0 or :: connects to this machine.
    reaches.addAddress('0.0.0.0', 'ipv4');
    reaches.addAddress('::', 'ipv6');
    if (isWildcard(h)) {
      reaches.addSubnet('127.0.0.0', 8, 'ipv4');
      reaches.addAddress('::1', 'ipv6');
      for (const addresses of Object.values(networkInterfaces())) {
        for (const a of addresses ?? [])
          reaches.addAddress(a.address.replace(/%.*$/, ''), familyOf(a.address));
      }
    } else if (h === 'localhost') {
      reaches.addAddress('127.0.0.1', 'ipv4');
      reaches.addAddress('::1', 'ipv6');
    } else if (isIP(h) !== 0) {
      reaches.addAddress(h, familyOf(h));
    } else return; // a name: the caller registers the address it bound once listening
    this.#control.push({ port, reaches });
  }

  /** Why a proxy may not listen on `host` (resolved; "" for all interfaces), or null. */
  listenRefusal(listen: string, host: string): string | null {
    if (this.allowPublicListen || (host !== '' && isLoopbackHost(host))) return null;
    const where = isWildcard(host) ? 'all interfaces' : host;
    return (
      `listen ${listen || '""'}: ${where} is not a loopback address; this server opens proxy listeners on ` +
      'loopback only, as its control API has no token (allow others with `faultline proxy ' +
      '--allow-public-listen` or a token; ProxyManager option allowPublicListen)'
    );
  }

  /** Why a proxy whose upstream is `upstream` may not dial `address`:`port`, or null. */
  upstreamRefusal(upstream: string, address: string, port: number): string | null {
    const family = familyOf(address);
    const named = address !== splitHost(upstream);
    const what = named ? `upstream ${upstream} resolves to ${address}, which` : `upstream ${upstream}`;
    if (this.#control.some((c) => c.port === port && c.reaches.check(address, family))) {
      return `${what} is this server's control API: a proxy must not republish it`;
    }
    if (this.#linkLocal.check(address, family) && !this.#allowed.check(address, family)) {
      return (
        `${what} is a link-local address (${LINK_LOCAL_RANGES.join(', ')}: cloud metadata services); ` +
        'proxies do not forward to it unless allowed (`faultline proxy --allow-upstream <cidr>`; ' +
        'ProxyManager option allowUpstream)'
      );
    }
    return null;
  }
}

function splitHost(address: string): string | undefined {
  try {
    return splitHostPort(address).host;
  } catch {
    return undefined;
  }
}
