/**
 * Other tools' chaos files as Faultline experiments (issue #19; docs/manifests/).
 * FORMATS is the one list of formats (one module each behind ManifestFormat);
 * translateManifests() takes the documents of one YAML/JSON stream, translates
 * each with its format, and combines them into one experiment: documents in one
 * stream are applied together, as `kubectl apply -f` would, so their fault
 * actions start one after another without waiting and the method then holds for
 * the longest duration. Every source field keeps its note (mapped, ignored,
 * warned, refused) for `faultline convert`, and run/validate refuse the set
 * when any note is `refused`.
 */
import type { Activity } from '../core/schema.js';
import { awsFis } from './aws-fis/index.js';
import { chaosMesh } from './chaos-mesh/index.js';
import { chaosMonkey } from './chaos-monkey.js';
import { istio } from './istio.js';
import { litmus } from './litmus/index.js';
import { describe, isRecord } from './notes.js';
import type { FieldNote, FormatName, ManifestFormat, ScheduleSuggestion, Translation } from './types.js';

export type { FieldNote, FormatName, ManifestFormat, ScheduleSuggestion, Translation } from './types.js';

export const FORMATS: readonly ManifestFormat[] = [chaosMesh, litmus, awsFis, istio, chaosMonkey];

/** The format a document is written in, or undefined for anything else (a Faultline experiment among them). */
export function formatOf(doc: unknown): ManifestFormat | undefined {
  if (!isRecord(doc)) return undefined;
  return FORMATS.find((f) => f.detect(doc));
}

/** Whether a stream holds manifests rather than a Faultline experiment: any document one format claims. */
export function isManifestStream(docs: readonly unknown[]): boolean {
  return docs.some((d) => formatOf(d) !== undefined);
}

/** A note with the document it belongs to (its index in the stream) and that document's format. */
export interface DocumentNote extends FieldNote {
  document: number;
  format?: FormatName;
}

export interface ManifestSet {
  /** The combined experiment, in the Chaos Toolkit format Faultline validates and runs. */
  experiment: Record<string, unknown>;
  translations: Translation[];
  /** Every note of every document, in order. */
  notes: DocumentNote[];
  /** The notes that stop run and validate (exit 2). */
  refused: DocumentNote[];
  /** What `Schedule`, `scheduler.cron` or a Chaos Monkey config ask for (a server schedule each). */
  schedules: (ScheduleSuggestion & { document: number })[];
}

/** How a note names its field in messages: `spec.delay.latency`, prefixed with its document in a stream of several. */
export function notePath(note: DocumentNote, documents: number): string {
  const field = note.path === '' ? '(document)' : note.path;
  return documents > 1 ? `document ${note.document + 1}: ${field}` : field;
}

export function translateManifests(docs: readonly unknown[]): ManifestSet {
  const translations: Translation[] = [];
  /** Each translation's document index in the stream (empty and refused documents have none). */
  const documentOf: number[] = [];
  const notes: DocumentNote[] = [];
  docs.forEach((doc, index) => {
    if (doc === null || doc === undefined) return; // an empty document between two `---`
    const format = formatOf(doc);
    if (!format) {
      const kind = isRecord(doc) && typeof doc.kind === 'string' ? `kind ${doc.kind}` : describe(doc);
      notes.push({
        document: index,
        path: '',
        fate: 'refused',
        why: `${kind} is not a manifest Faultline reads (Chaos Mesh, Litmus, AWS FIS, Istio VirtualService, Chaos Monkey)`,
      });
      return;
    }
    const t = format.translate(doc as Record<string, unknown>, { index });
    translations.push(t);
    documentOf.push(index);
    for (const n of t.notes) notes.push({ ...n, document: index, format: format.name });
  });
  const documents = docs.filter((d) => d !== null && d !== undefined).length;
  if (documents === 0) {
    notes.push({ document: 0, path: '', fate: 'refused', why: 'the file holds no document' });
  }
  return {
    experiment: combine(translations),
    translations,
    notes,
    refused: notes.filter((n) => n.fate === 'refused'),
    schedules: translations.flatMap((t, i) =>
      t.schedule ? [{ ...t.schedule, document: documentOf[i]! }] : [],
    ),
  };
}

/** One experiment from the documents' translations (see the module comment for how they combine). */
export function combine(translations: readonly Translation[]): Record<string, unknown> {
  const one = translations.length === 1 ? translations[0] : undefined;
  const method: Activity[] = translations.flatMap((t) => t.method.map((a) => ({ ...a })));
  const hold = Math.max(0, ...translations.map((t) => t.hold));
  if (hold > 0 && method.length > 0) {
    const last = method[method.length - 1]!;
    const after = Number(last.pauses?.after ?? 0);
    last.pauses = { ...(last.pauses ?? {}), after: Math.max(after, hold) };
  }
  const probes = translations.flatMap((t) => t.hypothesis ?? []);
  const safeguards = translations.flatMap((t) => t.safeguards ?? []);
  const configuration = Object.assign({}, ...translations.map((t) => t.configuration ?? {}));
  const runtime = Object.assign({}, ...translations.map((t) => t.runtime ?? {}));
  const tags = [...new Set(translations.flatMap((t) => [`from:${t.format}`, ...(t.tags ?? [])]))];
  const names = translations.map((t) => t.name);
  const tightest = (key: 'max_targets' | 'max_percentage') => {
    const values = translations.flatMap((t) =>
      t.blastRadius?.[key] === undefined ? [] : [t.blastRadius[key]],
    );
    return values.length ? { [key]: Math.min(...values) } : {};
  };
  const blastRadius = { ...tightest('max_targets'), ...tightest('max_percentage') };
  return {
    version: '1.0.0',
    title: one?.title ?? (names.length ? names.join(' + ') : 'empty manifest'),
    description:
      one?.description ??
      `Translated from ${translations.length} documents: ${translations.map((t) => `${t.kind} ${t.name}`).join(', ')}`,
    tags,
    ...(Object.keys(configuration).length ? { configuration } : {}),
    ...(probes.length
      ? { 'steady-state-hypothesis': { title: `${names.join(' + ')} steady state`, probes } }
      : {}),
    method,
    ...(safeguards.length ? { safeguards } : {}),
    ...(Object.keys(runtime).length ? { runtime } : {}),
    ...(Object.keys(blastRadius).length ? { blast_radius: blastRadius } : {}),
    extensions: translations.map((t) => ({
      name: 'faultline-manifest',
      format: t.format,
      kind: t.kind,
      source: t.namespace ? `${t.namespace}/${t.name}` : t.name,
    })),
  };
}
