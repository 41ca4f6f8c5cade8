/**
 * Text → value for JSON and YAML sources, with positions and guards against
 * hostile input. Every failure is a FaultlineError (FAULTLINE_ERR_PARSE) whose
 * message and issue carry the line and column.
 */
import { isUtf8 } from 'node:buffer';
import type { parseDocument } from 'yaml';
import { FaultlineError } from './errors.js';
import {
  jsonPositions,
  offsetToPosition,
  type Position,
  type PositionOf,
  positionsFromDocument,
} from './positions.js';
import { yaml } from './yaml.js';

/** Sources larger than this are refused before parsing. */
export const MAX_SOURCE_BYTES = 10 * 1024 * 1024;
/** Deeper documents are refused: the engine and journals walk values recursively. */
export const MAX_NESTING_DEPTH = 256;
/** YAML alias expansions allowed (billion-laughs guard). */
export const MAX_YAML_ALIASES = 100;
/**
 * The document as every consumer sees it, aliases expanded (zod copies each
 * occurrence, journals serialise each): at most this many values and this many
 * characters of keys and strings. A file under MAX_SOURCE_BYTES without aliases
 * stays below both; 99 aliases of a 9 MB string would be 1.2 GB.
 */
export const MAX_EXPANDED_NODES = 2_000_000;
export const MAX_EXPANDED_CHARS = 2 * MAX_SOURCE_BYTES;

export type TextFormat = 'json' | 'yaml';

export interface ParsedText {
  value: unknown;
  positionOf: PositionOf;
}

function parseError(source: string, what: string, reason: string, pos: Position | undefined): FaultlineError {
  const where = pos ? ` at line ${pos.line}, column ${pos.column}` : '';
  return new FaultlineError('FAULTLINE_ERR_PARSE', `Cannot parse ${source} as ${what}: ${reason}${where}`, {
    issues: [{ path: '', message: reason, ...(pos ? { line: pos.line, column: pos.column } : {}) }],
  });
}

/** Decodes bytes as UTF-8 (BOM stripped); invalid UTF-8 is a parse error pointing at the first bad byte. */
export function decodeText(bytes: Uint8Array, source: string): string {
  if (!isUtf8(bytes)) {
    const lossy = Buffer.from(bytes).toString('utf8');
    const bad = lossy.indexOf('\uFFFD');
    throw parseError(
      source,
      'text',
      'the file is not valid UTF-8 text',
      offsetToPosition(lossy, Math.max(bad, 0)),
    );
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Parses JSON or YAML text. `source` names the file or URL in messages. */
export function parseText(text: string, format: TextFormat, source: string): ParsedText {
  if (format === 'yaml' && maxFlowDepth(text) > MAX_NESTING_DEPTH) {
    throw parseError(
      source,
      'YAML',
      `the document is nested more than ${MAX_NESTING_DEPTH} levels deep`,
      undefined,
    );
  }
  const parsed = format === 'json' ? parseJson(text, source) : parseYaml(text, source);
  checkShape(parsed.value, source, format);
  return parsed;
}

/**
 * Deepest `[`/`{` nesting outside quoted strings (comments and plain scalars
 * count too, so it can only overestimate). The yaml parser recurses per level,
 * and a stack overflow inside it can abort the process instead of throwing
 * (V8 fails hard when it runs out of stack while compiling a RegExp), so
 * documents that could be too deep are refused before parsing.
 */
export function maxFlowDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return max;
}

// ---------------------------------------------------------------- JSON

function parseJson(text: string, source: string): ParsedText {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const found = findJsonError(text);
    const reason = found?.reason ?? jsonReason(err);
    const offset = found?.offset ?? jsonOffset(err);
    throw parseError(
      source,
      'JSON',
      reason,
      offset === undefined ? undefined : offsetToPosition(text, offset),
    );
  }
  const positions = jsonPositions(text);
  const positionOf: PositionOf = (path) => {
    try {
      return positions(path);
    } catch {
      return undefined;
    }
  };
  return { value, positionOf };
}

function jsonReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/ in JSON at position \d+.*$/s, '').replace(/, ".*" is not valid JSON$/s, '');
}

function jsonOffset(err: unknown): number | undefined {
  const m = /at position (\d+)/.exec(err instanceof Error ? err.message : '');
  return m ? Number(m[1]) : undefined;
}

const JSON_NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const JSON_ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/**
 * Finds where and why JSON text is invalid (V8's messages do not always carry
 * a position). Iterative, so deep nesting cannot overflow the stack.
 */
export function findJsonError(text: string): { offset: number; reason: string } | undefined {
  const stack: string[] = [];
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const fail = (reason: string, at = i) => ({ offset: at, reason });
  const show = (at: number) => (at >= n ? 'end of input' : `character ${JSON.stringify(text[at])}`);
  const scanString = (): { offset: number; reason: string } | undefined => {
    const start = i;
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return undefined;
      }
      if (c === 92) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return fail('invalid \\u escape in string');
          i += 6;
        } else if (e !== undefined && JSON_ESCAPES.has(e)) i += 2;
        else return fail('invalid escape in string');
        continue;
      }
      if (c < 0x20) return fail('control character in string (write it escaped)');
      i++;
    }
    return fail('unterminated string', start);
  };
  type State = 'value' | 'key' | 'after';
  let state: State = 'value';
  for (;;) {
    ws();
    if (state === 'value') {
      const c = text[i];
      if (c === '{' || c === '[') {
        i++;
        ws();
        if (text[i] === (c === '{' ? '}' : ']')) {
          i++;
          state = 'after';
        } else {
          stack.push(c);
          state = c === '{' ? 'key' : 'value';
        }
      } else if (c === '"') {
        const e = scanString();
        if (e) return e;
        state = 'after';
      } else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
        JSON_NUMBER.lastIndex = i;
        const m = JSON_NUMBER.exec(text);
        if (!m || m[0] === '-') return fail('invalid number');
        i += m[0].length;
        state = 'after';
      } else {
        const lit = ['true', 'false', 'null'].find((l) => text.startsWith(l, i));
        if (!lit) return fail(`expected a value, found ${show(i)}`);
        i += lit.length;
        state = 'after';
      }
    } else if (state === 'key') {
      if (text[i] !== '"') return fail(`expected a property name in double quotes, found ${show(i)}`);
      const e = scanString();
      if (e) return e;
      ws();
      if (text[i] !== ':') return fail(`expected ':' after the property name, found ${show(i)}`);
      i++;
      state = 'value';
    } else {
      const top = stack[stack.length - 1];
      if (top === undefined)
        return i < n ? fail(`unexpected ${show(i)} after the end of the document`) : undefined;
      const c = text[i];
      const close = top === '{' ? '}' : ']';
      if (c === ',') {
        i++;
        state = top === '{' ? 'key' : 'value';
      } else if (c === close) {
        i++;
        stack.pop();
      } else {
        return fail(`expected ',' or '${close}', found ${show(i)}`);
      }
    }
  }
}

// ---------------------------------------------------------------- YAML

/**
 * YAML is read as YAML 1.1, as PyYAML's safe_load reads Chaos Toolkit files
 * (`yes`/`no`/`on`/`off` are booleans, `<<` merges), except that timestamps stay
 * strings so the experiment remains plain JSON data.
 */
/** How every YAML document is read (one experiment, or each document of a manifest stream). */
export const YAML_OPTIONS = {
  version: '1.1',
  uniqueKeys: false,
  prettyErrors: true,
  customTags: (tags: readonly (string | { tag: string })[]) =>
    tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:timestamp'),
} as const;

function parseYaml(text: string, source: string): ParsedText {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter, ...YAML_OPTIONS } as Parameters<typeof parseDocument>[1]);
  } catch (err) {
    throw yamlFailure(err, source);
  }
  const first = doc.errors[0];
  if (first) {
    const lp = first.linePos?.[0];
    const reason = yamlReason(first.message);
    throw parseError(source, 'YAML', reason, lp ? { line: lp.line, column: lp.col } : undefined);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    throw yamlFailure(err, source);
  }
  const positions = positionsFromDocument(doc, lineCounter);
  return {
    value,
    positionOf: (path) => {
      try {
        return positions(path);
      } catch {
        return undefined;
      }
    },
  };
}

function yamlReason(message: string): string {
  const first = (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '').trim();
  if (/call stack/i.test(first)) return 'the document is nested too deeply';
  if (/multiple documents/i.test(first))
    return 'the file holds several YAML documents; an experiment is one document';
  return first;
}

function yamlFailure(err: unknown, source: string): FaultlineError {
  if (err instanceof RangeError)
    return parseError(source, 'YAML', 'the document is nested too deeply', undefined);
  const msg = err instanceof Error ? err.message : String(err);
  if (/alias/i.test(msg)) {
    return parseError(source, 'YAML', `too many alias expansions (more than ${MAX_YAML_ALIASES})`, undefined);
  }
  return parseError(source, 'YAML', yamlReason(msg), undefined);
}

// ---------------------------------------------------------------- shape guards

/**
 * Refuses documents nested deeper than MAX_NESTING_DEPTH, containing cycles
 * (YAML anchors can build both), or larger once expanded than
 * MAX_EXPANDED_NODES / MAX_EXPANDED_CHARS. Iterative, memoised per object so
 * shared (aliased) subtrees are walked once while counted at every use.
 */
function checkShape(value: unknown, source: string, format: TextFormat): void {
  const problem = shapeProblem(value);
  if (problem) throw parseError(source, format === 'json' ? 'JSON' : 'YAML', problem, undefined);
}

export function shapeProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  // Each finished object: its height and expanded size (values, characters of keys and strings).
  const done = new Map<object, { height: number; nodes: number; chars: number }>();
  const onPath = new Set<object>();
  interface Frame {
    node: object;
    children: unknown[];
    next: number;
    best: number;
    nodes: number;
    chars: number;
  }
  const stack: Frame[] = [];
  const enter = (node: object) => {
    onPath.add(node);
    const children = Array.isArray(node) ? node : Object.values(node);
    let chars = 0;
    if (!Array.isArray(node)) for (const k of Object.keys(node)) chars += k.length;
    stack.push({ node, children, next: 0, best: 0, nodes: 1, chars });
  };
  const tooBig = (f: { nodes: number; chars: number }) =>
    f.nodes > MAX_EXPANDED_NODES
      ? `the document expands to more than ${MAX_EXPANDED_NODES.toLocaleString('en-US')} values (MAX_EXPANDED_NODES; YAML aliases count once per use)`
      : f.chars > MAX_EXPANDED_CHARS
        ? `the document expands to more than ${MAX_EXPANDED_CHARS.toLocaleString('en-US')} characters of keys and strings (MAX_EXPANDED_CHARS; YAML aliases count once per use)`
        : undefined;
  enter(value);
  while (stack.length > 0) {
    if (stack.length > MAX_NESTING_DEPTH)
      return `the document is nested more than ${MAX_NESTING_DEPTH} levels deep`;
    const top = stack[stack.length - 1]!;
    if (top.next < top.children.length) {
      const child = top.children[top.next++];
      if (child === null || typeof child !== 'object') {
        top.nodes++;
        if (typeof child === 'string') top.chars += child.length;
        if (top.chars > MAX_EXPANDED_CHARS) return tooBig(top);
        continue;
      }
      if (onPath.has(child)) return 'the document contains a circular reference';
      const known = done.get(child);
      if (known !== undefined) {
        if (stack.length + known.height > MAX_NESTING_DEPTH) {
          return `the document is nested more than ${MAX_NESTING_DEPTH} levels deep`;
        }
        top.best = Math.max(top.best, known.height);
        top.nodes += known.nodes;
        top.chars += known.chars;
        const problem = tooBig(top);
        if (problem) return problem;
        continue;
      }
      enter(child);
    } else {
      stack.pop();
      onPath.delete(top.node);
      const h = top.best + 1;
      done.set(top.node, { height: h, nodes: top.nodes, chars: top.chars });
      const problem = tooBig(top);
      if (problem) return problem;
      const parent = stack[stack.length - 1];
      if (parent) {
        parent.best = Math.max(parent.best, h);
        parent.nodes += top.nodes;
        parent.chars += top.chars;
      }
    }
  }
  return undefined;
}
