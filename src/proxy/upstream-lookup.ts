/**
 * Name resolution for upstream dials. A proxy whose upstream is a name
 * (`localhost:6379`) would otherwise call dns.lookup on every new connection:
 * a libuv threadpool round trip (two more thread wake-ups, slow under CPU
 * contention), and for `localhost` a first attempt at ::1 that is refused when
 * the service listens on 127.0.0.1 only. Here the addresses are looked up once
 * per TTL, and the address that last connected is tried first; Node's
 * happy-eyeballs dial (autoSelectFamily) still falls back to the others.
 *
 * It is also where a named upstream is checked against the address policy
 * (listen.ts AddressPolicy): on the addresses each dial actually uses, so a
 * name that resolved to a harmless address when the proxy was created and to
 * 169.254.169.254 later (DNS rebinding) is still refused.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';

/** How long resolved addresses are reused: a renamed upstream is picked up within this. */
export const UPSTREAM_LOOKUP_TTL_MS = 5000;

/** The resolver: node:dns `lookup` (getaddrinfo), or a stand-in with its signature. */
export type Resolver = (
  host: string,
  options: { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** Why a dial to `address` is refused, or null (see AddressPolicy.upstreamRefusal). */
export type DialCheck = (address: string) => string | null;

/** The error a dial gets when every address a name resolved to is refused. */
export class DialRefusedError extends Error {
  override name = 'DialRefusedError';
  readonly code = 'EFAULTLINEREFUSED';
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

export class UpstreamLookup {
  #host: string | null = null;
  #addresses: LookupAddress[] = [];
  #expires = 0;
  #preferred: string | null = null;

  constructor(
    /** Refuses addresses the proxy must not dial; checked on every answer, cached or not. */
    private readonly check: DialCheck = () => null,
    private readonly resolve: Resolver = dnsLookup as Resolver,
  ) {}

  /** Remembers the address a dial reached, so the next dial tries it first. */
  connected(address: string | undefined): void {
    if (address) this.#preferred = address;
  }

  /** The `lookup` option of net.connect. */
  readonly lookup = (host: string, options: { all?: boolean }, callback: LookupCallback): void => {
    if (host === this.#host && performance.now() < this.#expires && this.#addresses.length > 0) {
      this.#answer(options, callback);
      return;
    }
    this.resolve(host, { all: true }, (err, addresses) => {
      if (err) {
        callback(err, []);
        return;
      }
      this.#host = host;
      this.#addresses = addresses;
      this.#expires = performance.now() + UPSTREAM_LOOKUP_TTL_MS;
      this.#answer(options, callback);
    });
  };

  #answer(options: { all?: boolean }, callback: LookupCallback): void {
    const allowed = this.#addresses.filter((a) => this.check(a.address) === null);
    if (allowed.length === 0) {
      callback(new DialRefusedError(this.check(this.#addresses[0]!.address) ?? 'refused'), []);
      return;
    }
    const first = allowed.find((a) => a.address === this.#preferred);
    const ordered = first ? [first, ...allowed.filter((a) => a !== first)] : allowed;
    if (options.all) callback(null, ordered);
    else callback(null, ordered[0]!.address, ordered[0]!.family);
  }
}

/**
 * Every address `host` resolves to, or [] when it does not resolve within
 * `timeoutMs` (getaddrinfo cannot be cancelled; a slow resolver must not hold
 * the manager's queue: the dial-time check still applies).
 */
export function resolveAll(host: string, timeoutMs: number, resolve: Resolver = dnsLookup as Resolver) {
  return new Promise<string[]>((done) => {
    const timer = setTimeout(() => done([]), timeoutMs);
    resolve(host, { all: true }, (err, addresses) => {
      clearTimeout(timer);
      done(err ? [] : addresses.map((a) => a.address));
    });
  });
}
