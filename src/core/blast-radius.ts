/**
 * Blast radius: how far a run may reach. A policy (the experiment's
 * `blast_radius`, the settings file's, or both: each must hold) is checked
 * against the targets a fault resolves to, before the fault is planned or
 * injected:
 *
 *   blast_radius:
 *     max_targets: 2          # things touched at once by the whole run
 *     max_percentage: 25      # of the candidates one fault's selector matched
 *     allow: [{namespace: 'chaos-*'}, {host: 127.0.0.1}]   # every target must match one
 *     block: [{name: postgres}, {port: 22}, {labels: {tier: critical}}]
 *
 * The seeds' camelCase form (`blastRadius: {maxTargets, maxPercentage,
 * allowedNamespaces, blockedNamespaces}`) is accepted as written.
 */
import { z } from 'zod';
import { FaultlineError } from './errors.js';
import type { FaultTarget, ResolvedTargets } from './fault.js';

const glob = z
  .string({ error: 'expected a string (`*` matches anything)' })
  .min(1, 'expected a non-empty string');

export const TargetSelectorSchema = z
  .strictObject({
    type: glob.optional().describe('process, network, postgres, redis, proxy, file, ...'),
    name: glob.optional(),
    host: glob.optional().describe('a host name or address, or a CIDR block such as 10.0.0.0/8'),
    port: z
      .union([
        z.number().int().min(0).max(65535),
        z.tuple([z.number().int().min(0).max(65535), z.number().int().min(0).max(65535)]),
      ])
      .optional()
      .describe('a port, or an inclusive [low, high] range'),
    namespace: glob.optional(),
    labels: z.record(z.string(), z.string()).optional().describe('every label must match'),
  })
  .refine(
    (s) => Object.keys(s).length > 0,
    'expected at least one of type, name, host, port, namespace, labels',
  );
export type TargetSelector = z.output<typeof TargetSelectorSchema>;

const CAMEL: Record<string, string> = {
  maxTargets: 'max_targets',
  maxPercentage: 'max_percentage',
  allowedNamespaces: 'allowed_namespaces',
  blockedNamespaces: 'blocked_namespaces',
};

export const BlastRadiusSchema = z.preprocess(
  (v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).map(([k, x]) => [CAMEL[k] ?? k, x]))
      : v,
  z.strictObject({
    max_targets: z
      .number({ error: 'expected a positive integer' })
      .int('expected a positive integer')
      .positive('expected a positive integer')
      .optional()
      .describe('how many targets the run may touch at once'),
    max_percentage: z
      .number({ error: 'expected a percentage' })
      .gt(0, 'expected a percentage above 0')
      .max(100, 'expected a percentage up to 100')
      .optional()
      .describe("how much of a fault's matching candidates it may select"),
    allow: z.array(TargetSelectorSchema).optional().describe('every target must match one of these'),
    block: z.array(TargetSelectorSchema).optional().describe('no target may match any of these'),
    allowed_namespaces: z.array(glob).optional().describe('shorthand for allow: [{namespace}]'),
    blocked_namespaces: z.array(glob).optional().describe('shorthand for block: [{namespace}]'),
  }),
);
export type BlastRadius = z.output<typeof BlastRadiusSchema>;

/** A policy and where it was declared, for messages ("the settings file's blast_radius"). */
export interface BlastRadiusPolicy {
  source: string;
  policy: BlastRadius;
}

/**
 * `*` matches any run of characters, case-insensitively. No RegExp: `^.*a.*a…$`
 * backtracks polynomially in the number of `*` (issue #13). The parts between
 * stars are placed leftmost first (always a match if any placement is), so the
 * cost is at most len(pattern) × len(value).
 */
export function globMatch(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const parts = pattern.toLowerCase().split('*');
  const v = value.toLowerCase();
  const first = parts[0]!;
  if (parts.length === 1) return v === first;
  const last = parts[parts.length - 1]!;
  const end = v.length - last.length;
  if (end < first.length || !v.startsWith(first) || !v.endsWith(last)) return false;
  let at = first.length;
  for (const part of parts.slice(1, -1)) {
    if (part === '') continue;
    const found = v.indexOf(part, at);
    if (found < 0 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

function ipv4(addr: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function hostMatch(pattern: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(pattern);
  if (cidr) {
    const net = ipv4(cidr[1]!);
    const addr = ipv4(host);
    const bits = Number(cidr[2]);
    if (net === null || addr === null || bits > 32) return false;
    const size = 2 ** (32 - bits);
    return Math.floor(addr / size) === Math.floor(net / size);
  }
  return globMatch(pattern, host);
}

/** True when the target has every field the selector names, with a matching value. */
export function selectorMatches(s: TargetSelector, t: FaultTarget): boolean {
  if (s.type !== undefined && !globMatch(s.type, t.type)) return false;
  if (s.name !== undefined && !globMatch(s.name, t.name)) return false;
  if (s.host !== undefined && !hostMatch(s.host, t.host)) return false;
  if (s.namespace !== undefined && !globMatch(s.namespace, t.namespace)) return false;
  if (s.port !== undefined) {
    if (t.port === undefined) return false;
    const [lo, hi] = typeof s.port === 'number' ? [s.port, s.port] : s.port;
    if (t.port < lo || t.port > hi) return false;
  }
  for (const [k, v] of Object.entries(s.labels ?? {})) {
    if (!globMatch(v, t.labels?.[k])) return false;
  }
  return true;
}

/** `process 'worker' (pid 42) on 10.0.0.2:5432 in namespace chaos` */
export function describeTarget(t: FaultTarget): string {
  let text = `${t.type} '${t.name}'`;
  if (t.pid !== undefined) text += ` (pid ${t.pid})`;
  if (t.host !== undefined) text += ` on ${t.host}${t.port === undefined ? '' : `:${t.port}`}`;
  else if (t.port !== undefined) text += ` port ${t.port}`;
  if (t.namespace !== undefined) text += ` in namespace ${t.namespace}`;
  return text;
}

/** The identity used to count distinct targets across a run's faults. */
export function targetKey(t: FaultTarget): string {
  return JSON.stringify([t.type, t.name, t.host ?? null, t.port ?? null, t.namespace ?? null, t.pid ?? null]);
}

function refuse(source: string, rule: string, message: string): never {
  throw new FaultlineError('FAULTLINE_ERR_POLICY', `blast radius: ${rule} (${source}): ${message}`, {
    issues: [{ path: `blast_radius.${rule.split(' ')[0]}`, message }],
  });
}

/**
 * Throws FAULTLINE_ERR_POLICY naming the rule when `fault` (named `what`) may
 * not touch `resolved`, given the targets the run's other active faults hold.
 */
export function checkBlastRadius(
  policies: readonly BlastRadiusPolicy[],
  what: string,
  resolved: ResolvedTargets,
  active: readonly FaultTarget[] = [],
): void {
  for (const { source, policy } of policies) {
    const block = [
      ...(policy.block ?? []),
      ...(policy.blocked_namespaces ?? []).map((namespace) => ({ namespace })),
    ];
    const allow = [
      ...(policy.allow ?? []),
      ...(policy.allowed_namespaces ?? []).map((namespace) => ({ namespace })),
    ];
    for (const t of resolved.targets) {
      const hit = block.find((s) => selectorMatches(s, t));
      if (hit)
        refuse(
          source,
          'block',
          `${what} would touch ${describeTarget(t)}, which matches ${JSON.stringify(hit)}`,
        );
      if (allow.length > 0 && !allow.some((s) => selectorMatches(s, t))) {
        refuse(
          source,
          'allow',
          `${what} would touch ${describeTarget(t)}, which matches none of ${JSON.stringify(allow)}`,
        );
      }
    }
    if (policy.max_percentage !== undefined && resolved.candidates !== undefined && resolved.candidates > 0) {
      const pct = (resolved.targets.length / resolved.candidates) * 100;
      if (pct > policy.max_percentage + 1e-9) {
        refuse(
          source,
          'max_percentage',
          `${what} selects ${resolved.targets.length} of ${resolved.candidates} matching targets (${pct.toFixed(1)}%), more than the ${policy.max_percentage}% allowed`,
        );
      }
    }
    if (policy.max_targets !== undefined) {
      const all = new Set(active.map(targetKey));
      for (const t of resolved.targets) all.add(targetKey(t));
      if (all.size > policy.max_targets) {
        const held =
          active.length > 0
            ? ` (${new Set(active.map(targetKey)).size} already held by the run's active faults)`
            : '';
        refuse(
          source,
          'max_targets',
          `${what} would bring the run to ${all.size} targets${held}, more than the ${policy.max_targets} allowed`,
        );
      }
    }
  }
}
