/**
 * `network.loss`: drops a percentage of the packets in scope, at random, each
 * packet judged at most once per direction (commands.ts placements()).
 * nftables `numgen random mod 10000 < N drop` by default (needs no netem),
 * iptables `statistic --mode random` without nft, or netem `loss` when asked.
 */
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind, UndoRecord } from '../../core/fault.js';
import { netemParams } from './commands.js';
import { CorrelationField, planNetem } from './netem.js';
import { injectQdisc, readQdiscRecord, revertQdisc, verifyQdisc } from './qdisc.js';
import {
  directionsOf,
  injectRules,
  planRules,
  readRulesRecord,
  revertRules,
  scopeMatch,
  verifyRules,
} from './rules.js';
import { checkScope, describeScope, networkTargets, PercentField, scopeShape } from './scope.js';

export const LossArgsSchema = z.strictObject({
  ...scopeShape,
  percent: PercentField(
    'percentage of the packets of each selected direction dropped at random, each packet at most once (0.01 to 100); with both directions a round trip succeeds with (1-p)^2',
  ),
  backend: z
    .enum(['auto', 'nftables', 'iptables', 'netem'], {
      error: "expected 'auto', 'nftables', 'iptables' or 'netem'",
    })
    .optional()
    .describe(
      "'auto' (default: nftables, iptables when nft is missing) or 'netem' (egress of `interface` only; needs sch_netem)",
    ),
  correlation: CorrelationField(
    "backend netem: how much (0-100 %) each packet's chance follows the previous one's, so losses come in bursts (tc's loss correlation); the firewall backends drop each packet independently",
  ).optional(),
});
type LossArgs = z.output<typeof LossArgsSchema>;

const directions = (a: LossArgs) => directionsOf(a.direction, ['ingress', 'egress']);

function netemScopeError(field: string, message: string): FaultlineError {
  return new FaultlineError('FAULTLINE_ERR_VALIDATION', `network-loss: ${field}: ${message}`, {
    issues: [{ path: field, message }],
  });
}

export const lossKind: FaultKind<typeof LossArgsSchema> = {
  kind: 'network-loss',
  args: LossArgsSchema,
  expose: {
    group: 'network',
    name: 'loss',
    doc: 'Drops a percentage of the packets in scope at random (nftables numgen; iptables statistic; or netem).',
  },
  target(a) {
    const dirs = directions(a);
    return `loss ${a.percent}% ${describeScope(a, dirs.length === 2 ? 'both' : dirs[0])}`;
  },
  resolveTargets: async (a) => networkTargets(a),
  async plan(a) {
    checkScope('network-loss', a);
    if (a.correlation !== undefined && a.correlation > 0 && a.backend !== 'netem') {
      throw netemScopeError(
        'correlation',
        "only backend netem correlates losses (firewall rules judge each packet independently): add backend: 'netem' or remove it",
      );
    }
    if (a.backend === 'netem') {
      if (a.interface === undefined) throw netemScopeError('interface', 'backend netem needs an interface');
      for (const f of ['source', 'destination', 'port', 'protocol'] as const) {
        if (a[f] !== undefined)
          throw netemScopeError(f, 'backend netem applies to a whole interface: remove it');
      }
      if (a.direction !== undefined && a.direction !== 'egress') {
        throw netemScopeError('direction', "backend netem acts on egress only: expected 'egress'");
      }
      const rec = await planNetem('network-loss', a.namespace, a.interface);
      return { mechanism: 'netem', ...rec } as unknown as UndoRecord;
    }
    const rec = await planRules(
      'network-loss',
      { backend: a.backend, namespace: a.namespace, interface: a.interface, directions: directions(a) },
      { directions: directions(a), interface: a.interface, rules: rules(a) },
    );
    return { mechanism: 'rules', ...rec } as unknown as UndoRecord;
  },
  async inject(a, record) {
    if (record.mechanism === 'netem') {
      await injectQdisc(
        readQdiscRecord(record),
        netemParams({ lossPercent: a.percent, lossCorrelation: a.correlation }),
      );
    } else {
      await injectRules(readRulesRecord(record), { rules: rules(a) });
    }
  },
  revert: (record) => (record.mechanism === 'netem' ? revertQdisc(record) : revertRules(record)),
  verify: (record) => (record.mechanism === 'netem' ? verifyQdisc(record) : verifyRules(record)),
};

function rules(a: LossArgs) {
  return [{ match: scopeMatch(a), verdict: { type: 'loss' as const, percent: a.percent } }];
}
