/** The network fault kinds, one file each; faults/groups.ts loads them as the catalog asks. */
import type { FaultKind } from '../../core/fault.js';
import { bandwidthKind } from './bandwidth.js';
import { corruptKind } from './corrupt.js';
import { dnsKind } from './dns.js';
import { duplicateKind } from './duplicate.js';
import { latencyKind } from './latency.js';
import { lossKind } from './loss.js';
import { partitionKind } from './partition.js';

export { bandwidthKind, corruptKind, dnsKind, duplicateKind, latencyKind, lossKind, partitionKind };

export const networkKinds: FaultKind<any>[] = [
  partitionKind,
  lossKind,
  bandwidthKind,
  latencyKind,
  duplicateKind,
  corruptKind,
  dnsKind,
];
