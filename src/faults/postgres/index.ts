/** The postgres fault kinds, one file each; faults/groups.ts loads them as the catalog asks. */
import type { FaultKind } from '../../core/fault.js';
import { exhaustConnectionsKind } from './exhaust-connections.js';
import { lockTableKind } from './lock-table.js';
import { slowQueriesKind } from './slow-queries.js';
import { terminateBackendsKind } from './terminate-backends.js';

export const postgresKinds: FaultKind<any>[] = [
  slowQueriesKind,
  exhaustConnectionsKind,
  lockTableKind,
  terminateBackendsKind,
];
