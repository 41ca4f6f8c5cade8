/**
 * The messages between Faultline and its Python worker
 * (python/faultline_worker.py), as zod schemas, and the value codec both ends
 * share. docs/python-worker.md is the description; this file and the worker
 * are the two implementations, kept in step by test/unit/python-worker*.test.ts.
 */
import { z } from 'zod';

/** Version the worker announces in its ready line; the client refuses another. */
export const PROTOCOL_VERSION = 1;

/** Longest line either end accepts by default (a request or a reply, without its newline). */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Deepest value either end encodes: real activity arguments are a few levels deep, and deeper risks the stack. */
export const MAX_DEPTH = 200;

/** The worker's first line on stdout. */
export const readySchema = z.object({
  ready: z.literal(true),
  protocol: z.number().int(),
  pid: z.number().int().positive(),
  python: z.string(),
  executable: z.string(),
});
export type Ready = z.infer<typeof readySchema>;

/** A request, one JSON object a line on the worker's stdin. Values are encoded (encodeValue). */
export const requestSchema = z.object({
  id: z.number().int().nonnegative(),
  op: z.literal('call'),
  module: z.string().min(1),
  func: z.string().min(1),
  kwargs: z.record(z.string(), z.unknown()),
  optional: z.record(z.string(), z.unknown()).optional(),
  return: z.array(z.string()).optional(),
  missing_ok: z.boolean().optional(),
});
export type Request = z.infer<typeof requestSchema>;

/** What went wrong in a call: the function raised, or (faultline: true) the worker could not serve it. */
export const wireErrorSchema = z.object({
  /** The exception class's name, e.g. `RuntimeError`. */
  type: z.string(),
  /** `<module>.<qualname>`, e.g. `builtins.RuntimeError`. */
  qualname: z.string(),
  /** str(exception). */
  message: z.string(),
  /** `<Type>: <message>` as Chaos Toolkit words ActivityFailed (format_exception_only's line). */
  summary: z.string(),
  /** The journal's `exception` lines, Chaos Toolkit's shape (with the ActivityFailed tail). */
  traceback: z.array(z.string()),
  /** The exception is (a subclass of) a class named InterruptExecution. */
  interrupt: z.boolean(),
  /** Set on the worker's own errors (ProtocolError, ReplyTooLarge, UnsendableValue, WorkerError). */
  faultline: z.boolean().optional(),
});
export type WireError = z.infer<typeof wireErrorSchema>;

const id = z.number().int().nullable();

export const valueReplySchema = z.object({
  id,
  ok: z.literal(true),
  missing: z.undefined().optional(),
  value: z.unknown(),
  returned: z.record(z.string(), z.unknown()),
});
export const missingReplySchema = z.object({
  id,
  ok: z.literal(true),
  missing: z.enum(['module', 'function']),
  message: z.string(),
});
export const errorReplySchema = z.object({
  id,
  ok: z.literal(false),
  error: wireErrorSchema,
  returned: z.record(z.string(), z.unknown()).optional(),
});
/** A reply, one JSON object a line on the worker's protocol channel (its original stdout). */
export const replySchema = z.union([missingReplySchema, valueReplySchema, errorReplySchema]);
export type Reply = z.infer<typeof replySchema>;

/** A value that cannot be encoded: where (a path like `kwargs.items[3]`) and why. */
export class CodecError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${shortPath(path)}: ${reason}`);
    this.name = 'CodecError';
  }
}

/** A path 200 levels deep is thousands of characters: its ends say enough (cut between segments). */
function shortPath(path: string): string {
  if (path.length <= 160) return path;
  const head = path.slice(0, 100);
  const tail = path.slice(-60);
  const cutHead = Math.max(head.lastIndexOf('['), head.lastIndexOf('.'));
  const cutTail = tail.search(/[[.]/);
  return `${head.slice(0, cutHead > 0 ? cutHead : 100)}…${cutTail >= 0 ? tail.slice(cutTail) : tail}`;
}

function pathOf(parent: string, key: string | number): string {
  return typeof key === 'number' ? `${parent}[${key}]` : parent ? `${parent}.${key}` : key;
}

/** obj[key] = value, also for `__proto__`, which plain assignment would turn into a prototype change. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function encodeInner(v: unknown, path: string, depth: number, seen: Set<object>): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (Number.isFinite(v)) return v;
      return { $float: Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf' };
    case 'bigint':
      return { $int: v.toString() };
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (v === null) return null;
  const obj = v as object;
  if (depth >= MAX_DEPTH) throw new CodecError(path, `nested deeper than ${MAX_DEPTH} levels`);
  if (obj instanceof Uint8Array)
    return { $bytes: Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength).toString('base64') };
  if (obj instanceof ArrayBuffer) return { $bytes: Buffer.from(obj).toString('base64') };
  if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
    // Date and friends: what JSON.stringify would write.
    return encodeInner((obj as { toJSON(key: string): unknown }).toJSON(''), path, depth, seen);
  }
  if (seen.has(obj)) throw new CodecError(path, 'the value contains itself (a circular reference)');
  seen.add(obj);
  try {
    if (Array.isArray(obj) || obj instanceof Set) {
      const out: unknown[] = [];
      let i = 0;
      for (const item of obj) {
        const e = encodeInner(item, pathOf(path, i), depth + 1, seen);
        out.push(e === undefined ? null : e);
        i++;
      }
      return out;
    }
    const entries: [string, unknown][] =
      obj instanceof Map ? [...obj].map(([k, x]) => [String(k), x]) : Object.entries(obj);
    const out: Record<string, unknown> = {};
    let count = 0;
    let last = '';
    for (const [k, x] of entries) {
      const e = encodeInner(x, pathOf(path, k), depth + 1, seen);
      if (e === undefined) continue;
      setOwn(out, k, e);
      count++;
      last = k;
    }
    // A dict whose only key starts with `$` would read as a tag: it travels escaped.
    if (count === 1 && last.startsWith('$')) return { $dict: [[last, out[last]]] };
    return out;
  } finally {
    seen.delete(obj);
  }
}

/**
 * A JavaScript value as the JSON the worker decodes: JSON types as they are,
 * Uint8Array/Buffer -> {$bytes}, bigint -> {$int}, NaN and infinities ->
 * {$float}, Set -> list, Map -> dict, toJSON() honoured (Date -> ISO string),
 * undefined/functions/symbols dropped as JSON.stringify drops them, a dict
 * whose only key starts with `$` -> {$dict: [[key, value]]}. Throws CodecError
 * (naming the path under `root`) for circular or too deep values.
 */
export function encodeValue(v: unknown, root = 'value'): unknown {
  const e = encodeInner(v, root, 0, new Set());
  return e === undefined ? null : e;
}

function decodeTag(tag: string, x: unknown, path: string): { value: unknown } | undefined {
  switch (tag) {
    case '$bytes':
      if (typeof x === 'string') return { value: Buffer.from(x, 'base64') };
      break;
    case '$int':
      if (typeof x === 'string' && /^-?\d+$/.test(x)) return { value: BigInt(x) };
      break;
    case '$float':
      if (x === 'nan') return { value: Number.NaN };
      if (x === 'inf') return { value: Number.POSITIVE_INFINITY };
      if (x === '-inf') return { value: Number.NEGATIVE_INFINITY };
      break;
    case '$repr':
      if (typeof x === 'string') return { value: x };
      break;
    case '$dict':
      if (
        Array.isArray(x) &&
        x.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string')
      ) {
        const out: Record<string, unknown> = {};
        for (const [k, item] of x as [string, unknown][]) setOwn(out, k, decodeInner(item, pathOf(path, k)));
        return { value: out };
      }
      break;
    default:
      return undefined;
  }
  throw new CodecError(path, `malformed tagged value ${tag}`);
}

function decodeInner(v: unknown, path: string): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = decodeInner(v[i], pathOf(path, i));
    return v;
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 1 && keys[0]!.startsWith('$')) {
    const tagged = decodeTag(keys[0]!, obj[keys[0]!], path);
    if (tagged) return tagged.value;
  }
  for (const k of keys) setOwn(obj, k, decodeInner(obj[k], pathOf(path, k)));
  return obj;
}

/**
 * A value the worker encoded, as JavaScript: {$bytes} -> Buffer, {$int} ->
 * bigint, {$float} -> NaN/±Infinity, {$repr} -> its text (a string), {$dict}
 * -> the plain object. Decodes in place (the input is fresh from JSON.parse).
 * Throws CodecError for a malformed tag.
 */
export function decodeValue(v: unknown, root = 'value'): unknown {
  return decodeInner(v, root);
}

/** True when a line of JSON may hold a tag, so decoding can be skipped for the rest (the common case). */
export function mayHoldTags(line: string): boolean {
  return line.includes('"$');
}
