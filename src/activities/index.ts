/**
 * Every built-in activity module, in one list: a new module adds one import
 * and one entry. The composition root (src/compose.ts) registers them when a
 * run or a validation first needs a provider type that runs them
 * (core/builtin-providers.ts: `faultline`, `python`).
 */
import type { FaultKind } from '../core/fault.js';
import type { BuiltinActivity } from '../engine/context.js';
import { chaostoxiActivities } from './chaostoxi.js';
import { faultActivities } from './faults.js';
import { loadActivities } from './load.js';
import { markerActivities } from './marker.js';
import { prometheusActivities } from './prometheus.js';
import { proxyActivities } from './proxy.js';
import { sdkActivities } from './sdk.js';

/** The built-in activities, the fault actions derived from `kinds` among them. */
export function builtinActivityList(kinds: Iterable<FaultKind>): BuiltinActivity[] {
  return [
    markerActivities,
    proxyActivities,
    chaostoxiActivities,
    prometheusActivities,
    loadActivities,
    sdkActivities,
    faultActivities(kinds),
  ].flat();
}
