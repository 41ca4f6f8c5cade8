/** SCAFFOLD (issue #18, being written): the approvals API. */
import type { RouteGroup } from '../route-deps.js';

export const registerApprovalRoutes: RouteGroup = (_app, _deps) => {};
