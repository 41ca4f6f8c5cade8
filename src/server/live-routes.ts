/**
 * The live view's routes (issue #17): server-sent events of a run as it runs.
 */
import type { RouteGroup } from './route-deps.js';

export const registerLiveRoutes: RouteGroup = (_app, _deps) => {};
