/** The stress fault kinds, one file each; faults/groups.ts loads them as the catalog asks. */
import type { FaultKind } from '../../core/fault.js';
import { stressCpuKind } from './cpu.js';
import { stressDiskFillKind } from './disk-fill.js';
import { stressFdExhaustKind } from './fd-exhaust.js';
import { stressMemoryKind } from './memory.js';

export { stressCpuKind } from './cpu.js';
export { stressDiskFillKind } from './disk-fill.js';
export { stressFdExhaustKind } from './fd-exhaust.js';
export { stressMemoryKind } from './memory.js';

export const stressKinds: FaultKind<any>[] = [
  stressCpuKind,
  stressMemoryKind,
  stressDiskFillKind,
  stressFdExhaustKind,
];
