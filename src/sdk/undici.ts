/**
 * Outgoing `fetch` / undici: a Dispatcher that decides per request and either
 * passes it to the wrapped dispatcher untouched or answers it itself.
 *
 * The SDK does not load undici: a dispatcher is anything with `dispatch(opts,
 * handler)`, and the global one lives at `globalThis[Symbol.for('undici.globalDispatcher.1')]`
 * (shared by Node's built-in fetch and the undici package).
 *
 * http_error calls the handler like a connection would (onConnect, onHeaders,
 * onData, onComplete; or undici 7's onRequestStart/onResponse*), so the caller
 * gets a real `Response`. reset, timeout and exception end in onError (fetch
 * rejects with `TypeError: fetch failed` whose `cause` is the InjectedFault).
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Dispatcher } from 'undici';
import { type CallInfo, type CompiledRule, delayFor, type FaultRegistry } from './core.js';
import { injectedError } from './errors.js';

const GLOBAL = Symbol.for('undici.globalDispatcher.1');

/** The part of a Dispatcher the wrapper uses. */
interface DispatcherLike {
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers): boolean;
  close?(...args: unknown[]): unknown;
  destroy?(...args: unknown[]): unknown;
}

type AnyHandler = Dispatcher.DispatchHandlers & Record<string, any>;

/** The global dispatcher, creating Node's default one if fetch has not been used yet. */
export function currentGlobalDispatcher(): DispatcherLike {
  let d = (globalThis as Record<symbol, unknown>)[GLOBAL] as DispatcherLike | undefined;
  if (!d) {
    // Loading the built-in undici (any fetch global does) installs its default Agent.
    void new Headers();
    d = (globalThis as Record<symbol, unknown>)[GLOBAL] as DispatcherLike | undefined;
  }
  if (!d) throw new Error('no global undici dispatcher');
  return d;
}

function callFor(opts: Dispatcher.DispatchOptions, labels: Record<string, string> | undefined): CallInfo {
  const origin = opts.origin;
  const url = typeof origin === 'string' ? new URL(origin) : (origin as URL | undefined);
  const rawPath = opts.path ?? '/';
  const q = rawPath.indexOf('?');
  return {
    kind: 'fetch',
    host: url?.hostname.replace(/^\[|\]$/g, '') ?? '',
    port: url?.port || (url?.protocol === 'https:' ? '443' : '80'),
    path: q === -1 ? rawPath : rawPath.slice(0, q),
    method: (opts.method ?? 'GET').toUpperCase(),
    labels,
  };
}

/** Answers the request with a canned response, as a connection would. */
function respond(handler: AnyHandler, rule: CompiledRule['rule']): void {
  const status = rule.status ?? 503;
  const body = Buffer.from(rule.body ?? '');
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    ...rule.headers,
    'content-length': String(body.length),
    'x-faultline-fault': rule.id,
  };
  const statusText = STATUS_CODES[status] ?? '';
  let aborted = false;
  if (typeof handler.onRequestStart === 'function' && typeof handler.onConnect !== 'function') {
    // undici 7 handler API
    const controller = {
      aborted: false,
      paused: false,
      reason: null as unknown,
      abort(reason: unknown) {
        aborted = true;
        this.aborted = true;
        this.reason = reason;
      },
      pause() {},
      resume() {},
    };
    handler.onRequestStart(controller, {});
    if (aborted) {
      handler.onResponseError?.(controller, controller.reason);
      return;
    }
    handler.onResponseStart?.(controller, status, headers, statusText);
    if (body.length && !aborted) handler.onResponseData?.(controller, body);
    if (!aborted) handler.onResponseEnd?.(controller, {});
    return;
  }
  let done = false;
  const abort = (reason?: unknown) => {
    aborted = true;
    if (done) return;
    done = true;
    handler.onError?.((reason as Error) ?? new Error('aborted'));
  };
  (handler.onConnect as ((abort: (r?: unknown) => void, ctx: unknown) => void) | undefined)?.(abort, null);
  if (aborted) return;
  const raw: Buffer[] = [];
  for (const [k, v] of Object.entries(headers)) raw.push(Buffer.from(k), Buffer.from(v));
  handler.onHeaders?.(status, raw, () => {}, statusText);
  if (aborted) return;
  if (body.length) handler.onData?.(body);
  if (aborted) return;
  done = true;
  handler.onComplete?.([]);
}

function fail(handler: AnyHandler, error: Error): void {
  if (typeof handler.onRequestStart === 'function' && typeof handler.onConnect !== 'function') {
    const controller = { aborted: false, paused: false, reason: null, abort() {}, pause() {}, resume() {} };
    handler.onRequestStart(controller, {});
    handler.onResponseError?.(controller, error);
    return;
  }
  let done = false;
  (handler.onConnect as ((abort: (r?: unknown) => void, ctx: unknown) => void) | undefined)?.((reason) => {
    if (done) return;
    done = true;
    handler.onError?.((reason as Error) ?? error);
  }, null);
  if (done) return;
  done = true;
  handler.onError?.(error);
}

/** A handler that reports the outcome (status >= 500 or an error is a failure) and forwards everything. */
function observed(core: FaultRegistry, call: CallInfo, handler: AnyHandler): AnyHandler {
  const t0 = performance.now();
  let ok = true;
  let reported = false;
  const report = (success: boolean) => {
    if (reported) return;
    reported = true;
    core.observe(call, success, performance.now() - t0);
  };
  const wrapper = Object.create(handler) as AnyHandler;
  if (typeof handler.onHeaders === 'function')
    wrapper.onHeaders = function (this: AnyHandler, status: number, ...rest: unknown[]) {
      ok = status < 500;
      return handler.onHeaders!.call(this, status, ...(rest as [Buffer[], () => void, string]));
    };
  if (typeof handler.onComplete === 'function')
    wrapper.onComplete = function (this: AnyHandler, ...args: unknown[]) {
      report(ok);
      return (handler.onComplete as (...a: unknown[]) => unknown).apply(this, args);
    };
  if (typeof handler.onError === 'function')
    wrapper.onError = function (this: AnyHandler, ...args: unknown[]) {
      report(false);
      return (handler.onError as (...a: unknown[]) => unknown).apply(this, args);
    };
  if (typeof handler.onResponseStart === 'function')
    wrapper.onResponseStart = function (
      this: AnyHandler,
      controller: unknown,
      status: number,
      ...rest: unknown[]
    ) {
      ok = status < 500;
      return handler.onResponseStart.call(this, controller, status, ...rest);
    };
  if (typeof handler.onResponseEnd === 'function')
    wrapper.onResponseEnd = function (this: AnyHandler, ...args: unknown[]) {
      report(ok);
      return handler.onResponseEnd.apply(this, args);
    };
  if (typeof handler.onResponseError === 'function')
    wrapper.onResponseError = function (this: AnyHandler, ...args: unknown[]) {
      report(false);
      return handler.onResponseError.apply(this, args);
    };
  return wrapper;
}

/**
 * A Dispatcher that applies the registry's rules to each request before
 * handing it to `base` (or, when `base` is omitted, to the global dispatcher
 * current at the time of the request, skipping this SDK's own wrapper).
 */
export class FaultDispatcher extends EventEmitter {
  readonly #core: FaultRegistry;
  readonly #base: (() => DispatcherLike) | DispatcherLike;
  readonly #labels: Record<string, string> | undefined;

  constructor(core: FaultRegistry, base?: DispatcherLike, labels?: Record<string, string>) {
    super();
    this.#core = core;
    this.#base = base ?? (() => unwrapGlobal());
    this.#labels = labels;
  }

  get base(): DispatcherLike {
    return typeof this.#base === 'function' ? this.#base() : this.#base;
  }

  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers): boolean {
    if (!this.#core.hot) return this.base.dispatch(opts, handler);
    const core = this.#core;
    let call: CallInfo;
    let c: CompiledRule | undefined;
    try {
      call = callFor(opts, this.#labels);
      c = core.decide(call);
    } catch (error) {
      core.internalError('dispatcher', error);
      return this.base.dispatch(opts, handler);
    }
    if (!c)
      return this.base.dispatch(opts, core.observing ? observed(core, call, handler as AnyHandler) : handler);
    try {
      return this.#inject(c, call, opts, handler as AnyHandler);
    } catch (error) {
      core.internalError('dispatcher', error);
      return this.base.dispatch(opts, handler);
    }
  }

  #inject(c: CompiledRule, call: CallInfo, opts: Dispatcher.DispatchOptions, handler: AnyHandler): boolean {
    const rule = c.rule;
    const delay = delayFor(rule);
    this.#core.reportFault(c, call, delay);
    const where = `fetch ${call.method} ${call.host}${call.path}`;
    const act = () => {
      try {
        switch (rule.type) {
          case 'latency':
            this.base.dispatch(opts, handler);
            return;
          case 'http_error':
            respond(handler, rule);
            return;
          default:
            fail(handler, injectedError(rule.type, rule, where));
        }
      } catch (error) {
        this.#core.internalError('dispatcher', error);
      }
    };
    // Answers come back on a later turn of the event loop, as a connection's would.
    if (delay > 0) setTimeout(act, delay);
    else setImmediate(act);
    return true;
  }

  close(...args: unknown[]): unknown {
    // The wrapper of the global dispatcher never closes the real one.
    if (typeof this.#base === 'function')
      return typeof args[0] === 'function' ? (args[0] as () => void)() : Promise.resolve();
    return this.#base.close?.(...args);
  }

  destroy(...args: unknown[]): unknown {
    if (typeof this.#base === 'function') {
      const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
      return cb ? cb() : Promise.resolve();
    }
    return this.#base.destroy?.(...args);
  }
}

let installed: { wrapper: FaultDispatcher; previous: DispatcherLike } | undefined;

/** The global dispatcher without this SDK's wrapper. */
function unwrapGlobal(): DispatcherLike {
  const d = currentGlobalDispatcher();
  if (installed && d === installed.wrapper) return installed.previous;
  return d;
}

/** Wraps the global dispatcher (fetch and undici without an explicit dispatcher); returns the undo. */
export function installGlobalDispatcher(core: FaultRegistry, labels?: Record<string, string>): () => void {
  if (installed) return uninstallGlobalDispatcher;
  const previous = currentGlobalDispatcher();
  const wrapper = new FaultDispatcher(core, previous, labels);
  installed = { wrapper, previous };
  (globalThis as Record<symbol, unknown>)[GLOBAL] = wrapper;
  return uninstallGlobalDispatcher;
}

/** Puts back the dispatcher that was global before `installGlobalDispatcher()` (if nobody replaced ours since). */
export function uninstallGlobalDispatcher(): void {
  if (!installed) return;
  const g = globalThis as Record<symbol, unknown>;
  if (g[GLOBAL] === installed.wrapper) g[GLOBAL] = installed.previous;
  installed = undefined;
}

/** A FaultDispatcher typed as undici's Dispatcher (for `fetch(url, { dispatcher })` and undici calls). */
export function faultDispatcher(
  core: FaultRegistry,
  base?: DispatcherLike | Dispatcher,
  labels?: Record<string, string>,
): Dispatcher {
  return new FaultDispatcher(core, base as DispatcherLike | undefined, labels) as unknown as Dispatcher;
}
