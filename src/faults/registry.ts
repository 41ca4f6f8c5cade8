/**
 * Fault kinds by name: recovery finds how to revert a ledger entry by its
 * `kind`. The catalog knows the kinds only through the loaders it is given
 * (the composition root, src/compose.ts, lists the built-in groups), so the
 * machinery imports no fault kind and a halt loads only what its ledger holds.
 */
import type { FaultKind } from '../core/fault.js';
import { Registry } from '../core/registry.js';

export type KindLoader = () => Promise<readonly FaultKind[]>;

/** What recovery and sessions look kinds up in: a catalog, or a plain registry (tests). */
export type FaultKindSource = FaultKindCatalog | Registry<FaultKind>;

export class FaultKindCatalog {
  readonly registry = new Registry<FaultKind>('fault kind');
  readonly #groups: Readonly<Record<string, KindLoader>>;
  readonly #others: KindLoader;

  /**
   * @param groups loaders by the group a kind's name starts with (`network-loss` -> network)
   * @param others the loader for kinds whose name names no group (marker, proxy)
   */
  constructor(groups: Readonly<Record<string, KindLoader>>, others: KindLoader) {
    this.#groups = groups;
    this.#others = others;
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
      if (!this.registry.has(name)) loaders.add(this.#groups[name.split('-')[0] ?? ''] ?? this.#others);
    }
    await this.#load(loaders);
    return this.registry;
  }

  /** The registry with every group loaded. */
  async loadAll(): Promise<Registry<FaultKind>> {
    await this.#load(new Set([...Object.values(this.#groups), this.#others]));
    return this.registry;
  }

  async #load(loaders: Set<KindLoader>): Promise<void> {
    for (const kinds of await Promise.all([...loaders].map((load) => load()))) {
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
