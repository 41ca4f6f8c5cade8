import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { providerRegistry } from '../../src/compose.js';
import { ActivityFailed, FaultlineError } from '../../src/core/errors.js';
import { registerBuiltin } from '../../src/engine/builtins.js';
import type { RunScopeImpl } from '../../src/engine/run-scope.js';
import { builtinProvider } from '../../src/providers/builtin.js';
import { pythonProvider } from '../../src/providers/python.js';
import { resolvePython } from '../../src/python/interpreter.js';
import { activityContext } from '../helpers/activity-context.js';

const providers = await providerRegistry();

// A native implementation of a Chaos Toolkit python function, and a Faultline built-in.
registerBuiltin({
  module: 'faultline_test.os',
  func: 'path_exists',
  kind: 'probe',
  doc: 'Test double of os.path.exists.',
  arguments: z.strictObject({ path: z.string(), follow: z.boolean().default(true) }),
  async run(args, ctx) {
    return { args, secrets: ctx.secrets };
  },
});
registerBuiltin({
  module: 'faultline.test',
  func: 'fail',
  kind: 'action',
  doc: 'Fails in the way asked.',
  arguments: z.strictObject({ how: z.enum(['activity', 'error', 'faultline', 'type']) }),
  async run({ how }) {
    if (how === 'activity') throw new ActivityFailed('could not do it');
    if (how === 'faultline') throw new FaultlineError('FAULTLINE_ERR_FAULT', 'fault refused');
    if (how === 'type') throw new TypeError('bad type');
    throw new Error('generic');
  },
});
registerBuiltin({
  module: 'faultline.test',
  func: 'wait',
  kind: 'probe',
  doc: 'Waits for the signal.',
  arguments: z.strictObject({}),
  run: (_args, ctx) =>
    new Promise((_resolve, reject) =>
      ctx.signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true }),
    ),
});

test('all five providers are registered', () => {
  assert.deepEqual(providers.names().sort(), ['faultline', 'http', 'node', 'process', 'python']);
  for (const name of providers.names()) assert.equal(providers.get(name)!.type, name);
});

test('python: a native implementation runs with arguments parsed by its schema', async () => {
  const ctx = activityContext({ secrets: { aws: { key: 'k' }, db: { password: 'p' } } });
  const out = await pythonProvider.run(
    {
      type: 'python',
      module: 'faultline_test.os',
      func: 'path_exists',
      arguments: { path: '/tmp' },
      secrets: ['aws'],
    },
    ctx,
  );
  assert.deepEqual(out, { args: { path: '/tmp', follow: true }, secrets: { aws: { key: 'k' } } });
  const noScopes = await pythonProvider.run(
    { type: 'python', module: 'faultline_test.os', func: 'path_exists', arguments: { path: '/' } },
    ctx,
  );
  assert.deepEqual(
    (noScopes as { secrets: unknown }).secrets,
    {},
    'only the scopes the provider lists, as Chaos Toolkit',
  );
});

test('python: a module Faultline does not implement goes to Python, which says it cannot find it', {
  skip: resolvePython() ? false : 'no python3 on this machine',
}, async () => {
  const p = { type: 'python' as const, module: 'chaosk8s.pod.actions', func: 'terminate_pods' };
  const issues = await pythonProvider.check!(p, { baseDir: '.', activity: 'kill-pods' });
  assert.deepEqual(issues, [
    {
      path: 'module',
      message: "could not find Python module 'chaosk8s.pod.actions' in activity 'kill-pods'",
    },
  ]);
  const ctx = activityContext();
  try {
    await assert.rejects(pythonProvider.run(p, ctx), (err: unknown) => {
      assert.ok(err instanceof ActivityFailed);
      assert.match(err.message, /ModuleNotFoundError: No module named 'chaosk8s'/);
      return true;
    });
  } finally {
    await (ctx.scope as RunScopeImpl).close();
  }
});

test('python: a known module with an unknown function is reported at `func`', async () => {
  const issues = await pythonProvider.check!(
    { type: 'python', module: 'faultline_test.os', func: 'nope' },
    { baseDir: '.' },
  );
  assert.equal(issues[0]?.path, 'func');
  assert.match(issues[0]!.message, /has no function 'nope' \(available: path_exists/);
});

test('python and faultline: arguments are checked against the schema, issues at arguments.<field>', async () => {
  const bad = await pythonProvider.check!(
    { type: 'python', module: 'faultline_test.os', func: 'path_exists', arguments: { path: 3, extra: 1 } },
    { baseDir: '.' },
  );
  assert.deepEqual(bad.map((i) => i.path).sort(), ['arguments', 'arguments.path']);
  assert.deepEqual(
    await pythonProvider.check!(
      { type: 'python', module: 'faultline_test.os', func: 'path_exists', arguments: { path: 'x' } },
      { baseDir: '.' },
    ),
    [],
  );
  await assert.rejects(
    pythonProvider.run(
      { type: 'python', module: 'faultline_test.os', func: 'path_exists', arguments: {} },
      activityContext(),
    ),
    /invalid arguments for faultline_test\.os\.path_exists: arguments\.path: /,
  );
  const missing = await builtinProvider.check!(
    { type: 'faultline', module: 'faultline.test', func: 'fail' },
    { baseDir: '.' },
  );
  assert.equal(missing[0]?.path, 'arguments.how');
});

test('faultline: an unknown module points at `faultline discover`', async () => {
  const p = { type: 'faultline' as const, module: 'faultline.nope', func: 'x' };
  const [issue] = await builtinProvider.check!(p, { baseDir: '.' });
  assert.equal(issue?.path, 'module');
  assert.match(issue!.message, /unknown built-in module 'faultline\.nope'.*faultline discover/);
  await assert.rejects(
    builtinProvider.run(p, activityContext()),
    /unknown built-in module 'faultline\.nope'/,
  );
});

test('faultline: failures keep ActivityFailed messages and name other errors', async () => {
  const fail = (how: string) =>
    builtinProvider.run(
      { type: 'faultline', module: 'faultline.test', func: 'fail', arguments: { how } },
      activityContext(),
    );
  await assert.rejects(
    fail('activity'),
    (e: unknown) => e instanceof ActivityFailed && e.message === 'could not do it',
  );
  await assert.rejects(
    fail('faultline'),
    (e: unknown) => e instanceof ActivityFailed && e.message === 'fault refused',
  );
  await assert.rejects(
    fail('type'),
    (e: unknown) => e instanceof ActivityFailed && e.message === 'TypeError: bad type',
  );
  await assert.rejects(
    fail('error'),
    (e: unknown) => e instanceof ActivityFailed && e.message === 'Error: generic',
  );
});

test('faultline: the signal reaches the activity', async () => {
  const ac = new AbortController();
  const pending = builtinProvider.run(
    { type: 'faultline', module: 'faultline.test', func: 'wait' },
    activityContext({ signal: ac.signal }),
  );
  ac.abort(new Error('halt'));
  await assert.rejects(pending, /faultline\.test\.wait was interrupted: halt/);
});
