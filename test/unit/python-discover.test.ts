/**
 * `faultline discover PACKAGE`'s Python side (src/python/discover.ts) with a
 * real python3: a Chaos Toolkit style extension is listed through its own
 * discover() (built with the chaoslib.discovery shim when chaostoolkit-lib is
 * not installed), a package without one through its modules' functions; an
 * unknown package and a missing Python are clear errors (exit 2).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FaultlineError } from '../../src/core/errors.js';
import { discoverPythonPackage } from '../../src/python/discover.js';
import { resolvePython } from '../../src/python/interpreter.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/python/discover/', import.meta.url));
const python = resolvePython(process.env);
const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: FIXTURES };

async function refusal(pkg: string, e: NodeJS.ProcessEnv): Promise<FaultlineError> {
  try {
    await discoverPythonPackage(pkg, { env: e });
  } catch (err) {
    assert.ok(err instanceof FaultlineError, String(err));
    return err;
  }
  assert.fail(`${pkg} was discovered`);
}

describe('discover a Python package', { skip: python ? false : 'no python3 on this machine' }, () => {
  test("an extension's own discover(): its actions and probes with arguments and types", async () => {
    const found = await discoverPythonPackage('fl_fake_ext', { env });
    assert.deepEqual(
      { ...found.extension, python: undefined },
      {
        package: 'fl_fake_ext',
        name: 'fl-fake-ext',
        version: '1.2.3',
        source: 'discover',
        python: undefined,
        skipped: [],
      },
    );
    assert.deepEqual(
      [...found],
      [
        {
          type: 'action',
          module: 'fl_fake_ext.actions',
          func: 'restart_service',
          doc: 'Restart a service by name.',
          provider: 'python',
          // configuration and secrets are supplied by the runner: not listed.
          arguments: [
            { name: 'name', type: 'string', required: true },
            { name: 'grace', type: 'integer', required: false, default: 5 },
          ],
        },
        {
          type: 'probe',
          module: 'fl_fake_ext.probes',
          func: 'service_is_up',
          doc: 'Whether the service answers.',
          provider: 'python',
          arguments: [
            { name: 'name', type: 'string', required: true },
            { name: 'timeout', type: 'number', required: false, default: 1.5 },
          ],
        },
      ],
    );
  });

  test("a package without discover(): its modules' public functions, typed by module name", async () => {
    const found = await discoverPythonPackage('fl_plain_pkg', { env });
    assert.equal(found.extension.source, 'modules');
    assert.deepEqual(
      found.map((a) => [a.type, `${a.module}.${a.func}`, a.arguments.map((x) => `${x.name}:${x.type}`)]),
      [
        ['action', 'fl_plain_pkg.actions.scale', ['replicas:integer', 'name:string']],
        ['probe', 'fl_plain_pkg.probes.count', ['label:string']],
      ],
    );
  });

  test('an unknown package: an error naming it and the Python looked in (exit 2)', async () => {
    const err = await refusal('fl_not_installed_anywhere', env);
    assert.equal(err.exitCode, 2);
    assert.match(
      err.message,
      /^package 'fl_not_installed_anywhere' is not installed in .*python.*installs nothing/,
    );
  });

  test('a name that is no Python package name is refused before anything runs', async () => {
    const err = await refusal('../etc/passwd', env);
    assert.equal(err.exitCode, 2);
    assert.match(err.message, /^package: expected a Python package name/);
  });

  test('no Python: an error saying what to install (exit 2)', async () => {
    const err = await refusal('fl_fake_ext', {
      ...env,
      PATH: '/nonexistent-bin',
      FAULTLINE_PYTHON: '',
      VIRTUAL_ENV: '',
    });
    assert.equal(err.exitCode, 2);
    assert.match(
      err.message,
      /^package 'fl_fake_ext': discovering a Python package needs Python, and none was found: install Python 3/,
    );
  });
});
