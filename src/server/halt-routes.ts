/**
 * The emergency stop's routes (issue #17).
 */
import type { RouteGroup } from './route-deps.js';

export const registerHaltRoutes: RouteGroup = (_app, _deps) => {};
