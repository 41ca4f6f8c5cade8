/** The redis fault kinds, one file each; faults/groups.ts loads them as the catalog asks. */
import type { FaultKind } from '../../core/fault.js';
import { clientPauseKind } from './client-pause.js';
import { redisExhaustConnectionsKind } from './exhaust-connections.js';
import { slowCommandsKind } from './slow-commands.js';

export const redisKinds: FaultKind<any>[] = [clientPauseKind, redisExhaustConnectionsKind, slowCommandsKind];
