/**
 * Secrets never reach a journal, a log, a trace or a report: literal secret
 * values in the experiment copy become "***", and any string anywhere in the
 * journal or in a RunEvent that contains a resolved secret value has that
 * value masked (an http probe that echoes a token, a process that prints it,
 * an error quoting a URL whose query carries it, percent-encoded or not).
 * Every RunEvent goes through redactEvent() in the engine before any listener
 * (renderers, JSON logs, traces, metrics, webhooks) sees it.
 */
import type { RunEvent } from './events.js';

export const MASK = '***';

/** Secret values worth masking: short values would mask innocent text. */
export function secretValues(secrets: Record<string, Record<string, unknown>>): string[] {
  const out = new Set<string>();
  for (const scope of Object.values(secrets)) {
    for (const v of Object.values(scope ?? {})) {
      if ((typeof v === 'string' || typeof v === 'number') && String(v).length >= 4) {
        const text = String(v);
        out.add(text);
        // As it appears in a URL: percent-encoded (path, query) and form-encoded (space as +).
        out.add(encodeURIComponent(text));
        out.add(new URLSearchParams({ v: text }).toString().slice(2));
      }
    }
  }
  return [...out].sort((a, b) => b.length - a.length);
}

function maskString(s: string, values: string[]): string {
  let out = s;
  for (const v of values) if (out.includes(v)) out = out.split(v).join(MASK);
  return out;
}

/**
 * The journal's JSON form of what JSON cannot hold (a Python activity's bytes
 * or big integers; Chaos Toolkit fails to write such a journal): bytes as the
 * text they hold when it is valid UTF-8, else `{"$bytes": base64}`; a bigint
 * as its decimal digits (JSON.stringify refuses bigints).
 */
function journalValue(value: Uint8Array | bigint): unknown {
  if (typeof value === 'bigint') return value.toString();
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(value);
  } catch {
    return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
}

function walk(value: unknown, values: string[]): unknown {
  if (value instanceof Uint8Array || typeof value === 'bigint') value = journalValue(value);
  if (typeof value === 'string') return values.length ? maskString(value, values) : value;
  if (Array.isArray(value)) return value.map((v) => walk(v, values));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = walk(v, values);
    return out;
  }
  return value;
}

/** Masks declared literal secrets (keeps `{type: env, key}` references, which hold no value). */
function maskDeclared(declared: unknown): unknown {
  if (!declared || typeof declared !== 'object') return declared;
  const out: Record<string, unknown> = {};
  for (const [scope, entries] of Object.entries(declared as Record<string, unknown>)) {
    const masked: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((entries as Record<string, unknown>) ?? {})) {
      const isRef = v && typeof v === 'object' && typeof (v as { type?: unknown }).type === 'string';
      masked[k] = isRef ? v : MASK;
    }
    out[scope] = masked;
  }
  return out;
}

// Query parameters whose values are credentials whatever they are (signed URLs, API keys).
// Name parts are bounded so that matching stays linear on megabytes of output.
const SECRET_PARAM =
  /([?&](?:[\w.-]{0,40}[_-])?(?:token|secret|password|passwd|pwd|api[_-]?key|apikey|access[_-]?key|auth|signature|sig|credentials?)(?:[_-][\w.-]{0,40})?=)([^&#\s"'<>]+)/gi;

/** A string as events carry it: secret values and credential-named query values masked. */
function maskEventString(s: string, values: string[]): string {
  const masked = values.length ? maskString(s, values) : s;
  return masked.includes('=') ? masked.replace(SECRET_PARAM, (_m, name: string) => `${name}${MASK}`) : masked;
}

/**
 * Copies only what changes (structural sharing), so an event that carries no
 * secret is passed on as is; an activity's copy is reused through `seen`, so
 * listeners that key on the activity object (activity-start, then the run
 * record's activity at activity-end) still find it.
 */
function walkShared(value: unknown, values: string[], seen: WeakMap<object, unknown>, key?: string): unknown {
  if (typeof value === 'string') return maskEventString(value, values);
  if (!value || typeof value !== 'object') return value;
  if (key === 'activity' && seen.has(value)) return seen.get(value);
  let out: unknown = value;
  if (Array.isArray(value)) {
    const copy = value.map((v) => walkShared(v, values, seen));
    if (copy.some((v, i) => v !== value[i])) out = copy;
  } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    let copy: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      const w = walkShared(v, values, seen, k);
      if (w !== v) {
        copy ??= { ...(value as Record<string, unknown>) };
        copy[k] = w;
      }
    }
    if (copy) out = copy;
  }
  if (key === 'activity') seen.set(value, out);
  return out;
}

/**
 * The event as listeners may see it: every string in it (log messages,
 * reasons, outputs, exception lines, fault arguments, the final journal) with
 * secret values masked. `seen` is one per run (see walkShared).
 */
export function redactEvent(
  event: RunEvent,
  secrets: Record<string, Record<string, unknown>>,
  seen: WeakMap<object, unknown>,
): RunEvent {
  return walkShared(event, secretValues(secrets), seen) as RunEvent;
}

export function redactSecrets<T extends { experiment: { secrets?: unknown } }>(
  journal: T,
  secrets: Record<string, Record<string, unknown>>,
): T {
  const copy = walk(journal, secretValues(secrets)) as T;
  if (copy.experiment.secrets !== undefined) copy.experiment.secrets = maskDeclared(copy.experiment.secrets);
  return copy;
}
