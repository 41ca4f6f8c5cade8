/** `network.corrupt`: flips a random bit in a percentage of outgoing packets (netem). */
import { z } from 'zod';
import { CorrelationField, netemKind, netemScopeShape } from './netem.js';
import { PercentField } from './scope.js';

export const CorruptArgsSchema = z.strictObject({
  ...netemScopeShape,
  percent: PercentField('percentage of outgoing packets corrupted (0.01 to 100)'),
  correlation: CorrelationField(
    "how much (0-100 %) each packet's chance follows the previous one's, so corrupts come in bursts (default 0)",
  ).optional(),
});

export const corruptKind = netemKind({
  kind: 'network-corrupt',
  name: 'corrupt',
  doc: 'Corrupts (one random bit of) a percentage of outgoing packets on an interface (netem). Needs sch_netem.',
  args: CorruptArgsSchema,
  label: (a) => `corrupt ${a.percent}%`,
  spec: (a) => ({ corruptPercent: a.percent, corruptCorrelation: a.correlation }),
});
