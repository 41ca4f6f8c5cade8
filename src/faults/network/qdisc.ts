/**
 * tc root-qdisc faults (tbf bandwidth shaping, netem). A qdisc is added only
 * where the interface has its default root qdisc (handle 0:): a qdisc someone
 * configured is never replaced. Revert deletes the root qdisc only while it
 * still has our handle and kind, which puts the default back.
 */
import { FaultlineError } from '../../core/errors.js';
import type { UndoRecord } from '../../core/fault.js';
import { inNamespace, qdiscHandle, TAG_RE, tcAddRootArgs, tcDelRootArgs, tcShowArgs } from './commands.js';
import { namespaceGone, requireRootAndTools, requireScope, run, runOk } from './exec.js';
import { newTag } from './rules.js';
import { INTERFACE_RE, NAMESPACE_RE } from './scope.js';

export interface QdiscRecord {
  tag: string;
  namespace?: string;
  interface: string;
  handle: string;
  qdisc: 'tbf' | 'netem';
}

interface Qdisc {
  kind: string;
  handle: string;
  root?: boolean;
}

async function rootQdisc(ns: string | undefined, dev: string): Promise<Qdisc | 'gone' | undefined> {
  const r = await run(inNamespace(ns, tcShowArgs(dev)));
  if (namespaceGone(r) || /Cannot find device/.test(r.stderr)) return 'gone';
  if (r.code !== 0) throw new Error(`tc qdisc show dev ${dev}: ${r.stderr.trim()}`);
  const list = JSON.parse(r.stdout || '[]') as Qdisc[];
  return list.find((q) => q.root === true);
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
  return {
    tag,
    ...(namespace === undefined ? {} : { namespace }),
    interface: dev,
    handle: qdiscHandle(tag),
    qdisc,
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
  return r;
}

const ours = (q: Qdisc | 'gone' | undefined, rec: QdiscRecord) =>
  q !== undefined && q !== 'gone' && q.handle === `${rec.handle}:` && q.kind === rec.qdisc;

/** Adds the root qdisc, then checks it is the root with our handle and kind (verify-after-inject). */
export async function injectQdisc(rec: QdiscRecord, params: string[]): Promise<void> {
  await runOk(inNamespace(rec.namespace, tcAddRootArgs(rec.interface, rec.handle, rec.qdisc, params)));
  const root = await rootQdisc(rec.namespace, rec.interface);
  if (!ours(root, rec)) {
    throw new Error(
      `verify after inject: the root qdisc of ${rec.interface} is not ${rec.qdisc} ${rec.handle}:`,
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

export async function verifyQdisc(record: UndoRecord): Promise<boolean> {
  const rec = readQdiscRecord(record);
  return !ours(await rootQdisc(rec.namespace, rec.interface), rec);
}
