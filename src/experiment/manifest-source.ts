/**
 * Sources that are other tools' manifests (issue #19): a YAML stream of several
 * documents (`---`) or one JSON/YAML document that a manifest format claims is
 * translated into the experiment Faultline validates and runs, and each field's
 * note keeps the line and column it was written at. A file holding one Faultline
 * experiment loads exactly as before; the translators are imported only when a
 * document could be a manifest, so a plain experiment never loads them.
 */
import { FaultlineError } from '../core/errors.js';
import { MAX_YAML_ALIASES, parseText, shapeProblem, type TextFormat, YAML_OPTIONS } from '../core/parse.js';
import { formatPath, type Position, type PositionOf, positionsFromDocument } from '../core/positions.js';
import { yaml } from '../core/yaml.js';
import type { DocumentNote, ManifestSet } from '../manifests/index.js';
import { parseNotePath } from '../manifests/render.js';

export { parseNotePath };

/**
 * Documents in one stream at most. Each costs a parser object however empty it is, and a 10 MB
 * file of `---` lines would be 2.5 million of them; no set of manifests applied together is near.
 */
export const MAX_STREAM_DOCUMENTS = 1000;

/** The documents of one source text, each with where its values are written. */
export interface SourceDocuments {
  values: unknown[];
  positions: PositionOf[];
  /** Whether the text is a YAML stream of several documents (a single document is not, even with `---`). */
  stream: boolean;
}

/** A manifest set as loaded: its notes can say where in the file each field is written. */
export interface LoadedManifest extends ManifestSet {
  /** The source documents as parsed (convert shows their values beside the fields they became). */
  documents: unknown[];
  /** Documents that are not empty: a note is prefixed with its document when there are several. */
  count: number;
  /** Where the note's field is written (its nearest written ancestor when the field is missing). */
  where(note: DocumentNote): Position | undefined;
}

/**
 * A manifest the run cannot honour: at least one field is `refused`. Its issues are the refused
 * fields (path prefixed with the document in a stream, line and column), so any caller prints them.
 */
export class ManifestRefusedError extends FaultlineError {
  readonly manifest: LoadedManifest;
  constructor(source: string, manifest: LoadedManifest) {
    const n = manifest.refused.length;
    super(
      'FAULTLINE_ERR_VALIDATION',
      `${source}: ${n} field${n === 1 ? '' : 's'} of the manifest cannot be honoured (refused); nothing was run`,
      { issues: manifestIssues(manifest, 'refused') },
    );
    this.name = 'FaultlineError';
    this.manifest = manifest;
  }
}

function parseError(source: string, reason: string, pos?: Position): FaultlineError {
  const where = pos ? ` at line ${pos.line}, column ${pos.column}` : '';
  return new FaultlineError('FAULTLINE_ERR_PARSE', `Cannot parse ${source} as YAML: ${reason}${where}`, {
    issues: [{ path: '', message: reason, ...(pos ? { line: pos.line, column: pos.column } : {}) }],
  });
}

const SEVERAL_DOCUMENTS = /several YAML documents/;

/**
 * Parses a source's text into its documents. JSON and single YAML documents go through
 * core/parse.ts as every experiment does (same guards, same messages); a YAML stream is parsed
 * document by document with the same guards, applied to the stream as a whole.
 */
export function parseDocuments(text: string, format: TextFormat, source: string): SourceDocuments {
  try {
    const one = parseText(text, format, source);
    return { values: [one.value], positions: [one.positionOf], stream: false };
  } catch (err) {
    const several =
      format === 'yaml' &&
      err instanceof FaultlineError &&
      err.issues.some((i) => SEVERAL_DOCUMENTS.test(i.message));
    if (!several) throw err;
  }
  return parseStream(text, source);
}

function parseStream(text: string, source: string): SourceDocuments {
  // parseText measured the flow nesting of the whole text before it saw the second document.
  let markers = 0;
  for (let i = text.indexOf('---'); i >= 0; i = text.indexOf('---', i + 3)) {
    if ((i === 0 || text[i - 1] === '\n') && ++markers > MAX_STREAM_DOCUMENTS)
      throw parseError(source, `the stream holds more than ${MAX_STREAM_DOCUMENTS} documents`);
  }
  const { LineCounter, parseAllDocuments } = yaml();
  const lineCounter = new LineCounter();
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    // As parse.ts reads one document: timestamps stay strings, so values remain plain JSON data.
    docs = parseAllDocuments(text, { lineCounter, ...YAML_OPTIONS } as Parameters<
      typeof parseAllDocuments
    >[1]);
  } catch (err) {
    throw streamFailure(err, source, undefined);
  }
  if (!Array.isArray(docs)) return { values: [], positions: [], stream: true };
  const values: unknown[] = [];
  const positions: PositionOf[] = [];
  let aliases = 0;
  for (const [i, doc] of docs.entries()) {
    const first = doc.errors[0];
    if (first) {
      const lp = first.linePos?.[0];
      throw parseError(
        source,
        `document ${i + 1}: ${reasonOf(first.message)}`,
        lp ? { line: lp.line, column: lp.col } : undefined,
      );
    }
    try {
      // The alias budget is the stream's, not each document's: 100 documents of 99 aliases each
      // would otherwise expand as far as one document of 9,900.
      values.push(doc.toJS({ maxAliasCount: MAX_YAML_ALIASES - aliases }));
    } catch (err) {
      throw streamFailure(err, source, i);
    }
    aliases += countAliases(doc);
    const of = positionsFromDocument(doc, lineCounter);
    positions.push((path) => {
      try {
        return of(path);
      } catch {
        return undefined;
      }
    });
  }
  // Depth, cycles and expanded size, over the stream as a whole (what every consumer walks).
  const problem = shapeProblem(values);
  if (problem) throw parseError(source, problem);
  return { values, positions, stream: true };
}

function countAliases(doc: import('yaml').Document): number {
  const { visit } = yaml();
  let n = 0;
  visit(doc, {
    Alias() {
      n++;
    },
  });
  return n;
}

function reasonOf(message: string): string {
  const first = (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '').trim();
  return /call stack/i.test(first) ? 'the document is nested too deeply' : first;
}

function streamFailure(err: unknown, source: string, index: number | undefined): FaultlineError {
  const doc = index === undefined ? '' : `document ${index + 1}: `;
  if (err instanceof RangeError) return parseError(source, `${doc}the document is nested too deeply`);
  const msg = err instanceof Error ? err.message : String(err);
  if (/alias/i.test(msg))
    return parseError(
      source,
      `${doc}too many alias expansions (more than ${MAX_YAML_ALIASES} in the stream)`,
    );
  return parseError(source, `${doc}${reasonOf(msg)}`);
}

/**
 * The experiment a manifest set became, with positions that point into the source: a path in
 * the experiment resolves through the note whose `to` is its longest prefix to that note's field.
 */
export function loadedManifest(set: ManifestSet, docs: SourceDocuments): LoadedManifest {
  const where = (note: DocumentNote): Position | undefined => {
    const positions = docs.positions[note.document];
    if (!positions) return undefined;
    return positions(parseNotePath(note.path) ?? []);
  };
  return {
    ...set,
    documents: docs.values,
    count: docs.values.filter((v) => v !== null && v !== undefined).length,
    where,
  };
}

/** positionOf for the translated experiment (see loadedManifest). */
export function manifestPositions(manifest: LoadedManifest): PositionOf {
  const byTarget = new Map<string, DocumentNote>();
  for (const n of manifest.notes) {
    if (n.fate === 'mapped' && n.to !== undefined && !byTarget.has(n.to)) byTarget.set(n.to, n);
  }
  return (path) => {
    let p = formatPath(path);
    for (;;) {
      const note = byTarget.get(p);
      if (note) return manifest.where(note);
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) return undefined;
      p = p.slice(0, cut);
    }
  };
}

/** The notes of one fate as issues: the field (with its document in a stream), why, line and column. */
export function manifestIssues(
  manifest: LoadedManifest,
  fate: DocumentNote['fate'],
): { path: string; message: string; line?: number; column?: number }[] {
  return manifest.notes
    .filter((n) => n.fate === fate)
    .map((n) => {
      const pos = manifest.where(n);
      return {
        path: notePathOf(n, manifest.count),
        message: n.why ?? (n.to ? `mapped to ${n.to}` : fate),
        ...(pos ? { line: pos.line, column: pos.column } : {}),
      };
    });
}

/** As manifests/index.ts's notePath, without importing the translators for a message. */
function notePathOf(note: DocumentNote, documents: number): string {
  const field = note.path === '' ? '(document)' : note.path;
  return documents > 1 ? `document ${note.document + 1}: ${field}` : field;
}

/** `<file>:<line>:<col>: <field>: <why>`, one line per note of that fate (the CLI's refusal and warning lines). */
export function noteLines(manifest: LoadedManifest, fate: DocumentNote['fate'], source: string): string[] {
  return manifestIssues(manifest, fate).map(
    (i) => `${source}${i.line === undefined ? '' : `:${i.line}:${i.column ?? 1}`}: ${i.path}: ${i.message}`,
  );
}

/**
 * Whether a document could be a manifest at all: anything but a Faultline experiment (which has a
 * `method` and no `apiVersion`/`kind`). Only then are the translators imported to ask.
 */
function mayBeManifest(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return !('method' in o) || 'apiVersion' in o || 'kind' in o;
}

/** What a source's documents are: one experiment (as before), or a translated manifest set. */
export type Resolved =
  | { kind: 'experiment'; raw: unknown; positionOf: PositionOf }
  | { kind: 'manifest'; raw: Record<string, unknown>; positionOf: PositionOf; manifest: LoadedManifest };

export async function resolveDocuments(docs: SourceDocuments, source: string): Promise<Resolved> {
  if (docs.values.some(mayBeManifest)) {
    const { isManifestStream, translateManifests } = await import('../manifests/index.js');
    if (isManifestStream(docs.values)) {
      const manifest = loadedManifest(translateManifests(docs.values), docs);
      return {
        kind: 'manifest',
        raw: manifest.experiment,
        positionOf: manifestPositions(manifest),
        manifest,
      };
    }
  }
  const present = docs.values.flatMap((v, i) => (v === null || v === undefined ? [] : [i]));
  if (present.length > 1) {
    const second = present[1]!;
    const pos = docs.positions[second]?.([]);
    const message = `a file holds one Faultline experiment, and this stream holds ${present.length} documents (none of them a manifest Faultline reads)`;
    throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `${source}: document ${second + 1}: ${message}`, {
      issues: [
        { path: `document ${second + 1}`, message, ...(pos ? { line: pos.line, column: pos.column } : {}) },
      ],
    });
  }
  const index = present[0] ?? 0;
  return {
    kind: 'experiment',
    raw: docs.values[index] ?? null,
    positionOf: docs.positions[index] ?? (() => undefined),
  };
}

/** How a suggested schedule's timing reads in a line: `cron "*\/5 * * * *"`, `Chaos Monkey mode`. */
export function describeTiming(timing: ManifestSet['schedules'][number]['timing']): string {
  return 'cron' in timing ? `cron ${JSON.stringify(timing.cron)}` : 'Chaos Monkey mode';
}

/**
 * What `run` tells about a manifest before it runs it: each `warned` field (Kubernetes plumbing: the
 * run goes on), and each schedule the manifest asks for, which a run does not keep (it runs once).
 */
export function manifestNotices(
  manifest: LoadedManifest,
  source: string,
): { level: 'info' | 'warn'; message: string }[] {
  const out: { level: 'info' | 'warn'; message: string }[] = noteLines(manifest, 'warned', source).map(
    (line) => ({ level: 'warn', message: `warning: ${line}` }),
  );
  for (const s of manifest.schedules) {
    const note = { document: s.document, path: s.from, fate: 'mapped' as const };
    const pos = manifest.where(note);
    const at = pos ? `:${pos.line}:${pos.column}` : '';
    out.push({
      level: 'info',
      message: `${source}${at}: ${notePathOf(note, manifest.count)}: the manifest's schedule (${describeTiming(s.timing)}) is not kept by \`faultline run\`, which runs the experiment once now; to run it on that schedule, make it a server schedule with \`faultline convert ${source} --push --server URL\` (or \`--schedule\` prints the body for POST /api/schedules)`,
    });
  }
  return out;
}
