/**
 * The SDK control store: per service, the fault rules the in-process SDK
 * should apply and a monotonic version, served as an SdkControlDocument
 * (src/sdk/rules.ts) by the proxy server's control API (./api.ts).
 *
 * Every rule carries `expires_at` (its lease): the store drops it once that
 * passes, and so does the SDK, so a rule outlives a runner that stopped
 * renewing it by at most its lease. The store is in memory only: a control
 * server that stops holds no rules (the fault kind counts a refused connection
 * as "reverted" for that reason).
 *
 * Versions come from one counter that starts at the store's creation time in
 * milliseconds, so a restarted server still serves versions newer than the
 * ones an SDK applied before the restart (SDKs apply only newer versions),
 * for services it knows nothing about too. Every document also carries the
 * store's `epoch`, a random id new at each start: an SDK that sees another
 * epoch replaces its rules whatever the version (a clock set back, an older
 * server that answered version 0).
 *
 * @example
 * const store = new SdkControlStore();
 * store.put('checkout', 'fl-1a2b3c4d', { type: 'http_error', status: 503, percentage: 40 }, 15_000);
 * store.document('checkout'); // { service, version, faults: [{ id, ..., expires_at }] }
 * store.close();
 */
import { randomUUID } from 'node:crypto';
import type { SdkControlDocument, SdkFaultRule } from '../sdk/rules.js';

/** A rule as a client sends it: everything but `id` and `expires_at` (the store sets those). */
export type SdkRuleInput = Omit<SdkFaultRule, 'id' | 'expires_at'>;

/** setTimeout's limit: the longest lease the store accepts. */
export const MAX_SDK_TTL_MS = 2_147_483_647;

/**
 * Default cap on one rule as JSON (32 KiB): a full service (100 rules) stays
 * under the SDK's default maxDocumentBytes (4 MiB), so the store never serves
 * a document its SDKs refuse to read.
 */
export const DEFAULT_MAX_SDK_RULE_BYTES = 32 * 1024;

export interface SdkControlStoreOptions {
  /** Clock (tests). Default Date.now. */
  now?: () => number;
  /** Services the store holds rules for at once (default 1000). */
  maxServices?: number;
  /** Rules per service (default 100). */
  maxRulesPerService?: number;
  /** Bytes of one rule as JSON, `match` and every value included (default DEFAULT_MAX_SDK_RULE_BYTES). */
  maxRuleBytes?: number;
}

export interface SdkServiceSummary {
  service: string;
  version: number;
  faults: number;
  halted: boolean;
}

/** A request the store refuses: `status` is the HTTP status the API answers. */
export class SdkControlStoreError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'SdkControlStoreError';
  }
}

interface Service {
  version: number;
  rules: Map<string, SdkFaultRule>;
}

interface Waiter {
  service: string;
  after: number;
  resolve(): void;
}

export class SdkControlStore {
  readonly #now: () => number;
  readonly #maxServices: number;
  readonly #maxRules: number;
  readonly #maxRuleBytes: number;
  readonly #services = new Map<string, Service>();
  readonly #waiters = new Set<Waiter>();
  #counter: number;
  #halted = false;
  /** Version of the store's start, or of the last halt or release: every document is at least this new. */
  #haltVersion: number;
  /** This store's instance id, sent in every document. */
  readonly epoch = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #closed = false;

  constructor(options: SdkControlStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxServices = options.maxServices ?? 1000;
    this.#maxRules = options.maxRulesPerService ?? 100;
    this.#maxRuleBytes = options.maxRuleBytes ?? DEFAULT_MAX_SDK_RULE_BYTES;
    this.#counter = Math.floor(this.#now());
    this.#haltVersion = this.#counter;
  }

  get halted(): boolean {
    return this.#halted;
  }

  /** Adds or replaces rule `id` of `service`, valid for `ttlMs` from now. Returns the stored rule. */
  put(service: string, id: string, input: SdkRuleInput, ttlMs: number): SdkFaultRule {
    this.#checkTtl(ttlMs);
    if (this.#halted) {
      throw new SdkControlStoreError(409, 'SDK faults are halted: release the halt before adding faults');
    }
    this.#purge();
    let svc = this.#services.get(service);
    if (!svc) {
      if (this.#services.size >= this.#maxServices) {
        throw new SdkControlStoreError(409, `too many services with faults (at most ${this.#maxServices})`);
      }
      svc = { version: 0, rules: new Map() };
    }
    if (!svc.rules.has(id) && svc.rules.size >= this.#maxRules) {
      throw new SdkControlStoreError(
        409,
        `too many faults for service ${service} (at most ${this.#maxRules})`,
        'id',
      );
    }
    const rule: SdkFaultRule = {
      ...input,
      id,
      expires_at: new Date(this.#now() + ttlMs).toISOString(),
    };
    this.#checkSize(rule);
    svc.rules.set(id, rule);
    this.#services.set(service, svc);
    this.#changed(service, svc);
    return { ...rule };
  }

  /** Extends rule `id`'s lease to `ttlMs` from now; undefined when there is no such (unexpired) rule. */
  renew(service: string, id: string, ttlMs: number): SdkFaultRule | undefined {
    this.#checkTtl(ttlMs);
    this.#purge();
    const svc = this.#services.get(service);
    const rule = svc?.rules.get(id);
    if (!svc || !rule) return undefined;
    const renewed = { ...rule, expires_at: new Date(this.#now() + ttlMs).toISOString() };
    svc.rules.set(id, renewed);
    this.#changed(service, svc);
    return { ...renewed };
  }

  /** The rule, or undefined (absent or expired). */
  get(service: string, id: string): SdkFaultRule | undefined {
    this.#purge();
    const rule = this.#services.get(service)?.rules.get(id);
    return rule ? { ...rule } : undefined;
  }

  /** Removes rule `id`; false when it was not there. */
  remove(service: string, id: string): boolean {
    this.#purge();
    const svc = this.#services.get(service);
    if (!svc?.rules.delete(id)) return false;
    this.#changed(service, svc);
    return true;
  }

  /** Removes every rule of `service`; returns their ids. */
  removeAll(service: string): string[] {
    this.#purge();
    const svc = this.#services.get(service);
    if (!svc || svc.rules.size === 0) return [];
    const ids = [...svc.rules.keys()];
    svc.rules.clear();
    this.#changed(service, svc);
    return ids;
  }

  /** What the SDK of `service` reads: its unexpired rules, the version, and the halt. */
  document(service: string): SdkControlDocument {
    this.#purge();
    const svc = this.#services.get(service);
    return {
      service,
      version: Math.max(svc?.version ?? 0, this.#haltVersion),
      faults: svc ? [...svc.rules.values()].map((r) => ({ ...r })) : [],
      ...(this.#halted ? { halted: true } : {}),
      epoch: this.epoch,
    };
  }

  /** Services that have (or had) rules, by name. */
  services(): SdkServiceSummary[] {
    this.#purge();
    return [...this.#services.keys()].sort().map((service) => {
      const doc = this.document(service);
      return { service, version: doc.version, faults: doc.faults.length, halted: this.#halted };
    });
  }

  /** Every service's SDK turns every fault off (documents say `halted: true`) until release(). */
  halt(): void {
    if (this.#halted) return;
    this.#halted = true;
    this.#haltVersion = ++this.#counter;
    this.#wakeAll();
  }

  release(): void {
    if (!this.#halted) return;
    this.#halted = false;
    this.#haltVersion = ++this.#counter;
    this.#wakeAll();
  }

  /**
   * Resolves with the document once its version is newer than `afterVersion`,
   * or after `timeoutMs`, or when `signal` aborts or the store closes
   * (long polling); always with the current document.
   */
  async waitForChange(
    service: string,
    afterVersion: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<SdkControlDocument> {
    if (this.document(service).version > afterVersion || timeoutMs <= 0 || this.#closed || signal?.aborted) {
      return this.document(service);
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(waiter);
        resolve();
      };
      const waiter: Waiter = { service, after: afterVersion, resolve: done };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.add(waiter);
    });
    return this.document(service);
  }

  /** Stops the expiry timer and answers every long poll now. The store stays usable. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    for (const w of [...this.#waiters]) w.resolve();
  }

  #checkTtl(ttlMs: number): void {
    if (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_SDK_TTL_MS) {
      throw new SdkControlStoreError(
        400,
        `ttl_ms: expected a whole number of milliseconds from 1 to ${MAX_SDK_TTL_MS}`,
        'ttl_ms',
      );
    }
  }

  /** Refuses a rule larger than maxRuleBytes, naming the part that makes it large. */
  #checkSize(rule: SdkFaultRule): void {
    const size = Buffer.byteLength(JSON.stringify(rule));
    if (size <= this.#maxRuleBytes) return;
    const field = largestPart(rule, size);
    throw new SdkControlStoreError(
      413,
      `${field}: the rule is ${size} bytes as JSON, more than the limit of ${this.#maxRuleBytes} bytes per rule (maxRuleBytes)`,
      field,
    );
  }

  #changed(service: string, svc: Service): void {
    svc.version = ++this.#counter;
    if (svc.rules.size === 0) {
      // Keep the name while its version matters to an SDK that saw rules; drop it when the store grows large.
      if (this.#services.size > this.#maxServices / 2) this.#forget(service);
    }
    for (const w of [...this.#waiters]) if (w.service === service && svc.version > w.after) w.resolve();
    this.#schedule();
  }

  /** Forgets an empty service; its next document has a version no lower than before (the counter only grows). */
  #forget(service: string): void {
    this.#services.delete(service);
    this.#haltVersion = Math.max(this.#haltVersion, this.#counter);
  }

  #wakeAll(): void {
    for (const w of [...this.#waiters]) w.resolve();
  }

  /** Drops expired rules (bumping their services' versions). */
  #purge(): void {
    const now = this.#now();
    for (const [service, svc] of this.#services) {
      let dropped = false;
      for (const [id, rule] of svc.rules) {
        if (Date.parse(rule.expires_at) <= now) {
          svc.rules.delete(id);
          dropped = true;
        }
      }
      if (dropped) this.#changed(service, svc);
    }
  }

  /** One timer at the earliest expiry, so long polls see a rule expire when it does. */
  #schedule(): void {
    if (this.#closed) return;
    let next = Number.POSITIVE_INFINITY;
    for (const svc of this.#services.values()) {
      for (const rule of svc.rules.values()) next = Math.min(next, Date.parse(rule.expires_at));
    }
    if (next === this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = next;
    if (next === Number.POSITIVE_INFINITY) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#purge();
        this.#schedule();
      },
      Math.min(MAX_SDK_TTL_MS, Math.max(0, next - this.#now()) + 1),
    );
    this.#timer.unref();
  }
}

/**
 * The path of the part of `value` that holds most of its `size` bytes: the
 * largest field, and within it the largest field again while one holds more
 * than half (so a huge `match.labels` map is named as such, not by one label).
 */
function largestPart(value: object, size: number): string {
  let path = '';
  let node: unknown = value;
  let nodeSize = size;
  while (typeof node === 'object' && node !== null && !Array.isArray(node)) {
    let best: [string, unknown, number] | undefined;
    for (const [key, child] of Object.entries(node)) {
      const bytes = Buffer.byteLength(key) + Buffer.byteLength(JSON.stringify(child) ?? '');
      if (!best || bytes > best[2]) best = [key, child, bytes];
    }
    if (!best || (path !== '' && best[2] * 2 <= nodeSize)) break;
    path = path ? `${path}.${best[0]}` : best[0];
    node = best[1];
    nodeSize = best[2];
  }
  return path || 'body';
}
