/**
 * `faultline/sdk`: in-process fault injection for Node services.
 *
 * Inert until enabled (FAULTLINE_SDK=1 or `enable()`); while no rule is in
 * force every hook is a pass-through. See docs/sdk.md.
 *
 * @example
 * import * as faultline from 'faultline/sdk';
 * faultline.enable({ labels: { service: 'checkout' } });
 * faultline.installGlobalDispatcher();           // fetch / undici
 * faultline.installHttp();                       // node:http / node:https
 * faultline.subscribe({ service: 'checkout', url: 'http://faultline:8474' });
 * await faultline.point('payments.charge', { tenant: 'acme' });
 * const query = faultline.wrap('db.query', (sql: string) => client.query(sql));
 */
import type { Dispatcher } from 'undici';
import {
  type EnableOptions,
  type FaultRegistry,
  defaultRegistry as faultline,
  type RuleInput,
  type SdkEvents,
} from './core.js';
import { installHttp as installHttpOn, uninstallHttp } from './http.js';
import { type SubscribeOptions, Subscription } from './subscribe.js';
import {
  faultDispatcher,
  installGlobalDispatcher as installGlobalOn,
  uninstallGlobalDispatcher,
} from './undici.js';

// Curated: the rule schemas, the dispatcher class and the SDK's own duration
// parser stay internal (the functions below are the way in; docs/sdk.md).
export {
  BlastRadiusLimiter,
  type BlastRadiusOptions,
  ChaosEngine,
  type EngineConfig,
  type EngineFault,
  type EngineFaultType,
  type Injection,
  type RollbackReason,
  type RollbackRecord,
  type RollbackTrigger,
  type WindowStats,
} from './chaos-engine.js';
export type {
  CallInfo,
  ControlEvent,
  EnableOptions,
  FaultEvent,
  FaultRegistry,
  InjectionPoint,
  OtelApi,
  RollbackEvent,
  RuleInput,
  SdkEvents,
} from './core.js';
export { InjectedFault } from './errors.js';
export type { SdkControlDocument, SdkFaultRule, SdkFaultType, SdkMatch } from './rules.js';
export type { SubscribeOptions, Subscription } from './subscribe.js';
export { faultline };

/** Turns the SDK on (FAULTLINE_SDK=1 does it at load). */
export function enable(options?: EnableOptions): FaultRegistry {
  return faultline.enable(options);
}
/** Turns the SDK off: every hook passes through; rules stay registered. */
export function disable(): FaultRegistry {
  return faultline.disable();
}
export function isEnabled(): boolean {
  return faultline.enabled;
}

/** Adds a rule from code (validated by the rules.ts schema); returns its id. */
export function addRule(rule: RuleInput): string {
  return faultline.addRule(rule);
}
export function removeRule(id: string): boolean {
  return faultline.removeRule(id);
}
export function clearRules(): void {
  faultline.clearRules();
}
export function rules() {
  return faultline.rules();
}

/** A named failure point: no-op unless a rule matches, then it waits or throws an InjectedFault. */
export function point(name: string, labels?: Record<string, string>): Promise<void> {
  return faultline.point(name, labels);
}

/** Wraps an async function as the failure point `name`. */
export function wrap<A extends unknown[], R>(
  name: string,
  fn: (...args: A) => Promise<R> | R,
  labels?: Record<string, string>,
): (...args: A) => Promise<R> {
  return faultline.wrap(name, fn, labels);
}

/**
 * An undici Dispatcher applying the rules before `base` (default: the global
 * dispatcher at request time): `fetch(url, { dispatcher: faultline.dispatcher() })`.
 */
export function dispatcher(base?: Dispatcher, labels?: Record<string, string>): Dispatcher {
  return faultDispatcher(faultline, base, labels);
}

/** Wraps the global dispatcher (every fetch / undici call without its own); returns the undo. */
export function installGlobalDispatcher(labels?: Record<string, string>): () => void {
  return installGlobalOn(faultline, labels);
}
export { uninstallGlobalDispatcher, uninstallHttp };

/** Patches node:http and node:https `request`/`get`; returns the undo. */
export function installHttp(): () => void {
  return installHttpOn(faultline);
}

/** Drops every rule at once and refuses new ones until `rearm()`. */
export function killSwitch(reason?: string): void {
  faultline.killSwitch(reason);
}
export function rearm(): void {
  faultline.rearm();
}

/** Subscribes to a control endpoint or file (see SubscribeOptions). */
export function subscribe(options: SubscribeOptions): Subscription {
  return new Subscription(faultline, options);
}

/** Listens to `fault`, `rollback`, `error`, `control` or `kill` events; returns the unsubscribe. */
export function on<K extends keyof SdkEvents>(event: K, listener: (e: SdkEvents[K]) => void): () => void {
  return faultline.on(event, listener);
}

const flag = process.env.FAULTLINE_SDK;
if (flag !== undefined && flag !== '' && flag !== '0' && flag !== 'false') faultline.enable();
