/**
 * `network.dns`: DNS stops working. Outgoing queries to port 53 (UDP and TCP)
 * are dropped (resolvers time out) or rejected (they fail at once), to every
 * resolver or only to the given ones.
 */
import { z } from 'zod';
import { directionsOf, firewallKind } from './rules.js';
import { BackendField, CidrField, InterfaceField, NamespaceField } from './scope.js';

/** `faultline inject network.dns resolvers=1.1.1.1,8.8.8.8` passes a comma-separated string. */
const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v);

export const DnsArgsSchema = z.strictObject({
  namespace: NamespaceField.optional(),
  interface: InterfaceField.optional(),
  resolvers: z
    .preprocess(
      list,
      z
        .array(CidrField('resolver address'), { error: 'expected a list of resolver addresses' })
        .min(1, 'expected at least one resolver address')
        .max(64, 'expected at most 64 resolver addresses'),
    )
    .optional()
    .describe('only queries to these resolvers (addresses or CIDRs) fail; default every resolver'),
  action: z
    .enum(['drop', 'reject'], { error: "expected 'drop' or 'reject'" })
    .optional()
    .describe("'drop' (default: lookups time out) or 'reject' (lookups fail at once)"),
  backend: BackendField.optional(),
});

export const dnsKind = firewallKind({
  kind: 'network-dns',
  name: 'dns',
  doc: 'Makes DNS fail: queries to port 53 (UDP and TCP) are dropped or rejected, optionally only to given resolvers.',
  args: DnsArgsSchema,
  label: (a) => `dns failure (${a.action ?? 'drop'})${a.resolvers ? ` to ${a.resolvers.join(',')}` : ''}`,
  directions: () => directionsOf('egress', ['egress']),
  rules: (a) =>
    (a.resolvers ?? [undefined]).map((destination) => ({
      match: { destination, protocol: 'all' as const, port: 53 },
      verdict: { type: a.action ?? 'drop' },
    })),
});
