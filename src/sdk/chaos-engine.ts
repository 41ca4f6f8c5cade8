/**
 * The seed's API (`ChaosEngine`, `BlastRadiusLimiter`) on top of the registry:
 * `inject()` turns the configured fault into rules of source `engine:<id>`,
 * capped by the limiter, time-bounded by the duration and the limiter's
 * timeout, and rolled back by the limiter when the outcomes it measures
 * breach its thresholds.
 */
import { FaultlineError } from '../core/errors.js';
import {
  type CallInfo,
  type CallObserver,
  compileMatch,
  defaultRegistry,
  type FaultRegistry,
  type RuleInput,
} from './core.js';
import type { SdkFaultRule, SdkFaultType, SdkMatch } from './rules.js';

export type RollbackTrigger = 'SLO_BREACH' | 'ERROR_RATE_SPIKE' | 'LATENCY_SPIKE';
export type RollbackReason = RollbackTrigger | 'MANUAL' | 'DURATION' | 'TIMEOUT' | 'KILL_SWITCH' | 'HALTED';

export interface RollbackRecord {
  reason: RollbackReason;
  detail: string;
  /** ISO-8601. */
  at: string;
}

// ---------------------------------------------------------------------------
// Durations

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `'2m'`, `'30s'`, `'1h30m'`, `'250ms'` or a number of milliseconds. */
export function parseDuration(value: string | number, field = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value > 0) return value;
  } else {
    const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h)/gy;
    const text = value.trim();
    let total = 0;
    let consumed = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      total += Number(m[1]) * (UNITS[m[2] ?? 'ms'] ?? 1);
      consumed = re.lastIndex;
    }
    if (consumed === text.length && total > 0) return total;
  }
  throw new FaultlineError(
    'FAULTLINE_ERR_CONFIG',
    `${field}: expected a positive duration such as "2m", "30s", "500ms" or a number of ms, got ${JSON.stringify(value)}`,
  );
}

// ---------------------------------------------------------------------------
// BlastRadiusLimiter

export interface BlastRadiusOptions {
  /** The most traffic a fault may affect (percent): the effective percentage is min(fault.percentage, this). */
  maxTrafficPercent: number;
  /** Breaches that roll back automatically. The timeout always does. */
  autoRollbackOn?: readonly RollbackTrigger[];
  /** Hard cap on how long an injection lives (ms), whatever its duration. Default 300000. */
  timeoutMs?: number;
  /** SLO_BREACH: the service level over `windowMs`. Default `{ successRate: 0.95 }`. */
  slo?: { successRate?: number; p95LatencyMs?: number };
  /** SLO_BREACH's sliding window (ms, default 10000). */
  windowMs?: number;
  /** ERROR_RATE_SPIKE and LATENCY_SPIKE's sliding window (ms, default 2000). */
  spikeWindowMs?: number;
  /** ERROR_RATE_SPIKE: failed share over `spikeWindowMs` above this (0..1, default 0.5). */
  maxErrorRate?: number;
  /** LATENCY_SPIKE: p95 over `spikeWindowMs` above this (ms). Default 2 × slo.p95LatencyMs; required otherwise. */
  maxP95LatencyMs?: number;
  /** Fewest calls in a window before it is judged (default 20). */
  minSamples?: number;
  /** Which calls count (default: every call through the SDK no fault was injected into). */
  observe?: SdkMatch;
  /** How often the windows are judged (ms, default 200). */
  checkIntervalMs?: number;
}

const TRIGGERS: readonly RollbackTrigger[] = ['SLO_BREACH', 'ERROR_RATE_SPIKE', 'LATENCY_SPIKE'];

/** Window figures the limiter judges by. */
export interface WindowStats {
  samples: number;
  failures: number;
  successRate: number;
  p95LatencyMs: number;
}

function stats(samples: readonly Sample[], from: number): WindowStats {
  let n = 0;
  let failures = 0;
  const latencies: number[] = [];
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i]!;
    if (s.t < from) break;
    n += 1;
    if (!s.ok) failures += 1;
    latencies.push(s.ms);
  }
  latencies.sort((a, b) => a - b);
  const p95 = n ? (latencies[Math.min(n - 1, Math.ceil(n * 0.95) - 1)] ?? 0) : 0;
  return { samples: n, failures, successRate: n ? (n - failures) / n : 1, p95LatencyMs: p95 };
}

interface Sample {
  t: number;
  ok: boolean;
  ms: number;
}

const MAX_SAMPLES = 50_000;

/**
 * Caps how much traffic a fault may touch and rolls back the injections it
 * guards on its timeout or when the calls the SDK sees breach its thresholds.
 *
 * @example
 * const limiter = new BlastRadiusLimiter({ maxTrafficPercent: 5, autoRollbackOn: ['SLO_BREACH', 'ERROR_RATE_SPIKE'], timeoutMs: 300_000 });
 */
export class BlastRadiusLimiter implements CallObserver {
  readonly maxTrafficPercent: number;
  readonly autoRollbackOn: readonly RollbackTrigger[];
  readonly timeoutMs: number;
  readonly slo: { successRate: number; p95LatencyMs?: number };
  readonly windowMs: number;
  readonly spikeWindowMs: number;
  readonly maxErrorRate: number;
  readonly maxP95LatencyMs: number | undefined;
  readonly minSamples: number;
  readonly checkIntervalMs: number;
  /** Why it last rolled back (undefined while nothing has). */
  lastRollback: RollbackRecord | undefined;

  #samples: Sample[] = [];
  #observeTest: ((call: CallInfo, labels: Record<string, string> | undefined) => boolean) | undefined;
  #guarded = new Set<Injection>();
  #detach: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #listeners = new Set<(r: RollbackRecord) => void>();
  #core: FaultRegistry | undefined;
  #lastCheck = 0;

  constructor(options: BlastRadiusOptions) {
    const bad = (msg: string) => new FaultlineError('FAULTLINE_ERR_CONFIG', `BlastRadiusLimiter: ${msg}`);
    const p = options.maxTrafficPercent;
    if (typeof p !== 'number' || !(p >= 0 && p <= 100)) throw bad('maxTrafficPercent must be from 0 to 100');
    this.maxTrafficPercent = p;
    this.autoRollbackOn = [...(options.autoRollbackOn ?? [])];
    for (const t of this.autoRollbackOn)
      if (!TRIGGERS.includes(t))
        throw bad(`autoRollbackOn: unknown trigger ${t} (expected ${TRIGGERS.join(', ')})`);
    this.timeoutMs =
      options.timeoutMs === undefined ? 300_000 : parseDuration(options.timeoutMs, 'timeoutMs');
    this.slo = { successRate: options.slo?.successRate ?? 0.95 };
    if (options.slo?.p95LatencyMs !== undefined) this.slo.p95LatencyMs = options.slo.p95LatencyMs;
    if (!(this.slo.successRate >= 0 && this.slo.successRate <= 1))
      throw bad('slo.successRate must be from 0 to 1');
    this.windowMs = options.windowMs ?? 10_000;
    this.spikeWindowMs = options.spikeWindowMs ?? 2_000;
    this.maxErrorRate = options.maxErrorRate ?? 0.5;
    if (!(this.maxErrorRate >= 0 && this.maxErrorRate <= 1)) throw bad('maxErrorRate must be from 0 to 1');
    this.maxP95LatencyMs =
      options.maxP95LatencyMs ??
      (this.slo.p95LatencyMs !== undefined ? this.slo.p95LatencyMs * 2 : undefined);
    if (this.autoRollbackOn.includes('LATENCY_SPIKE') && this.maxP95LatencyMs === undefined)
      throw bad('LATENCY_SPIKE needs maxP95LatencyMs (or slo.p95LatencyMs)');
    this.minSamples = options.minSamples ?? 20;
    this.checkIntervalMs = options.checkIntervalMs ?? 200;
    this.#observeTest = options.observe ? compileMatch(options.observe) : undefined;
  }

  /** The percentage actually applied for a fault asking for `requested`. */
  cap(requested: number): number {
    return Math.min(requested, this.maxTrafficPercent);
  }

  /** Records the outcome of a call (the SDK does this for every call it sees; services may add their own). */
  observe(call: CallInfo | undefined, ok: boolean, ms: number): void {
    if (call && this.#observeTest && !this.#observeTest(call, call.labels)) return;
    const t = performance.now();
    this.#samples.push({ t, ok, ms });
    if (this.#samples.length > MAX_SAMPLES) this.#samples.splice(0, this.#samples.length - MAX_SAMPLES);
    // Judge here too: a busy loop of calls may starve the interval timer.
    if (this.#detach && t - this.#lastCheck >= this.checkIntervalMs) this.#judge();
  }

  #judge(): void {
    this.#lastCheck = performance.now();
    try {
      const breach = this.check();
      if (breach) void this.rollback(breach.trigger, breach.detail);
    } catch (error) {
      this.#core?.internalError('limiter', error);
    }
  }

  /** Records a service-level outcome (e.g. a request handler's). */
  record(ok: boolean, latencyMs = 0): void {
    this.observe(undefined, ok, latencyMs);
  }

  /** Current window figures: `slo` over windowMs, `spike` over spikeWindowMs. */
  status(): { slo: WindowStats; spike: WindowStats; guarding: number; lastRollback?: RollbackRecord } {
    const now = performance.now();
    const out: { slo: WindowStats; spike: WindowStats; guarding: number; lastRollback?: RollbackRecord } = {
      slo: stats(this.#samples, now - this.windowMs),
      spike: stats(this.#samples, now - this.spikeWindowMs),
      guarding: this.#guarded.size,
    };
    if (this.lastRollback) out.lastRollback = this.lastRollback;
    return out;
  }

  /** Hears every rollback this limiter makes. */
  onRollback(listener: (record: RollbackRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Rolls back every injection this limiter guards. */
  async rollback(reason: RollbackReason = 'MANUAL', detail = 'rollback() called'): Promise<void> {
    const record: RollbackRecord = { reason, detail, at: new Date().toISOString() };
    for (const injection of [...this.#guarded]) injection.end(record);
  }

  /** Which threshold the windows breach, if any. */
  check(): { trigger: RollbackTrigger; detail: string } | undefined {
    const now = performance.now();
    const prune = now - Math.max(this.windowMs, this.spikeWindowMs);
    let drop = 0;
    while (drop < this.#samples.length && this.#samples[drop]!.t < prune) drop += 1;
    if (drop) this.#samples.splice(0, drop);
    const on = new Set(this.autoRollbackOn);
    if (on.has('ERROR_RATE_SPIKE') || on.has('LATENCY_SPIKE')) {
      const s = stats(this.#samples, now - this.spikeWindowMs);
      if (s.samples >= this.minSamples) {
        const rate = s.failures / s.samples;
        if (on.has('ERROR_RATE_SPIKE') && rate > this.maxErrorRate)
          return {
            trigger: 'ERROR_RATE_SPIKE',
            detail: `error rate ${(rate * 100).toFixed(1)}% over the last ${this.spikeWindowMs} ms (${s.failures}/${s.samples}) > ${(this.maxErrorRate * 100).toFixed(1)}%`,
          };
        if (
          on.has('LATENCY_SPIKE') &&
          this.maxP95LatencyMs !== undefined &&
          s.p95LatencyMs > this.maxP95LatencyMs
        )
          return {
            trigger: 'LATENCY_SPIKE',
            detail: `p95 latency ${s.p95LatencyMs.toFixed(1)} ms over the last ${this.spikeWindowMs} ms > ${this.maxP95LatencyMs} ms`,
          };
      }
    }
    if (on.has('SLO_BREACH')) {
      const s = stats(this.#samples, now - this.windowMs);
      if (s.samples >= this.minSamples) {
        if (s.successRate < this.slo.successRate)
          return {
            trigger: 'SLO_BREACH',
            detail: `success rate ${(s.successRate * 100).toFixed(1)}% over the last ${this.windowMs} ms (${s.samples} calls) < SLO ${(this.slo.successRate * 100).toFixed(1)}%`,
          };
        if (this.slo.p95LatencyMs !== undefined && s.p95LatencyMs > this.slo.p95LatencyMs)
          return {
            trigger: 'SLO_BREACH',
            detail: `p95 latency ${s.p95LatencyMs.toFixed(1)} ms over the last ${this.windowMs} ms > SLO ${this.slo.p95LatencyMs} ms`,
          };
      }
    }
    return undefined;
  }

  /** @internal ChaosEngine attaches an injection; the limiter watches while it guards any. */
  guard(core: FaultRegistry, injection: Injection): void {
    this.#guarded.add(injection);
    if (!this.#detach) {
      this.#core = core;
      this.#samples = [];
      this.#detach = core.addObserver(this);
      if (this.autoRollbackOn.length) {
        this.#timer = setInterval(() => this.#judge(), this.checkIntervalMs);
        this.#timer.unref();
      }
    }
  }

  /** @internal */
  release(injection: Injection, record: RollbackRecord): void {
    if (!this.#guarded.delete(injection)) return;
    this.lastRollback = record;
    for (const l of this.#listeners) {
      try {
        l(record);
      } catch {
        // a listener's failure is not the limiter's
      }
    }
    if (this.#guarded.size === 0) {
      this.#detach?.();
      this.#detach = undefined;
      if (this.#timer) clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

// ---------------------------------------------------------------------------
// ChaosEngine

export type EngineFaultType =
  | 'HTTP_ERROR'
  | 'LATENCY'
  | 'EXCEPTION'
  | 'RESET'
  | 'CONNECTION_RESET'
  | 'TIMEOUT';

export interface EngineFault {
  type: EngineFaultType | SdkFaultType;
  /** HTTP_ERROR: status code (default 503). */
  code?: number;
  /** Share of matching calls affected (default 100), capped by the limiter. */
  percentage?: number;
  /** How long the fault lasts ("2m", "30s", ms); default 5 minutes. Rolled back at the end. */
  duration?: string | number;
  /** LATENCY: added delay; TIMEOUT: hang before the timeout error; others: delay before the fault. */
  latencyMs?: number;
  jitterMs?: number;
  /** HTTP_ERROR: response body and headers. */
  body?: string;
  headers?: Record<string, string>;
  /** EXCEPTION: error message. */
  message?: string;
}

export interface EngineConfig {
  /**
   * The dependency to fault: matched against outgoing request hosts (`target`,
   * `target.<namespace>`, `target.<namespace>.svc`, `target.<namespace>.svc.cluster.local`;
   * globs allowed) and against point / wrapped function names (`target`, `target.*`).
   */
  target: string;
  /** Kubernetes-style namespace of the target; also refused if this process says it runs elsewhere. */
  namespace?: string;
  fault: EngineFault;
  /** Extra conditions (path, method, labels) every rule of this fault must also meet. */
  match?: Omit<SdkMatch, 'host' | 'point'>;
}

const TYPE_MAP: Record<string, SdkFaultType> = {
  HTTP_ERROR: 'http_error',
  LATENCY: 'latency',
  EXCEPTION: 'exception',
  RESET: 'reset',
  CONNECTION_RESET: 'reset',
  TIMEOUT: 'timeout',
  http_error: 'http_error',
  latency: 'latency',
  exception: 'exception',
  reset: 'reset',
  timeout: 'timeout',
};

let engineCounter = 0;

/** One inject() of a ChaosEngine: its rules, its bounds, and how it ended. */
export class Injection {
  readonly id: string;
  readonly rules: SdkFaultRule[];
  readonly effectivePercentage: number;
  readonly expiresAt: Date;
  /** Resolves with the rollback record when the injection ends, whatever ended it. */
  readonly done: Promise<RollbackRecord>;
  ended: RollbackRecord | undefined;
  #resolve!: (r: RollbackRecord) => void;
  #cleanup: () => void;

  constructor(
    id: string,
    rules: SdkFaultRule[],
    effectivePercentage: number,
    expiresAt: Date,
    cleanup: () => void,
  ) {
    this.id = id;
    this.rules = rules;
    this.effectivePercentage = effectivePercentage;
    this.expiresAt = expiresAt;
    this.#cleanup = cleanup;
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** Ends the injection (idempotent). */
  end(record: RollbackRecord): void {
    if (this.ended) return;
    this.ended = record;
    this.#cleanup();
    this.#resolve(record);
  }
}

/**
 * The seed's experiment API over the SDK.
 *
 * @example
 * const engine = new ChaosEngine();
 * engine.configure({ target: 'payment-gateway', namespace: 'prod-checkout', fault: { type: 'HTTP_ERROR', code: 503, percentage: 40, duration: '2m' } });
 * const injection = await engine.inject(limiter);
 * // ... later, or automatically on breach / timeout / duration
 * await engine.rollback();
 */
export class ChaosEngine {
  readonly #core: FaultRegistry;
  #config: EngineConfig | undefined;
  #current: Injection | undefined;

  /** `core`: the registry to inject into (default: the SDK's, `faultline`). */
  constructor(core: FaultRegistry = defaultRegistry) {
    this.#core = core;
  }

  /** Validates and keeps the experiment's configuration (replaces a previous one; takes effect on inject()). */
  configure(config: EngineConfig): this {
    const bad = (msg: string) => new FaultlineError('FAULTLINE_ERR_CONFIG', `ChaosEngine.configure: ${msg}`);
    if (!config || typeof config.target !== 'string' || config.target === '') throw bad('target is required');
    if (!config.fault || TYPE_MAP[config.fault.type] === undefined)
      throw bad(`fault.type must be one of HTTP_ERROR, LATENCY, EXCEPTION, RESET, TIMEOUT`);
    const p = config.fault.percentage ?? 100;
    if (!(p >= 0 && p <= 100)) throw bad('fault.percentage must be from 0 to 100');
    if (config.fault.duration !== undefined) parseDuration(config.fault.duration, 'fault.duration');
    this.#config = { ...config, fault: { ...config.fault } };
    return this;
  }

  /** The injection in force, if any. */
  get current(): Injection | undefined {
    return this.#current?.ended ? undefined : this.#current;
  }

  /** The rules inject() would add (percentage before the limiter's cap). */
  plan(): RuleInput[] {
    const config = this.#config;
    if (!config)
      throw new FaultlineError('FAULTLINE_ERR_CONFIG', 'ChaosEngine: call configure() before inject()');
    const f = config.fault;
    const type = TYPE_MAP[f.type]!;
    const base: Omit<RuleInput, 'match'> = { type, percentage: f.percentage ?? 100 };
    if (f.latencyMs !== undefined) base.latency_ms = f.latencyMs;
    if (f.jitterMs !== undefined) base.jitter_ms = f.jitterMs;
    if (type === 'http_error') base.status = f.code ?? 503;
    if (f.body !== undefined) base.body = f.body;
    if (f.headers !== undefined) base.headers = f.headers;
    if (f.message !== undefined) base.message = f.message;
    const hosts = [config.target];
    if (config.namespace)
      hosts.push(
        `${config.target}.${config.namespace}`,
        `${config.target}.${config.namespace}.svc`,
        `${config.target}.${config.namespace}.svc.cluster.local`,
      );
    const extra = config.match ?? {};
    return [
      ...hosts.map((host) => ({ ...base, match: { ...extra, host } })),
      { ...base, match: { ...extra, point: config.target } },
      { ...base, match: { ...extra, point: `${config.target}.*` } },
    ];
  }

  /**
   * Injects the configured fault, guarded by `limiter`: percentage capped at
   * its maxTrafficPercent, ended at min(duration, its timeoutMs), and rolled
   * back on the breaches it watches. Refused when the SDK is not enabled, is
   * killed or halted, when an injection is already in force, or when this
   * process's namespace is known and differs.
   */
  async inject(limiter?: BlastRadiusLimiter): Promise<Injection> {
    const core = this.#core;
    if (!core.enabled)
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        'ChaosEngine.inject: the SDK is not enabled (set FAULTLINE_SDK=1 or call enable())',
      );
    if (this.current)
      throw new FaultlineError('FAULTLINE_ERR_FAULT', `ChaosEngine.inject: ${this.current.id} is in force`);
    const config = this.#config;
    const rules = this.plan();
    if (config?.namespace && core.namespace && core.namespace !== config.namespace)
      throw new FaultlineError(
        'FAULTLINE_ERR_POLICY',
        `ChaosEngine.inject: this process runs in namespace ${core.namespace}, the experiment targets ${config.namespace}`,
      );
    const requested = rules[0]?.percentage ?? 100;
    const effective = limiter ? limiter.cap(requested) : requested;
    const durationMs = config?.fault.duration !== undefined ? parseDuration(config.fault.duration) : 300_000;
    const boundMs = limiter ? Math.min(durationMs, limiter.timeoutMs) : durationMs;
    const boundBy: RollbackReason = limiter && limiter.timeoutMs < durationMs ? 'TIMEOUT' : 'DURATION';
    const expiresAt = new Date(Date.now() + boundMs);
    engineCounter += 1;
    const id = `engine-${Date.now().toString(36)}-${engineCounter}`;
    const source = `engine:${id}`;
    const inputs = rules.map((r, i) => ({
      ...r,
      id: `${id}/${i}`,
      percentage: effective,
      expires_at: expiresAt.toISOString(),
    }));
    let timer: NodeJS.Timeout | undefined;
    // The rules exist before the injection object: create the cleanup lazily.
    let injection: Injection | undefined;
    const applied = core.setRules(source, inputs, (reason, detail) => {
      injection?.end({ reason: reason as RollbackReason, detail, at: new Date().toISOString() });
    });
    injection = new Injection(id, applied, effective, expiresAt, () => {
      if (timer) clearTimeout(timer);
      core.clearSource(source);
      if (limiter && injection) limiter.release(injection, injection.ended!);
      const reason = injection?.ended?.reason;
      // The kill switch and halts announce their own rollbacks.
      if (reason === 'KILL_SWITCH' || reason === 'HALTED') return;
      core.emit('rollback', {
        source,
        reason: reason ?? 'MANUAL',
        detail: injection?.ended?.detail ?? '',
        time: new Date().toISOString(),
      });
    });
    const inj = injection;
    timer = setTimeout(
      () =>
        inj.end({
          reason: boundBy,
          detail:
            boundBy === 'TIMEOUT'
              ? `limiter timeout ${limiter?.timeoutMs} ms`
              : `duration ${durationMs} ms elapsed`,
          at: new Date().toISOString(),
        }),
      boundMs,
    );
    timer.unref();
    limiter?.guard(core, inj);
    this.#current = inj;
    return inj;
  }

  /** Ends the injection in force (no-op when none). */
  async rollback(): Promise<void> {
    this.#current?.end({
      reason: 'MANUAL',
      detail: 'ChaosEngine.rollback() called',
      at: new Date().toISOString(),
    });
  }
}
