/**
 * JSON decoding as Go's `encoding/json` does it, because Toxiproxy clients see
 * its error messages verbatim (`bad request body: EOF`, `... cannot unmarshal
 * string into Go struct field Proxy.name of type string`).
 *
 * - Only the first JSON value of the body is read; whatever follows it is ignored
 *   (a `json.Decoder`, not `json.Unmarshal`).
 * - Syntax errors use the scanner's wording: `invalid character 'x' looking for
 *   beginning of value`, `unexpected EOF`, and `EOF` for an empty body.
 * - Struct fields match keys exactly first, then case-insensitively; unknown keys
 *   are ignored; `null` leaves a field untouched; the first type mismatch wins
 *   but decoding goes on (Go reports it after the whole value is read).
 *
 * The parser is iterative (no recursion) and caps nesting at Go's 10 000 levels,
 * so no body can overflow the stack.
 */

/** A JSON value as the decoder sees it: objects keep every key in order (duplicates too), numbers keep their text. */
export type GoJson =
  | { t: 'object'; entries: [string, GoJson][] }
  | { t: 'array'; items: GoJson[] }
  | { t: 'string'; v: string }
  | { t: 'number'; v: number; raw: string }
  | { t: 'bool'; v: boolean }
  | { t: 'null' };

/** A decoding failure; `message` is exactly what Go's decoder would say. */
export class GoJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoJsonError';
  }
}

const MAX_DEPTH = 10_000;

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Go's `quoteChar`: how the scanner names an offending byte (read as a Latin-1 rune, like `string(byte)`). */
export function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  return `'${quoteRune(c)}'`;
}

function quoteRune(c: number): string {
  switch (c) {
    case 0x07:
      return '\\a';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x0b:
      return '\\v';
    case 0x5c:
      return '\\\\';
  }
  if (c < 0x20 || c === 0x7f) return `\\x${c.toString(16).padStart(2, '0')}`;
  // Latin-1 runes Go's unicode.IsPrint rejects: C1 controls, no-break space, soft hyphen.
  if ((c >= 0x80 && c <= 0xa0) || c === 0xad) return `\\u${c.toString(16).padStart(4, '0')}`;
  return String.fromCharCode(c);
}

function syntax(c: number, context: string): GoJsonError {
  return new GoJsonError(`invalid character ${quoteChar(c)} ${context}`);
}

const unexpectedEOF = () => new GoJsonError('unexpected EOF');

type Frame =
  | { kind: 'object'; node: { t: 'object'; entries: [string, GoJson][] }; key: string }
  | { kind: 'array'; node: { t: 'array'; items: GoJson[] } };

/**
 * Reads the first JSON value of `buf` the way `json.NewDecoder(r).Decode` does.
 * Throws GoJsonError(`EOF`) for an empty or all-whitespace body.
 */
export function parseFirstValue(buf: Uint8Array): GoJson {
  const n = buf.length;
  let i = 0;
  const skip = () => {
    while (i < n && isSpace(buf[i]!)) i++;
  };
  skip();
  if (i >= n) throw new GoJsonError('EOF');

  const stack: Frame[] = [];

  const readString = (): string => {
    // buf[i] is the opening quote.
    i++;
    let out = '';
    let runStart = i;
    for (;;) {
      if (i >= n) throw unexpectedEOF();
      const c = buf[i]!;
      if (c === 0x22) {
        out += Buffer.from(buf.buffer, buf.byteOffset + runStart, i - runStart).toString('utf8');
        i++;
        return out;
      }
      if (c === 0x5c) {
        out += Buffer.from(buf.buffer, buf.byteOffset + runStart, i - runStart).toString('utf8');
        i++;
        if (i >= n) throw unexpectedEOF();
        const e = buf[i]!;
        i++;
        switch (e) {
          case 0x22:
            out += '"';
            break;
          case 0x5c:
            out += '\\';
            break;
          case 0x2f:
            out += '/';
            break;
          case 0x62:
            out += '\b';
            break;
          case 0x66:
            out += '\f';
            break;
          case 0x6e:
            out += '\n';
            break;
          case 0x72:
            out += '\r';
            break;
          case 0x74:
            out += '\t';
            break;
          case 0x75: {
            let code = readHex4();
            if (code >= 0xd800 && code < 0xe000) {
              // Go: a valid surrogate pair is combined; anything else becomes U+FFFD.
              if (code < 0xdc00 && buf[i] === 0x5c && buf[i + 1] === 0x75 && hexAt(i + 2)) {
                const low = Number.parseInt(Buffer.from(buf.subarray(i + 2, i + 6)).toString('latin1'), 16);
                if (low >= 0xdc00 && low < 0xe000) {
                  i += 2;
                  readHex4();
                  out += String.fromCharCode(code, low);
                  break;
                }
              }
              code = 0xfffd;
            }
            out += String.fromCharCode(code);
            break;
          }
          default:
            throw syntax(e, 'in string escape code');
        }
        runStart = i;
        continue;
      }
      if (c < 0x20) throw syntax(c, 'in string literal');
      i++;
    }
  };
  const hexAt = (at: number) => {
    for (let k = at; k < at + 4; k++) if (k >= n || !isHex(buf[k]!)) return false;
    return true;
  };
  const readHex4 = (): number => {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      if (i >= n) throw unexpectedEOF();
      const h = buf[i]!;
      if (!isHex(h)) throw syntax(h, 'in \\u hexadecimal character escape');
      v = v * 16 + Number.parseInt(String.fromCharCode(h), 16);
      i++;
    }
    return v;
  };

  const readNumber = (topLevel: boolean): GoJson => {
    const start = i;
    // At the very end of the body a complete number is fine (Go feeds a space at EOF).
    const eof = () => {
      throw unexpectedEOF();
    };
    if (buf[i] === 0x2d) {
      i++;
      if (i >= n) eof();
      if (!isDigit(buf[i]!)) throw syntax(buf[i]!, 'in numeric literal');
    }
    if (buf[i] === 0x30) i++;
    else while (i < n && isDigit(buf[i]!)) i++;
    if (i < n && buf[i] === 0x2e) {
      i++;
      if (i >= n) eof();
      if (!isDigit(buf[i]!)) throw syntax(buf[i]!, 'after decimal point in numeric literal');
      while (i < n && isDigit(buf[i]!)) i++;
    }
    if (i < n && (buf[i] === 0x65 || buf[i] === 0x45)) {
      i++;
      if (i < n && (buf[i] === 0x2b || buf[i] === 0x2d)) i++;
      if (i >= n) eof();
      if (!isDigit(buf[i]!)) throw syntax(buf[i]!, 'in exponent of numeric literal');
      while (i < n && isDigit(buf[i]!)) i++;
    }
    if (i >= n && !topLevel) eof();
    const raw = Buffer.from(buf.subarray(start, i)).toString('latin1');
    return { t: 'number', v: Number(raw), raw };
  };

  const readLiteral = (word: string, value: GoJson): GoJson => {
    i++;
    for (let k = 1; k < word.length; k++) {
      if (i >= n) throw unexpectedEOF();
      if (buf[i] !== word.charCodeAt(k)) {
        throw syntax(buf[i]!, `in literal ${word} (expecting ${quoteChar(word.charCodeAt(k))})`);
      }
      i++;
    }
    return value;
  };

  const readKey = (): string => {
    skip();
    if (i >= n) throw unexpectedEOF();
    if (buf[i] !== 0x22) throw syntax(buf[i]!, 'looking for beginning of object key string');
    const key = readString();
    skip();
    if (i >= n) throw unexpectedEOF();
    if (buf[i] !== 0x3a) throw syntax(buf[i]!, 'after object key');
    i++;
    return key;
  };

  for (;;) {
    // Expect a value.
    skip();
    if (i >= n) throw unexpectedEOF();
    const c = buf[i]!;
    let value: GoJson | undefined;
    if ((c === 0x7b || c === 0x5b) && stack.length + 1 > MAX_DEPTH) throw syntax(c, 'exceeded max depth');
    if (c === 0x7b) {
      i++;
      const node = { t: 'object' as const, entries: [] as [string, GoJson][] };
      skip();
      if (i >= n) throw unexpectedEOF();
      if (buf[i] === 0x7d) {
        i++;
        value = node;
      } else {
        stack.push({ kind: 'object', node, key: '' });
        (stack[stack.length - 1] as Extract<Frame, { kind: 'object' }>).key = readKey();
        continue;
      }
    } else if (c === 0x5b) {
      i++;
      const node = { t: 'array' as const, items: [] as GoJson[] };
      skip();
      if (i >= n) throw unexpectedEOF();
      if (buf[i] === 0x5d) {
        i++;
        value = node;
      } else {
        stack.push({ kind: 'array', node });
        continue;
      }
    } else if (c === 0x22) value = { t: 'string', v: readString() };
    else if (c === 0x2d || isDigit(c)) value = readNumber(stack.length === 0);
    else if (c === 0x74) value = readLiteral('true', { t: 'bool', v: true });
    else if (c === 0x66) value = readLiteral('false', { t: 'bool', v: false });
    else if (c === 0x6e) value = readLiteral('null', { t: 'null' });
    else throw syntax(c, 'looking for beginning of value');

    // Attach the finished value to its container, closing containers as they end.
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) return value; // the first top-level value is complete; the rest is not read
      skip();
      if (i >= n) throw unexpectedEOF();
      const d = buf[i]!;
      if (top.kind === 'object') {
        top.node.entries.push([top.key, value]);
        if (d === 0x2c) {
          i++;
          top.key = readKey();
          break;
        }
        if (d !== 0x7d) throw syntax(d, 'after object key:value pair');
      } else {
        top.node.items.push(value);
        if (d === 0x2c) {
          i++;
          break;
        }
        if (d !== 0x5d) throw syntax(d, 'after array element');
      }
      i++;
      stack.pop();
      value = top.node;
    }
  }
}

/** Converts an already-parsed JavaScript value (JSON.parse, YAML) into the decoder's representation. */
export function fromPlain(value: unknown): GoJson {
  if (value === null || value === undefined) return { t: 'null' };
  if (typeof value === 'boolean') return { t: 'bool', v: value };
  if (typeof value === 'number') return { t: 'number', v: value, raw: String(value) };
  if (typeof value === 'bigint') return { t: 'number', v: Number(value), raw: String(value) };
  if (typeof value === 'string') return { t: 'string', v: value };
  if (Array.isArray(value)) return { t: 'array', items: value.map(fromPlain) };
  if (value instanceof Date) return { t: 'string', v: value.toISOString() };
  if (typeof value === 'object') {
    return { t: 'object', entries: Object.entries(value).map(([k, v]) => [k, fromPlain(v)]) };
  }
  return { t: 'string', v: String(value) };
}

/** Plain JavaScript value of a decoded tree (duplicate keys: last wins, as in Go maps; `__proto__` is an ordinary key). */
export function toPlain(value: GoJson): unknown {
  switch (value.t) {
    case 'null':
      return null;
    case 'bool':
    case 'string':
    case 'number':
      return value.v;
    case 'array':
      return value.items.map(toPlain);
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of value.entries) {
        Object.defineProperty(out, k, {
          value: toPlain(v),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
  }
}

/** How Go names a JSON value's kind in an UnmarshalTypeError. */
export function kindName(value: GoJson): string {
  switch (value.t) {
    case 'object':
      return 'object';
    case 'array':
      return 'array';
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'bool':
      return 'bool';
    case 'null':
      return 'null';
  }
}

/** Go's UnmarshalTypeError text for a struct field (`Struct.field.path`) or, without a field, a whole value. */
export function typeErrorMessage(what: string, goType: string, struct?: string, field?: string): string {
  return field === undefined
    ? `json: cannot unmarshal ${what} into Go value of type ${goType}`
    : `json: cannot unmarshal ${what} into Go struct field ${struct ?? ''}.${field} of type ${goType}`;
}

/** Go's case folding for struct field names (`foldName`: upper(lower(rune)) per rune). */
export function foldName(name: string): string {
  let out = '';
  for (const ch of name) {
    if (ch === '\u0130') out += 'I';
    else if (ch === '\u017f') out += 'S';
    else if (ch === '\u212a') out += 'K';
    else {
      const l = ch.toLowerCase();
      out += [...l].length === 1 ? l.toUpperCase() : ch.toUpperCase();
    }
  }
  return out;
}

/** The Go type a struct field decodes into. `struct` accepts any object (its keys are read later by someone else). */
export type GoFieldType =
  | { kind: 'string' }
  | { kind: 'bool' }
  | { kind: 'int64' }
  | { kind: 'float32' }
  | { kind: 'struct'; goType: string };

export interface GoStruct {
  /** Type name as Go prints it in `Go value of type X` (e.g. `toxiproxy.Proxy`). */
  goType: string;
  /** Struct name as Go prints it in `Go struct field X.name` (empty for an anonymous struct). */
  name: string;
  fields: Record<string, GoFieldType>;
}

const FLOAT32_MAX = 3.4028234663852886e38;
const INT64_RE = /^-?(0|[1-9]\d*)$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function goTypeName(type: GoFieldType): string {
  return type.kind === 'struct' ? type.goType : type.kind;
}

/** Decodes one field value; returns [value] or a Go type-error message. */
function decodeField(
  value: GoJson,
  type: GoFieldType,
): { ok: true; value: unknown } | { ok: false; what: string } {
  switch (type.kind) {
    case 'string':
      return value.t === 'string' ? { ok: true, value: value.v } : { ok: false, what: kindName(value) };
    case 'bool':
      return value.t === 'bool' ? { ok: true, value: value.v } : { ok: false, what: kindName(value) };
    case 'int64': {
      if (value.t !== 'number') return { ok: false, what: kindName(value) };
      if (!INT64_RE.test(value.raw)) return { ok: false, what: `number ${value.raw}` };
      const big = BigInt(value.raw);
      if (big < INT64_MIN || big > INT64_MAX) return { ok: false, what: `number ${value.raw}` };
      return { ok: true, value: Number(big) };
    }
    case 'float32':
      if (value.t !== 'number') return { ok: false, what: kindName(value) };
      if (!Number.isFinite(value.v) || Math.abs(value.v) > FLOAT32_MAX) {
        return { ok: false, what: `number ${value.raw}` };
      }
      return { ok: true, value: value.v };
    case 'struct':
      return value.t === 'object'
        ? { ok: true, value: toPlain(value) }
        : { ok: false, what: kindName(value) };
  }
}

/**
 * Decodes an object into the named fields of a Go struct. Returns only the
 * fields present with a non-null value (Go leaves the others untouched), keyed
 * by their JSON name. `null` as the whole value decodes to `{}`.
 */
export function decodeStruct(value: GoJson, spec: GoStruct): Record<string, unknown> {
  if (value.t === 'null') return {};
  if (value.t !== 'object') throw new GoJsonError(typeErrorMessage(kindName(value), spec.goType));
  const exact = new Map(Object.keys(spec.fields).map((k) => [k, k]));
  const folded = new Map(Object.keys(spec.fields).map((k) => [foldName(k), k]));
  const out: Record<string, unknown> = {};
  let firstError: string | undefined;
  for (const [key, v] of value.entries) {
    const field = exact.get(key) ?? folded.get(foldName(key));
    if (field === undefined) continue;
    if (v.t === 'null') continue;
    const type = spec.fields[field]!;
    const r = decodeField(v, type);
    if (r.ok) out[field] = r.value;
    else firstError ??= typeErrorMessage(r.what, goTypeName(type), spec.name, field);
  }
  if (firstError !== undefined) throw new GoJsonError(firstError);
  return out;
}

/**
 * Go's `json.Marshal` escaping on top of JSON.stringify: `<`, `>`, `&`, U+2028
 * and U+2029 become `\u` escapes (they only ever occur inside strings).
 */
export function goStringify(value: unknown): string {
  return goEscape(JSON.stringify(value));
}

export function goEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
