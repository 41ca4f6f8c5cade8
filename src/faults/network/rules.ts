/**
 * Firewall-rule faults (partition, loss, dns, bandwidth policing): plan,
 * inject, revert and verify for nftables (one table per fault) and, when nft
 * is missing, iptables (one chain per fault, jumped to by rules carrying
 * `faultline:<tag>`). The undo record holds the tag and the scope, never
 * commands: revert rebuilds them from validated values.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind, UndoRecord } from '../../core/fault.js';
import {
  type Direction,
  inNamespace,
  iptAddCommands,
  iptComment,
  iptJumps,
  iptListAllArgs,
  iptListChainArgs,
  iptRemoveCommands,
  iptRuleCount,
  type Match,
  nftAddArgs,
  nftDeleteArgs,
  nftDeleteManyArgs,
  nftListArgs,
  nftListTablesArgs,
  nftRuleCount,
  nftTable,
  type Rule,
  type RuleSet,
  ruleFamilies,
  TAG_RE,
} from './commands.js';
import { findTool, namespaceGone, requireRootAndTools, requireScope, run, runOk } from './exec.js';
import { type Exemption, exemptionsForRecord, readExemptions } from './exempt.js';
import {
  checkScope,
  describeScope,
  INTERFACE_RE,
  NAMESPACE_RE,
  networkTargets,
  type Scope,
} from './scope.js';

export type Backend = 'nftables' | 'iptables';

export interface RulesRecord {
  backend: Backend;
  tag: string;
  namespace?: string;
  interface?: string;
  directions: Direction[];
  families?: (4 | 6)[];
  /** The process's exempt peers when the fault was planned (absent when none). */
  exempt?: Exemption[];
}

export const newTag = () => randomBytes(4).toString('hex');

/** The directions a `direction` argument means. */
export const directionsOf = (d: 'ingress' | 'egress' | 'both' | undefined, dflt: Direction[]): Direction[] =>
  d === undefined ? dflt : d === 'both' ? ['ingress', 'egress'] : [d];

/** Picks the backend, after checking root, the tools, the namespace and the interface. */
export async function planRules(
  kind: string,
  opts: {
    backend?: 'auto' | 'nftables' | 'iptables' | undefined;
    namespace?: string | undefined;
    interface?: string | undefined;
    directions: Direction[];
    nftablesOnly?: string;
  },
  set: Omit<RuleSet, 'tag'>,
): Promise<RulesRecord> {
  let backend: Backend;
  const wanted = opts.backend ?? 'auto';
  if (wanted === 'auto') backend = findTool('nft') !== null || opts.nftablesOnly ? 'nftables' : 'iptables';
  else backend = wanted;
  if (backend === 'iptables' && opts.nftablesOnly) {
    throw new FaultlineError('FAULTLINE_ERR_UNSUPPORTED', `${kind}: ${opts.nftablesOnly}`);
  }
  const tag = newTag();
  const exempt = exemptionsForRecord();
  const families = backend === 'iptables' ? ruleFamilies({ ...set, tag }) : undefined;
  const tools =
    backend === 'nftables' ? ['nft'] : (families ?? [4]).map((f) => (f === 4 ? 'iptables' : 'ip6tables'));
  if (opts.namespace !== undefined || opts.interface !== undefined) tools.push('ip');
  requireRootAndTools(kind, tools);
  await requireScope(kind, opts.namespace, opts.interface);
  return {
    backend,
    tag,
    ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
    ...(opts.interface === undefined ? {} : { interface: opts.interface }),
    directions: opts.directions,
    ...(families ? { families } : {}),
    ...(exempt ? { exempt } : {}),
  };
}

/** The record back from the ledger, checked: its values become command arguments. */
export function readRulesRecord(record: UndoRecord): RulesRecord {
  const r = record as unknown as RulesRecord;
  const bad = (what: string) => new Error(`network fault undo record: invalid ${what}`);
  if (r.backend !== 'nftables' && r.backend !== 'iptables') throw bad('backend');
  if (typeof r.tag !== 'string' || !TAG_RE.test(r.tag)) throw bad('tag');
  if (r.namespace !== undefined && (typeof r.namespace !== 'string' || !NAMESPACE_RE.test(r.namespace)))
    throw bad('namespace');
  if (r.interface !== undefined && (typeof r.interface !== 'string' || !INTERFACE_RE.test(r.interface)))
    throw bad('interface');
  if (!Array.isArray(r.directions) || !r.directions.every((d) => d === 'ingress' || d === 'egress'))
    throw bad('directions');
  if (r.families !== undefined && !(Array.isArray(r.families) && r.families.every((f) => f === 4 || f === 6)))
    throw bad('families');
  if (r.exempt !== undefined) return { ...r, exempt: readExemptions(r.exempt) };
  return r;
}

/** Adds the rules, then checks they are in place (verify-after-inject). */
export async function injectRules(
  rec: RulesRecord,
  rules: Omit<RuleSet, 'tag' | 'directions' | 'interface'>,
) {
  const set: RuleSet = {
    ...rules,
    tag: rec.tag,
    directions: rec.directions,
    interface: rec.interface,
    exempt: rec.exempt,
  };
  const ns = rec.namespace;
  if (rec.backend === 'nftables') {
    await runOk(inNamespace(ns, nftAddArgs(set)));
    const listed = await runOk(inNamespace(ns, nftListArgs(rec.tag)));
    const found = countNftRules(listed.stdout);
    const expected = nftRuleCount(set);
    if (found !== expected) {
      throw new Error(`verify after inject: table ${rec.tag} has ${found} rule(s), expected ${expected}`);
    }
    return;
  }
  for (const family of rec.families ?? [4]) {
    for (const cmd of iptAddCommands(set, family)) await runOk(inNamespace(ns, cmd));
    const listed = await runOk(inNamespace(ns, iptListChainArgs(rec.tag, family)));
    const found = listed.stdout.split('\n').filter((l) => l.startsWith('-A ')).length;
    const all = await runOk(inNamespace(ns, iptListAllArgs(family)));
    const jumps = all.stdout.split('\n').filter((l) => l.includes(iptComment(rec.tag))).length;
    const expected = iptRuleCount(set, family);
    const expectedJumps = iptJumps(rec.tag, rec.directions, rec.interface).length;
    if (found !== expected || jumps !== expectedJumps) {
      throw new Error(
        `verify after inject: chain ${rec.tag} has ${found} rule(s) and ${jumps} jump(s), expected ${expected} and ${expectedJumps}`,
      );
    }
  }
}

function countNftRules(json: string): number {
  const parsed = JSON.parse(json) as { nftables?: Record<string, unknown>[] };
  return (parsed.nftables ?? []).filter((o) => 'rule' in o).length;
}

const NFT_GONE = /No such file or directory/;
const IPT_GONE =
  /No chain\/target\/match by that name|does a matching rule exist|Bad rule|doesn't exist|does not exist/i;

/**
 * Coalesces calls made within a few milliseconds for the same namespace into
 * one `flush`. nftables commits each transaction under a per-namespace mutex
 * and waits for an RCU grace period, so the 20 faults a halt reverts at once
 * would otherwise queue behind each other (about 20 ms each); one transaction
 * deletes them all.
 */
function coalesced<R>(flush: (ns: string | undefined, tags: string[]) => Promise<R[]>, windowMs = 2) {
  const queues = new Map<string, { tags: string[]; done: ((r: R | Error) => void)[] }>();
  return (ns: string | undefined, tag: string): Promise<R> =>
    new Promise<R | Error>((resolve) => {
      const key = ns ?? '';
      let q = queues.get(key);
      if (!q) {
        const fresh = { tags: [] as string[], done: [] as ((r: R | Error) => void)[] };
        queues.set(key, fresh);
        q = fresh;
        setTimeout(() => {
          queues.delete(key);
          flush(ns, fresh.tags).then(
            (results) => {
              for (const [i, d] of fresh.done.entries()) d(results[i] as R);
            },
            (err: Error) => {
              for (const d of fresh.done) d(err);
            },
          );
        }, windowMs);
      }
      q.tags.push(tag);
      q.done.push(resolve);
    }).then((r) => {
      if (r instanceof Error) throw r;
      return r;
    });
}

async function deleteOne(ns: string | undefined, tag: string): Promise<Error | true> {
  const r = await run(inNamespace(ns, nftDeleteArgs(tag)));
  if (r.code !== 0 && !NFT_GONE.test(r.stderr) && !namespaceGone(r)) {
    return new Error(`nft delete table: ${r.stderr.trim()}`);
  }
  return true;
}

/** Deletes fault tables; a table already gone counts as deleted (then each is deleted on its own). */
const deleteTables = coalesced<Error | true>(async (ns, tags) => {
  if (tags.length > 1) {
    const r = await run(inNamespace(ns, nftDeleteManyArgs(tags)));
    if (r.code === 0 || namespaceGone(r)) return tags.map(() => true);
    // One missing table fails the whole transaction: fall back to one delete each.
  }
  return Promise.all(tags.map((tag) => deleteOne(ns, tag)));
});

async function deleteTable(ns: string | undefined, tag: string): Promise<void> {
  const r = await deleteTables(ns, tag);
  if (r instanceof Error) throw r;
}

/** True when the fault's table is absent: one `nft list tables` answers every check of a namespace. */
const tableGone = coalesced<boolean>(async (ns, tags) => {
  if (tags.length === 1) {
    const r = await run(inNamespace(ns, nftListArgs(tags[0]!)));
    return [namespaceGone(r) || (r.code !== 0 && NFT_GONE.test(r.stderr))];
  }
  const r = await run(inNamespace(ns, nftListTablesArgs()));
  if (namespaceGone(r)) return tags.map(() => true);
  if (r.code !== 0) throw new Error(`nft list tables: ${r.stderr.trim()}`);
  const present = new Set(r.stdout.split('\n').map((line) => line.trim()));
  return tags.map((tag) => !present.has(`table inet ${nftTable(tag)}`));
});

/** Removes the fault's table (or chain and jumps); whatever is already gone counts as removed. */
export async function revertRules(record: UndoRecord): Promise<void> {
  const rec = readRulesRecord(record);
  const ns = rec.namespace;
  if (rec.backend === 'nftables') return deleteTable(ns, rec.tag);
  for (const family of rec.families ?? [4]) {
    for (const cmd of iptRemoveCommands(rec.tag, rec.directions, rec.interface, family)) {
      // A jump inserted twice (a retried inject) is deleted until none is left.
      for (let i = 0; i < 8; i++) {
        const r = await run(inNamespace(ns, cmd));
        if (namespaceGone(r)) return;
        if (r.code !== 0) {
          if (!IPT_GONE.test(r.stderr)) throw new Error(`${cmd.join(' ')}: ${r.stderr.trim()}`);
          break;
        }
        if (cmd[2] !== '-D') break;
      }
    }
  }
}

/** True when neither the table (or chain) nor any jump tagged with this fault remains. */
export async function verifyRules(record: UndoRecord): Promise<boolean> {
  const rec = readRulesRecord(record);
  const ns = rec.namespace;
  if (rec.backend === 'nftables') return tableGone(ns, rec.tag);
  for (const family of rec.families ?? [4]) {
    const r = await run(inNamespace(ns, iptListAllArgs(family)));
    if (namespaceGone(r)) return true;
    if (r.code !== 0) return false;
    if (r.stdout.includes(iptComment(rec.tag)) || r.stdout.includes(`-N FAULTLINE-${rec.tag}`)) return false;
  }
  return true;
}

/** Definition of a firewall-rule fault: its arguments and the rules they mean. */
export interface FirewallDef<S extends z.ZodObject> {
  kind: string;
  name: string;
  doc: string;
  args: S;
  /** What it does, for `faultline status`: `loss 25%`. */
  label(args: z.output<S>): string;
  directions(args: z.output<S>): Direction[];
  rules(args: z.output<S>): Rule[];
  /** Set when iptables cannot express the rules: the reason, for FAULTLINE_ERR_UNSUPPORTED. */
  nftablesOnly?: string;
}

type ScopedArgs = Scope & { backend?: 'auto' | 'nftables' | 'iptables' | undefined };

/** A FaultKind made of firewall rules only (partition, dns): everything but the rules is shared. */
export function firewallKind<S extends z.ZodObject>(def: FirewallDef<S>): FaultKind<S> {
  return {
    kind: def.kind,
    args: def.args,
    expose: { group: 'network', name: def.name, doc: def.doc },
    target(args) {
      const dirs = def.directions(args);
      return `${def.label(args)} ${describeScope(args as ScopedArgs, dirs.length === 2 ? 'both' : dirs[0])}`.trim();
    },
    async resolveTargets(args) {
      return networkTargets(args as ScopedArgs);
    },
    async plan(args) {
      const a = args as ScopedArgs;
      checkScope(def.kind, a);
      const rec = await planRules(
        def.kind,
        {
          backend: a.backend,
          namespace: a.namespace,
          interface: a.interface,
          directions: def.directions(args),
          ...(def.nftablesOnly ? { nftablesOnly: def.nftablesOnly } : {}),
        },
        { directions: def.directions(args), interface: a.interface, rules: def.rules(args) },
      );
      return rec as unknown as UndoRecord;
    },
    async inject(args, record) {
      await injectRules(readRulesRecord(record), { rules: def.rules(args) });
    },
    revert: revertRules,
    verify: verifyRules,
  };
}

/** The match of a scope, for kinds whose rules are "everything in scope". */
export const scopeMatch = (a: Scope): Match => ({
  source: a.source,
  destination: a.destination,
  protocol: a.protocol,
  port: a.port,
});
