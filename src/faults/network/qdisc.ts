/**
 * tc root-qdisc faults (tbf bandwidth shaping, netem). A qdisc is added only
 * where the interface has its default root qdisc (handle 0:): a qdisc someone
 * configured is never replaced. Revert deletes the root qdisc only while it
 * still has our handle and kind, which puts the default back.
 *
 * With exempt peers (exempt.ts) the root is a prio (or htb) qdisc instead,
 * whose shaped band carries the netem/tbf and whose other band, reached by
 * u32 filters on the peers' addresses and ports, shapes nothing. Deleting
 * that root removes the whole tree.
 */
import { FaultlineError } from '../../core/errors.js';
import type { UndoRecord } from '../../core/fault.js';
import {
  inNamespace,
  qdiscHandle,
  TAG_RE,
  type TcRoot,
  type TcTree,
  tcAddRootArgs,
  tcChildHandle,
  tcDelRootArgs,
  tcExemptClass,
  tcFilterCount,
  tcFilterShowArgs,
  tcShapedClass,
  tcShowArgs,
  tcTreeArgs,
} from './commands.js';
import {
  namespaceGone,
  requireRootAndTools,
  requireScope,
  run,
  runOk,
  tcRootSupported,
  tcRootUnsupported,
} from './exec.js';
import { type Exemption, exemptionsForRecord, readExemptions } from './exempt.js';
import { newTag } from './rules.js';
import { INTERFACE_RE, NAMESPACE_RE } from './scope.js';

export interface QdiscRecord {
  tag: string;
  namespace?: string;
  interface: string;
  handle: string;
  qdisc: 'tbf' | 'netem';
  /** With exempt peers only: the classful root, the netem/tbf's handle under it, and the peers. */
  root?: TcRoot;
  child?: string;
  exempt?: Exemption[];
}

interface Qdisc {
  kind: string;
  handle: string;
  parent?: string;
  root?: boolean;
}

/** Every qdisc of the interface, or 'gone' with the interface or namespace. */
async function qdiscs(ns: string | undefined, dev: string): Promise<Qdisc[] | 'gone'> {
  const r = await run(inNamespace(ns, tcShowArgs(dev)));
  if (namespaceGone(r) || /Cannot find device/.test(r.stderr)) return 'gone';
  if (r.code !== 0) throw new Error(`tc qdisc show dev ${dev}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout || '[]') as Qdisc[];
}

async function rootQdisc(ns: string | undefined, dev: string): Promise<Qdisc | 'gone' | undefined> {
  const list = await qdiscs(ns, dev);
  return list === 'gone' ? 'gone' : list.find((q) => q.root === true);
}

export async function planQdisc(
  kind: string,
  namespace: string | undefined,
  dev: string,
  qdisc: QdiscRecord['qdisc'],
): Promise<QdiscRecord> {
  requireRootAndTools(kind, ['tc', 'ip']);
  await requireScope(kind, namespace, dev);
  const root = await rootQdisc(namespace, dev);
  if (root === 'gone')
    throw new FaultlineError('FAULTLINE_ERR_FAULT', `${kind}: interface ${dev} disappeared`);
  // The kernel's default root qdisc (noqueue, pfifo_fast, fq_codel, mq...) has handle 0:.
  if (root !== undefined && root.handle !== '0:') {
    // Also another Faultline tc fault's (of any run): two would share one qdisc, and one revert
    // would lift both, so the second is refused rather than stacked.
    const message =
      `interface ${dev} already has a root qdisc (${root.kind} ${root.handle}), configured by someone or held by ` +
      'another Faultline fault; Faultline does not replace or stack on it (revert or remove it first, or scope ' +
      'the fault to another interface)';
    throw new FaultlineError('FAULTLINE_ERR_FAULT', `${kind}: interface: ${message}`, {
      issues: [{ path: 'interface', message }],
    });
  }
  const tag = newTag();
  const exempt = exemptionsForRecord();
  let tree: Pick<QdiscRecord, 'root' | 'child' | 'exempt'> = {};
  if (exempt) {
    const root = await tcRootSupported();
    if (root === undefined) throw tcRootUnsupported(kind);
    tree = { root, child: tcChildHandle(tag), exempt };
  }
  return {
    tag,
    ...(namespace === undefined ? {} : { namespace }),
    interface: dev,
    handle: qdiscHandle(tag),
    qdisc,
    ...tree,
  };
}

export function readQdiscRecord(record: UndoRecord): QdiscRecord {
  const r = record as unknown as QdiscRecord;
  const bad = (what: string) => new Error(`network fault undo record: invalid ${what}`);
  if (typeof r.tag !== 'string' || !TAG_RE.test(r.tag)) throw bad('tag');
  if (r.namespace !== undefined && (typeof r.namespace !== 'string' || !NAMESPACE_RE.test(r.namespace)))
    throw bad('namespace');
  if (typeof r.interface !== 'string' || !INTERFACE_RE.test(r.interface)) throw bad('interface');
  if (typeof r.handle !== 'string' || !/^[0-9a-f]{1,4}$/.test(r.handle)) throw bad('handle');
  if (r.qdisc !== 'tbf' && r.qdisc !== 'netem') throw bad('qdisc');
  const tree = [r.root, r.child, r.exempt].filter((v) => v !== undefined).length;
  if (tree === 0) return r;
  if (tree !== 3) throw bad('exempt tree');
  if (r.root !== 'prio' && r.root !== 'htb') throw bad('root');
  if (typeof r.child !== 'string' || !/^[0-9a-f]{1,4}$/.test(r.child) || r.child === r.handle)
    throw bad('child');
  const exempt = readExemptions(r.exempt);
  if (exempt.length === 0) throw bad('exempt');
  return { ...r, exempt };
}

/** The root qdisc's kind: the classful root when peers are exempt, else the netem/tbf itself. */
const rootKind = (rec: QdiscRecord) => rec.root ?? rec.qdisc;

const ours = (q: Qdisc | 'gone' | undefined, rec: QdiscRecord) =>
  q !== undefined && q !== 'gone' && q.handle === `${rec.handle}:` && q.kind === rootKind(rec);

const treeOf = (rec: QdiscRecord, params: string[]): TcTree => ({
  dev: rec.interface,
  handle: rec.handle,
  child: rec.child!,
  root: rec.root!,
  qdisc: rec.qdisc,
  params,
  exempt: rec.exempt!,
});

/**
 * Adds the root qdisc (or the exempt tree), then checks it is there with our
 * handles and kinds, and every filter (verify-after-inject). A failure midway
 * leaves at most our root, which the session's revert deletes.
 */
export async function injectQdisc(rec: QdiscRecord, params: string[]): Promise<void> {
  const ns = rec.namespace;
  const dev = rec.interface;
  if (rec.root === undefined) {
    await runOk(inNamespace(ns, tcAddRootArgs(dev, rec.handle, rec.qdisc, params)));
    const root = await rootQdisc(ns, dev);
    if (!ours(root, rec)) {
      throw new Error(`verify after inject: the root qdisc of ${dev} is not ${rec.qdisc} ${rec.handle}:`);
    }
    return;
  }
  const tree = treeOf(rec, params);
  for (const cmd of tcTreeArgs(tree)) await runOk(inNamespace(ns, cmd));
  const list = await qdiscs(ns, dev);
  const root = list === 'gone' ? 'gone' : list.find((q) => q.root === true);
  const child =
    list !== 'gone' &&
    list.some(
      (q) => q.handle === `${rec.child}:` && q.kind === rec.qdisc && q.parent === tcShapedClass(rec.handle),
    );
  const listed = await runOk(inNamespace(ns, tcFilterShowArgs(dev, rec.handle)));
  const filters = (JSON.parse(listed.stdout || '[]') as { options?: { flowid?: string } }[]).filter(
    (f) => f.options?.flowid === tcExemptClass(rec.handle),
  ).length;
  const expected = tcFilterCount(tree);
  if (!ours(root, rec) || !child || filters !== expected) {
    throw new Error(
      `verify after inject: ${dev} should have root ${rec.root} ${rec.handle}:, ${rec.qdisc} ${rec.child}: ` +
        `under ${tcShapedClass(rec.handle)} and ${expected} exempt filter(s); found ${ours(root, rec) ? 'the root' : 'no root'}, ` +
        `${child ? 'the' : 'no'} ${rec.qdisc}, ${filters} filter(s)`,
    );
  }
}

export async function revertQdisc(record: UndoRecord): Promise<void> {
  const rec = readQdiscRecord(record);
  const root = await rootQdisc(rec.namespace, rec.interface);
  if (!ours(root, rec)) return; // gone, or replaced by someone else's: not ours to delete
  const r = await run(inNamespace(rec.namespace, tcDelRootArgs(rec.interface, rec.handle)));
  if (r.code !== 0 && !namespaceGone(r) && !/Cannot find device|Invalid handle|No such file/.test(r.stderr)) {
    throw new Error(`tc qdisc del dev ${rec.interface}: ${r.stderr.trim()}`);
  }
}

/** True when our root is gone and, for an exempt tree, no qdisc with either of our handles remains. */
export async function verifyQdisc(record: UndoRecord): Promise<boolean> {
  const rec = readQdiscRecord(record);
  const list = await qdiscs(rec.namespace, rec.interface);
  if (list === 'gone') return true;
  if (
    ours(
      list.find((q) => q.root === true),
      rec,
    )
  )
    return false;
  if (rec.root === undefined) return true;
  // The filters hang off our root: with no qdisc of ours left, none of them can remain.
  return !list.some(
    (q) =>
      (q.handle === `${rec.handle}:` && q.kind === rec.root) ||
      (q.handle === `${rec.child}:` && q.kind === rec.qdisc),
  );
}
