/**
 * The scope every network fault shares (namespace, interface, direction,
 * addresses, port, protocol), validated strictly: these strings end up as
 * arguments of nft, iptables, tc and ip, so nothing but a well-formed name,
 * address or number may pass.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultTarget, ResolvedTargets } from '../../core/fault.js';

/** `ip netns` names: a file under /run/netns, so no slash, no leading dot. */
export const NAMESPACE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
/** Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no slash, space, colon or quote. */
export const INTERFACE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$/;

export type Family = 4 | 6;

/** The address family of an address or CIDR, or undefined when it is neither. */
export function cidrFamily(text: string): Family | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family: Family | undefined = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : undefined;
  if (family === undefined || addr.includes('%')) return undefined;
  if (slash < 0) return family;
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128)) return undefined;
  return family;
}

/** Numbers arrive as strings from `faultline inject key=value`: accept plain decimal strings too. */
const numeric = (v: unknown) => (typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v);

export const NamespaceField = z
  .string({ error: 'expected an `ip netns` name' })
  .regex(NAMESPACE_RE, 'expected an `ip netns` name (letters, digits, _ . -; at most 63 characters)')
  .describe('network namespace (`ip netns` name) to apply the fault in; default the host namespace');

export const InterfaceField = z
  .string({ error: 'expected an interface name such as eth0' })
  .regex(
    INTERFACE_RE,
    'expected an interface name such as eth0 (at most 15 characters: letters, digits, _ . @ -)',
  )
  .describe('network interface (e.g. eth0, veth1); default every interface');

export const CidrField = (what: string) =>
  z
    .string({ error: 'expected an IPv4/IPv6 address or CIDR such as 10.0.0.0/24' })
    .refine((v) => cidrFamily(v) !== undefined, 'expected an IPv4/IPv6 address or CIDR such as 10.0.0.0/24')
    .describe(what);

export const PortField = z
  .preprocess(
    numeric,
    z
      .number({ error: 'expected a port number from 1 to 65535' })
      .int('expected a port number from 1 to 65535')
      .min(1, 'expected a port number from 1 to 65535')
      .max(65535, 'expected a port number from 1 to 65535'),
  )
  .describe('destination port of the packets (needs protocol tcp, udp or all: tcp and udp)');

export const ProtocolField = z
  .enum(['tcp', 'udp', 'all'], { error: "expected 'tcp', 'udp' or 'all'" })
  .describe("transport protocol: 'tcp', 'udp' or 'all' (default)");

export const DirectionField = z
  .enum(['ingress', 'egress', 'both'], { error: "expected 'ingress', 'egress' or 'both'" })
  .describe(
    "packets arriving (ingress), leaving (egress) or both (default 'both'); each packet is judged once per direction, and once in all when the scope sends it to itself",
  );

export const BackendField = z
  .enum(['auto', 'nftables', 'iptables'], { error: "expected 'auto', 'nftables' or 'iptables'" })
  .describe("firewall used for the rules: 'auto' (default: nftables, iptables when nft is missing)");

export const PercentField = (what: string) =>
  z
    .preprocess(
      numeric,
      z
        .number({ error: 'expected a percentage from 0.01 to 100' })
        .min(0.01, 'expected a percentage from 0.01 to 100')
        .max(100, 'expected a percentage from 0.01 to 100')
        .refine((p) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-9, 'expected at most 2 decimals'),
    )
    .describe(what);

/** The fields of a firewall-rule fault (partition, loss, bandwidth policing, dns). */
export const scopeShape = {
  namespace: NamespaceField.optional(),
  interface: InterfaceField.optional(),
  direction: DirectionField.optional(),
  source: CidrField('source address or CIDR of the packets (e.g. 10.0.0.0/24)').optional(),
  destination: CidrField('destination address or CIDR of the packets (e.g. 10.0.0.7)').optional(),
  port: PortField.optional(),
  protocol: ProtocolField.optional(),
  backend: BackendField.optional(),
};

export interface Scope {
  namespace?: string | undefined;
  interface?: string | undefined;
  direction?: 'ingress' | 'egress' | 'both' | undefined;
  source?: string | undefined;
  destination?: string | undefined;
  port?: number | undefined;
  protocol?: 'tcp' | 'udp' | 'all' | undefined;
}

/**
 * Cross-field rules, checked in plan() (an exposed kind's schema must stay a
 * plain object: the action adds `duration` to it with .extend()).
 */
export function checkScope(kind: string, s: Scope): void {
  const fs = cidrFamily(s.source ?? '');
  const fd = cidrFamily(s.destination ?? '');
  if (fs !== undefined && fd !== undefined && fs !== fd) {
    const message = `expected the same address family (IPv4 or IPv6) as source (${s.source})`;
    throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `${kind}: destination: ${message}`, {
      issues: [{ path: 'destination', message }],
    });
  }
}

/** The interface part of `faultline status`'s target: `ns=a dev=veth0 egress to 10.0.0.1:80/tcp`. */
export function describeScope(s: Scope, direction?: string): string {
  const parts: string[] = [];
  if (s.namespace) parts.push(`ns=${s.namespace}`);
  if (s.interface) parts.push(`dev=${s.interface}`);
  if (direction !== undefined) parts.push(direction);
  if (s.source) parts.push(`from ${s.source}`);
  if (s.destination || s.port !== undefined) {
    parts.push(`to ${s.destination ?? '*'}${s.port === undefined ? '' : `:${s.port}`}`);
  }
  if (s.protocol && s.protocol !== 'all') parts.push(s.protocol);
  return parts.join(' ');
}

/** One network target: the namespace and interface, with the destination and port when scoped. */
export function networkTargets(s: Scope): ResolvedTargets {
  const t: FaultTarget = { type: 'network', name: `${s.namespace ?? 'host'}:${s.interface ?? 'all'}` };
  if (s.namespace !== undefined) t.namespace = s.namespace;
  if (s.destination !== undefined) t.host = s.destination;
  if (s.port !== undefined) t.port = s.port;
  return { targets: [t] };
}
