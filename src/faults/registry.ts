/**
 * Fault kinds by name: recovery finds how to revert a ledger entry by its
 * `kind`. The catalog knows the kinds only through the groups it is given
 * (the composition root, src/compose.ts, passes faults/groups.ts's list), so
 * the machinery imports no fault kind and a halt loads only what its ledger holds.
 */
import type { FaultKind } from '../core/fault.js';
import { Registry } from '../core/registry.js';

export type KindLoader = () => Promise<readonly FaultKind[]>;

/** A group of kinds and how to load them (faults/groups.ts lists the built-in ones). */
export interface FaultGroup {
  /**
   * The group a kind's name starts with (`network-loss` -> network); undefined for kinds
   * whose names name no group (marker-file, proxy-toxic), loaded for any name no group claims.
   */
  readonly group: string | undefined;
  readonly load: KindLoader;
  /**
   * The group's section of docs/catalog.md (module `faultline.<group>`), beside its loader so a
   * new group needs no entry elsewhere: a title, the detailed doc (optional), and a paragraph.
   */
  readonly catalog?: FaultGroupCatalog;
}

/** What docs/catalog.md says of a fault group (scripts/catalog-render.mjs renders it). */
export interface FaultGroupCatalog {
  readonly title: string;
  /** The doc (under docs/, with an optional #anchor) the section links to. */
  readonly doc?: string;
  readonly about: string;
}

/** What recovery and sessions look kinds up in: a catalog, or a plain registry (tests). */
export type FaultKindSource = FaultKindCatalog | Registry<FaultKind>;

export class FaultKindCatalog {
  readonly registry = new Registry<FaultKind>('fault kind');
  readonly #groups = new Map<string, KindLoader>();
  readonly #others: KindLoader[] = [];
  /** Every loader in the list's order, and what each loaded: all() answers in that order. */
  readonly #loaders: KindLoader[] = [];
  readonly #loaded = new Map<KindLoader, readonly FaultKind[]>();

  /** @param groups every group, by the group its kinds' names start with (faults/groups.ts) */
  constructor(groups: readonly FaultGroup[]) {
    for (const { group, load } of groups) {
      this.#loaders.push(load);
      if (group === undefined) this.#others.push(load);
      else this.#groups.set(group, load);
    }
  }

  /** Registering the same object again is a no-op (a loader and a caller may both reach a kind). */
  register(kind: FaultKind): void {
    if (this.registry.get(kind.kind) === kind) return;
    this.registry.register(kind.kind, kind);
  }

  /**
   * The registry with (at least) the kinds named loaded; unknown names are
   * simply not found. Loading every group (the PostgreSQL driver among them)
   * would cost the emergency stop a few hundred milliseconds.
   */
  async loadFor(names: Iterable<string>): Promise<Registry<FaultKind>> {
    const loaders = new Set<KindLoader>();
    for (const name of names) {
      if (this.registry.has(name)) continue;
      const group = this.#groups.get(name.split('-')[0] ?? '');
      for (const load of group ? [group] : this.#others) loaders.add(load);
    }
    await this.#load(loaders);
    return this.registry;
  }

  /** The registry with every group loaded (registered in the list's order when none was yet). */
  async loadAll(): Promise<Registry<FaultKind>> {
    await this.#load(new Set(this.#loaders));
    return this.registry;
  }

  /**
   * Every kind, every group loaded: the groups' kinds in the list's order, then those
   * registered beside them in their order. The registry's own order depends on which
   * names were asked for first; this one does not, so listings built on it stay put.
   */
  async all(): Promise<FaultKind[]> {
    await this.loadAll();
    const listed = this.#loaders.flatMap((load) => this.#loaded.get(load) ?? []);
    const seen = new Set(listed);
    return [...listed, ...this.registry.entries().flatMap(([, kind]) => (seen.has(kind) ? [] : [kind]))];
  }

  async #load(loaders: Set<KindLoader>): Promise<void> {
    const wanted = [...loaders].filter((load) => !this.#loaded.has(load));
    const results = await Promise.all(wanted.map((load) => load()));
    for (const [i, kinds] of results.entries()) {
      this.#loaded.set(wanted[i]!, kinds);
      for (const kind of kinds) this.register(kind);
    }
  }
}

/** The registry holding at least the kinds named. */
export async function kindsFor(
  source: FaultKindSource,
  names: Iterable<string>,
): Promise<Registry<FaultKind>> {
  return source instanceof FaultKindCatalog ? source.loadFor(names) : source;
}
