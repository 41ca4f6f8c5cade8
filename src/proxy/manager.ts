/**
 * ProxyManager: the fault proxy behind the control API, with Toxiproxy 2.12's
 * management semantics word for word (shared reference notes, sections 1.3 to
 * 1.5): status codes, error texts, order of checks, listen resolution,
 * populate and reset.
 *
 * Inputs are checked here too (the API decodes them with Go's rules first, but
 * the library can be called directly): a mistyped field is a 400 with Go's
 * `json: cannot unmarshal ...` text, an attribute out of range a 400 naming it.
 *
 * @example
 * const manager = new ProxyManager();
 * const db = await manager.create({ name: 'db', listen: '127.0.0.1:0', upstream: '127.0.0.1:5432' });
 * manager.addToxic('db', { type: 'latency', attributes: { latency: 100 }, ttl: 30_000 });
 * // ... connect to db.listen ...
 * await manager.close();
 */
import { isIP } from 'node:net';
import { setLongTimeout } from '../core/timers.js';
import { BusyPoller } from './busy-poll.js';
import { ToxicEntry } from './entry.js';
import {
  AddressError,
  AddressPolicy,
  parseResolved,
  parseUpstream,
  resolveListen,
  sameListen,
} from './listen.js';
import { renderMetrics } from './metrics.js';
import {
  ProxyApiError,
  type ProxyControl,
  type ProxyInput,
  type ProxyView,
  type ToxicInput,
  type ToxicView,
} from './model.js';
import { AddressRefused, ProxyServer } from './proxy.js';
import { type Direction, goTypes, type ToxicKind } from './toxic.js';
import { toxicKinds } from './toxics/index.js';
import { resolveAll } from './upstream-lookup.js';

/** How long a create waits for an upstream name to resolve before leaving the check to the dial. */
const CREATE_LOOKUP_TIMEOUT_MS = 2000;

/** What a Faultline proxy server has injected: its toxics and the proxies its API disabled. */
export interface ProxyFaults {
  toxics: (ToxicView & { proxy: string })[];
  /** Proxies disabled through the API (not those created disabled). */
  disabled: string[];
}

/** One fault a halt reverted on this server. */
export interface HaltedFault {
  proxy: string;
  /** The toxic removed, or absent when the proxy was re-enabled. */
  toxic?: string;
  type?: string;
  stream?: string;
}

export interface ProxyManagerOptions {
  /**
   * Interface bound when a proxy's `listen` names none (`""`, `":8080"`). Default: all interfaces, as
   * Toxiproxy, with `allowPublicListen`; 127.0.0.1 without it.
   */
  host?: string;
  /**
   * Let proxies listen beyond loopback (default false). A control API without a token can be driven
   * by any local user or a DNS-rebinding web page: without this, nothing they create is reachable
   * from other machines. Set it when the API requires a token (`faultline proxy` does).
   */
  allowPublicListen?: boolean;
  /**
   * Link-local CIDRs proxies may forward to all the same (default none: 169.254.0.0/16, fe80::/10 and
   * fd00:ec2::254, where cloud metadata services answer, are refused), e.g. `['169.254.169.254/32']`.
   */
  allowUpstream?: readonly string[];
  /**
   * Busy-poll window after socket activity, in µs (see busy-poll.ts): lower
   * round-trip latency for CPU while traffic flows. Default 100; 0 turns it off.
   */
  busyPollMicros?: number;
  /**
   * Read into pooled per-link buffers (default). `false` uses ordinary socket
   * reads: slower, but relies on no Node internals (see proxy.ts).
   */
  userBuffers?: boolean;
  /** Bounds on what the API may create (issue #13): defaults in PROXY_LIMITS. */
  limits?: Partial<ProxyLimits>;
}

/** What one server may hold; beyond these a request is refused with a 400 naming the limit. */
export interface ProxyLimits {
  /** Proxies per server. */
  proxies: number;
  /** Toxics per proxy (both streams together); each connection runs one stage per toxic. */
  toxicsPerProxy: number;
  /** Characters in a proxy or toxic name. */
  nameLength: number;
  /** Characters in a `listen` or `upstream` address. */
  addressLength: number;
}

export const PROXY_LIMITS: Readonly<ProxyLimits> = Object.freeze({
  proxies: 1024,
  toxicsPerProxy: 256,
  nameLength: 256,
  addressLength: 1024,
});

function limitError(message: string): ProxyApiError {
  return new ProxyApiError(400, message);
}

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    default:
      return 'object';
  }
}

function typeError(value: unknown, goType: string, field: string): ProxyApiError {
  // Go names the number only when it does not fit an integer field ("number 1.5").
  const what = typeof value === 'number' && goType.startsWith('int') ? `number ${value}` : jsonKind(value);
  return new ProxyApiError(
    400,
    `bad request body: json: cannot unmarshal ${what} into Go struct field ${field} of type ${goType}`,
  );
}

/** A JSON string field: undefined when absent or null (Go leaves the field as it was). */
function str(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw typeError(value, 'string', field);
  return value;
}

function bool(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw typeError(value, 'bool', field);
  return value;
}

function num(value: unknown, field: string, goType: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw typeError(value, goType, field);
  if (goType.startsWith('int') && !Number.isInteger(value)) throw typeError(value, goType, field);
  return value;
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

interface ProxyFields {
  name?: string;
  listen?: string;
  upstream?: string;
  enabled?: boolean;
}

function proxyFields(input: unknown, struct = 'Proxy'): ProxyFields {
  const i = record(input);
  return {
    name: str(i.name, `${struct}.name`),
    listen: str(i.listen, `${struct}.listen`),
    upstream: str(i.upstream, `${struct}.upstream`),
    enabled: bool(i.enabled, `${struct}.enabled`),
  };
}

/** `ttl`: a number of ms; 0 means none. Undefined when absent or null. */
function ttlField(value: unknown): number | undefined {
  const ttl = num(value, 'ToxicWrapper.ttl', 'int64');
  if (ttl !== undefined && ttl < 0)
    throw new ProxyApiError(400, `invalid ttl: must be at least 0 (ms), got ${ttl}`);
  return ttl;
}

/** `toxicity`: a probability; -1 or 2 used to be stored as sent (docs/compatibility.md: negatives are refused). */
function toxicityField(value: unknown): number | undefined {
  const toxicity = num(value, 'ToxicWrapper.toxicity', 'float32');
  if (toxicity !== undefined && (toxicity < 0 || toxicity > 1)) {
    throw new ProxyApiError(400, `invalid toxicity: must be between 0 and 1, got ${toxicity}`);
  }
  return toxicity;
}

/**
 * Merges attribute input into `current` field by field (keys matched
 * case-insensitively, unknown keys and nulls ignored, as Go's decoder does),
 * then validates the result with the toxic's schema.
 */
export function decodeAttributes(
  kind: ToxicKind<any>,
  current: Record<string, unknown>,
  input: unknown,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current };
  if (input !== undefined && input !== null) {
    if (typeof input !== 'object' || Array.isArray(input)) {
      throw typeError(input, `toxics.${kind.goName}`, 'ToxicWrapper.attributes');
    }
    const shape = kind.attributes.shape as Record<string, Parameters<typeof goTypes.get>[0]>;
    const fields = Object.keys(shape);
    for (const [key, value] of Object.entries(input)) {
      const field =
        fields.find((f) => f === key) ?? fields.find((f) => f.toLowerCase() === key.toLowerCase());
      if (field === undefined || value === null) continue;
      const goType = goTypes.get(shape[field]!)?.goType ?? 'int64';
      const where = `${kind.goName}.attributes.${field}`;
      if (goType === 'string') str(value, where);
      else if (goType === 'map[string]string') {
        if (
          typeof value !== 'object' ||
          Array.isArray(value) ||
          Object.values(value).some((v) => typeof v !== 'string')
        ) {
          throw typeError(value, goType, where);
        }
      } else num(value, where, goType);
      merged[field] = value;
    }
  }
  const parsed = kind.attributes.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.');
    throw new ProxyApiError(
      400,
      `invalid attribute ${field} for ${kind.type}: ${issue.message} (got ${JSON.stringify(merged[field] ?? 0)})`,
    );
  }
  return parsed.data as Record<string, unknown>;
}

export class ProxyManager implements ProxyControl {
  readonly #proxies = new Map<string, ProxyServer>();
  readonly #host: string | undefined;
  readonly #poller: BusyPoller;
  readonly #userBuffers: boolean;
  #queue: Promise<unknown> = Promise.resolve();
  /** Proxies disabled through update(): the faults a halt undoes by re-enabling them. */
  readonly #disabled = new Set<string>();
  /** Set while `faultline halt` is in force: the error new faults get. */
  #halted: ProxyApiError | null = null;
  readonly #listeners = new Set<() => void>();
  readonly limits: Readonly<ProxyLimits>;
  /** Where proxies may listen and what they may dial (listen.ts). */
  readonly policy: AddressPolicy;

  constructor(options: ProxyManagerOptions = {}) {
    this.limits = { ...PROXY_LIMITS, ...options.limits };
    this.policy = new AddressPolicy({
      allowPublicListen: options.allowPublicListen ?? false,
      allowUpstream: options.allowUpstream ?? [],
    });
    // Without a host, `listen: ""` stays on loopback: nothing becomes reachable by omission.
    this.#host = options.host ?? (this.policy.allowPublicListen ? undefined : '127.0.0.1');
    this.#poller = new BusyPoller(options.busyPollMicros ?? 100);
    this.#userBuffers = options.userBuffers ?? true;
  }

  /**
   * Tells the manager where its control API listens, so no proxy forwards to it (which would
   * republish the API on the proxy's listener, to whoever can reach that). Checked at create and
   * on every dial, so proxies created before the API was bound are covered too.
   */
  addControlAddress(host: string, port: number): void {
    this.policy.addControlAddress(host, port);
  }

  /** Runs mutations one at a time (Toxiproxy holds a lock); reads and toxic changes never wait. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Calls `listener` after every change to the toxics or the proxies (API calls, TTL
   * expiries, halts): how the registry keeps `faultline status` current. Returns an unsubscribe.
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }

  /** While halted, nothing may add a fault: 423 Locked, with what lifts it. */
  #refuseIfHalted(): void {
    if (this.#halted) throw this.#halted;
  }

  #find(name: string): ProxyServer {
    const proxy = this.#proxies.get(name);
    if (proxy === undefined) throw new ProxyApiError(404, 'proxy not found');
    return proxy;
  }

  #findToxic(proxy: ProxyServer, name: string): ToxicEntry {
    const entry = proxy.findToxic(name);
    if (entry === undefined) throw new ProxyApiError(404, 'toxic not found');
    return entry;
  }

  #sorted(): ProxyServer[] {
    return [...this.#proxies.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Name and address lengths of a proxy about to be created or changed. */
  #checkFields(fields: ProxyFields, where = ''): void {
    const { nameLength, addressLength } = this.limits;
    if (fields.name !== undefined && fields.name.length > nameLength) {
      throw limitError(
        `proxy name too long${where}: ${fields.name.length} characters (the limit is ${nameLength}: limits.nameLength)`,
      );
    }
    for (const field of ['listen', 'upstream'] as const) {
      const value = fields[field];
      if (value !== undefined && value.length > addressLength) {
        throw limitError(
          `${field} too long${where}: ${value.length} characters (the limit is ${addressLength}: limits.addressLength)`,
        );
      }
    }
  }

  /** Room for `adding` more proxies (those replacing an existing one do not count). */
  #checkProxyCount(adding: number): void {
    const max = this.limits.proxies;
    if (adding > 0 && this.#proxies.size + adding > max) {
      throw limitError(`too many proxies: the limit is ${max} per server (limits.proxies)`);
    }
  }

  #newProxy(fields: ProxyFields): ProxyServer {
    return new ProxyServer(
      fields.name!,
      fields.listen ?? '',
      fields.upstream!,
      this.#poller,
      this.#host,
      this.#userBuffers,
      this.policy,
    );
  }

  /**
   * The address policy on a proxy's `listen` and `upstream` before anything is created or changed,
   * disabled proxies included (a refusal at start alone would let `/reset` bind them later).
   * Names are resolved; one that does not resolve is left to start and dial, which check again.
   */
  async #checkAddresses(fields: ProxyFields, index?: number): Promise<void> {
    const refuse = (field: 'listen' | 'upstream', reason: string) =>
      new AddressRefused(field, reason, index, index === undefined ? undefined : fields.name);
    if (fields.listen !== undefined) {
      let host: string | undefined;
      try {
        host = (await resolveListen(fields.listen)).host;
      } catch (err) {
        if (!(err instanceof AddressError)) throw err;
      }
      if (host === '' && this.#host !== undefined) host = this.#host;
      const refusal = host === undefined ? null : this.policy.listenRefusal(fields.listen, host);
      if (refusal !== null) throw refuse('listen', refusal);
    }
    const target = fields.upstream === undefined ? null : parseUpstream(fields.upstream);
    if (target !== null) {
      const addresses =
        isIP(target.host) === 0 ? await resolveAll(target.host, CREATE_LOOKUP_TIMEOUT_MS) : [target.host];
      for (const address of addresses) {
        const refusal = this.policy.upstreamRefusal(fields.upstream!, address, target.port);
        if (refusal !== null) throw refuse('upstream', refusal);
      }
    }
  }

  /** Stops a proxy that is being dropped for good, and its toxics' TTL timers. */
  async #retire(proxy: ProxyServer): Promise<void> {
    for (const entry of [...proxy.toxics.upstream, ...proxy.toxics.downstream]) entry.clearTtl();
    await proxy.stop();
  }

  list(): ProxyView[] {
    return this.#sorted().map((p) => p.view());
  }

  get(name: string): ProxyView {
    return this.#find(name).view();
  }

  create(input: ProxyInput): Promise<ProxyView> {
    let fields: ProxyFields;
    try {
      fields = proxyFields(input);
      if (!fields.name) throw new ProxyApiError(400, 'missing required field: name');
      if (!fields.upstream) throw new ProxyApiError(400, 'missing required field: upstream');
      this.#checkFields(fields);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#serial(async () => {
      if (this.#proxies.has(fields.name!)) throw new ProxyApiError(409, 'proxy already exists');
      this.#checkProxyCount(1);
      await this.#checkAddresses({ ...fields, listen: fields.listen ?? '' });
      const proxy = this.#newProxy(fields);
      if (fields.enabled ?? true) await proxy.start();
      this.#proxies.set(proxy.name, proxy);
      this.#changed();
      return proxy.view();
    });
  }

  update(name: string, patch: ProxyInput): Promise<ProxyView> {
    return this.#serial(async () => {
      const proxy = this.#find(name);
      const fields = proxyFields(patch);
      this.#checkFields({ listen: fields.listen, upstream: fields.upstream });
      await this.#checkAddresses({ listen: fields.listen, upstream: fields.upstream });
      const listen = fields.listen ?? proxy.listen;
      const upstream = fields.upstream ?? proxy.upstream;
      const enabled = fields.enabled ?? proxy.enabled;
      // Taking a live proxy down is a fault: refused while halted, recorded so a halt undoes it.
      const wasEnabled = proxy.enabled;
      if (!enabled && wasEnabled) this.#refuseIfHalted();
      let differs = upstream !== proxy.upstream;
      if (!differs && listen !== proxy.listen) {
        let next: Awaited<ReturnType<typeof resolveListen>>;
        try {
          next = await resolveListen(listen);
        } catch (err) {
          if (err instanceof AddressError) throw new ProxyApiError(500, `listen tcp: ${err.message}`);
          throw err;
        }
        const current = parseResolved(proxy.listen);
        differs = current === null || !sameListen(current, next);
      }
      if (differs) {
        await proxy.stop();
        proxy.listen = listen;
        proxy.upstream = upstream;
      }
      if (enabled) {
        await proxy.start();
        this.#disabled.delete(name);
      } else {
        await proxy.stop();
        if (wasEnabled) this.#disabled.add(name);
      }
      this.#changed();
      return proxy.view();
    });
  }

  remove(name: string): Promise<void> {
    return this.#serial(async () => {
      const proxy = this.#find(name);
      this.#proxies.delete(name);
      this.#disabled.delete(name);
      await this.#retire(proxy);
      this.#changed();
    });
  }

  populate(items: unknown): Promise<ProxyView[]> {
    let inputs: ProxyFields[];
    try {
      inputs = this.#checkPopulate(items);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#serial(async () => {
      // Every item before any is created, as the other checks: a refused item creates nothing.
      for (const [i, fields] of inputs.entries()) {
        await this.#checkAddresses({ ...fields, listen: fields.listen ?? '' }, i);
      }
      const done: ProxyView[] = [];
      for (const fields of inputs) {
        try {
          const existing = this.#proxies.get(fields.name!);
          if (existing !== undefined) {
            if (
              existing.upstream === fields.upstream &&
              (await this.#sameListen(existing, fields.listen ?? ''))
            ) {
              done.push(existing.view());
              continue;
            }
            await this.#retire(existing);
          }
          const proxy = this.#newProxy(fields);
          if (fields.enabled ?? true) await proxy.start();
          this.#proxies.set(proxy.name, proxy);
          this.#disabled.delete(proxy.name);
          done.push(proxy.view());
        } catch (err) {
          if (err instanceof ProxyApiError) throw new ProxyApiError(err.status, err.message, done);
          throw err;
        } finally {
          this.#changed();
        }
      }
      return done;
    });
  }

  /** Validates every populate item before anything changes. */
  #checkPopulate(items: unknown): ProxyFields[] {
    if (items === null || items === undefined) return [];
    if (!Array.isArray(items)) {
      throw new ProxyApiError(
        400,
        `bad request body: json: cannot unmarshal ${jsonKind(items)} into Go value of type []toxiproxy.Proxy`,
      );
    }
    const inputs = items.map((item) => {
      if (item !== null && (typeof item !== 'object' || Array.isArray(item))) {
        throw new ProxyApiError(
          400,
          `bad request body: json: cannot unmarshal ${jsonKind(item)} into Go value of type toxiproxy.Proxy`,
        );
      }
      return proxyFields(item);
    });
    inputs.forEach((fields, i) => {
      if (!fields.name) throw new ProxyApiError(400, `missing required field: name at proxy ${i + 1}`);
      if (!fields.upstream)
        throw new ProxyApiError(400, `missing required field: upstream at proxy ${i + 1}`);
      this.#checkFields(fields, ` at proxy ${i + 1}`);
    });
    const names = new Set(inputs.map((f) => f.name!));
    this.#checkProxyCount([...names].filter((n) => !this.#proxies.has(n)).length);
    return inputs;
  }

  async #sameListen(proxy: ProxyServer, listen: string): Promise<boolean> {
    if (proxy.listen === listen) return true;
    const current = parseResolved(proxy.listen);
    if (current === null) return false;
    try {
      return sameListen(current, await resolveListen(listen));
    } catch {
      return false;
    }
  }

  /**
   * Removes every toxic and enables every proxy. A cleanup call: one proxy that
   * cannot be enabled (its `listen` no longer resolves or binds) does not stop
   * the others; every toxic is removed first, then the failures are reported
   * together in one 500 naming each proxy.
   */
  reset(): Promise<void> {
    return this.#serial(async () => {
      const failures: string[] = [];
      try {
        for (const proxy of this.#sorted()) {
          for (const entry of [...proxy.toxics.upstream, ...proxy.toxics.downstream])
            proxy.removeToxic(entry);
        }
        for (const proxy of this.#sorted()) {
          try {
            await proxy.start();
            this.#disabled.delete(proxy.name);
          } catch (err) {
            failures.push(`${proxy.name}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      } finally {
        this.#changed();
      }
      if (failures.length > 0) {
        throw new ProxyApiError(
          500,
          `reset removed every toxic but could not enable ${failures.length} ${failures.length === 1 ? 'proxy' : 'proxies'}: ${failures.join('; ')}`,
        );
      }
    });
  }

  /**
   * `faultline halt`: removes every toxic, re-enables every proxy the API disabled, and
   * refuses new toxics and new disables (423) until release(). Returns what it reverted.
   */
  halt(message: string): Promise<HaltedFault[]> {
    this.#halted = new ProxyApiError(423, message);
    return this.#serial(async () => {
      const reverted: HaltedFault[] = [];
      for (const proxy of this.#sorted()) {
        for (const entry of [...proxy.toxics.upstream, ...proxy.toxics.downstream]) {
          proxy.removeToxic(entry);
          reverted.push({
            proxy: proxy.name,
            toxic: entry.name,
            type: entry.kind.type,
            stream: entry.stream,
          });
        }
        if (this.#disabled.has(proxy.name) && !proxy.enabled) {
          await proxy.start();
          reverted.push({ proxy: proxy.name });
        }
      }
      this.#disabled.clear();
      this.#changed();
      return reverted;
    });
  }

  /** The halt was released: faults are accepted again. */
  release(): void {
    this.#halted = null;
  }

  get halted(): boolean {
    return this.#halted !== null;
  }

  /** The toxics in place and the proxies the API disabled, for `faultline status`. */
  faults(): ProxyFaults {
    const toxics: ProxyFaults['toxics'] = [];
    for (const p of this.#sorted()) for (const t of p.view().toxics) toxics.push({ proxy: p.name, ...t });
    return { toxics, disabled: this.#sorted().flatMap((p) => (this.#disabled.has(p.name) ? [p.name] : [])) };
  }

  listToxics(proxy: string): ToxicView[] {
    return this.#find(proxy).view().toxics;
  }

  getToxic(proxy: string, toxic: string): ToxicView {
    return this.#findToxic(this.#find(proxy), toxic).view();
  }

  addToxic(proxyName: string, input: ToxicInput): ToxicView {
    const proxy = this.#find(proxyName);
    this.#refuseIfHalted();
    const i = record(input);
    // 1. decode the body (shape)
    const name = str(i.name, 'ToxicWrapper.name') ?? '';
    const type = str(i.type, 'ToxicWrapper.type') ?? '';
    // A toxic that only makes sense one way (HTTP toxics act on requests) defaults to that stream.
    const stream = str(i.stream, 'ToxicWrapper.stream') ?? toxicKinds.get(type)?.streams?.[0] ?? 'downstream';
    const toxicity = toxicityField(i.toxicity) ?? 1;
    const ttl = ttlField(i.ttl);
    if (i.attributes !== undefined && i.attributes !== null && typeof i.attributes !== 'object') {
      throw typeError(i.attributes, 'toxics.NoopToxic', 'ToxicWrapper.attributes');
    }
    // 2. stream, 3. default name, 4. type, 5. unique name, 6. attributes
    const direction = stream.toLowerCase();
    if (direction !== 'upstream' && direction !== 'downstream') {
      throw new ProxyApiError(400, 'stream was invalid, can be either upstream or downstream');
    }
    const toxicName = name || `${type}_${stream}`;
    const { nameLength, toxicsPerProxy } = this.limits;
    if (toxicName.length > nameLength) {
      throw limitError(
        `toxic name too long: ${toxicName.length} characters (the limit is ${nameLength}: limits.nameLength)`,
      );
    }
    if (proxy.toxics.upstream.length + proxy.toxics.downstream.length >= toxicsPerProxy) {
      throw limitError(
        `too many toxics on proxy ${proxyName}: the limit is ${toxicsPerProxy} per proxy (limits.toxicsPerProxy)`,
      );
    }
    const kind = toxicKinds.get(type);
    if (kind === undefined) throw new ProxyApiError(400, 'invalid toxic type');
    if (kind.streams && !kind.streams.includes(direction as Direction)) {
      throw new ProxyApiError(
        400,
        `stream was invalid for ${type}, can only be ${kind.streams.join(' or ')}`,
      );
    }
    if (proxy.findToxic(toxicName) !== undefined) throw new ProxyApiError(409, 'toxic already exists');
    const attributes = decodeAttributes(kind, {}, i.attributes);
    const entry = new ToxicEntry(kind, toxicName, stream, direction as Direction, toxicity, attributes);
    if (ttl) this.#armTtl(proxy, entry, ttl);
    proxy.addToxic(entry);
    this.#changed();
    return entry.view();
  }

  updateToxic(proxyName: string, toxicName: string, input: ToxicInput): ToxicView {
    const proxy = this.#find(proxyName);
    const entry = this.#findToxic(proxy, toxicName);
    this.#refuseIfHalted();
    const i = record(input);
    const toxicity = toxicityField(i.toxicity);
    const ttl = ttlField(i.ttl);
    const attributes = decodeAttributes(entry.kind, entry.attributes, i.attributes);
    const reroll = toxicity !== undefined && toxicity !== entry.toxicity;
    entry.attributes = attributes;
    if (toxicity !== undefined) entry.toxicity = toxicity;
    if (ttl !== undefined) {
      entry.clearTtl();
      if (ttl > 0) this.#armTtl(proxy, entry, ttl);
    }
    proxy.updateToxic(entry, reroll);
    this.#changed();
    return entry.view();
  }

  removeToxic(proxyName: string, toxicName: string): void {
    const proxy = this.#find(proxyName);
    proxy.removeToxic(this.#findToxic(proxy, toxicName));
    this.#changed();
  }

  #armTtl(proxy: ProxyServer, entry: ToxicEntry, ttl: number): void {
    entry.ttlDeadline = performance.now() + ttl;
    // Chained past 2^31-1 ms: a ttl of 2^31 used to remove the toxic after 1 ms.
    entry.ttlTimer = setLongTimeout(() => {
      entry.ttlTimer = null;
      if (proxy.findToxic(entry.name) === entry) {
        proxy.removeToxic(entry);
        this.#changed();
      }
    }, ttl);
  }

  metrics(): string {
    return renderMetrics(this.#sorted());
  }

  /** Stops every listener and drops every connection, after any create/update in progress. */
  close(): Promise<void> {
    return this.#serial(async () => {
      const proxies = [...this.#proxies.values()];
      this.#proxies.clear();
      await Promise.all(proxies.map((p) => this.#retire(p)));
    });
  }
}
