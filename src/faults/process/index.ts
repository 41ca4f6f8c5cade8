/** The process fault kinds, one file each; faults/groups.ts loads them as the catalog asks. */
import type { FaultKind } from '../../core/fault.js';
import { processKillKind } from './kill.js';
import { processKillRandomKind } from './kill-random.js';
import { processPauseKind } from './pause.js';

export { processKillKind } from './kill.js';
export { processKillRandomKind } from './kill-random.js';
export { processPauseKind } from './pause.js';

export const processKinds: FaultKind<any>[] = [processKillKind, processKillRandomKind, processPauseKind];
