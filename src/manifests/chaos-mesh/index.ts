/**
 * Chaos Mesh manifests (`apiVersion: chaos-mesh.org/*`) as Faultline
 * experiments whose faults run on the fleet's workloads (docs/manifests/chaos-mesh.md).
 * One file per kind; this one reads what every document has (metadata, the
 * 1.x `spec.scheduler`), dispatches by `kind`, and turns a translated piece's
 * timeline into the method's steps with their pauses.
 */
import type { Activity } from '../../core/schema.js';
import { isRecord, join, Notes, record, string } from '../notes.js';
import type { ManifestFormat, Safeguard, ScheduleSuggestion, Translation } from '../types.js';
import type { Ctx, Piece } from './common.js';
import { dnsChaos } from './dns.js';
import { httpChaos } from './http.js';
import { networkChaos } from './network.js';
import { podChaos } from './pod.js';
import { cronTiming, type Embedded, scheduleSpec } from './schedule.js';
import { stressChaos } from './stress.js';
import { statusCheck, workflow } from './workflow.js';

/** The chaos kinds, by the key a Schedule or Workflow embeds them under. */
export const CHAOS_KINDS: Record<string, { kind: string; translate: Embedded }> = {
  podChaos: { kind: 'PodChaos', translate: podChaos },
  networkChaos: { kind: 'NetworkChaos', translate: networkChaos },
  stressChaos: { kind: 'StressChaos', translate: stressChaos },
  dnsChaos: { kind: 'DNSChaos', translate: dnsChaos },
  httpChaos: { kind: 'HTTPChaos', translate: httpChaos },
};
const EMBEDDABLE: Record<string, { kind: string; translate: Embedded }> = {
  ...CHAOS_KINDS,
  workflow: { kind: 'Workflow', translate: (ctx, spec) => workflow(ctx, spec, CHAOS_KINDS) },
};

export const KNOWN_KINDS = [
  ...Object.values(CHAOS_KINDS).map((k) => k.kind),
  'Schedule',
  'Workflow',
  'StatusCheck',
];

/** Fields of a spec that show the document lost its indentation when they sit at the top level. */
const SPEC_LOOKING = [
  'action',
  'mode',
  'selector',
  'duration',
  'delay',
  'loss',
  'stressors',
  'name',
  'namespace',
];

function translate(doc: Record<string, unknown>): Translation {
  const notes = new Notes();
  const stray = Object.keys(doc).filter((k) => SPEC_LOOKING.includes(k));
  if (stray.length > 0)
    notes.refused(
      '',
      `${stray.join(', ')} at the top level: the fields of metadata and spec appear at the top level, as when a document loses its indentation; indent them under metadata: and spec:`,
    );
  notes.rest(doc, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status'], 'a Chaos Mesh object');
  notes.ignored('apiVersion', 'says the document is Chaos Mesh');
  const kind = string(notes, doc.kind, 'kind') ?? '';
  const meta = record(notes, doc.metadata, 'metadata') ?? {};
  const name =
    string(notes, meta.name, 'metadata.name') ??
    string(notes, meta.generateName, 'metadata.generateName') ??
    kind;
  const ns = string(notes, meta.namespace, 'metadata.namespace');
  if (meta.name !== undefined) notes.mapped('metadata.name', 'title');
  if (meta.namespace !== undefined)
    notes.mapped('metadata.namespace', 'title', 'and the namespace an empty selector.namespaces means');
  for (const k of Object.keys(meta)) {
    if (k === 'name' || k === 'namespace') continue;
    if (k === 'labels' || k === 'annotations')
      notes.warned(join('metadata', k), `the Kubernetes object's ${k}: they select nothing here`);
    else notes.warned(join('metadata', k), 'Kubernetes object bookkeeping: nothing to do on a host');
  }
  if (doc.status !== undefined) notes.ignored('status', "written by Chaos Mesh's controller");

  const base = {
    format: 'chaos-mesh' as const,
    kind,
    name,
    ...(ns ? { namespace: ns } : {}),
    title: `${kind} ${ns ? `${ns}/` : ''}${name}`,
  };
  const ctx: Ctx = { notes, path: 'spec', namespace: ns ?? 'default', name };
  const kindEntry = Object.values(CHAOS_KINDS).find((k) => k.kind === kind);
  if (!KNOWN_KINDS.includes(kind)) {
    notes.refused(
      'kind',
      `${doc.kind === undefined ? 'no kind' : JSON.stringify(doc.kind)}: Faultline translates the Chaos Mesh kinds ${KNOWN_KINDS.join(', ')}`,
    );
    return finish(base, notes, { timeline: [], span: 0 });
  }
  notes.mapped('kind', 'extensions[0].kind');
  const spec = record(notes, doc.spec, 'spec');
  if (!spec) {
    notes.refused(
      'spec',
      `expected the ${kind}'s spec${doc.spec === undefined ? '' : `, got ${doc.spec === null ? 'nothing (an empty spec:)' : 'something else'}`}`,
    );
    return finish(base, notes, { timeline: [], span: 0 });
  }

  let piece: Piece;
  let schedule: ScheduleSuggestion | undefined;
  if (kind === 'Schedule') {
    const out = scheduleSpec(ctx, spec, EMBEDDABLE);
    piece = out.piece;
    schedule = out.schedule;
  } else if (kind === 'Workflow') {
    piece = workflow(ctx, spec, CHAOS_KINDS);
  } else if (kind === 'StatusCheck') {
    const check = statusCheck(ctx, spec, name);
    piece = { timeline: [], span: 0 };
    if (check?.continuous) piece.safeguards = [check.activity];
    else if (check) piece.hypothesis = [check.activity];
    if (check && !check.continuous)
      notes.mapped(
        'spec',
        'steady-state-hypothesis',
        'a standalone synchronous check: checked before and after',
      );
  } else {
    // Chaos Mesh 1.x: spec.scheduler.cron repeats the chaos (a server schedule here).
    const { scheduler, ...rest } = spec;
    if (scheduler !== undefined) {
      const s = record(notes, scheduler, 'spec.scheduler');
      if (s) {
        notes.rest(s, 'spec.scheduler', ['cron'], 'Chaos Mesh 1.x scheduler');
        const timing = cronTiming(notes, s.cron, 'spec.scheduler.cron');
        if (timing) schedule = { timing, from: 'spec.scheduler.cron' };
      }
    }
    piece = kindEntry!.translate(ctx, rest);
  }
  return finish(base, notes, piece, schedule);
}

function finish(
  base: Pick<Translation, 'format' | 'kind' | 'name' | 'namespace' | 'title'>,
  notes: Notes,
  piece: Piece,
  schedule?: ScheduleSuggestion,
): Translation {
  const { method, hold } = linearize(piece);
  const faults = method.filter((a) => a.type === 'action').length;
  return {
    ...base,
    description: `Translated from Chaos Mesh ${base.kind} ${base.namespace ? `${base.namespace}/` : ''}${base.name}: ${faults} fault action(s) on the fleet's workloads${schedule ? `, scheduled ${'cron' in schedule.timing ? schedule.timing.cron : ''}` : ''}.`,
    method,
    hold,
    ...(piece.hypothesis?.length ? { hypothesis: piece.hypothesis } : {}),
    ...(piece.safeguards?.length ? { safeguards: piece.safeguards as Safeguard[] } : {}),
    ...(schedule ? { schedule } : {}),
    tags: ['chaos-mesh', base.kind.toLowerCase()].filter((t) => t !== ''),
    notes: notes.list,
  };
}

/** A timeline as steps: each step waits (pauses.before) for its offset; the rest of the span is the hold. */
export function linearize(piece: Piece): { method: Activity[]; hold: number } {
  const sorted = [...piece.timeline].sort((a, b) => a.at - b.at);
  let now = 0;
  const method = sorted.map((t) => {
    const gap = t.at - now;
    now = t.at;
    const a = { ...t.activity };
    if (gap > 0) a.pauses = { ...(a.pauses ?? {}), before: gap };
    return a;
  });
  return { method, hold: Math.max(0, piece.span - now) };
}

export const chaosMesh: ManifestFormat = {
  name: 'chaos-mesh',
  title: 'Chaos Mesh',
  doc: 'docs/manifests/chaos-mesh.md',
  detect: (d) => typeof d.apiVersion === 'string' && d.apiVersion.startsWith('chaos-mesh.org/'),
  translate: (doc) => translate(isRecord(doc) ? doc : {}),
};
