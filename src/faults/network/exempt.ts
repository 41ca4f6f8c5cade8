/**
 * Peers no network fault of this process may touch: the fleet agent's own
 * NATS server(s) and its DNS resolvers (issue #16: a fault an agent applies
 * must never cut the agent off from its control plane, as Gremlin exempts
 * its own). The list is process state set by the agent at start; no fault
 * argument reaches it (every kind's schema is a strictObject without such a
 * field), so what arrives over the wire can neither add to it nor clear it.
 *
 * Each fault copies the list into its undo record at plan time: a revert or
 * verify (possibly in another process, after a crash) rebuilds the same
 * commands from the record, not from whatever the list is by then.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';

const ADDRESS_HINT = 'expected an IPv4 or IPv6 address literal (no CIDR, no zone, no host name)';

export const ExemptionSchema = z.strictObject({
  address: z
    .string({ error: ADDRESS_HINT })
    .refine((a) => isIPv4(a) || (isIPv6(a) && !a.includes('%')), ADDRESS_HINT)
    .describe('the peer address, as the kernel sees it on the wire'),
  port: z
    .number({ error: 'expected a port number from 1 to 65535' })
    .int('expected a port number from 1 to 65535')
    .min(1, 'expected a port number from 1 to 65535')
    .max(65535, 'expected a port number from 1 to 65535')
    .optional()
    .describe("the peer's port; default every port of the address"),
  protocol: z
    .enum(['tcp', 'udp'], { error: "expected 'tcp' or 'udp'" })
    .optional()
    .describe('default tcp and udp'),
});
export type Exemption = z.output<typeof ExemptionSchema>;

/** Enough for a NATS cluster's seeds and a resolv.conf (3 resolvers) with room to spare. */
export const MAX_EXEMPTIONS = 64;

export const ExemptionListSchema = z
  .array(ExemptionSchema, { error: 'expected a list of {address, port?, protocol?}' })
  .max(MAX_EXEMPTIONS, `expected at most ${MAX_EXEMPTIONS} exempt peers`);

let current: readonly Exemption[] = Object.freeze([]);

/** The list with duplicates removed and keys in a fixed order (records and argv stay deterministic). */
function normalize(list: Exemption[]): Exemption[] {
  const seen = new Set<string>();
  const out: Exemption[] = [];
  for (const e of list) {
    const n: Exemption = {
      address: e.address,
      ...(e.port === undefined ? {} : { port: e.port }),
      ...(e.protocol === undefined ? {} : { protocol: e.protocol }),
    };
    const key = `${n.address}|${n.port ?? ''}|${n.protocol ?? ''}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(Object.freeze(n));
    }
  }
  return out;
}

/**
 * Replaces the process's exempt peers (an empty list clears them). Faults
 * planned afterwards accept traffic to and from each peer before their own
 * rules, and keep it out of their netem/tbf qdisc. Throws
 * FAULTLINE_ERR_VALIDATION naming the entry and field on a bad value, and
 * then leaves the previous list in force.
 */
export function setNetworkExemptions(list: readonly Exemption[]): void {
  const parsed = ExemptionListSchema.safeParse(list);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({
      path: ['exemptions', ...i.path]
        .map((p, n) => (typeof p === 'number' ? `[${p}]` : n ? `.${String(p)}` : p))
        .join(''),
      message: i.message,
    }));
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `network exemptions: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      { issues },
    );
  }
  current = Object.freeze(normalize(parsed.data));
}

/** The exempt peers in force (frozen). */
export function networkExemptions(): readonly Exemption[] {
  return current;
}

/** An exemption list read back from an undo record: its values become command arguments. */
export function readExemptions(value: unknown): Exemption[] {
  const parsed = ExemptionListSchema.safeParse(value);
  if (!parsed.success) throw new Error('network fault undo record: invalid exempt');
  return normalize(parsed.data);
}

/** A copy for an undo record, or undefined when nothing is exempt (the record then stays as before). */
export function exemptionsForRecord(): Exemption[] | undefined {
  return current.length === 0 ? undefined : current.map((e) => ({ ...e }));
}
