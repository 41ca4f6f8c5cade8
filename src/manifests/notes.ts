/**
 * What every translator shares: the notes it keeps on each source field, and
 * readers of the values those tools write (Go durations `300s` / `1h30m`,
 * ISO 8601 durations `PT1M`, percentages as strings `"50"`), each of which
 * records a `refused` note naming the field instead of throwing.
 */
import type { FieldNote } from './types.js';

/** `spec.selector.labelSelectors` + `app` -> `spec.selector.labelSelectors.app`; numbers index: `probe[1]`. */
export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const plain = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key);
  const k = plain ? key : JSON.stringify(key);
  return path === '' ? k : plain ? `${path}.${k}` : `${path}[${k}]`;
}

export class Notes {
  readonly list: FieldNote[] = [];

  mapped(path: string, to: string, why?: string): void {
    this.list.push({ path, fate: 'mapped', to, ...(why ? { why } : {}) });
  }
  ignored(path: string, why: string): void {
    this.list.push({ path, fate: 'ignored', why });
  }
  warned(path: string, why: string): void {
    this.list.push({ path, fate: 'warned', why });
  }
  refused(path: string, why: string): void {
    this.list.push({ path, fate: 'refused', why });
  }
  get refusedAny(): boolean {
    return this.list.some((n) => n.fate === 'refused');
  }

  /**
   * Every key of `obj` not in `handled` is refused: a field nobody read might change what
   * happens, so it is never dropped silently.
   */
  rest(
    obj: Record<string, unknown>,
    path: string,
    handled: readonly string[],
    what = 'this translation',
  ): void {
    for (const k of Object.keys(obj)) {
      if (!handled.includes(k)) this.refused(join(path, k), `unknown field: ${what} does not know it`);
    }
  }
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object at `path`, or undefined with a refused note when it is present and not one. */
export function record(notes: Notes, v: unknown, path: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (isRecord(v)) return v;
  notes.refused(path, `expected an object, got ${describe(v)}`);
  return undefined;
}

export function string(notes: Notes, v: unknown, path: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  notes.refused(path, `expected a string, got ${describe(v)}`);
  return undefined;
}

export function list(notes: Notes, v: unknown, path: string): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v;
  notes.refused(path, `expected a list, got ${describe(v)}`);
  return undefined;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string')
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  return `${typeof v} ${String(v)}`;
}

const GO_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration (`300s`, `1h30m`, `1.5s`, `500ms`): milliseconds, or undefined. */
export function goDurationMs(text: string): number | undefined {
  const t = text.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * GO_UNITS[m[2]!]!;
    at = re.lastIndex;
  }
  return at === t.length && at > 0 ? total : undefined;
}

/** ISO 8601 durations as AWS FIS writes them (`PT1M`, `PT30S`, `PT1H30M`, `P1D`): milliseconds, or undefined. */
export function isoDurationMs(text: string): number | undefined {
  const m =
    /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
      text.trim(),
    );
  if (!m || (m[1] ?? m[2] ?? m[3] ?? m[4]) === undefined) return undefined;
  const [d, h, mi, s] = [m[1], m[2], m[3], m[4]].map((x) => Number(x ?? 0));
  return ((d! * 24 + h!) * 60 + mi!) * 60_000 + s! * 1000;
}

/** A duration field in Go syntax: seconds, or undefined with a refused note naming `path`. */
export function goSeconds(notes: Notes, v: unknown, path: string): number | undefined {
  const s = string(notes, v, path);
  if (s === undefined) return undefined;
  const ms = goDurationMs(s);
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
    notes.refused(path, `expected a duration such as 30s, 5m or 1h30m, got ${JSON.stringify(s)}`);
    return undefined;
  }
  return ms / 1000;
}

/**
 * A percentage as these tools write it (`"25"`, `25`, `"25.5"`; `min`..`max`): the number,
 * or undefined with a refused note naming `path`.
 */
export function percent(notes: Notes, v: unknown, path: string, min = 0, max = 100): number | undefined {
  const s = typeof v === 'number' ? String(v) : string(notes, v, path);
  if (s === undefined) return undefined;
  const n = /^\s*\d+(?:\.\d+)?\s*$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isFinite(n) || n < min || n > max) {
    notes.refused(path, `expected a percentage from ${min} to ${max}, got ${JSON.stringify(s)}`);
    return undefined;
  }
  return n;
}
