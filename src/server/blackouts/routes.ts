/** SCAFFOLD (issue #18, being written): the blackouts API. */
import type { RouteGroup } from '../route-deps.js';

export const registerBlackoutRoutes: RouteGroup = (_app, _deps) => {};
