/**
 * Failed sign-ins, counted per user name and per client address in memory:
 * after `maxFailures` within `windowMs` a key is refused until its window
 * ends. A name that does not exist is counted like one that does, so the
 * answer never says which names exist. In memory and per process: a restart
 * forgets (acceptable for slowing down guessing), and the map is bounded so
 * a flood of made-up names cannot grow it without limit.
 */

export interface RateLimitOptions {
  maxFailures: number;
  windowMs: number;
  /** At most this many keys are remembered (the oldest are forgotten first). */
  maxKeys?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  since: number;
}

export class FailureLimiter {
  readonly #entries = new Map<string, Entry>();
  readonly #o: Required<RateLimitOptions>;

  constructor(options: RateLimitOptions) {
    this.#o = { maxKeys: 10_000, now: Date.now, ...options };
  }

  #entry(key: string): Entry | undefined {
    const e = this.#entries.get(key);
    if (e && this.#o.now() - e.since >= this.#o.windowMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string): number {
    const e = this.#entry(key);
    if (!e || e.failures < this.#o.maxFailures) return 0;
    return Math.max(1, e.since + this.#o.windowMs - this.#o.now());
  }

  fail(key: string): void {
    const e = this.#entry(key);
    if (e) {
      e.failures++;
      return;
    }
    if (this.#entries.size >= this.#o.maxKeys) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { failures: 1, since: this.#o.now() });
  }

  reset(key: string): void {
    this.#entries.delete(key);
  }
}

/** Sign-in failures per user name and per client address: a name guessed from many addresses, or one address guessing many names. */
export class SignInLimiter {
  readonly #perUser: FailureLimiter;
  readonly #perAddress: FailureLimiter;

  constructor(limits: { perUser: number; perAddress: number; windowMs: number; now?: () => number }) {
    const now = limits.now ? { now: limits.now } : {};
    this.#perUser = new FailureLimiter({ maxFailures: limits.perUser, windowMs: limits.windowMs, ...now });
    this.#perAddress = new FailureLimiter({
      maxFailures: limits.perAddress,
      windowMs: limits.windowMs,
      ...now,
    });
  }

  /** Milliseconds until this name from this address may try again (0: now). */
  retryAfter(name: string, address: string): number {
    return Math.max(this.#perUser.retryAfter(name.toLowerCase()), this.#perAddress.retryAfter(address));
  }

  fail(name: string, address: string): void {
    this.#perUser.fail(name.toLowerCase());
    this.#perAddress.fail(address);
  }

  /** A successful sign-in clears its name's count (not the address's: one right password among many guesses). */
  succeeded(name: string): void {
    this.#perUser.reset(name.toLowerCase());
  }
}
