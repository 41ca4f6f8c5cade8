/** `network.duplicate`: duplicates a percentage of outgoing packets (netem). */
import { z } from 'zod';
import { netemKind, netemScopeShape } from './netem.js';
import { PercentField } from './scope.js';

export const DuplicateArgsSchema = z.strictObject({
  ...netemScopeShape,
  percent: PercentField('percentage of outgoing packets sent twice (0.01 to 100)'),
});

export const duplicateKind = netemKind({
  kind: 'network-duplicate',
  name: 'duplicate',
  doc: 'Duplicates a percentage of outgoing packets on an interface (netem). Needs sch_netem.',
  args: DuplicateArgsSchema,
  label: (a) => `duplicate ${a.percent}%`,
  spec: (a) => ({ duplicatePercent: a.percent }),
});
