/**
 * Name resolution for upstream dials. A proxy whose upstream is a name
 * (`localhost:6379`) would otherwise call dns.lookup on every new connection:
 * a libuv threadpool round trip (two more thread wake-ups, slow under CPU
 * contention), and for `localhost` a first attempt at ::1 that is refused when
 * the service listens on 127.0.0.1 only. Here the addresses are looked up once
 * per TTL, and the address that last connected is tried first; Node's
 * happy-eyeballs dial (autoSelectFamily) still falls back to the others.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';

/** How long resolved addresses are reused: a renamed upstream is picked up within this. */
export const UPSTREAM_LOOKUP_TTL_MS = 5000;

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
    dnsLookup(host, { all: true }, (err, addresses) => {
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
    const first = this.#addresses.find((a) => a.address === this.#preferred);
    const ordered = first ? [first, ...this.#addresses.filter((a) => a !== first)] : this.#addresses;
    if (options.all) callback(null, ordered);
    else callback(null, ordered[0]!.address, ordered[0]!.family);
  }
}
