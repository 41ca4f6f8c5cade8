import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { providerRegistry } from '../../src/compose.js';
import { InterruptExecution } from '../../src/core/errors.js';
import type { Activity, Tolerance } from '../../src/core/schema.js';
import {
  checkTolerance,
  type ToleranceContext,
  validateTolerance,
} from '../../src/engine/tolerances/index.js';

import { activityContext } from '../helpers/activity-context.js';

const providers = await providerRegistry();

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'providers');

function ctx(seen: Activity[] = []): ToleranceContext {
  return {
    vars: {},
    runProbe: async (probe) => {
      seen.push(probe);
      return providers.get(probe.provider.type)!.run(probe.provider, activityContext({ baseDir: fixtures }));
    },
  };
}

const probe = (func: string, args?: Record<string, unknown>) =>
  ({
    type: 'probe',
    name: `tolerance-${func}`,
    provider: { type: 'node', module: './tolerance.mjs', func, ...(args ? { arguments: args } : {}) },
  }) as Tolerance;

test('a probe tolerance runs with arguments.value set to the output; met when it returns truthy', async () => {
  const seen: Activity[] = [];
  assert.deepEqual(await checkTolerance(probe('lessThan', { limit: 2 }), 1, ctx(seen)), { met: true });
  assert.deepEqual(seen[0]!.provider.arguments, { limit: 2, value: 1 });
  const miss = await checkTolerance(probe('lessThan', { limit: 2 }), 5, ctx());
  assert.equal(miss.met, false);
  assert.match(miss.reason!, /probe 'tolerance-lessThan' returned false/);
});

test('the probe sees the whole http or process output', async () => {
  const http = { status: 200, headers: {}, body: 'ok' };
  assert.equal((await checkTolerance(probe('statusIs', { expected: 200 }), http, ctx())).met, true);
  assert.equal((await checkTolerance(probe('statusIs', { expected: 201 }), http, ctx())).met, false);
});

test('missing arguments are added (Chaos Toolkit crashes); the tolerance itself is not changed', async () => {
  const tolerance = probe('lessThan');
  const seen: Activity[] = [];
  const r = await checkTolerance(tolerance, 1, ctx(seen));
  assert.equal(r.met, false, '1 < undefined is false');
  assert.deepEqual(seen[0]!.provider.arguments, { value: 1 });
  assert.equal((tolerance as { provider: { arguments?: unknown } }).provider.arguments, undefined);
});

test('Python truthiness of the return value: an empty list is not met', async () => {
  const r = await checkTolerance(probe('returnsEmpty', {}), 1, ctx());
  assert.equal(r.met, false);
  assert.match(r.reason!, /returned \[\]/);
});

test('a probe that throws is not met, with the error as the reason', async () => {
  const r = await checkTolerance(probe('explodes', {}), 1, ctx());
  assert.equal(r.met, false);
  assert.match(r.reason!, /probe 'tolerance-explodes' failed: Error: tolerance probe exploded/);
});

test('arguments that cannot receive `value` are not met', async () => {
  const tolerance = {
    type: 'probe',
    name: 'p',
    provider: { type: 'process', path: 'true', arguments: ['-x'] },
  } as Tolerance;
  const r = await checkTolerance(tolerance, 1, ctx());
  assert.equal(r.met, false);
  assert.match(r.reason!, /provider\.arguments must be an object/);
  assert.deepEqual(
    validateTolerance(tolerance).map((i) => i.path),
    ['provider.arguments'],
  );
  assert.deepEqual(validateTolerance(probe('lessThan')), []);
});

test('an interruption while the probe runs propagates', async () => {
  const interrupting: ToleranceContext = {
    vars: {},
    runProbe: async () => {
      throw new InterruptExecution('halted');
    },
  };
  await assert.rejects(checkTolerance(probe('lessThan', {}), 1, interrupting), InterruptExecution);
});
