/**
 * Python value semantics that Chaos Toolkit experiments rely on without saying
 * so: `==` (so `1 == True` and `200 == 200.0`), ordering (`<=` raises
 * TypeError between unrelated types), truthiness and `str()`. Pure functions
 * over JSON-like values; a JS object that is not an array stands for a dict.
 *
 * @example
 * pyEquals(1, true); // true
 * pyLessEqual('a', 1); // throws PyTypeError
 * pyStr(true); // 'True'
 */

/** Python's TypeError, for comparisons Python refuses (`None <= 1`). */
export class PyTypeError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'PyTypeError';
  }
}

/** A JS value standing for a Python dict: any object that is not an array. */
export function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNumeric(value: unknown): value is number | boolean | bigint {
  return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint';
}

function toNumeric(value: number | boolean | bigint): number | bigint {
  return typeof value === 'boolean' ? Number(value) : value;
}

/** Python's type name, for messages (`int`, `float`, `str`, `dict`, `NoneType`...). */
export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Uint8Array) return 'bytes';
  return 'dict';
}

/** Python `a == b` over JSON-like values. */
export function pyEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isNumeric(a) && isNumeric(b)) {
    // Loose equality compares number and bigint by value.
    // biome-ignore lint/suspicious/noDoubleEquals: numeric comparison across number/bigint
    return toNumeric(a) == toNumeric(b);
  }
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => pyEquals(item, b[i]));
  }
  if (isDict(a) && isDict(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && pyEquals(a[k], b[k]));
  }
  return false;
}

/** Python `value in list`. */
export function pyContains(list: readonly unknown[], value: unknown): boolean {
  return list.some((item) => pyEquals(item, value));
}

/** Orders UTF-16 units so that surrogates sort above U+E000..U+FFFF, i.e. by code point. */
function codePointKey(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}

/** Compares strings by code point, as Python does (JS `<` compares UTF-16 units). */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) return codePointKey(ca) - codePointKey(cb);
  }
  return a.length - b.length;
}

type Op = '<' | '<=';

function pyCompare(a: unknown, b: unknown, op: Op): boolean {
  if (isNumeric(a) && isNumeric(b)) {
    const x = toNumeric(a);
    const y = toNumeric(b);
    return op === '<' ? x < y : x <= y;
  }
  if (typeof a === 'string' && typeof b === 'string') {
    const c = compareStrings(a, b);
    return op === '<' ? c < 0 : c <= 0;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (!pyEquals(a[i], b[i])) return pyCompare(a[i], b[i], op);
    }
    return op === '<' ? a.length < b.length : a.length <= b.length;
  }
  throw new PyTypeError(
    `'${op}' not supported between instances of '${pyTypeName(a)}' and '${pyTypeName(b)}'`,
  );
}

/** Python `a <= b`; throws PyTypeError where Python raises TypeError. */
export function pyLessEqual(a: unknown, b: unknown): boolean {
  return pyCompare(a, b, '<=');
}

/** Python `a < b`; throws PyTypeError where Python raises TypeError. */
export function pyLess(a: unknown, b: unknown): boolean {
  return pyCompare(a, b, '<');
}

/** Python `bool(value)`: empty containers and strings, zero and None are false; NaN is true. */
export function pyTruthy(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'bigint') return value !== 0n;
  if (typeof value === 'string') return value.length > 0;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Map || value instanceof Set) return value.size > 0;
  if (value instanceof Uint8Array) return value.length > 0;
  if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    return Object.keys(value).length > 0;
  }
  return true;
}

/** Python `repr(float)`: shortest round-trip digits, exponent outside 1e-4 <= |x| < 1e16. */
function floatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const [mantissa = '', expText = '0'] = n.toExponential().split('e');
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  let body: string;
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      const frac = digits.slice(exp + 1) || '0';
      body = `${intPart}.${frac}`;
    } else {
      body = `0.${'0'.repeat(-exp - 1)}${digits}`;
    }
  } else {
    const frac = digits.slice(1);
    body = `${digits[0]}${frac ? `.${frac}` : ''}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return negative ? `-${body}` : body;
}

function strRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Python `repr(value)` for JSON-like values (`{'a': [1, None, True]}`). */
export function pyRepr(value: unknown): string {
  if (typeof value === 'string') return strRepr(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (isDict(value) && !(value instanceof Uint8Array)) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${strRepr(k)}: ${pyRepr(v)}`)
      .join(', ')}}`;
  }
  return pyStr(value);
}

/**
 * Python `str(value)` for JSON-like values. Integral numbers print as ints,
 * since JSON parsing in JS cannot tell `1` from `1.0`.
 */
export function pyStr(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    return Number.isInteger(value) && !Object.is(value, -0) ? BigInt(value).toString() : floatRepr(value);
  }
  return pyRepr(value);
}
