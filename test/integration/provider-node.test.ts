import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ActivityFailed } from '../../src/core/errors.js';
import type { ActivityContext } from '../../src/engine/context.js';
import { nodeProvider, resolveNodeModule } from '../../src/providers/node.js';
import { activityContext } from '../helpers/activity-context.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'providers');

const run = (
  module: string,
  func?: string,
  args?: Record<string, unknown>,
  ctx: Partial<ActivityContext> = {},
) =>
  nodeProvider.run(
    { type: 'node', module, ...(func ? { func } : {}), ...(args ? { arguments: args } : {}) },
    activityContext({ baseDir: fixtures, ...ctx }),
  );

let pkgDir: string;
before(() => {
  // Packages installed next to an experiment: one CommonJS, one ESM-only.
  pkgDir = mkdtempSync(join(tmpdir(), 'faultline-node-'));
  const cjs = join(pkgDir, 'node_modules', 'fl-fixture-cjs');
  mkdirSync(cjs, { recursive: true });
  writeFileSync(join(cjs, 'package.json'), JSON.stringify({ name: 'fl-fixture-cjs', main: 'lib.js' }));
  writeFileSync(join(cjs, 'lib.js'), 'exports.ping = () => "pong-cjs";\n');
  const esm = join(pkgDir, 'node_modules', '@fl', 'fixture-esm');
  mkdirSync(esm, { recursive: true });
  writeFileSync(
    join(esm, 'package.json'),
    JSON.stringify({
      name: '@fl/fixture-esm',
      type: 'module',
      exports: { '.': { import: './index.js' }, './extra': { import: './extra.js' } },
    }),
  );
  writeFileSync(join(esm, 'index.js'), 'export const ping = () => "pong-esm";\n');
  writeFileSync(join(esm, 'extra.js'), 'export const ping = () => "pong-extra";\n');
  writeFileSync(join(pkgDir, 'local.mjs'), 'export const here = () => "local";\n');
});
after(() => rmSync(pkgDir, { recursive: true, force: true }));

test('a sync function gets the arguments object', async () => {
  assert.equal(await run('./activities.mjs', 'add', { a: 2, b: 3 }), 5);
});

test('an async function is awaited', async () => {
  assert.deepEqual(await run('./activities.mjs', 'later', { value: 7 }), { value: 7, at: 'later' });
});

test('func defaults to the default export', async () => {
  assert.equal(await run('./activities.mjs', undefined, { who: 'faultline' }), 'hello faultline');
  assert.equal(await run('./activities.mjs'), 'hello world');
});

test('the function receives configuration, secrets, a signal and a log', async () => {
  const ctx = activityContext({
    baseDir: fixtures,
    configuration: { url: 'http://x' },
    secrets: { api: { token: 's3cret' } },
  });
  const out = await nodeProvider.run(
    { type: 'node', module: './activities.mjs', func: 'echoContext', arguments: { k: 1 } },
    ctx,
  );
  assert.deepEqual(out, {
    args: { k: 1 },
    configuration: { url: 'http://x' },
    secrets: { api: { token: 's3cret' } },
    hasSignal: true,
    aborted: false,
  });
  assert.deepEqual(ctx.logs, [{ level: 'info', message: 'echoing' }]);
});

test('the function gets a copy of the arguments', async () => {
  const args = { a: 1 };
  await run('./activities.mjs', 'mutateArgs', args);
  assert.deepEqual(args, { a: 1 });
});

test('a thrown error fails the activity with "<Name>: <message>"', async () => {
  await assert.rejects(run('./activities.mjs', 'boom', { message: 'out of range' }), (err: unknown) => {
    assert.ok(err instanceof ActivityFailed);
    assert.equal(err.message, 'RangeError: out of range');
    return true;
  });
  await assert.rejects(run('./activities.mjs', 'throwsString'), (err: unknown) => {
    assert.equal((err as Error).message, 'Error: plain string');
    return true;
  });
});

test('CommonJS, TypeScript, absolute paths and file URLs load', async () => {
  assert.equal(await run('./commonjs.cjs', 'double', { n: 4 }), 8);
  assert.equal(await run('./default-fn.cjs', undefined, { n: 4 }), 5);
  assert.equal(await run('./typed.ts', 'greet', { name: 'ts' }), 'hi ts');
  assert.equal(await run(join(fixtures, 'activities.mjs'), 'add', { a: 1, b: 1 }), 2);
  assert.equal(await run(pathToFileURL(join(fixtures, 'activities.mjs')).href, 'add', { a: 1, b: 2 }), 3);
  assert.equal(
    await run('activities.mjs', 'add', { a: 1, b: 3 }),
    4,
    'a bare file name next to the experiment',
  );
});

test('package names resolve from the experiment directory, CommonJS and ESM-only', async () => {
  assert.equal(await run('fl-fixture-cjs', 'ping', {}, { baseDir: pkgDir }), 'pong-cjs');
  assert.equal(await run('@fl/fixture-esm', 'ping', {}, { baseDir: pkgDir }), 'pong-esm');
  assert.equal(await run('@fl/fixture-esm/extra', 'ping', {}, { baseDir: pkgDir }), 'pong-extra');
  assert.equal(await run('./local.mjs', 'here', {}, { baseDir: pkgDir }), 'local');
  assert.match(
    resolveNodeModule('undici', pkgDir),
    /node_modules\/undici\//,
    'falls back to packages next to Faultline',
  );
});

test('an abort stops waiting, whether the function honours the signal or not', async () => {
  for (const func of ['waitForAbort', 'ignoresSignal']) {
    const ac = new AbortController();
    const pending = run('./activities.mjs', func, {}, { signal: ac.signal });
    queueMicrotask(() => ac.abort(new Error('halt')));
    await assert.rejects(pending, /node activity was interrupted: halt/, func);
  }
});

test('a missing module or export fails the activity', async () => {
  await assert.rejects(run('./nope.mjs', 'x'), /cannot load module '\.\/nope\.mjs'/);
  await assert.rejects(run('no-such-package-faultline'), /cannot find module 'no-such-package-faultline'/);
  await assert.rejects(
    run('./activities.mjs', 'missing'),
    /module '\.\/activities\.mjs' does not export a function 'missing'/,
  );
  await assert.rejects(run('./activities.mjs', 'notAFunction'), /does not export a function 'notAFunction'/);
});

test('check() with importModules reports the module at `module` and the export at `func`', async () => {
  const check = (module: string, func?: string) =>
    nodeProvider.check!(
      { type: 'node', module, ...(func ? { func } : {}) },
      { baseDir: fixtures, importModules: true },
    );
  assert.deepEqual(await check('./activities.mjs', 'add'), []);
  assert.deepEqual(await check('./typed.ts', 'greet'), []);
  const [mod] = await check('./nope.mjs');
  assert.equal(mod?.path, 'module');
  assert.match(mod!.message, /cannot load module '\.\/nope\.mjs'/);
  assert.deepEqual(await check('./activities.mjs', 'missing'), [
    { path: 'func', message: "module './activities.mjs' does not export a function 'missing'" },
  ]);
});
