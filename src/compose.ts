/**
 * The composition root: the one module that knows every built-in variant and
 * builds the registries the engine, validation and recovery receive through
 * their options. Everything here is loaded lazily (a dynamic import per group
 * or provider), so importing this module costs a few registries, and a run, a
 * validation or a halt loads only what it uses. Only the library entry points
 * (src/lib/, faults/index.ts), the CLI and the watchdog's entry import it.
 */
import { runsBuiltins } from './core/builtin-providers.js';
import { Registry } from './core/registry.js';
import type { RunResource } from './core/resource.js';
import { registerBuiltin } from './engine/builtins.js';
import type { ProviderRunner } from './engine/context.js';
import type { RunRegistries } from './engine/run.js';
import type { ValidationRegistries } from './experiment/validate.js';
import { FAULT_GROUPS } from './faults/groups.js';
import { localHaltSource } from './faults/halt-source.js';
import type { HaltParticipant } from './faults/recovery.js';
import { FaultKindCatalog } from './faults/registry.js';
import { PROVIDER_LOADERS } from './providers/index.js';

/**
 * Every built-in fault kind, loaded by group as names ask for them
 * (faults/groups.ts is the list: `network-loss` -> network).
 */
export const faultKinds = new FaultKindCatalog(FAULT_GROUPS);

/**
 * What a halt tells besides the ledger: running proxy servers revert their
 * own toxics on the flag (those added by CLI or API are not ledgered); the
 * halt waits for them, bounded, and counts what they reverted.
 */
export const haltParticipants: readonly HaltParticipant[] = [
  {
    id: 'proxy-servers',
    kind: 'proxy-server',
    label: 'proxy servers',
    halt: async (home, halt, report) =>
      (await import('./proxy/registry.js')).haltProxyServers(home, halt, report),
  },
];

/** Every provider type's runner, loaded as experiments name them. */
const providers = new Registry<ProviderRunner<any>>('provider');

/**
 * The provider types an experiment (or a settings file's safeguards and
 * controls) names: the `type` of every object under a `provider` key. Only
 * these are loaded; a type named nowhere is never needed.
 */
export function providerTypesIn(...values: unknown[]): Set<string> {
  const types = new Set<string>();
  const stack: unknown[] = [...values];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      // One by one: a spread of a hostile document's million-item array overflows the stack.
      for (const item of v) stack.push(item);
      continue;
    }
    for (const [key, item] of Object.entries(v)) {
      if (key === 'provider' && typeof item === 'object' && item !== null) {
        const type = (item as { type?: unknown }).type;
        if (typeof type === 'string') types.add(type);
      }
      stack.push(item);
    }
  }
  return types;
}

/**
 * The provider registry with (at least) the types named loaded (default all).
 * The types that run built-in activities (core/builtin-providers.ts) bring them.
 */
export async function providerRegistry(
  types: Iterable<string> = Object.keys(PROVIDER_LOADERS),
): Promise<Registry<ProviderRunner<any>>> {
  const wanted = [...new Set(types)].filter((t) => PROVIDER_LOADERS[t] !== undefined && !providers.has(t));
  if (wanted.some(runsBuiltins)) await loadBuiltinActivities();
  const loaded = await Promise.all(wanted.map(async (t) => [t, await PROVIDER_LOADERS[t]!()] as const));
  for (const [type, runner] of loaded) if (!providers.has(type)) providers.register(type, runner);
  return providers;
}

let builtinsLoaded: Promise<void> | undefined;

/**
 * Registers every built-in activity once, the fault actions of every kind
 * (built-in and registered) among them: what `faultline`/`python` providers,
 * the preflight and `faultline discover` look up.
 */
export function loadBuiltinActivities(): Promise<void> {
  builtinsLoaded ??= (async () => {
    const [{ builtinActivityList }, kinds] = await Promise.all([
      import('./activities/index.js'),
      faultKinds.loadAll(),
    ]);
    for (const activity of builtinActivityList(kinds.entries().map(([, kind]) => kind))) {
      registerBuiltin(activity);
    }
  })();
  return builtinsLoaded;
}

/** A run resource whose module loads only when an experiment declares its key. */
function lazyResource(key: string, load: () => Promise<RunResource>): readonly [string, RunResource] {
  return [key, { key, start: async (declaration, ctx) => (await load()).start(declaration, ctx) }];
}

/** The run resources, by the experiment key each reads. */
export const runResources: readonly (readonly [string, RunResource])[] = [
  // A run's proxies serve the SDK control plane too: sdk.enable_fault reaches it at faultline_proxy_url.
  lazyResource('proxies', async () => {
    const [{ proxiesResource }, { sdkControlMount }] = await Promise.all([
      import('./proxy/in-process.js'),
      import('./sdk-control/api.js'),
    ]);
    return proxiesResource([sdkControlMount()]);
  }),
  lazyResource('load', async () => (await import('./load/resource.js')).loadResource),
];

/** What validation checks with, for this experiment (its providers loaded). */
export async function validationRegistries(experiment: unknown): Promise<ValidationRegistries> {
  const [registry, { validateTolerance }] = await Promise.all([
    providerRegistry(providerTypesIn(experiment)),
    import('./engine/tolerances/index.js'),
  ]);
  return { providers: registry, validateTolerance };
}

/** What a run runs with: the providers it names, the resources, the fault kinds, the local halt file. */
export async function runRegistries(home: string, ...declared: unknown[]): Promise<RunRegistries> {
  return {
    providers: await providerRegistry(providerTypesIn(...declared)),
    resources: runResources,
    faultKinds,
    halt: localHaltSource(home),
  };
}
