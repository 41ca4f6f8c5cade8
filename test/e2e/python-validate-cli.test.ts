/**
 * `faultline validate` and `faultline discover PACKAGE` with Python, through
 * the built CLI (run `npm run build` first) and a real python3: plain
 * validate executes no Python module (a marker file stays absent) and
 * --import-modules does; a safeguard's python probe is checked; a python
 * control that cannot be found is a warning (exit 0); no Python is an issue
 * naming the activity (exit 2); discover lists a package next to the built-ins.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolvePython } from '../../src/python/interpreter.js';
import { cliSuite, runCli } from '../helpers/cli.js';

const e2e = cliSuite('faultline-python-validate-');
const INSPECT = fileURLToPath(new URL('../fixtures/python/inspect/', import.meta.url));
const DISCOVER = fileURLToPath(new URL('../fixtures/python/discover/', import.meta.url));
const python = resolvePython(process.env);
const skip = python ? false : 'no python3 on this machine';

const marker = () => join(e2e.work, 'imported.marker');
const env = () => ({ ...e2e.env, PYTHONPATH: INSPECT, FL_INSPECT_MARKER: marker() });

/** Whether the built python provider hands controls to checkPythonControl (the lead's wiring). */
async function controlsChecked(): Promise<boolean> {
  const { pythonProvider } = (await import(
    fileURLToPath(new URL('../../dist/providers/python.js', import.meta.url))
  )) as { pythonProvider: { checkControl?: unknown } };
  return typeof pythonProvider.checkControl === 'function';
}

const probe = (name: string, module: string, func: string, args?: Record<string, unknown>) => ({
  type: 'probe',
  name,
  provider: { type: 'python', module, func, ...(args ? { arguments: args } : {}) },
});

async function write(name: string, doc: unknown): Promise<string> {
  const path = join(e2e.work, name);
  await writeFile(path, JSON.stringify(doc, null, 2));
  return path;
}

beforeEach(async () => {
  await rm(marker(), { force: true });
  await mkdir(e2e.work, { recursive: true });
});

describe('faultline validate with Python activities', { skip }, () => {
  test('plain validate checks a python activity without importing it; --import-modules imports it', async () => {
    const path = await write('side.json', {
      title: 't',
      description: 'd',
      method: [
        probe('side', 'fl_side_effect', 'probe', { value: 1 }),
        probe('stdlib', 'os.path', 'exists', { path: '/' }),
      ],
    });
    const plain = await runCli(['validate', path], { env: env() });
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.match(plain.stdout + plain.stderr, /experiment syntax and semantic look valid/);
    assert.equal(existsSync(marker()), false, 'plain validate executed the module');
    const imported = await runCli(['validate', '--import-modules', path], { env: env() });
    assert.equal(imported.code, 0, imported.stdout + imported.stderr);
    assert.equal(existsSync(marker()), true, '--import-modules did not import the module');
  });

  test("Chaos Toolkit's messages: module not found, function missing, argument unknown (exit 2)", async () => {
    const path = await write('bad.json', {
      title: 't',
      description: 'd',
      method: [
        probe('lost', 'fl_no_such_module', 'f'),
        probe('nofunc', 'fl_inspect_fixture.probes', 'nope'),
        probe('badarg', 'fl_inspect_fixture.probes', 'ping', { url: 'u', colour: 'red' }),
      ],
    });
    const r = await runCli(['validate', path], { env: env() });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const text = r.stdout + r.stderr;
    assert.match(
      text,
      /method\[0\]\.provider\.module: could not find Python module 'fl_no_such_module' in activity 'lost'/,
    );
    assert.match(
      text,
      /method\[1\]\.provider\.func: .*'fl_inspect_fixture\.probes' does not expose a function called 'nope'/,
    );
    assert.match(
      text,
      /method\[2\]\.provider\.arguments\.colour: argument colour is not part of the function signature in activity 'ping'/,
    );
  });

  test("a safeguards control's python probe with a missing module is reported", async () => {
    const path = await write('safeguard.json', {
      title: 't',
      description: 'd',
      method: [],
      controls: [
        {
          name: 'safeguards',
          provider: {
            type: 'python',
            module: 'chaosaddons.controls.safeguards',
            arguments: { probes: [{ ...probe('guard', 'fl_gone_guard', 'f'), tolerance: true }] },
          },
        },
      ],
    });
    const r = await runCli(['validate', path], { env: env() });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stdout + r.stderr,
      /controls\[0\]\.provider\.arguments\.probes\[0\]\.provider\.module: could not find Python module 'fl_gone_guard' in activity 'guard'/,
    );
  });

  test('a python control whose module cannot be found is a warning: exit 0', async (t) => {
    const path = await write('control.json', {
      title: 't',
      description: 'd',
      method: [probe('stdlib', 'os.path', 'exists', { path: '/' })],
      controls: [{ name: 'ctl', provider: { type: 'python', module: 'fl_gone_control' } }],
    });
    const r = await runCli(['validate', path], { env: env() });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    if (!(await controlsChecked())) {
      t.skip('src/providers/python.ts does not expose checkControl (checkPythonControl) yet');
      return;
    }
    assert.match(
      r.stdout + r.stderr,
      /warning: controls\[0\]\.provider\.module: could not find Python module 'fl_gone_control' in control 'ctl'\. .*The experiment will carry on running nonetheless/,
    );
  });

  test('no Python (none on PATH, no FAULTLINE_PYTHON, no VIRTUAL_ENV): exit 2, the activity named and what to install', async () => {
    const path = await write('nopython.json', {
      title: 't',
      description: 'd',
      method: [probe('needs-python', 'fl_inspect_fixture.probes', 'ping', { url: 'u' })],
    });
    const r = await runCli(['validate', path], {
      env: { ...env(), PATH: '/nonexistent-bin', FAULTLINE_PYTHON: '', VIRTUAL_ENV: '' },
    });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stdout + r.stderr,
      /activity 'needs-python' .*needs Python, and none was found: install Python 3/,
    );
  });
});

describe('faultline discover PACKAGE', { skip }, () => {
  test("a Chaos Toolkit extension's activities next to the built-ins, as text and JSON", async () => {
    const denv = { ...e2e.env, PYTHONPATH: DISCOVER };
    const text = await runCli(['discover', 'fl_fake_ext'], { env: denv });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /action faultline\.network /, 'the built-ins are listed');
    assert.match(text.stdout, /python package fl_fake_ext 1\.2\.3 \(fl-fake-ext; its discover\(\);/);
    assert.match(
      text.stdout,
      /action fl_fake_ext\.actions restart_service\n\s+Restart a service by name\.\n\s+name: string\n\s+grace\?: integer = 5/,
    );
    assert.match(text.stdout, /probe +fl_fake_ext\.probes service_is_up/);

    const json = await runCli(['discover', '--json', 'fl_fake_ext'], { env: denv });
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as {
      activities: { module: string; func: string; provider?: string }[];
      package: { name: string; version: string };
    };
    assert.ok(doc.activities.some((a) => a.module === 'faultline.network' && a.provider === undefined));
    assert.ok(doc.activities.some((a) => a.func === 'service_is_up' && a.provider === 'python'));
    assert.deepEqual([doc.package.name, doc.package.version], ['fl-fake-ext', '1.2.3']);
  });

  test('an unknown package and a missing Python: clear errors, exit 2', async () => {
    const unknown = await runCli(['discover', 'fl_not_installed_anywhere'], { env: e2e.env });
    assert.equal(unknown.code, 2, unknown.stdout + unknown.stderr);
    assert.match(unknown.stderr, /package 'fl_not_installed_anywhere' is not installed in /);
    assert.doesNotMatch(unknown.stderr, /\n\s+at /, 'no stack trace');
    const none = await runCli(['discover', 'fl_fake_ext'], {
      env: { ...e2e.env, PYTHONPATH: DISCOVER, FAULTLINE_PYTHON: '/nonexistent' },
    });
    assert.equal(none.code, 2, none.stdout + none.stderr);
    assert.match(
      none.stderr,
      /needs Python, and FAULTLINE_PYTHON \(\/nonexistent\) is not an executable file/,
    );
  });

  test('a filter that matches built-ins still filters them (no Python involved)', async () => {
    const r = await runCli(['discover', 'stress.cpu'], {
      env: { ...e2e.env, FAULTLINE_PYTHON: '/nonexistent' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /faultline\.stress cpu/);
    assert.equal(r.stdout.includes('python package'), false);
  });
});
