import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { loadBuiltinActivities } from '../../src/compose.js';
import { ActivityFailed } from '../../src/core/errors.js';
import { findBuiltin } from '../../src/engine/builtins.js';
import type { ActivityContext } from '../../src/engine/context.js';
import { RunScopeImpl } from '../../src/engine/run-scope.js';
import { FaultSession, Ledger, listActiveFaults } from '../../src/faults/index.js';
import { assertNothingLeftBehind } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';

await loadBuiltinActivities();

let home: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
});
afterEach(async () => {
  await cleanup();
});

function context(faults: FaultSession): ActivityContext {
  return {
    configuration: {},
    secrets: {},
    signal: new AbortController().signal,
    baseDir: home,
    scope: new RunScopeImpl('marker-run', process.env, undefined, () => {}),
    runId: faults.runId,
    faults,
    log: () => {},
  };
}

function activity(func: string) {
  const a = findBuiltin('faultline.marker', func);
  assert.ok(a, `faultline.marker:${func} is registered`);
  return a;
}

test('faultline.marker create / exists / remove go through the fault ledger', async () => {
  assert.deepEqual(
    ['create', 'remove', 'exists'].map((f) => activity(f).kind),
    ['action', 'action', 'probe'],
  );
  const faults = new FaultSession({ runId: 'activities', ledger: new Ledger({ home }) });
  const ctx = context(faults);
  const path = join(home, 'flag');
  const create = activity('create');
  const args = create.arguments.parse({ path, content: 'on', duration: 30 });
  const out = (await create.run(args, ctx)) as { fault_id: string; target: string };
  assert.equal(out.target, path);
  assert.equal(await activity('exists').run({ path }, ctx), true);
  const [fault] = await listActiveFaults({ home });
  assert.equal(fault?.id, out.fault_id);
  assert.equal(fault?.ttlMs, 30_000);

  const removed = (await activity('remove').run({ path }, ctx)) as { removed: boolean };
  assert.equal(removed.removed, true);
  assert.equal(await activity('exists').run({ path }, ctx), false);
  await assert.rejects(activity('remove').run({ path }, ctx), ActivityFailed);
  await faults.revertAll();
  await assertNothingLeftBehind(home, [path]);
});

test('create defaults to a 600 s TTL; arguments are checked strictly', async () => {
  const faults = new FaultSession({ runId: 'activities', ledger: new Ledger({ home }) });
  const path = join(home, 'flag');
  const create = activity('create');
  assert.equal(create.arguments.safeParse({ path, duraton: 5 }).success, false);
  assert.equal(create.arguments.safeParse({ path, duration: -1 }).success, false);
  assert.equal(create.arguments.safeParse({}).success, false);
  await create.run(create.arguments.parse({ path }), context(faults));
  assert.equal((await listActiveFaults({ home }))[0]?.ttlMs, 600_000);
  const [rec] = await faults.revertAll();
  assert.equal(rec?.verified, true);
  assert.equal(existsSync(path), false);
  await assertNothingLeftBehind(home, [path]);
});
