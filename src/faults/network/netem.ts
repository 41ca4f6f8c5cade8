/**
 * netem faults (latency with jitter, duplication, corruption, and loss when
 * asked for): a netem root qdisc on the interface, egress only. Kernels
 * without sch_netem get FAULTLINE_ERR_UNSUPPORTED pointing to the proxy's
 * latency toxic, decided by a probe run once per process (exec.ts).
 */
import { z } from 'zod';
import type { FaultKind, UndoRecord } from '../../core/fault.js';
import { type NetemSpec, netemParams } from './commands.js';
import { netemSupported, netemUnsupported, requireRootAndTools } from './exec.js';
import {
  injectQdisc,
  planQdisc,
  type QdiscRecord,
  readQdiscRecord,
  revertQdisc,
  verifyQdisc,
} from './qdisc.js';
import { describeScope, InterfaceField, NamespaceField, networkTargets } from './scope.js';

/** netem needs an interface: its qdisc is the interface's root qdisc. */
export const netemScopeShape = {
  namespace: NamespaceField.optional(),
  interface: InterfaceField.describe(
    'network interface whose outgoing (egress) packets are affected, e.g. eth0',
  ),
};

const MS_RE = /^(\d+(?:\.\d+)?)(ms|s)$/;

/** Milliseconds given as a number of ms or as `100ms` / `0.5s`. */
export const MillisField = (what: string, max: number) =>
  z
    .preprocess(
      (v) => {
        if (typeof v !== 'string') return v;
        const m = MS_RE.exec(v.trim());
        if (!m) return /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
        return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
      },
      z
        .number({ error: "expected milliseconds: a number, or a string such as '100ms' or '0.5s'" })
        .min(0, 'expected milliseconds >= 0')
        .max(max, `expected at most ${max} ms`),
    )
    .describe(what);

/**
 * netem's correlation: how much (0-100 %) each random decision depends on the
 * previous one, so losses or delays come in bursts (Chaos Mesh's `correlation`).
 */
export const CorrelationField = (what: string) =>
  z
    .preprocess(
      (v) => (typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v),
      z
        .number({ error: 'expected a percentage from 0 to 100' })
        .min(0, 'expected a percentage from 0 to 100')
        .max(100, 'expected a percentage from 0 to 100'),
    )
    .describe(what);

/** Plans a netem qdisc: root, tc, the kernel's netem (else UNSUPPORTED), the interface's default qdisc. */
export async function planNetem(
  kind: string,
  namespace: string | undefined,
  dev: string,
): Promise<QdiscRecord> {
  requireRootAndTools(kind, ['tc', 'ip']);
  if (!(await netemSupported())) throw netemUnsupported(kind);
  return planQdisc(kind, namespace, dev, 'netem');
}

export function netemKind<S extends z.ZodObject>(def: {
  kind: string;
  name: string;
  doc: string;
  args: S;
  label(args: z.output<S>): string;
  spec(args: z.output<S>): NetemSpec;
}): FaultKind<S> {
  type A = { namespace?: string; interface: string };
  return {
    kind: def.kind,
    args: def.args,
    expose: { group: 'network', name: def.name, doc: def.doc },
    target: (args) => `${def.label(args)} ${describeScope(args as A, 'egress')}`,
    resolveTargets: async (args) => networkTargets(args as A),
    async plan(args) {
      const a = args as A;
      return (await planNetem(def.kind, a.namespace, a.interface)) as unknown as UndoRecord;
    },
    async inject(args, record) {
      await injectQdisc(readQdiscRecord(record), netemParams(def.spec(args)));
    },
    revert: revertQdisc,
    verify: verifyQdisc,
  };
}
