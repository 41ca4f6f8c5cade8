/** SCAFFOLD (issue #18, being written): the schedules API. */
import type { RouteGroup } from '../route-deps.js';

export const registerScheduleRoutes: RouteGroup = (_app, _deps) => {};
