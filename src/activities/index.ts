/**
 * The single place built-in activities (and run resources) are registered: a
 * new module adds one import and one entry in `modules`.
 */
import { registerBuiltin } from '../engine/builtins.js';
import { runResources } from '../engine/resources.js';
import { loadResource } from '../load/resource.js';
import { inProcessProxies } from '../proxy/in-process.js';
import { chaostoxiActivities } from './chaostoxi.js';
import { faultActivities } from './faults.js';
import { loadActivities } from './load.js';
import { markerActivities } from './marker.js';
import { prometheusActivities } from './prometheus.js';
import { proxyActivities } from './proxy.js';
import { sdkActivities } from './sdk.js';

const modules = [
  markerActivities,
  proxyActivities,
  chaostoxiActivities,
  prometheusActivities,
  loadActivities,
  sdkActivities,
  faultActivities(),
];

for (const activities of modules) for (const activity of activities) registerBuiltin(activity);

runResources.register(inProcessProxies.key, inProcessProxies);
runResources.register(loadResource.key, loadResource);
