/**
 * Secrets never reach a journal, a log or a report: literal secret values in
 * the experiment copy become "***", and any string anywhere in the journal that
 * contains a resolved secret value has that value masked (an http probe that
 * echoes a token, a process that prints it).
 */
export const MASK = '***';

/** Secret values worth masking: short values would mask innocent text. */
function secretValues(secrets: Record<string, Record<string, unknown>>): string[] {
  const out = new Set<string>();
  for (const scope of Object.values(secrets)) {
    for (const v of Object.values(scope ?? {})) {
      if ((typeof v === 'string' || typeof v === 'number') && String(v).length >= 4) out.add(String(v));
    }
  }
  return [...out].sort((a, b) => b.length - a.length);
}

function maskString(s: string, values: string[]): string {
  let out = s;
  for (const v of values) if (out.includes(v)) out = out.split(v).join(MASK);
  return out;
}

function walk(value: unknown, values: string[]): unknown {
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

export function redactSecrets<T extends { experiment: { secrets?: unknown } }>(
  journal: T,
  secrets: Record<string, Record<string, unknown>>,
): T {
  const copy = walk(journal, secretValues(secrets)) as T;
  if (copy.experiment.secrets !== undefined) copy.experiment.secrets = maskDeclared(copy.experiment.secrets);
  return copy;
}
