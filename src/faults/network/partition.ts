/**
 * `network.partition`: every packet in scope is dropped (the peer sees
 * timeouts) or rejected (TCP RST / ICMP port unreachable: connection refused).
 */
import { z } from 'zod';
import { directionsOf, firewallKind, scopeMatch } from './rules.js';
import { scopeShape } from './scope.js';

export const PartitionArgsSchema = z.strictObject({
  ...scopeShape,
  action: z
    .enum(['drop', 'reject'], { error: "expected 'drop' or 'reject'" })
    .optional()
    .describe(
      "'drop' (default: connections time out) or 'reject' (TCP reset, ICMP unreachable: refused at once)",
    ),
});

export const partitionKind = firewallKind({
  kind: 'network-partition',
  name: 'partition',
  doc: 'Blackholes the traffic in scope (drop or reject) with nftables (iptables when nft is missing).',
  args: PartitionArgsSchema,
  label: (a) => `partition (${a.action ?? 'drop'})`,
  directions: (a) => directionsOf(a.direction, ['ingress', 'egress']),
  rules: (a) => [{ match: scopeMatch(a), verdict: { type: a.action ?? 'drop' } }],
});
