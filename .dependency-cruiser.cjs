// Import boundaries, as docs/architecture.md "Dependencies point one way" states them; `npm run check:deps`
// (part of `npm test`) fails on any violation and on any cycle, type-only imports included.
// Layers, lowest first: a module imports from its own layer and the layers below it, never above.

// Pure shapes and helpers (zod schemas, the journal, the fault contract, errors, timers, the parser):
// everything above shares them, so they may depend on nothing of ours.
const CORE = '^src/core/';
// Self-contained libraries with their own public entry points (faultline/sdk, faultline/load), the
// Prometheus client, and the calendar arithmetic of schedules, Chaos Monkey mode and blackout windows
// (schedule/): usable without the engine, so they may not reach it.
const BASE = '^src/(?:sdk|prometheus|load|schedule|manifests)/|^src/version[.]ts$';
// The fault machinery: ledger, sessions, recovery, halt, watchdog. It is given the fault kinds and the
// halt participants (compose.ts), so it never names a kind, the proxy or the engine.
const MACHINERY =
  '^src/faults/(?:ledger|home|session|recovery|watchdog|watchdog-loop|abort|registry|halt-source|child-entry)[.]ts$';
// Loading, validating and substituting experiments: validation receives the provider and tolerance
// checks (lib/validate.ts), so it does not import the engine or the providers.
const EXPERIMENT = '^src/experiment/';
// Long-lived services the engine and the CLI drive: the fault proxy and the SDK control plane. The proxy
// API takes extra route mounts through its options, so the two do not know each other (rule below);
// faultline/proxy's entry point (proxy/index.ts) is where the package composes them.
const SERVICES = '^src/(?:proxy/(?!index[.]ts$)|sdk-control/)';
// The run loop. It receives its providers, run resources, fault kinds and halt source through its
// options (RunRegistries), so what a run does not use is not loaded.
const ENGINE = '^src/engine/';
// What plugs into the engine and the machinery: providers, built-in activities, fault kinds, observers
// (metrics, webhooks, traces), reporters, and the Python bridge (worker, inspector, controls) the python
// provider runs Chaos Toolkit's Python through. Each imports the interfaces below it, never a sibling's
// registry by side effect. Every folder of faults/ is a fault group (faults/groups.ts lists them), so a new
// group needs no line here.
const KINDS = '^src/faults/(?:marker[.]ts$|proxy[.]ts$|groups[.]ts$|[^/]+/)';
const PLUGINS = `^src/(?:providers|activities|observe|report|python)/|${KINDS}`;
// The composition root and the library entry points (and the fleet's agent and controller, which inject
// through them): the only modules that know every variant and
// supply the registries (faults/index.ts is the faults library and proxy/index.ts faultline/proxy, kept
// at their published paths).
// Game days (gameday/) run experiments through lib/ and render reports, so they sit here too.
const ROOT = '^src/(?:compose[.]ts$|lib/|fleet/|gameday/)|^src/(?:faults|proxy)/index[.]ts$';
// The control plane (`faultline serve`): its store, API and run queue, over the library entry points.
const SERVER = '^src/server/';
// The top: the CLI, the demo, the package's main entry and the watchdog's process entry. Nothing imports them.
const TOP = '^src/(?:cli/|demo/|index[.]ts$)|^src/faults/watchdog-main[.]ts$';

const LAYERS = [CORE, BASE, MACHINERY, EXPERIMENT, SERVICES, ENGINE, PLUGINS, ROOT, SERVER, TOP];
const any = (...layers) => layers.join('|');

const layer = (name, from, allowed) => ({
  name,
  comment: `${name} imports only from: ${allowed.length} layer(s) at or below it`,
  severity: 'error',
  from: { path: from },
  to: { path: '^src/', pathNot: any(...allowed) },
});

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    // A new folder or file must be given a layer here before it may import anything of ours.
    {
      name: 'in-a-layer',
      severity: 'error',
      from: { path: '^src/', pathNot: any(...LAYERS) },
      to: { path: '^src/' },
    },
    // The proxy serves the SDK control plane only as a mount its composer passes (ControlMount), and the
    // SDK control plane does not reach into the proxy either.
    {
      name: 'proxy-not-sdk-control',
      severity: 'error',
      from: { path: '^src/proxy/', pathNot: '^src/proxy/index[.]ts$' },
      to: { path: '^src/sdk-control/' },
    },
    { name: 'sdk-control-not-proxy', severity: 'error', from: { path: '^src/sdk-control/' }, to: { path: '^src/proxy/' } },
    layer('core', CORE, [CORE]),
    layer('base', BASE, [CORE, BASE]),
    layer('machinery', MACHINERY, [CORE, BASE, MACHINERY]),
    layer('experiment', EXPERIMENT, [CORE, BASE, EXPERIMENT]),
    layer('services', SERVICES, [CORE, BASE, MACHINERY, SERVICES]),
    layer('engine', ENGINE, [CORE, BASE, MACHINERY, EXPERIMENT, ENGINE]),
    layer('plugins', PLUGINS, [CORE, BASE, MACHINERY, EXPERIMENT, SERVICES, ENGINE, PLUGINS]),
    layer('root', ROOT, [CORE, BASE, MACHINERY, EXPERIMENT, SERVICES, ENGINE, PLUGINS, ROOT]),
    layer('server', SERVER, [CORE, BASE, MACHINERY, EXPERIMENT, SERVICES, ENGINE, PLUGINS, ROOT, SERVER]),
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(?:node_modules|dist)/' },
  },
};
