/**
 * `network.bandwidth`: limits the rate of the traffic in scope.
 *   - egress of a whole interface: shaped by a tc tbf root qdisc (packets wait
 *     in a queue: TCP sees the rate, not losses);
 *   - ingress, or traffic scoped by address/port/protocol: policed by nftables
 *     `limit rate over ... drop` (packets above the rate are dropped; TCP backs
 *     off to about the rate). Ingress shaping would need an ifb device and a
 *     tc redirect; policing needs neither.
 */
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind, UndoRecord } from '../../core/fault.js';
import { type Direction, parseRate, RATE_RE, type Rule, tbfParams } from './commands.js';
import { injectQdisc, planQdisc, readQdiscRecord, revertQdisc, verifyQdisc } from './qdisc.js';
import {
  directionsOf,
  injectRules,
  planRules,
  readRulesRecord,
  revertRules,
  scopeMatch,
  verifyRules,
} from './rules.js';
import { checkScope, DirectionField, describeScope, networkTargets, scopeShape } from './scope.js';

const RATE_HINT = "expected a rate such as '1mbit', '500kbit' or '2mbps' (bytes), from 8kbit to 100gbit";

export const BandwidthArgsSchema = z.strictObject({
  ...scopeShape,
  direction: DirectionField.describe(
    'packets entering (ingress), leaving (egress, default) or both',
  ).optional(),
  rate: z
    .string({ error: RATE_HINT })
    .refine((v) => RATE_RE.test(v.trim()) && parseRate(v) !== undefined, RATE_HINT)
    .describe("the rate limit, tc syntax: '1mbit', '500kbit', '10mbit' (bits/s) or '2mbps' (bytes/s)"),
  mode: z
    .enum(['auto', 'shape', 'police'], { error: "expected 'auto', 'shape' or 'police'" })
    .optional()
    .describe(
      "'auto' (default: tbf shaping for egress of a whole interface, nftables policing otherwise), 'shape' or 'police'",
    ),
  backend: z
    .enum(['auto', 'nftables'], { error: "expected 'auto' or 'nftables' (policing needs nftables)" })
    .optional()
    .describe("firewall used for policing: 'auto' or 'nftables' (iptables cannot police bytes)"),
});
type BandwidthArgs = z.output<typeof BandwidthArgsSchema>;

const KIND = 'network-bandwidth';

function plan(a: BandwidthArgs): { shape: boolean; police: Direction[] } {
  const dirs = directionsOf(a.direction, ['egress']);
  const scoped =
    a.source !== undefined || a.destination !== undefined || a.port !== undefined || a.protocol !== undefined;
  const canShape = dirs.includes('egress') && a.interface !== undefined && !scoped;
  if (a.mode === 'shape') {
    const why =
      a.interface === undefined
        ? ['interface', 'shaping needs an interface (its root qdisc)']
        : scoped
          ? [
              'mode',
              'shaping applies to a whole interface: use mode police to scope by address, port or protocol',
            ]
          : dirs.includes('ingress')
            ? ['direction', "only egress can be shaped: use direction 'egress', or mode police for ingress"]
            : undefined;
    if (why) {
      throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `${KIND}: ${why[0]}: ${why[1]}`, {
        issues: [{ path: why[0]!, message: why[1]! }],
      });
    }
  }
  const shape = canShape && a.mode !== 'police';
  return { shape, police: dirs.filter((d) => !(shape && d === 'egress')) };
}

function policeRules(a: BandwidthArgs): Rule[] {
  const bytesPerSecond = Math.max(1, Math.round(parseRate(a.rate)! / 8));
  // A tenth of a second of traffic, at least 16 full frames: less and TCP never reaches the rate.
  const burstBytes = Math.max(Math.round(bytesPerSecond / 10), 16 * 1514);
  return [{ match: scopeMatch(a), verdict: { type: 'police', bytesPerSecond, burstBytes } }];
}

export const bandwidthKind: FaultKind<typeof BandwidthArgsSchema> = {
  kind: KIND,
  args: BandwidthArgsSchema,
  expose: {
    group: 'network',
    name: 'bandwidth',
    doc: 'Limits the rate of the traffic in scope: tc tbf shaping on egress of an interface, nftables policing otherwise.',
  },
  target(a) {
    const p = plan(a);
    const how = p.shape ? (p.police.length ? 'shaped+policed' : 'shaped') : 'policed';
    return `bandwidth ${a.rate} (${how}) ${describeScope(a, a.direction ?? 'egress')}`;
  },
  resolveTargets: async (a) => networkTargets(a),
  async plan(a) {
    checkScope(KIND, a);
    const p = plan(a);
    const record: UndoRecord = {};
    if (p.police.length > 0) {
      const rec = await planRules(
        KIND,
        {
          backend: a.backend,
          namespace: a.namespace,
          interface: a.interface,
          directions: p.police,
          nftablesOnly: 'bandwidth policing needs nftables (nft is not installed): install nftables',
        },
        { directions: p.police, interface: a.interface, rules: policeRules(a) },
      );
      record.police = rec as unknown as UndoRecord;
    }
    if (p.shape)
      record.shape = (await planQdisc(KIND, a.namespace, a.interface!, 'tbf')) as unknown as UndoRecord;
    return record;
  },
  async inject(a, record) {
    if (isRecord(record.police)) await injectRules(readRulesRecord(record.police), { rules: policeRules(a) });
    if (isRecord(record.shape))
      await injectQdisc(readQdiscRecord(record.shape), tbfParams(parseRate(a.rate)!));
  },
  async revert(record) {
    if (isRecord(record.shape)) await revertQdisc(record.shape);
    if (isRecord(record.police)) await revertRules(record.police);
  },
  async verify(record) {
    const shapeGone = isRecord(record.shape) ? await verifyQdisc(record.shape) : true;
    const policeGone = isRecord(record.police) ? await verifyRules(record.police) : true;
    return shapeGone && policeGone;
  },
};

function isRecord(v: unknown): v is UndoRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
