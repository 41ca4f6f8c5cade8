/** SCAFFOLD (issue #18, being written): the gamedays API. */
import type { RouteGroup } from '../route-deps.js';

export const registerGameDayRoutes: RouteGroup = (_app, _deps) => {};
