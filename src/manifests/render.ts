/**
 * `faultline convert`'s output: the experiment a manifest set became, as YAML
 * with a comment on every field, so a reader can check each mapping against the
 * source. A mapped field's note goes above the experiment node it became (its
 * `to` path, or the nearest node that exists); a header lists every ignored,
 * warned and refused field with why, and mapped fields whose `to` names no node.
 */
import type { Document, Pair, Node as YamlNode } from 'yaml';
import { yaml } from '../core/yaml.js';
import type { DocumentNote, ManifestSet } from './index.js';

export type DocPath = (string | number)[];

/**
 * A note's path (`spec.experiments[0].spec.probe[1].mode`, `metadata.annotations["a.b/c"]`,
 * `method[0].provider.arguments.delay`) as segments; undefined when it is not a path (free text).
 */
export function parseNotePath(path: string): DocPath | undefined {
  const out: DocPath = [];
  const re = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([A-Za-z_$][\w$-]*)/y;
  let at = 0;
  while (at < path.length) {
    re.lastIndex = at;
    const m = re.exec(path);
    if (!m || (at === 0 && path[0] === '.')) return undefined;
    if (m[1] !== undefined) out.push(Number(m[1]));
    else if (m[2] !== undefined) {
      try {
        out.push(JSON.parse(m[2]) as string);
      } catch {
        return undefined;
      }
    } else out.push(m[3]!);
    at = re.lastIndex;
  }
  return out;
}

/** The value at `path` in a plain JSON-like value, or undefined. */
export function valueAt(root: unknown, path: DocPath): unknown {
  let v = root;
  for (const seg of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

export interface RenderInput extends Pick<ManifestSet, 'experiment' | 'notes' | 'translations'> {
  /** The source documents as parsed (their values go beside the fields they became). */
  documents: readonly unknown[];
  /** Documents that are not empty: notes name their document when there are several. */
  count: number;
  /** The file as the user named it, for the header. */
  source: string;
  /** Where a note's field is written, for the header's lines. */
  where?: (note: DocumentNote) => { line: number; column: number } | undefined;
  /** Format titles by name (`chaos-mesh` -> `Chaos Mesh`). */
  titles?: Readonly<Record<string, string>>;
  /** Text for a trailing comment block (the server schedule bodies, when asked for). */
  trailer?: string;
}

const MAX_VALUE_CHARS = 120;

/** One line however the value is written: newlines and other control characters cannot break the comment. */
function oneLine(text: string): string {
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return flat.length > MAX_VALUE_CHARS ? `${flat.slice(0, MAX_VALUE_CHARS)}...` : flat;
}

function showValue(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return oneLine(v);
  try {
    return oneLine(JSON.stringify(v) ?? String(v));
  } catch {
    return oneLine(String(v));
  }
}

function fieldName(note: DocumentNote, count: number): string {
  const field = note.path === '' ? '(document)' : note.path;
  return count > 1 ? `document ${note.document + 1}: ${field}` : field;
}

/** Where a comment about a node goes: above the key of the pair holding it, or above the list item. */
type Anchor = { node: YamlNode } | { root: true };

/** Walks `path` in the document; the deepest node reached, and whether it is the whole path. */
function anchorFor(doc: Document, path: DocPath): { anchor: Anchor; exact: boolean } {
  const { isMap, isSeq, isPair, isScalar, isNode } = yaml();
  let node: unknown = doc.contents;
  let anchor: Anchor = { root: true };
  let depth = 0;
  for (const seg of path) {
    let next: unknown;
    let holder: YamlNode | undefined;
    if (isMap(node)) {
      const pair = node.items.find(
        (p): p is Pair => isPair(p) && String(isScalar(p.key) ? p.key.value : p.key) === String(seg),
      );
      if (!pair) break;
      next = pair.value;
      holder = isNode(pair.key) ? pair.key : undefined;
    } else if (isSeq(node) && typeof seg === 'number') {
      next = node.items[seg];
      holder = isNode(next) ? next : undefined;
    } else break;
    if (!holder) break;
    anchor = { node: holder };
    node = next;
    depth++;
  }
  return { anchor, exact: depth === path.length };
}

/** Top-level keys of an experiment: a `to` starting with another is relative to its document's activity. */
const TOP_KEYS = new Set([
  'version',
  'title',
  'description',
  'tags',
  'configuration',
  'secrets',
  'steady-state-hypothesis',
  'method',
  'rollbacks',
  'safeguards',
  'runtime',
  'extensions',
  'contributions',
  'controls',
]);

/**
 * The method indices each document's activities have in the combined experiment (combine() keeps
 * the translations' order), or every index when the documents cannot be told apart.
 */
function methodRanges(input: RenderInput): (document: number) => number[] {
  const translated = [
    ...new Set(input.notes.filter((n) => n.format !== undefined).map((n) => n.document)),
  ].sort((a, b) => a - b);
  const all = input.translations.flatMap((t) => t.method).map((_, i) => i);
  if (translated.length !== input.translations.length) return () => all;
  const ranges = new Map<number, number[]>();
  let at = 0;
  for (const [i, t] of input.translations.entries()) {
    ranges.set(
      translated[i]!,
      t.method.map((_, k) => at + k),
    );
    at += t.method.length;
  }
  return (document) => ranges.get(document) ?? all;
}

/**
 * A `to` path in the experiment; one that names no top-level key (`targets.mode`,
 * `provider.arguments.delay`) is read relative to the document's fault actions.
 */
function resolveTo(doc: Document, path: DocPath, activities: number[]): { anchor: Anchor; exact: boolean } {
  const direct = anchorFor(doc, path);
  if (direct.exact || TOP_KEYS.has(String(path[0]))) return direct;
  let best: { anchor: Anchor; exact: boolean } | undefined;
  for (const k of activities) {
    const found = anchorFor(doc, ['method', k, ...path]);
    if (found.exact) return found;
    best ??= found;
  }
  return best ?? direct;
}

function addComment(anchor: Anchor, text: string, header: string[]): void {
  if ('root' in anchor) {
    header.push(text);
    return;
  }
  const n = anchor.node;
  n.commentBefore = n.commentBefore ? `${n.commentBefore}\n${text}` : text;
}

/**
 * The experiment as YAML with the notes as comments.
 *
 * @example
 * process.stdout.write(renderExperimentYaml({ ...set, documents, count: 1, source: 'netchaos.yaml' }));
 */
export function renderExperimentYaml(input: RenderInput): string {
  const { Document } = yaml();
  // YAML 1.1, as Faultline (and PyYAML) read experiments: keys such as `on` are then quoted, so the
  // output reads back as the same experiment.
  const doc = new Document(input.experiment, { version: '1.1' });
  const header: string[] = [];
  const mappedHeader: string[] = [];
  const sourceValue = (n: DocumentNote) => {
    const p = parseNotePath(n.path);
    return p ? showValue(valueAt(input.documents[n.document], p)) : '';
  };
  const at = (n: DocumentNote) => {
    const pos = input.where?.(n);
    return pos ? ` (line ${pos.line}:${pos.column})` : '';
  };
  const activitiesOf = methodRanges(input);
  for (const n of input.notes) {
    if (n.fate !== 'mapped') continue;
    const value = sourceValue(n);
    const why = n.why ? ` (${oneLine(n.why)})` : '';
    const base = ` ${fieldName(n, input.count)}${value === '' ? '' : `: ${value}`}${why}`;
    const path = n.to === undefined ? undefined : parseNotePath(n.to);
    if (!path || path.length === 0) {
      mappedHeader.push(`${base}${n.to ? ` -> ${oneLine(n.to)}` : ''}${at(n)}`);
      continue;
    }
    const { anchor, exact } = resolveTo(doc, path, activitiesOf(n.document));
    addComment(anchor, exact ? base : `${base} -> ${oneLine(n.to!)}`, mappedHeader);
  }
  header.push(` Translated by \`faultline convert\` from ${oneLine(input.source)}:`);
  for (const [i, t] of input.translations.entries()) {
    const title = input.titles?.[t.format] ?? t.format;
    header.push(
      `   ${input.translations.length > 1 ? `document ${i + 1}: ` : ''}${title} ${oneLine(t.kind)} "${oneLine(t.name)}"`,
    );
  }
  header.push(' Every source field has a comment: above the node it became, or below.');
  const sections: [DocumentNote['fate'], string][] = [
    ['refused', 'Refused (`faultline run` and `validate` stop on these, exit 2)'],
    ['warned', 'Warned (Kubernetes plumbing; the run goes on without them)'],
    ['ignored', 'Ignored (no effect here)'],
  ];
  for (const [fate, title] of sections) {
    const notes = input.notes.filter((n) => n.fate === fate);
    if (notes.length === 0) continue;
    header.push('', ` ${title}:`);
    for (const n of notes) {
      const value = sourceValue(n);
      header.push(
        `   ${fieldName(n, input.count)}${value === '' ? '' : ` = ${value}`}${at(n)}: ${oneLine(n.why ?? fate)}`,
      );
    }
  }
  if (mappedHeader.length > 0)
    header.push('', ' Mapped (no single node to comment on):', ...mappedHeader.map((l) => `  ${l}`));
  doc.commentBefore = header.join('\n');
  if (input.trailer)
    doc.comment = input.trailer
      .split('\n')
      .map((l) => ` ${l}`)
      .join('\n');
  return doc.toString({ lineWidth: 0 });
}
