/**
 * What the engine once did by provider type, now asked of the providers (issue #14 item 4):
 * the settings' python controls reach runFromSource through the python provider (the
 * safeguards control run as safeguards, a native control loaded, an unknown module refused
 * by name); the built-in activity behind a provider (`builtinOf`) gives the preflight its
 * fault kind and recovery time its window metric; and the list of provider types that run
 * built-in activities stays out of zod, since the halt path reads it. Real registries,
 * a real run, no mocks.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { faultKinds, providerRegistry } from '../../src/compose.js';
import { BUILTIN_PROVIDER_TYPES, runsBuiltins } from '../../src/core/builtin-providers.js';
import { PROVIDER_TYPES } from '../../src/core/schema.js';
import type { ProviderRunner } from '../../src/engine/context.js';
import type { ControlHooks } from '../../src/engine/controls.js';
import { slotJudges } from '../../src/engine/recovery-time.js';
import { registerNativeControl } from '../../src/index.js';
import { runFromSource } from '../../src/lib/run-source.js';
import type { WindowMetrics } from '../../src/load/series.js';
import { resolvePython } from '../../src/python/interpreter.js';
import { tempHomeSuite } from '../helpers/home.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const h = tempHomeSuite();

const metrics = (over: Partial<WindowMetrics> = {}): WindowMetrics =>
  ({
    requests: 10,
    success_ratio: 1,
    error_rate: 0,
    throughput: 100,
    p50: 5,
    p90: 9,
    p95: 10,
    p99: 20,
    max: 50,
    ...over,
  }) as WindowMetrics;

/** An experiment whose method records that it ran, by the journal's runs. */
const experiment = {
  title: 'settings controls',
  description: 'the settings file brings python controls',
  method: [
    {
      type: 'action',
      name: 'say',
      provider: { type: 'process', path: process.execPath, arguments: ['-e', '0'] },
    },
  ],
};

describe("the settings' python controls, through the python provider", () => {
  test('the chaosaddons safeguards control is run as safeguards, not loaded as a control', async () => {
    const { journal } = await runFromSource(structuredClone(experiment) as never, {
      home: h.home,
      env: { ...process.env, FAULTLINE_HOME: h.home },
      settings: {
        controls: {
          gate: {
            provider: {
              type: 'python',
              module: 'chaosaddons.controls.safeguards',
              arguments: {
                probes: [
                  {
                    type: 'probe',
                    name: 'closed-gate',
                    // A process probe's number tolerance is its exit status: 1 is not 0.
                    tolerance: 0,
                    provider: {
                      type: 'process',
                      path: process.execPath,
                      arguments: ['-e', 'process.exit(1)'],
                    },
                  },
                ],
              },
            },
          },
        },
      },
    });
    // The pre-check (a plain safeguard runs once before the method) is breached: nothing ran.
    assert.equal(journal.status, 'interrupted');
    assert.equal((journal.faultline.safeguard as { name: string }).name, 'closed-gate');
    assert.deepEqual(journal.run, []);
  });

  test('a native python control is loaded and its loading hooks are called', async () => {
    const seen: string[] = [];
    registerNativeControl(
      'faultline.test.settings_control',
      (args): ControlHooks => ({
        beforeLoadingExperiment: ({ source }) => void seen.push(`before ${source} ${String(args.tag)}`),
        afterLoadingExperiment: ({ experiment: e }) => void seen.push(`after ${e.title}`),
        afterExperiment: () => void seen.push('after experiment'),
      }),
    );
    const { journal } = await runFromSource(structuredClone(experiment) as never, {
      home: h.home,
      env: { ...process.env, FAULTLINE_HOME: h.home },
      settings: {
        controls: {
          native: {
            provider: {
              type: 'python',
              module: 'faultline.test.settings_control',
              arguments: { tag: 't1' },
            },
          },
        },
      },
    });
    assert.equal(journal.status, 'completed');
    assert.deepEqual(seen, ['before <object> t1', 'after settings controls', 'after experiment']);
  });

  test('a python control Faultline has no native implementation of runs in Python: a missing module is a warning naming it', {
    skip: resolvePython() ? false : 'no python3 on this machine',
  }, async () => {
    const notices: string[] = [];
    const result = await runFromSource(structuredClone(experiment) as never, {
      home: h.home,
      env: { ...process.env, FAULTLINE_HOME: h.home },
      settings: { controls: { ctk: { provider: { type: 'python', module: 'chaosnope.controls' } } } },
      onEvent: (e) => {
        if (e.type === 'notice' || e.type === 'log') notices.push((e as { message: string }).message);
      },
    });
    assert.equal(result.journal.status, 'completed');
    assert.ok(
      notices.some((m) => /control 'ctk': could not load Python module 'chaosnope\.controls'/.test(m)),
      notices.join(' | '),
    );
  });
});

describe('the built-in activity behind a provider (builtinOf)', () => {
  test('the faultline provider finds it: a fault action names its kind, for the preflight', async () => {
    const providers = await providerRegistry(['faultline', 'python']);
    const faultline = providers.get('faultline') as ProviderRunner<any>;
    const kinds = await faultKinds.loadAll();
    const [name, kind] = kinds.entries().find(([, k]) => k.expose !== undefined)!;
    const activity = faultline.builtinOf?.({
      type: 'faultline',
      module: `faultline.${kind.expose!.group}`,
      func: kind.expose!.name,
    });
    assert.equal(activity?.fault, kind, name);
    assert.equal(
      faultline.builtinOf?.({ type: 'faultline', module: 'faultline.load', func: 'success_ratio' })?.fault,
      undefined,
    );
    assert.equal(
      faultline.builtinOf?.({ type: 'faultline', module: 'faultline.nope', func: 'x' }),
      undefined,
    );
    // As before the hooks: a python activity is neither preflighted nor judged per slot.
    assert.equal(providers.get('python')?.builtinOf, undefined);
  });

  test('recovery time judges slots by the probes whose activity has a window metric, as before', async () => {
    const providers = await providerRegistry(['faultline', 'python']);
    const load = (
      func: string,
      tolerance: unknown,
      args: Record<string, unknown> = {},
      type = 'faultline',
    ) => ({
      type: 'probe',
      name: `${type}-${func}`,
      tolerance,
      provider: { type, module: 'faultline.load', func, arguments: args },
    });
    const range = (lo: number, hi: number) => ({ type: 'range', range: [lo, hi] });
    const judgesOf = (...probes: unknown[]) =>
      slotJudges(
        {
          title: 't',
          description: 'd',
          method: [],
          'steady-state-hypothesis': { title: 'h', probes },
        } as never,
        providers,
      );

    // Not judged per slot: throughput and metrics, a python provider, a tolerance that is no number range.
    assert.equal(
      judgesOf(
        load('throughput', range(0, 1000)),
        load('metrics', range(0, 1)),
        load('success_ratio', range(0.99, 1), {}, 'python'),
        load('success_ratio', { type: 'regex', pattern: '1' }),
        load('error_rate', { type: 'range', range: ['${lo}', 1] }),
      ).length,
      0,
    );

    const [ratio, errors, latency, max, unknownPc, exact] = judgesOf(
      load('success_ratio', range(0.99, 1)),
      load('error_rate', range(0, 0.01)),
      load('latency', range(0, 25), { percentile: 95 }),
      load('latency', range(0, 40), { percentile: 'max' }),
      load('latency', range(0, 25), { percentile: 42 }),
      load('error_rate', 0),
    );
    for (const judge of [ratio, errors, latency, max, unknownPc, exact]) assert.ok(judge);
    assert.equal(ratio!(metrics()), true);
    assert.equal(ratio!(metrics({ success_ratio: 0.5 })), false);
    assert.equal(errors!(metrics({ error_rate: 0.5 })), false);
    assert.equal(latency!(metrics({ p95: 30 })), false);
    assert.equal(latency!(metrics({ p99: 30 })), true, 'p95 is read');
    assert.equal(max!(metrics()), false, 'max 50 is read');
    assert.equal(unknownPc!(metrics({ p99: 30 })), false, 'an unknown percentile reads p99');
    assert.equal(exact!(metrics()), true);
    assert.equal(exact!(metrics({ error_rate: 0.1 })), false);
  });
});

describe('the provider types that run built-in activities', () => {
  test('are provider types, and their file loads nothing (no zod, no schema): the halt path reads it', () => {
    for (const type of BUILTIN_PROVIDER_TYPES) assert.ok(PROVIDER_TYPES.includes(type), type);
    assert.deepEqual(
      PROVIDER_TYPES.filter(runsBuiltins),
      PROVIDER_TYPES.filter((t) => (BUILTIN_PROVIDER_TYPES as readonly string[]).includes(t)),
    );
    assert.equal(runsBuiltins('http'), false);
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'test/fixtures/module-graph.mjs'),
        join(root, 'src/core/builtin-providers.ts'),
      ],
      { encoding: 'utf8' },
    );
    const loaded = (JSON.parse(out) as string[]).filter((u) => u.startsWith('file:'));
    assert.deepEqual(
      loaded.map((u) => fileURLToPath(u).slice(root.length)),
      ['src/core/builtin-providers.ts'],
    );
  });
});
