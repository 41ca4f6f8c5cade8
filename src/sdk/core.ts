/**
 * The SDK's core: the active rules, the decision for one call, events, the
 * kill switch and the observers (blast-radius limiters) that watch outcomes.
 *
 * Hot path: every hook first reads `core.hot`, a plain boolean that is true
 * only while the SDK is enabled, not killed or halted, and has at least one
 * rule or observer. Otherwise the hook calls straight through.
 */
import { existsSync } from 'node:fs';
import { FaultlineError } from '../core/errors.js';
import { InjectedFault, injectedError } from './errors.js';
import {
  MAX_SDK_DELAY_MS,
  type SdkFaultRule,
  SdkFaultRuleSchema,
  type SdkFaultType,
  type SdkMatch,
} from './rules.js';

/** Where a call was seen. */
export type InjectionPoint = 'fetch' | 'http' | 'wrap' | 'point';

/** What the SDK knows about one call; rules match on it. */
export interface CallInfo {
  kind: InjectionPoint;
  /** Outgoing requests: hostname (no port), port, pathname (no query), upper-case method. */
  host?: string;
  port?: string;
  path?: string;
  method?: string;
  /** Named failure points and wrapped functions. */
  point?: string;
  labels?: Record<string, string> | undefined;
}

/** Emitted for every injected fault. */
export interface FaultEvent {
  ruleId: string;
  type: SdkFaultType;
  /** Who added the rule: `code`, `control` (subscription) or `engine:<id>` (ChaosEngine). */
  source: string;
  injectionPoint: InjectionPoint;
  target?: { host: string; path: string; method: string };
  point?: string;
  labels?: Record<string, string>;
  /** Added delay (latency, timeout hang, or the delay before another fault). */
  delayMs: number;
  status?: number;
  /** ISO-8601. */
  time: string;
}

export interface RollbackEvent {
  source: string;
  reason: string;
  detail: string;
  time: string;
}

export interface ControlEvent {
  service: string;
  ok: boolean;
  version?: number;
  halted?: boolean;
  faults?: number;
  applied?: boolean;
  /** The document's epoch (the serving store's instance id), when it has one. */
  epoch?: string;
  error?: string;
}

export interface SdkEvents {
  fault: FaultEvent;
  /** Rules of a source dropped by the kill switch, a halt, a limiter or a rollback. */
  rollback: RollbackEvent;
  /** Something inside the SDK failed; the call went ahead untouched. */
  error: { where: string; error: unknown };
  /** One poll of a control subscription. */
  control: ControlEvent;
  kill: { reason: string; time: string };
}

/** Watches the outcome of calls that went through the SDK (a BlastRadiusLimiter). */
export interface CallObserver {
  observe(call: CallInfo, ok: boolean, ms: number): void;
}

/** A rule ready to match. */
export interface CompiledRule {
  rule: SdkFaultRule;
  source: string;
  expiresAt: number;
  test: (call: CallInfo, labels: Record<string, string> | undefined) => boolean;
}

export interface EnableOptions {
  /** Labels every call carries (e.g. `{ service: 'checkout', region: 'eu' }`); call labels override them. */
  labels?: Record<string, string>;
  /** The namespace this process runs in (a ChaosEngine refuses a different one). Default: FAULTLINE_SDK_NAMESPACE or POD_NAMESPACE. */
  namespace?: string;
  /** Kill file: while it exists every rule is dropped and none is accepted. Default: FAULTLINE_SDK_KILL_FILE. */
  killFile?: string;
  /** How often the kill file and FAULTLINE_SDK_KILL are checked (ms, default 500). */
  killPollMs?: number;
  /** The OpenTelemetry API to add span events with; default: `@opentelemetry/api` when installed; `false`: none. */
  otel?: OtelApi | false;
}

/** The part of `@opentelemetry/api` the SDK uses. */
export interface OtelApi {
  trace: {
    getActiveSpan(): { addEvent(name: string, attributes?: Record<string, unknown>): unknown } | undefined;
  };
}

/** A rule as code adds it: `id` and `expires_at` are optional (generated; default TTL 5 minutes). */
export type RuleInput = Omit<Partial<SdkFaultRule>, 'type'> & {
  type: SdkFaultType;
  /** Lifetime when `expires_at` is absent (ms, default 300000). */
  ttlMs?: number;
};

export const DEFAULT_RULE_TTL_MS = 300_000;
/** How long a `timeout` fault hangs when the rule gives no `latency_ms`. */
export const DEFAULT_TIMEOUT_HANG_MS = 30_000;

type Listener<T> = (event: T) => void;

// ---------------------------------------------------------------------------
// Matching

/** `*` matches any run of characters (dots and slashes included); every other character is literal. */
export function globToRegExp(glob: string, caseInsensitive: boolean): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, caseInsensitive ? 'i' : '');
}

function matcher(glob: string | undefined, ci: boolean): ((v: string | undefined) => boolean) | undefined {
  if (glob === undefined || glob === '*') return undefined;
  const re = globToRegExp(glob, ci);
  return (v) => v !== undefined && re.test(v);
}

/** Compiles `match`: every field given must match; a field the call lacks never matches. */
export function compileMatch(
  match: SdkMatch | undefined,
): (call: CallInfo, labels: Record<string, string> | undefined) => boolean {
  if (!match) return () => true;
  const checks: ((call: CallInfo, labels: Record<string, string> | undefined) => boolean)[] = [];
  if (match.host !== undefined) {
    // A pattern with a port (`api.local:8080`) matches host:port; otherwise the hostname.
    const withPort = /:\d+$|:\*$/.test(match.host);
    const m = matcher(match.host, true);
    if (m) checks.push((c) => m(withPort && c.host !== undefined ? `${c.host}:${c.port ?? ''}` : c.host));
    else checks.push((c) => c.host !== undefined);
  }
  if (match.path !== undefined) {
    const m = matcher(match.path, false);
    checks.push(m ? (c) => m(c.path) : (c) => c.path !== undefined);
  }
  if (match.method !== undefined) {
    const m = matcher(match.method, true);
    checks.push(m ? (c) => m(c.method) : (c) => c.method !== undefined);
  }
  if (match.point !== undefined) {
    const m = matcher(match.point, false);
    checks.push(m ? (c) => m(c.point) : (c) => c.point !== undefined);
  }
  if (match.labels) {
    for (const [k, v] of Object.entries(match.labels)) {
      const m = matcher(v, false);
      checks.push(m ? (_c, l) => m(l?.[k]) : (_c, l) => l?.[k] !== undefined);
    }
  }
  return (call, labels) => {
    for (const check of checks) if (!check(call, labels)) return false;
    return true;
  };
}

// ---------------------------------------------------------------------------

let idCounter = 0;
/** A rule id for rules added without one. */
export function newRuleId(prefix = 'sdk'): string {
  idCounter += 1;
  return `${prefix}-${Date.now().toString(36)}-${idCounter}`;
}

/**
 * Added delay for a rule: latency_ms + uniform jitter in [-jitter, +jitter],
 * never below 0 nor above MAX_SDK_DELAY_MS (a rule may come from an untrusted
 * control server; beyond 2^31-1 ms a Node timer would fire after 1 ms).
 */
export function delayFor(rule: SdkFaultRule): number {
  // A sum past Number.MAX_VALUE (1e308 + jitter) is Infinity: the longest delay, not none.
  const cap = (ms: number) => (Number.isNaN(ms) ? 0 : Math.min(MAX_SDK_DELAY_MS, Math.max(0, ms)));
  if (rule.type === 'timeout') return cap(rule.latency_ms ?? DEFAULT_TIMEOUT_HANG_MS);
  const base = rule.latency_ms ?? 0;
  const jitter = rule.jitter_ms ?? 0;
  if (jitter <= 0) return cap(base);
  return cap(base + (Math.random() * 2 - 1) * jitter);
}

export const sleep = (ms: number): Promise<void> =>
  ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The registry of active rules and the decisions made from them. One per
 * process is the norm (`faultline` in the SDK's index); tests make their own.
 */
export class FaultRegistry {
  /** True only when a hook has something to do; hooks read it first and pass through otherwise. */
  hot = false;
  /** True while at least one observer watches outcomes. */
  observing = false;

  #enabled = false;
  #killedBy: string | undefined;
  #haltedBy: string | undefined;
  #sources = new Map<string, CompiledRule[]>();
  #onDrop = new Map<string, (reason: string, detail: string) => void>();
  #active: CompiledRule[] = [];
  #observers = new Set<CallObserver>();
  #listeners: { [K in keyof SdkEvents]?: Set<Listener<SdkEvents[K]>> } = {};
  #labels: Record<string, string> | undefined;
  #namespace: string | undefined;
  #killFile: string | undefined;
  #killPollMs = 500;
  #killTimer: NodeJS.Timeout | undefined;
  #otel: OtelApi | undefined;
  #env: NodeJS.ProcessEnv;

  constructor(options: { env?: NodeJS.ProcessEnv } = {}) {
    this.#env = options.env ?? process.env;
  }

  // --- enabling --------------------------------------------------------------

  /** Turns the SDK on (also done at load by FAULTLINE_SDK=1). Until then every hook passes through. */
  enable(options: EnableOptions = {}): this {
    this.#enabled = true;
    if (options.labels) this.#labels = { ...options.labels };
    this.#namespace = options.namespace ?? this.#env.FAULTLINE_SDK_NAMESPACE ?? this.#env.POD_NAMESPACE;
    this.#killFile = options.killFile ?? this.#env.FAULTLINE_SDK_KILL_FILE;
    this.#killPollMs = options.killPollMs ?? 500;
    if (options.otel === false) this.#otel = undefined;
    else if (options.otel) this.#otel = options.otel;
    else void this.#loadOtel();
    this.#checkKill();
    this.#startKillWatch();
    this.#refresh();
    return this;
  }

  /** Turns the SDK off: rules stay registered but every hook passes through. */
  disable(): this {
    this.#enabled = false;
    if (this.#killTimer) clearInterval(this.#killTimer);
    this.#killTimer = undefined;
    this.#refresh();
    return this;
  }

  get enabled(): boolean {
    return this.#enabled;
  }
  get namespace(): string | undefined {
    return this.#namespace;
  }
  /** Why the SDK is killed (`killSwitch()`, env or file), or undefined. */
  get killed(): string | undefined {
    return this.#killedBy;
  }
  get halted(): string | undefined {
    return this.#haltedBy;
  }

  async #loadOtel(): Promise<void> {
    try {
      const name = '@opentelemetry/api';
      const mod = (await import(name)) as OtelApi;
      if (mod?.trace && this.#otel === undefined) this.#otel = mod;
    } catch {
      // optional peer: not installed
    }
  }

  // --- kill switch ------------------------------------------------------------

  /** Drops every rule of every source at once and refuses new ones until `rearm()`. */
  killSwitch(reason = 'killSwitch() called'): void {
    this.#killedBy = reason;
    this.#dropAll('KILL_SWITCH', reason);
    this.emit('kill', { reason, time: new Date().toISOString() });
  }

  /** Accepts rules again after `killSwitch()` (not while FAULTLINE_SDK_KILL or the kill file say otherwise). */
  rearm(): void {
    this.#killedBy = undefined;
    this.#checkKill();
    this.#refresh();
  }

  #checkKill(): void {
    const env = this.#env.FAULTLINE_SDK_KILL;
    if (env !== undefined && env !== '' && env !== '0' && env !== 'false') {
      if (this.#killedBy === undefined || this.#killedBy.startsWith('kill file'))
        this.killSwitch('FAULTLINE_SDK_KILL is set');
      return;
    }
    if (this.#killFile && existsSync(this.#killFile)) {
      if (this.#killedBy === undefined) this.killSwitch(`kill file ${this.#killFile} exists`);
      return;
    }
    // The env variable or the file went away: accept rules again (an explicit killSwitch() stays).
    if (this.#killedBy?.startsWith('kill file') || this.#killedBy === 'FAULTLINE_SDK_KILL is set') {
      this.#killedBy = undefined;
      this.#refresh();
    }
  }

  #startKillWatch(): void {
    if (this.#killTimer) clearInterval(this.#killTimer);
    this.#killTimer = setInterval(() => {
      try {
        this.#checkKill();
        this.#purgeExpired();
      } catch (error) {
        this.internalError('kill watch', error);
      }
    }, this.#killPollMs);
    this.#killTimer.unref();
  }

  // --- halt (control documents) ------------------------------------------------

  /** A halt in force drops every rule and refuses new ones, like the kill switch, until `halt(undefined)`. */
  halt(reason: string | undefined): void {
    if (reason === undefined) {
      this.#haltedBy = undefined;
      this.#refresh();
      return;
    }
    this.#haltedBy = reason;
    this.#dropAll('HALTED', reason);
  }

  // --- rules -------------------------------------------------------------------

  /** Validates (rules.ts schema) and compiles rules; throws FAULTLINE_ERR_CONFIG on the first invalid one. */
  compile(inputs: readonly (RuleInput | SdkFaultRule)[], source: string): CompiledRule[] {
    return inputs.map((input) => {
      const { ttlMs, ...rest } = input as RuleInput;
      const candidate = {
        ...rest,
        id: rest.id ?? newRuleId(source.startsWith('engine:') ? 'engine' : 'sdk'),
        expires_at: rest.expires_at ?? new Date(Date.now() + (ttlMs ?? DEFAULT_RULE_TTL_MS)).toISOString(),
      };
      const parsed = SdkFaultRuleSchema.safeParse(candidate);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const path = issue?.path.join('.') || 'rule';
        throw new FaultlineError(
          'FAULTLINE_ERR_CONFIG',
          `invalid SDK fault rule: ${path}: ${issue?.message}`,
        );
      }
      const rule = parsed.data;
      return { rule, source, expiresAt: Date.parse(rule.expires_at), test: compileMatch(rule.match) };
    });
  }

  /** Replaces every rule of `source`. `onDrop` hears when the kill switch, a halt or expiry drops them. */
  setRules(
    source: string,
    rules: readonly (RuleInput | SdkFaultRule)[],
    onDrop?: (reason: string, detail: string) => void,
  ): SdkFaultRule[] {
    this.#refuseIfStopped();
    const compiled = this.compile(rules, source);
    if (compiled.length === 0) this.#sources.delete(source);
    else this.#sources.set(source, compiled);
    if (onDrop) this.#onDrop.set(source, onDrop);
    this.#rebuild();
    return compiled.map((c) => c.rule);
  }

  /** Adds one rule from code; returns its id. */
  addRule(input: RuleInput | SdkFaultRule): string {
    this.#refuseIfStopped();
    const [compiled] = this.compile([input], 'code');
    if (!compiled) throw new FaultlineError('FAULTLINE_ERR_CONFIG', 'no rule');
    const list = (this.#sources.get('code') ?? []).filter((c) => c.rule.id !== compiled.rule.id);
    list.push(compiled);
    this.#sources.set('code', list);
    this.#rebuild();
    return compiled.rule.id;
  }

  /** Removes a rule (any source) by id; true when one was removed. */
  removeRule(id: string): boolean {
    let removed = false;
    for (const [source, list] of this.#sources) {
      const kept = list.filter((c) => c.rule.id !== id);
      if (kept.length !== list.length) {
        removed = true;
        if (kept.length) this.#sources.set(source, kept);
        else this.#sources.delete(source);
      }
    }
    if (removed) this.#rebuild();
    return removed;
  }

  /** Drops the rules of one source (no `rollback` event: the caller knows). */
  clearSource(source: string): void {
    this.#onDrop.delete(source);
    if (this.#sources.delete(source)) this.#rebuild();
  }

  /** Drops every rule from code (`addRule`); engines and subscriptions keep theirs. */
  clearRules(): void {
    this.clearSource('code');
  }

  /** The rules in force (not expired), in match order. */
  rules(): SdkFaultRule[] {
    const now = Date.now();
    return this.#active.filter((c) => c.expiresAt > now).map((c) => c.rule);
  }

  #refuseIfStopped(): void {
    if (this.#killedBy !== undefined)
      throw new FaultlineError('FAULTLINE_ERR_HALTED', `the SDK kill switch is on (${this.#killedBy})`);
    if (this.#haltedBy !== undefined)
      throw new FaultlineError('FAULTLINE_ERR_HALTED', `a halt is in force (${this.#haltedBy})`);
  }

  #dropAll(reason: string, detail: string): void {
    const sources = [...this.#sources.keys(), ...this.#onDrop.keys()];
    this.#sources.clear();
    this.#rebuild();
    const notified = new Set<string>();
    for (const source of sources) {
      if (notified.has(source)) continue;
      notified.add(source);
      const onDrop = this.#onDrop.get(source);
      this.#onDrop.delete(source);
      try {
        onDrop?.(reason, detail);
      } catch (error) {
        this.internalError('rollback listener', error);
      }
      this.emit('rollback', { source, reason, detail, time: new Date().toISOString() });
    }
  }

  #purgeExpired(): void {
    const now = Date.now();
    let changed = false;
    for (const [source, list] of this.#sources) {
      const kept = list.filter((c) => c.expiresAt > now);
      if (kept.length === list.length) continue;
      changed = true;
      if (kept.length) this.#sources.set(source, kept);
      else this.#sources.delete(source);
    }
    if (changed) this.#rebuild();
  }

  #rebuild(): void {
    const active: CompiledRule[] = [];
    for (const list of this.#sources.values()) active.push(...list);
    this.#active = active;
    this.#refresh();
  }

  #refresh(): void {
    const live = this.#enabled && this.#killedBy === undefined && this.#haltedBy === undefined;
    this.observing = live && this.#observers.size > 0;
    this.hot = live && (this.#active.length > 0 || this.#observers.size > 0);
  }

  // --- observers ---------------------------------------------------------------

  addObserver(observer: CallObserver): () => void {
    this.#observers.add(observer);
    this.#refresh();
    return () => {
      this.#observers.delete(observer);
      this.#refresh();
    };
  }

  /** Reports the outcome of a call no fault was injected into. */
  observe(call: CallInfo, ok: boolean, ms: number): void {
    for (const o of this.#observers) {
      try {
        o.observe(call, ok, ms);
      } catch (error) {
        this.internalError('observer', error);
      }
    }
  }

  // --- decisions ---------------------------------------------------------------

  /** Labels a call carries: the SDK's labels, then the call's. */
  labelsFor(call: CallInfo): Record<string, string> | undefined {
    if (!this.#labels) return call.labels;
    if (!call.labels) return this.#labels;
    return { ...this.#labels, ...call.labels };
  }

  /** The rule to apply to this call, if any: the first in force that matches and wins its percentage roll. */
  decide(call: CallInfo): CompiledRule | undefined {
    if (!this.hot) return undefined;
    const now = Date.now();
    let labels: Record<string, string> | undefined;
    let labelsDone = false;
    for (const c of this.#active) {
      if (now >= c.expiresAt) continue;
      if (!labelsDone) {
        labels = this.labelsFor(call);
        labelsDone = true;
      }
      if (!c.test(call, labels)) continue;
      const pct = c.rule.percentage;
      if (pct < 100 && Math.random() * 100 >= pct) continue;
      return c;
    }
    return undefined;
  }

  /** Emits the fault event (and the OTel span event); never throws. */
  reportFault(c: CompiledRule, call: CallInfo, delayMs: number): void {
    try {
      const labels = this.labelsFor(call);
      const event: FaultEvent = {
        ruleId: c.rule.id,
        type: c.rule.type,
        source: c.source,
        injectionPoint: call.kind,
        delayMs: Math.round(delayMs),
        time: new Date().toISOString(),
      };
      if (call.host !== undefined)
        event.target = {
          host: call.port ? `${call.host}:${call.port}` : call.host,
          path: call.path ?? '/',
          method: call.method ?? 'GET',
        };
      if (call.point !== undefined) event.point = call.point;
      if (labels) event.labels = labels;
      if (c.rule.type === 'http_error') event.status = c.rule.status ?? 503;
      this.emit('fault', event);
      const span = this.#otel?.trace.getActiveSpan();
      if (span) {
        const attrs: Record<string, unknown> = {
          'faultline.rule_id': event.ruleId,
          'faultline.fault_type': event.type,
          'faultline.source': event.source,
          'faultline.injection_point': event.injectionPoint,
          'faultline.delay_ms': event.delayMs,
        };
        if (event.target) {
          attrs['server.address'] = event.target.host;
          attrs['url.path'] = event.target.path;
          attrs['http.request.method'] = event.target.method;
        }
        if (event.point) attrs['faultline.point'] = event.point;
        if (event.status !== undefined) attrs['http.response.status_code'] = event.status;
        span.addEvent('faultline.fault', attrs);
      }
    } catch (error) {
      this.internalError('fault event', error);
    }
  }

  /**
   * Applies a rule where there is no HTTP exchange (points, wrapped functions):
   * waits the delay, then throws for every type but latency.
   */
  async applyAtPoint(c: CompiledRule, call: CallInfo): Promise<void> {
    const delay = delayFor(c.rule);
    this.reportFault(c, call, delay);
    await sleep(delay);
    if (c.rule.type !== 'latency')
      throw injectedError(c.rule.type, c.rule, `${call.kind} ${call.point ?? ''}`.trim());
  }

  // --- points and wrapped functions ----------------------------------------------

  /**
   * A named failure point: resolves at once when no rule matches; waits or
   * throws an `InjectedFault` when one does.
   *
   * @example
   * await faultline.point('payments.charge', { tenant: 'acme' });
   */
  point(name: string, labels?: Record<string, string>): Promise<void> {
    if (!this.hot) return RESOLVED;
    let c: CompiledRule | undefined;
    const call: CallInfo = { kind: 'point', point: name, labels };
    try {
      c = this.decide(call);
    } catch (error) {
      this.internalError('point', error);
      return RESOLVED;
    }
    return c ? this.applyAtPoint(c, call) : RESOLVED;
  }

  /**
   * Wraps an async function: faults matching `name` (as `point`) and `labels`
   * are applied before the call; outcomes feed the limiters.
   *
   * @example
   * const query = faultline.wrap('db.query', client.query.bind(client), { db: 'orders' });
   */
  wrap<A extends unknown[], R>(
    name: string,
    fn: (...args: A) => Promise<R> | R,
    labels?: Record<string, string>,
  ): (...args: A) => Promise<R> {
    const core = this;
    const call: CallInfo = { kind: 'wrap', point: name, labels };
    return function wrapped(this: unknown, ...args: A): Promise<R> {
      if (!core.hot) return fn.apply(this, args) as Promise<R>;
      return core.#runWrapped(call, fn, this, args);
    };
  }

  async #runWrapped<A extends unknown[], R>(
    call: CallInfo,
    fn: (...args: A) => Promise<R> | R,
    self: unknown,
    args: A,
  ): Promise<R> {
    let c: CompiledRule | undefined;
    try {
      c = this.decide(call);
    } catch (error) {
      this.internalError('wrap', error);
      return fn.apply(self, args);
    }
    if (c) await this.applyAtPoint(c, call);
    if (c || !this.observing) return fn.apply(self, args);
    const t0 = performance.now();
    try {
      const result = await fn.apply(self, args);
      this.observe(call, true, performance.now() - t0);
      return result;
    } catch (error) {
      this.observe(call, false, performance.now() - t0);
      throw error;
    }
  }

  // --- events ------------------------------------------------------------------

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof SdkEvents>(event: K, listener: Listener<SdkEvents[K]>): () => void {
    let set = this.#listeners[event] as Set<Listener<SdkEvents[K]>> | undefined;
    if (!set) {
      set = new Set();
      (this.#listeners as Record<string, unknown>)[event] = set;
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Calls every listener; a listener that throws is reported as an `error` event (never to the caller). */
  emit<K extends keyof SdkEvents>(event: K, payload: SdkEvents[K]): void {
    const set = this.#listeners[event] as Set<Listener<SdkEvents[K]>> | undefined;
    if (!set) return;
    for (const listener of set) {
      try {
        listener(payload);
      } catch (error) {
        if (event !== 'error') this.internalError(`${event} listener`, error);
      }
    }
  }

  /** Something in the SDK failed: say so on `error` and let the caller's call go ahead. */
  internalError(where: string, error: unknown): void {
    if (error instanceof InjectedFault) return;
    this.emit('error', { where, error });
  }
}

/** The process's registry (`faultline` in the SDK's index). */
export const defaultRegistry = new FaultRegistry();
