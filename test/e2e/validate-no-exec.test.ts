/**
 * `faultline validate` executes nothing (issue #13 item 9): a node provider
 * module with a side effect (it writes a marker file when imported) is not
 * imported by validation, whether named by a relative path, `../`, an absolute
 * path or a `data:` URL; a .js experiment is refused. With --import-modules
 * both run, as documented.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, test } from 'node:test';
import { validateExperiment } from '../../src/lib/validate.js';
import { cliSuite, runCli } from '../helpers/cli.js';

const e2e = cliSuite('faultline-validate-noexec-');

const marker = () => join(e2e.work, 'imported.marker');

/** A module that leaves a marker file when its top-level code runs. */
const sideEffect = () =>
  `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker())}, 'ran');\nexport function probe() { return true; }\n`;

function experiment(module: string, func = 'probe') {
  return {
    title: 't',
    description: 'd',
    method: [{ type: 'probe', name: 'p', provider: { type: 'node', module, func } }],
  };
}

async function writeExperiment(name: string, module: string, func?: string): Promise<string> {
  const dir = join(e2e.work, 'exp');
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(experiment(module, func)));
  return path;
}

beforeEach(async () => {
  await rm(marker(), { force: true });
  await mkdir(join(e2e.work, 'mods'), { recursive: true });
  await writeFile(join(e2e.work, 'mods', 'side.mjs'), sideEffect());
  await writeFile(join(e2e.work, 'exp-side.mjs'), sideEffect());
});

describe('faultline validate executes nothing', () => {
  test('a JSON experiment naming a side-effect module by ./, ../ and absolute path: no marker, a note; --import-modules imports it', async () => {
    await mkdir(join(e2e.work, 'exp'), { recursive: true });
    await writeFile(join(e2e.work, 'exp', 'side.mjs'), sideEffect());
    for (const module of ['./side.mjs', '../mods/side.mjs', join(e2e.work, 'mods', 'side.mjs')]) {
      const path = await writeExperiment('e.json', module);
      const r = await runCli(['validate', path], { env: e2e.env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(existsSync(marker()), false, `validate imported ${module}`);
      assert.match(
        r.stdout + r.stderr,
        /note: .*module '.*side\.mjs' was not imported: its function 'probe' is checked when the experiment runs/,
      );
    }
    const path = await writeExperiment('e.json', '../mods/side.mjs');
    const r = await runCli(['validate', '--import-modules', path], { env: e2e.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /--import-modules runs the code/);
    assert.equal(existsSync(marker()), true, 'the explicit flag imports the module');
  });

  test('a data: URL module is not imported; with --import-modules it is', async () => {
    const module = `data:text/javascript,${encodeURIComponent(sideEffect())}`;
    const path = await writeExperiment('data.json', module);
    const r = await runCli(['validate', path], { env: e2e.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(marker()), false, 'validate imported the data: URL');
    assert.match(r.stdout + r.stderr, /module 'data:text\/javascript,.*…' was not imported/);
    const r2 = await runCli(['validate', '--import-modules', path], { env: e2e.env });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(existsSync(marker()), true);
  });

  test('what can be checked without importing is: a missing module file, a directory', async () => {
    const missing = await writeExperiment('missing.json', './nope.mjs');
    const r = await runCli(['validate', missing], { env: e2e.env });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /method\[0\]\.provider\.module: cannot load module '\.\/nope\.mjs': .*no such file/,
    );
    const dir = await writeExperiment('dir.json', '../mods');
    const r2 = await runCli(['validate', dir], { env: e2e.env });
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /is not a regular file/);
    assert.equal(existsSync(marker()), false);
  });

  test('a .js experiment is refused with exit 2 naming --import-modules; with the flag it loads (and runs)', async () => {
    const path = join(e2e.work, 'exp.mjs');
    await writeFile(
      path,
      `import './exp-side.mjs';\nexport default ${JSON.stringify({ title: 't', description: 'd', method: [] })};\n`,
    );
    const r = await runCli(['validate', path], { env: e2e.env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exp\.mjs: not validated: it is code .*--import-modules/);
    assert.equal(existsSync(marker()), false, 'validate loaded the .js experiment');
    const r2 = await runCli(['validate', '--import-modules', path], { env: e2e.env });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(existsSync(marker()), true);
  });

  test('the library: validateExperiment imports nothing unless importModules is set', async () => {
    const doc = experiment(join(e2e.work, 'mods', 'side.mjs'), 'absent');
    const quiet = await validateExperiment(doc, { env: {} });
    assert.deepEqual(quiet.issues, []);
    assert.equal(quiet.notes.length, 1);
    assert.equal(quiet.notes[0]?.path, 'method[0].provider.module');
    assert.equal(existsSync(marker()), false);
    const loud = await validateExperiment(doc, { env: {}, importModules: true });
    assert.equal(existsSync(marker()), true);
    assert.match(loud.issues[0]?.message ?? '', /does not export a function 'absent'/);
  });
});
