/**
 * A small JSONPath evaluator with the semantics of jsonpath2, the library
 * Chaos Toolkit uses, plus the Goessner spellings people also write.
 *
 *   $  .key  ['key']  ["key"]  [n]  [-n]  [*]  .*  ..key  ..*  ..[sel]
 *   [a:b]  [a:b:step]  [0,1,'k']  [?(@.a = 1)]  [?(@.a == 1)]  [?(@.tags)]
 *   filters: = == != < <= > >=, and/or/not (also && || !), parentheses,
 *            @ and $ paths, string/number/true/false/null/JSON literals.
 *
 * jsonpath2 rules kept on purpose:
 *  - a filter applied to an object tests the object itself, so
 *    `$.items[*][?(@.ok = true)]` selects items;
 *  - `or` binds tighter than `and` (use parentheses when mixing them);
 *  - `<`, `<=`, `>`, `>=` hold only between numbers (booleans count as 0/1);
 *  - `=` is Python equality (`1 = true` holds);
 *  - slices resolve each index like `[n]`, so out-of-range negative starts wrap.
 * Goessner's rule added: a filter applied directly to a list tests each
 * element, so `$.items[?(@.ok = true)]` also selects items (jsonpath2 would
 * test the list itself and match nothing). Under `..` every node is visited
 * anyway, so there a filter tests the node itself.
 *
 * @example
 * parseJsonPath('$.items[?(@.status = "up")].name').match({ items: [{ status: 'up', name: 'a' }] }); // ['a']
 */
import { isDict, pyEquals, pyTruthy } from '../../core/python.js';

export class JsonPathSyntaxError extends Error {
  /** 0-based offset of the offending character in the path. */
  readonly position: number;
  constructor(message: string, position: number, source: string) {
    super(`${message} at position ${position}: ${source.slice(0, position)}»${source.slice(position)}`);
    this.name = 'JsonPathSyntaxError';
    this.position = position;
  }
}

type Selector =
  | { kind: 'name'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'slice'; start: number | null; end: number | null; step: number | null }
  | { kind: 'wildcard' }
  | { kind: 'filter'; expr: Expr };

interface Segment {
  descendant: boolean;
  selectors: Selector[];
}

interface RelPath {
  root: '$' | '@';
  segments: Segment[];
}

type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=';
type Operand = { kind: 'path'; path: RelPath } | { kind: 'literal'; value: unknown };

type Expr =
  | { kind: 'and' | 'or'; items: Expr[] }
  | { kind: 'not'; expr: Expr }
  | { kind: 'test'; operand: Operand }
  | { kind: 'compare'; op: CompareOp; left: Operand; right: Operand };

export interface JsonPath {
  readonly source: string;
  /** The matched values, in jsonpath2's order. */
  match(value: unknown): unknown[];
}

// ---------------------------------------------------------------- parser

const BAREWORD = /[\p{L}\p{N}_$-]/u;
const NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/;
const INTEGER = /^-?\d+/;

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(message: string, at = this.i): never {
    throw new JsonPathSyntaxError(message, at, this.s);
  }

  ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }

  peek(text: string): boolean {
    this.ws();
    return this.s.startsWith(text, this.i);
  }

  eat(text: string): boolean {
    if (!this.peek(text)) return false;
    this.i += text.length;
    return true;
  }

  expect(text: string, what = `'${text}'`): void {
    if (!this.eat(text)) this.fail(`expected ${what}${this.found()}`);
  }

  found(): string {
    return this.i >= this.s.length ? ', found the end of the path' : `, found '${this.s[this.i]}'`;
  }

  /** A keyword such as `and`, not followed by a bareword character. */
  keyword(word: string): boolean {
    if (!this.peek(word)) return false;
    const after = this.s[this.i + word.length];
    if (after !== undefined && BAREWORD.test(after)) return false;
    this.i += word.length;
    return true;
  }

  path(): RelPath {
    this.ws();
    if (!this.eat('$')) this.fail(`a JSON path must start with '$'${this.found()}`);
    const segments = this.segments();
    this.ws();
    if (this.i < this.s.length) this.fail(`unexpected '${this.s[this.i]}'`);
    return { root: '$', segments };
  }

  segments(): Segment[] {
    const segments: Segment[] = [];
    for (;;) {
      this.ws();
      if (this.s.startsWith('..', this.i)) {
        this.i += 2;
        this.ws();
        if (this.s[this.i] === '[') {
          this.i++;
          segments.push({ descendant: true, selectors: this.selectors() });
        } else segments.push({ descendant: true, selectors: [this.bare('..')] });
      } else if (this.s[this.i] === '.') {
        this.i++;
        segments.push({ descendant: false, selectors: [this.bare('.')] });
      } else if (this.s[this.i] === '[') {
        this.i++;
        segments.push({ descendant: false, selectors: this.selectors() });
      } else return segments;
    }
  }

  bare(after: string): Selector {
    this.ws();
    if (this.eat('*')) return { kind: 'wildcard' };
    const start = this.i;
    while (this.i < this.s.length && BAREWORD.test(this.s[this.i]!)) this.i++;
    if (this.i === start) this.fail(`expected a property name or '*' after '${after}'${this.found()}`);
    const name = this.s.slice(start, this.i);
    if (this.peek('(')) this.fail(`functions such as ${name}() are not supported`);
    return { kind: 'name', name };
  }

  /** Selectors after `[`, up to and including `]`. */
  selectors(): Selector[] {
    const list: Selector[] = [this.selector()];
    while (this.eat(',')) list.push(this.selector());
    this.expect(']', "',' or ']'");
    return list;
  }

  selector(): Selector {
    this.ws();
    const c = this.s[this.i];
    if (c === '*') {
      this.i++;
      return { kind: 'wildcard' };
    }
    if (c === '"' || c === "'") return { kind: 'name', name: this.string() };
    if (c === '?') {
      this.i++;
      this.expect('(', "'(' after '?'");
      const expr = this.expr();
      this.expect(')', "')' to close the filter");
      return { kind: 'filter', expr };
    }
    if (c === ':' || INTEGER.test(this.s.slice(this.i))) {
      const start = this.int();
      if (!this.peek(':')) {
        if (start === null) this.fail(`expected an index${this.found()}`);
        return { kind: 'index', index: start };
      }
      this.i++;
      const end = this.int();
      let step: number | null = null;
      if (this.eat(':')) {
        const at = this.i;
        step = this.int();
        if (step === 0) this.fail('slice step cannot be zero', at);
      }
      return { kind: 'slice', start, end, step };
    }
    if (c === '@' || c === '$') this.fail('paths used as subscripts are not supported');
    return this.fail(`expected a name, an index, a slice, '*' or a filter '?(...)'${this.found()}`);
  }

  int(): number | null {
    this.ws();
    const m = INTEGER.exec(this.s.slice(this.i));
    if (!m) return null;
    if (this.s[this.i + m[0].length] === '.') this.fail('an index must be an integer', this.i);
    this.i += m[0].length;
    return Number(m[0]);
  }

  string(): string {
    const quote = this.s[this.i]!;
    const start = this.i++;
    let out = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i++]!;
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[this.i++];
      const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e === undefined) break;
      if (e === 'u') {
        const hex = this.s.slice(this.i, this.i + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape', this.i - 2);
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.i += 4;
      } else if (simple[e]) out += simple[e];
      else if (e === '\\' || e === '/' || e === '"' || e === "'") out += e;
      else this.fail(`invalid escape \\${e}`, this.i - 2);
    }
    return this.fail('unterminated string', start);
  }

  // jsonpath2 precedence: `or` binds tighter than `and`.
  expr(): Expr {
    const items = [this.orExpr()];
    while (this.keyword('and') || this.eat('&&')) items.push(this.orExpr());
    return items.length === 1 ? items[0]! : { kind: 'and', items };
  }

  orExpr(): Expr {
    const items = [this.notExpr()];
    while (this.keyword('or') || this.eat('||')) items.push(this.notExpr());
    return items.length === 1 ? items[0]! : { kind: 'or', items };
  }

  notExpr(): Expr {
    this.ws();
    if (this.keyword('not') || (this.s[this.i] === '!' && this.s[this.i + 1] !== '=' && this.eat('!'))) {
      return { kind: 'not', expr: this.notExpr() };
    }
    if (this.eat('(')) {
      const expr = this.expr();
      this.expect(')', "')'");
      return expr;
    }
    const left = this.operand();
    const op = this.compareOp();
    if (!op) return { kind: 'test', operand: left };
    return { kind: 'compare', op, left, right: this.operand() };
  }

  compareOp(): CompareOp | undefined {
    this.ws();
    for (const [text, op] of [
      ['==', '='],
      ['!=', '!='],
      ['<=', '<='],
      ['>=', '>='],
      ['=', '='],
      ['<', '<'],
      ['>', '>'],
    ] as const) {
      if (this.s.startsWith(text, this.i)) {
        this.i += text.length;
        return op;
      }
    }
    return undefined;
  }

  operand(): Operand {
    this.ws();
    const c = this.s[this.i];
    if (c === '@' || c === '$') {
      this.i++;
      return { kind: 'path', path: { root: c, segments: this.segments() } };
    }
    if (c === undefined || c === ')') this.fail(`expected a path or a value${this.found()}`);
    return { kind: 'literal', value: this.literal() };
  }

  literal(): unknown {
    this.ws();
    const c = this.s[this.i];
    if (c === '"' || c === "'") return this.string();
    if (this.keyword('true')) return true;
    if (this.keyword('false')) return false;
    if (this.keyword('null')) return null;
    if (c === '[') {
      this.i++;
      const list: unknown[] = [];
      if (this.eat(']')) return list;
      do list.push(this.literal());
      while (this.eat(','));
      this.expect(']', "',' or ']'");
      return list;
    }
    if (c === '{') {
      this.i++;
      const obj: Record<string, unknown> = {};
      if (this.eat('}')) return obj;
      do {
        this.ws();
        const q = this.s[this.i];
        if (q !== '"' && q !== "'") this.fail(`expected a quoted key${this.found()}`);
        const key = this.string();
        this.expect(':');
        obj[key] = this.literal();
      } while (this.eat(','));
      this.expect('}', "',' or '}'");
      return obj;
    }
    const m = NUMBER.exec(this.s.slice(this.i));
    if (m) {
      this.i += m[0].length;
      return Number(m[0]);
    }
    return this.fail(`expected a path or a value${this.found()}`);
  }
}

// ---------------------------------------------------------------- evaluator

function children(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (isDict(value)) return Object.values(value);
  return [];
}

function atIndex(list: unknown[], index: number): unknown[] {
  const i = index < 0 ? index + list.length : index;
  return i >= 0 && i < list.length ? [list[i]] : [];
}

function isNumeric(v: unknown): v is number | boolean {
  return typeof v === 'number' || typeof v === 'boolean';
}

function compare(op: CompareOp, a: unknown, b: unknown): boolean {
  if (op === '=') return pyEquals(a, b);
  if (op === '!=') return !pyEquals(a, b);
  if (!isNumeric(a) || !isNumeric(b)) return false;
  const x = Number(a);
  const y = Number(b);
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

class Evaluator {
  constructor(readonly root: unknown) {}

  segments(segments: Segment[], from: number, current: unknown, out: unknown[]): void {
    if (from === segments.length) {
      out.push(current);
      return;
    }
    const seg = segments[from]!;
    if (!seg.descendant) {
      for (const sel of seg.selectors) {
        for (const v of this.select(sel, current, false)) this.segments(segments, from + 1, v, out);
      }
      return;
    }
    // Pre-order, as jsonpath2: the node itself, then each child in turn.
    const visit = (node: unknown): void => {
      for (const sel of seg.selectors) {
        for (const v of this.select(sel, node, true)) this.segments(segments, from + 1, v, out);
      }
      for (const child of children(node)) visit(child);
    };
    visit(current);
  }

  select(sel: Selector, current: unknown, underDescent: boolean): unknown[] {
    switch (sel.kind) {
      case 'name':
        return isDict(current) && Object.hasOwn(current, sel.name) ? [current[sel.name]] : [];
      case 'index':
        return Array.isArray(current) ? atIndex(current, sel.index) : [];
      case 'wildcard':
        return children(current);
      case 'slice': {
        if (!Array.isArray(current)) return [];
        const n = current.length;
        const start = sel.start === null ? 0 : sel.start + (sel.start < 0 ? n : 0);
        const end = sel.end === null ? n : sel.end + (sel.end < 0 ? n : 0);
        const step = sel.step ?? 1;
        const out: unknown[] = [];
        if (step > 0) for (let i = start; i < end; i += step) out.push(...atIndex(current, i));
        else for (let i = start; i > end; i += step) out.push(...atIndex(current, i));
        return out;
      }
      case 'filter':
        if (Array.isArray(current) && !underDescent)
          return current.filter((item) => this.test(sel.expr, item));
        return this.test(sel.expr, current) ? [current] : [];
    }
  }

  values(operand: Operand, current: unknown): unknown[] {
    if (operand.kind === 'literal') return [operand.value];
    const out: unknown[] = [];
    this.segments(operand.path.segments, 0, operand.path.root === '$' ? this.root : current, out);
    return out;
  }

  test(expr: Expr, current: unknown): boolean {
    switch (expr.kind) {
      case 'and':
        return expr.items.every((e) => this.test(e, current));
      case 'or':
        return expr.items.some((e) => this.test(e, current));
      case 'not':
        return !this.test(expr.expr, current);
      case 'test':
        return expr.operand.kind === 'literal'
          ? pyTruthy(expr.operand.value)
          : this.values(expr.operand, current).length > 0;
      case 'compare': {
        const lefts = this.values(expr.left, current);
        const rights = this.values(expr.right, current);
        return lefts.some((l) => rights.some((r) => compare(expr.op, l, r)));
      }
    }
  }
}

/** Parses a JSONPath; throws JsonPathSyntaxError with the offending position. */
export function parseJsonPath(source: string): JsonPath {
  const parsed = new Parser(source).path();
  return {
    source,
    match(value: unknown): unknown[] {
      const out: unknown[] = [];
      new Evaluator(value).segments(parsed.segments, 0, value, out);
      return out;
    },
  };
}

/** The values `path` selects in `value`. */
export function queryJsonPath(path: string, value: unknown): unknown[] {
  return parseJsonPath(path).match(value);
}
