/**
 * Line/column lookups for a parsed document: a path such as
 * `['method', 2, 'provider', 'url']` resolves to where that value is written,
 * or to its nearest existing ancestor when the value is missing.
 */
import type { Document, LineCounter, Pair, YAMLMap } from 'yaml';
import { yaml } from './yaml.js';

export type DocPath = readonly (string | number)[];

export interface Position {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export type PositionOf = (path: DocPath) => Position | undefined;

/** Formats a path the way issues show it: `method[2].provider.url`, `configuration["a.b"]`. */
export function formatPath(path: DocPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Joins a relative issue path (`pattern`, `[0].x`, ``) onto a base path string. */
export function joinPath(base: string, rel: string): string {
  if (!rel) return base;
  if (!base) return rel;
  return rel.startsWith('[') ? base + rel : `${base}.${rel}`;
}

/** Offset → 1-based line/column without a parser (used for JSON errors). */
export function offsetToPosition(text: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(offset, 0), text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/** Builds `positionOf` over a yaml Document (JSON parses as YAML too) and its LineCounter. */
export function positionsFromDocument(doc: Document, lineCounter: LineCounter): PositionOf {
  // A yaml Document exists only once yaml is loaded: requiring it here keeps it out of JSON runs.
  const { isAlias, isMap, isNode, isPair, isScalar, isSeq } = yaml();
  const at = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  // Each map's pairs by key, built on first lookup: a linear search per issue
  // through a map of 60,000 keys took seconds.
  const pairsByKey = new Map<object, Map<string, Pair>>();
  const pairOf = (map: YAMLMap, seg: string | number): Pair | undefined => {
    let index = pairsByKey.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        if (!isPair(p)) continue;
        const k = String(isScalar(p.key) ? p.key.value : p.key);
        if (!index.has(k)) index.set(k, p);
      }
      pairsByKey.set(map, index);
    }
    return index.get(String(seg));
  };
  return (path) => {
    let node: unknown = doc.contents;
    if (!isNode(node)) return { line: 1, column: 1 };
    let best: Position | undefined = node.range ? at(node.range[0]) : undefined;
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(doc);
      let next: unknown;
      let keyNode: unknown;
      if (isMap(node)) {
        const pair = pairOf(node, seg);
        if (!pair) break;
        next = pair.value;
        keyNode = pair.key;
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
      } else {
        break;
      }
      // `key:` with no value: point at the key.
      const target = isNode(next) ? next : isNode(keyNode) ? keyNode : undefined;
      if (!target?.range) break;
      best = at(target.range[0]);
      node = next;
      if (!isNode(next)) break;
    }
    return best;
  };
}

/** Offset → position through a table of line starts (binary search). */
function lineIndex(text: string): (offset: number) => Position {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo]! + 1 };
  };
}

interface JsonNode {
  offset: number;
  keys?: Map<string, JsonNode>;
  items?: JsonNode[];
}

/**
 * Positions for text already known to be valid JSON: one iterative pass builds
 * a tree of value offsets (far faster than a YAML parse of large JSON).
 */
export function jsonPositions(text: string): PositionOf {
  let root: JsonNode | undefined;
  let at: ((offset: number) => Position) | undefined;
  const build = (): JsonNode => {
    const stack: JsonNode[] = [];
    let pendingKey: string | undefined;
    let top: JsonNode | undefined;
    let i = 0;
    const n = text.length;
    const skipString = (): number => {
      const start = i;
      i++;
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c === 92) i += 2;
        else if (c === 34) {
          i++;
          return start;
        } else i++;
      }
      return start;
    };
    while (i < n) {
      const c = text[i]!;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ',' || c === ':') {
        i++;
        continue;
      }
      if (c === '}' || c === ']') {
        stack.pop();
        top = stack[stack.length - 1];
        i++;
        continue;
      }
      if (c === '"' && top?.keys && pendingKey === undefined) {
        const start = skipString();
        pendingKey = JSON.parse(text.slice(start, i)) as string;
        continue;
      }
      const node: JsonNode = { offset: i };
      if (top?.keys) top.keys.set(pendingKey ?? '', node);
      else if (top?.items) top.items.push(node);
      else root ??= node;
      pendingKey = undefined;
      if (c === '{' || c === '[') {
        if (c === '{') node.keys = new Map();
        else node.items = [];
        stack.push(node);
        top = node;
        i++;
      } else if (c === '"') {
        skipString();
      } else {
        while (i < n && !' \t\n\r,]}'.includes(text[i]!)) i++;
      }
    }
    return root ?? { offset: 0 };
  };
  return (path) => {
    root ??= build();
    at ??= lineIndex(text);
    let node = root;
    for (const seg of path) {
      const next = typeof seg === 'number' ? node.items?.[seg] : node.keys?.get(seg);
      if (!next) break;
      node = next;
    }
    return at(node.offset);
  };
}
