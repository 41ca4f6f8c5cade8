/**
 * Keys an experiment has that nothing reads (`titel:` for `title:`). Chaos
 * Toolkit ignores unknown keys and experiments carry extension keys, so these
 * are warnings, never errors; each names the key and, when one is close, the
 * key the author probably meant. The known keys are the schema's own
 * (core/schema.ts), so Faultline's extensions (proxies, load, safeguards,
 * blast_radius, ...) are known by construction.
 */
import { ExperimentSchema, FullActivitySchema, SafeguardSchema } from '../core/schema.js';

type Path = (string | number)[];

const EXPERIMENT_KEYS = Object.keys(ExperimentSchema.shape);
const ACTIVITY_KEYS = Object.keys(FullActivitySchema.shape);
const SAFEGUARD_KEYS = Object.keys(SafeguardSchema.shape);
// `$schema` points an editor at `faultline schema`'s output; it is not part of the format.
const EDITOR_KEYS = ['$schema'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Edit distance (insertions, deletions, substitutions, adjacent swaps), for suggestions.
 * Three rows at a time, not the whole matrix: a key can be megabytes long (an array per
 * character of it kept `validate` collecting garbage for minutes).
 */
export function distance(a: string, b: string): number {
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, (before[j - 2] as number) + 1);
      row[j] = v;
    }
    [before, prev, row] = [prev, row, before];
  }
  return prev[b.length] as number;
}

/** The known key closest to `key`, if it is close enough to be a typo (or differs only in case or - vs _). */
export function closest(key: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const allowed = Math.max(1, Math.floor(key.length / 3));
  const normKey = norm(key);
  const lowerKey = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    if (norm(k) === normKey) return k;
    // The distance is at least the difference in length: a candidate that cannot be close
    // enough, or closer than the best so far, is not measured.
    const atLeast = Math.abs(key.length - k.length);
    if (atLeast > allowed || atLeast >= bestDistance) continue;
    const dist = distance(lowerKey, k.toLowerCase());
    if (dist < bestDistance) {
      best = k;
      bestDistance = dist;
    }
  }
  return bestDistance <= allowed ? best : undefined;
}

function check(
  value: Record<string, unknown>,
  path: Path,
  known: readonly string[],
  where: string,
  add: (path: Path, message: string) => void,
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    add(
      [...path, key],
      `unknown key '${key}' ${where} (ignored, as Chaos Toolkit does)${guess ? `: did you mean '${guess}'?` : ''}`,
    );
  }
}

/**
 * Warnings for the unknown keys at the top level of `raw` and in its activities
 * (hypothesis probes, method, rollbacks, safeguards; references are left alone).
 */
export function unknownKeys(raw: Record<string, unknown>, add: (path: Path, message: string) => void): void {
  check(raw, [], [...EXPERIMENT_KEYS, ...EDITOR_KEYS], 'in the experiment', add);
  const lists: [Path, unknown, readonly string[], string][] = [
    [['method'], raw.method, ACTIVITY_KEYS, 'in this activity'],
    [['rollbacks'], raw.rollbacks, ACTIVITY_KEYS, 'in this activity'],
    [['safeguards'], raw.safeguards, SAFEGUARD_KEYS, 'in this safeguard'],
  ];
  const hypothesis = raw['steady-state-hypothesis'];
  if (isObject(hypothesis))
    lists.push([['steady-state-hypothesis', 'probes'], hypothesis.probes, ACTIVITY_KEYS, 'in this probe']);
  for (const [path, list, known, where] of lists) {
    if (!Array.isArray(list)) continue;
    list.forEach((a, i) => {
      // A reference ({ref: name}) is Chaos Toolkit's; an object without a type is reported by the schema.
      if (isObject(a) && typeof a.type === 'string') check(a, [...path, i], known, where, add);
    });
  }
}
