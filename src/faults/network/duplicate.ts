/** `network.duplicate`: duplicates a percentage of outgoing packets (netem). */
import { z } from 'zod';
import { CorrelationField, netemKind, netemScopeShape } from './netem.js';
import { PercentField } from './scope.js';

export const DuplicateArgsSchema = z.strictObject({
  ...netemScopeShape,
  percent: PercentField('percentage of outgoing packets sent twice (0.01 to 100)'),
  correlation: CorrelationField(
    "how much (0-100 %) each packet's chance follows the previous one's, so duplicates come in bursts (default 0)",
  ).optional(),
});

export const duplicateKind = netemKind({
  kind: 'network-duplicate',
  name: 'duplicate',
  doc: 'Duplicates a percentage of outgoing packets on an interface (netem). Needs sch_netem.',
  args: DuplicateArgsSchema,
  label: (a) => `duplicate ${a.percent}%`,
  spec: (a) => ({ duplicatePercent: a.percent, duplicateCorrelation: a.correlation }),
});
