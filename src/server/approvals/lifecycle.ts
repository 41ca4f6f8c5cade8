/**
 * Experiments' lifecycle states as the API shows them (GET /api/experiments, an experiment, an upload):
 * derived each time from the settings file's production_tags and the versions' approvals
 * (model.ts lifecycleOf), never stored, so a new version, an expiry or a changed settings file is
 * reflected at once and nothing can drift.
 */
import type { ExperimentVersion, Store } from '../store.js';
import { policySettings, productionTag } from './gate.js';
import { type Approval, type Lifecycle, lifecycleOf } from './model.js';

type Versioned = Pick<ExperimentVersion, 'name' | 'version' | 'tags'>;

/** Each experiment version's lifecycle state, in the order given. */
export async function lifecyclesOf(
  store: Store,
  home: string,
  versions: readonly Versioned[],
  now = new Date(),
): Promise<Lifecycle[]> {
  const settings = await policySettings(home);
  const production = versions.map((v) => productionTag(v, settings) !== undefined);
  const approvals = await store.approvals.ofExperiments([
    ...new Set(versions.filter((_, i) => production[i]).map((v) => v.name)),
  ]);
  const byName = new Map<string, Approval[]>();
  for (const a of approvals) byName.set(a.experiment, [...(byName.get(a.experiment) ?? []), a]);
  return versions.map((v, i) =>
    lifecycleOf(production[i] ?? false, v.version, byName.get(v.name) ?? [], now),
  );
}

/** `v` with its lifecycle state beside it. */
export async function withLifecycle<T extends Versioned>(
  store: Store,
  home: string,
  v: T,
): Promise<T & { lifecycle: Lifecycle }> {
  const [lifecycle] = await lifecyclesOf(store, home, [v]);
  return { ...v, lifecycle: lifecycle as Lifecycle };
}
