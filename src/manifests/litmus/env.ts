/**
 * Litmus tunes every experiment through `components.env`, a Kubernetes env
 * list of strings (`- name: TOTAL_CHAOS_DURATION, value: '30'`). Env reads
 * that list once, then hands each value out by name with a reader that
 * records a `refused` note naming `...components.env[i].value` when the text
 * is not what the experiment expects. Every name must be taken by someone:
 * what nobody took is refused by `leftovers()`, naming `...env[i].name`, so a
 * tunable Faultline does not know never vanishes silently.
 *
 * Litmus reads an empty value as "not set" (its charts ship `value: ''`
 * placeholders), and so does Env.
 */
import { describe, isRecord, join, type Notes, string } from '../notes.js';

interface Entry {
  value: string;
  /** `spec.experiments[0].spec.components.env[3]` */
  path: string;
  taken: boolean;
}

export class Env {
  readonly #entries = new Map<string, Entry>();
  readonly #notes: Notes;

  constructor(notes: Notes, list: unknown, path: string) {
    this.#notes = notes;
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) {
      notes.refused(path, `expected a list of {name, value}, got ${describe(list)}`);
      return;
    }
    list.forEach((item, i) => {
      const at = join(path, i);
      if (!isRecord(item)) {
        notes.refused(at, `expected {name, value}, got ${describe(item)}`);
        return;
      }
      const name = typeof item.name === 'string' ? item.name : undefined;
      if (!name || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        notes.refused(join(at, 'name'), `expected an environment variable name, got ${describe(item.name)}`);
        return;
      }
      if (item.valueFrom !== undefined) {
        notes.refused(
          join(at, 'valueFrom'),
          'values from ConfigMaps, Secrets or fields exist only in a cluster: write the value itself',
        );
      }
      for (const k of Object.keys(item)) {
        if (!['name', 'value', 'valueFrom'].includes(k))
          notes.refused(join(at, k), 'unknown field: an env entry has name and value');
      }
      const value = string(notes, item.value, join(at, 'value')) ?? '';
      if (this.#entries.has(name)) {
        notes.refused(join(at, 'name'), `${name} is set twice (Kubernetes would keep the last; say which)`);
        return;
      }
      this.#entries.set(name, { value: value.trim(), path: at, taken: false });
    });
  }

  /** The path of a variable's value (for notes), or undefined when it is not set. */
  at(name: string): string | undefined {
    const e = this.#entries.get(name);
    return e ? `${e.path}.value` : undefined;
  }

  has(name: string): boolean {
    const e = this.#entries.get(name);
    return e !== undefined && e.value !== '';
  }

  /** The text of a variable (marking it read); undefined when absent or empty. */
  text(name: string): string | undefined {
    const e = this.#entries.get(name);
    if (!e) return undefined;
    if (!e.taken && e.value === '')
      this.#notes.ignored(`${e.path}.value`, `${name}: empty, which Litmus reads as unset`);
    e.taken = true;
    return e.value === '' ? undefined : e.value;
  }

  /** Marks a variable read with a note of its fate (for the plumbing ones), when it is set at all. */
  note(name: string, fate: 'ignored' | 'warned', why: string): void {
    const e = this.#entries.get(name);
    if (!e) return;
    e.taken = true;
    this.#notes[fate](`${e.path}.value`, `${name}: ${why}`);
  }

  mapped(name: string, to: string, why?: string): void {
    const e = this.#entries.get(name);
    if (e && e.value !== '') this.#notes.mapped(`${e.path}.value`, to, why);
  }

  refuse(name: string, why: string): void {
    const e = this.#entries.get(name);
    if (!e) return;
    e.taken = true;
    this.#notes.refused(`${e.path}.value`, `${name}: ${why}`);
  }

  /**
   * A whole number (Litmus parses these with strconv.Atoi), `min`..`max`;
   * `fallback` when unset; undefined with a refused note when it is not one.
   */
  int(
    name: string,
    fallback: number | undefined,
    min = 0,
    max = Number.MAX_SAFE_INTEGER,
  ): number | undefined {
    const t = this.text(name);
    if (t === undefined) return fallback;
    const n = /^[+-]?\d+$/.test(t) ? Number(t) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.#notes.refused(
        this.at(name)!,
        `${name}: expected a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}, got ${JSON.stringify(t)}`,
      );
      return undefined;
    }
    return n;
  }

  /** A decimal number `min`..`max` (percentages Litmus reads as floats). */
  num(name: string, fallback: number | undefined, min: number, max: number): number | undefined {
    const t = this.text(name);
    if (t === undefined) return fallback;
    const n = /^[+-]?\d+(?:\.\d+)?$/.test(t) ? Number(t) : Number.NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
      this.#notes.refused(
        this.at(name)!,
        `${name}: expected a number from ${min} to ${max}, got ${JSON.stringify(t)}`,
      );
      return undefined;
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean | undefined {
    const t = this.text(name);
    if (t === undefined) return fallback;
    if (/^true$/i.test(t)) return true;
    if (/^false$/i.test(t)) return false;
    this.#notes.refused(this.at(name)!, `${name}: expected true or false, got ${JSON.stringify(t)}`);
    return undefined;
  }

  /** One of `choices` (case-insensitive), lower-cased. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T | undefined {
    const t = this.text(name);
    if (t === undefined) return fallback;
    const found = choices.find((c) => c.toLowerCase() === t.toLowerCase());
    if (found) return found;
    this.#notes.refused(
      this.at(name)!,
      `${name}: expected one of ${choices.join(', ')}, got ${JSON.stringify(t)}`,
    );
    return undefined;
  }

  /** A comma-separated list (Litmus' stringutils.SplitList), empty entries dropped. */
  list(name: string): string[] | undefined {
    const t = this.text(name);
    if (t === undefined) return undefined;
    const items = t
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    return items.length ? items : undefined;
  }

  /** Every variable nobody read: refused, naming `env[i].name`. */
  leftovers(experiment: string, known: readonly string[]): void {
    for (const [name, e] of this.#entries) {
      if (e.taken) continue;
      // A known tunable left unread: the translation stopped at an earlier refusal, which says why.
      if (known.includes(name) && this.#notes.refusedAny) continue;
      this.#notes.refused(
        `${e.path}.name`,
        `${name} is not a tunable of ${experiment} that Faultline knows (it knows ${known.join(', ')})`,
      );
    }
  }
}
