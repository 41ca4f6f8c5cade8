// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} strings are the substitution syntax under test
/**
 * Tolerances and providers are one list each (issue #14 item 4): every entry
 * of core/schema.ts's TOLERANCE_SCHEMAS and PROVIDER_SCHEMAS is picked up by
 * the unions, the JSON Schema, the messages, the evaluations and the loaders,
 * so a new kind or provider costs its line and nothing else to be reachable.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BUILTIN_PROVIDER_TYPES,
  OBJECT_TOLERANCE_TYPES,
  PROVIDER_SCHEMAS,
  PROVIDER_TYPES,
  ProviderSchema,
  TOLERANCE_KINDS_TEXT,
  TOLERANCE_SCHEMAS,
  type Tolerance,
  ToleranceSchema,
} from '../../src/core/schema.js';
import { substituteProvider } from '../../src/engine/activity.js';
import { RunScopeImpl } from '../../src/engine/run-scope.js';
import {
  checkTolerance,
  TOLERANCE_KINDS,
  ToleranceMemory,
  toleranceKinds,
  validateTolerance,
} from '../../src/engine/tolerances/index.js';
import { experimentJsonSchema } from '../../src/experiment/json-schema.js';
import { validateExperiment } from '../../src/lib/validate.js';
import { PROVIDER_LOADERS } from '../../src/providers/index.js';
import { resolvePython } from '../../src/python/interpreter.js';

type Schema = any;

const kindNames = Object.keys(TOLERANCE_SCHEMAS);
const nouns = Object.values(TOLERANCE_SCHEMAS).flatMap((k) => ('noun' in k ? [k.noun] : []));
const defs = experimentJsonSchema().$defs as Schema;

describe('tolerance kinds', () => {
  test('every kind in the list has its evaluation, and the registry holds exactly the list', () => {
    assert.deepEqual(Object.keys(TOLERANCE_KINDS), kindNames);
    assert.deepEqual(toleranceKinds.names(), kindNames);
    assert.deepEqual(OBJECT_TOLERANCE_TYPES, ['range', 'regex', 'jsonpath', 'probe', 'baseline']);
  });

  test('the messages name every kind of the list', () => {
    const schemaMessage = ToleranceSchema.safeParse(1.5).error?.issues[0]?.message ?? '';
    const checkMessage = validateTolerance(null as unknown as Tolerance)[0]?.message ?? '';
    for (const message of [TOLERANCE_KINDS_TEXT, schemaMessage, checkMessage]) {
      for (const noun of nouns) assert.ok(message.includes(noun), `${noun} in: ${message}`);
      for (const type of OBJECT_TOLERANCE_TYPES) assert.match(message, new RegExp(`\\b${type}\\b`));
    }
  });

  test("validation's unsupported-type message lists every object kind", async () => {
    const doc = {
      title: 't',
      description: 'd',
      method: [],
      'steady-state-hypothesis': {
        title: 'h',
        probes: [
          {
            type: 'probe',
            name: 'p',
            provider: { type: 'http', url: 'http://x/' },
            tolerance: { type: 'bogus' },
          },
        ],
      },
    };
    const { issues } = await validateExperiment(doc, { env: {} });
    const issue = issues.find((i) => i.path.endsWith('tolerance.type'));
    assert.ok(issue, JSON.stringify(issues));
    for (const type of OBJECT_TOLERANCE_TYPES) assert.match(issue.message, new RegExp(`\\b${type}\\b`));
  });

  test("the JSON Schema's union has one branch per value kind and one per object kind, in the list's order", () => {
    const branches = defs.Tolerance.anyOf as Schema[];
    assert.equal(branches.length, nouns.length + 1);
    const objects = branches.at(-1).anyOf as Schema[];
    assert.deepEqual(
      objects.map((b) => b.properties.type.const),
      OBJECT_TOLERANCE_TYPES,
    );
  });

  test('a kind that remembers gets a memory per probe, journalled under its field; the others get none', async () => {
    const journal: Record<string, unknown> = {};
    const memory = new ToleranceMemory((field, values) => {
      journal[field] = values;
    });
    const remembering = Object.entries(TOLERANCE_KINDS).filter(([, k]) => k.remembers);
    assert.deepEqual(
      remembering.map(([name]) => name),
      ['baseline'],
    );
    assert.equal(memory.forProbe('p')('range'), undefined);
    const ctx = (probe: string) => ({ vars: {}, runProbe: async () => null, memory: memory.forProbe(probe) });
    const tolerance = { type: 'baseline' as const, max_ratio: 1.5 };
    assert.deepEqual(await checkTolerance(tolerance, 100, ctx('a')), { met: true });
    assert.deepEqual(await checkTolerance(tolerance, 10, ctx('b')), { met: true });
    assert.equal((await checkTolerance(tolerance, 160, ctx('a'))).met, false);
    assert.equal((await checkTolerance(tolerance, 14, ctx('b'))).met, true);
    assert.deepEqual(journal, { baselines: { a: 100, b: 10 } });
  });
});

describe('providers', () => {
  test('every provider type in the list has a loader, and nothing else does', () => {
    assert.deepEqual(Object.keys(PROVIDER_LOADERS).sort(), [...PROVIDER_TYPES].sort());
    assert.equal(PROVIDER_TYPES.length, PROVIDER_SCHEMAS.length);
    for (const type of BUILTIN_PROVIDER_TYPES) assert.ok(PROVIDER_TYPES.includes(type));
  });

  test('the union accepts every type of the list and its message names each', () => {
    const message = ProviderSchema.safeParse({ type: 'bogus' }).error?.issues[0]?.message ?? '';
    for (const type of PROVIDER_TYPES) assert.match(message, new RegExp(`\\b${type}\\b`));
    assert.deepEqual([...ProviderSchema.options.map((o) => o.shape.type.value)], PROVIDER_TYPES);
  });

  test("the JSON Schema's provider union has one branch per type of the list", () => {
    const branches = defs.Provider.oneOf as Schema[];
    assert.deepEqual(
      branches.map((b) => b.properties.type.const),
      PROVIDER_TYPES,
    );
  });

  test('each loader gives the runner of its type; what the engine did by type is the runner’s hooks', async () => {
    for (const type of PROVIDER_TYPES) {
      const runner = await PROVIDER_LOADERS[type]!();
      assert.equal(runner.type, type);
    }
    const http = await PROVIDER_LOADERS.http!();
    const vars = { host: 'h', t: 3 };
    const provider = {
      type: 'http' as const,
      url: 'http://${host}/',
      method: '${host}',
      timeout: '${t}',
    };
    assert.deepEqual(substituteProvider(provider, vars, http), {
      ...provider,
      url: 'http://h/',
      timeout: 3,
    });
    // Without the runner's `substituted` list only `arguments` would be.
    assert.deepEqual(substituteProvider(provider, vars), provider);
    assert.equal(http.dynamicValue?.({ status: 200, headers: {}, body: 'v' }), 'v');
    const processRunner = await PROVIDER_LOADERS.process!();
    assert.equal(processRunner.dynamicValue?.({ status: 0, stdout: ' v\n', stderr: '' }), 'v');
    assert.throws(() => processRunner.dynamicValue?.({ status: 1, stdout: '', stderr: '' }), /exited with 1/);
    const python = await PROVIDER_LOADERS.python!();
    assert.equal(
      python.isSafeguardControl?.({ type: 'python', module: 'chaosaddons.controls.safeguards' }),
      true,
    );
    // A python control Faultline does not implement runs in the run's Python worker; a module that
    // cannot be imported gives no hooks and a warning naming it (Chaos Toolkit carries on too).
    if (resolvePython()) {
      const warnings: string[] = [];
      const scope = new RunScopeImpl('t', process.env, undefined, (_l, m) => warnings.push(m));
      try {
        assert.deepEqual(
          await python.loadControl?.({ type: 'python', module: 'nope.controls' }, 'c', scope),
          {},
        );
        assert.match(warnings.join('\n'), /control 'c': could not load Python module 'nope.controls'/);
      } finally {
        await scope.close();
      }
    }
  });
});
