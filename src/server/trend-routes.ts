/**
 * History's routes (issue #17): trends, comparison, and the Prometheus metrics.
 */
import type { RouteGroup } from './route-deps.js';

export const registerTrendRoutes: RouteGroup = (_app, _deps) => {};
