/**
 * Validation of Python activities and controls (src/python/inspect.ts and
 * python/faultline_inspect.py) with a real python3: Chaos Toolkit's checks
 * (module found, function exposed, arguments bound) made WITHOUT executing
 * the user's modules, or by importing them with importModules; one inspector
 * process for a whole experiment; safeguard probes and controls.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Issue } from '../../src/core/errors.js';
import type { PythonProvider } from '../../src/core/schema.js';
import type { CheckContext } from '../../src/engine/context.js';
import { type ValidationRegistries, validateExperiment } from '../../src/experiment/validate.js';
import { checkPythonActivity, checkPythonControl, INSPECTOR } from '../../src/python/inspect.js';
import { resolvePython } from '../../src/python/interpreter.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/python/inspect/', import.meta.url));
const python = resolvePython(process.env);
const work = mkdtempSync(join(tmpdir(), 'faultline-py-inspect-'));
after(() => rmSync(work, { recursive: true, force: true }));

const marker = join(work, 'imported.marker');
const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: FIXTURES, FL_INSPECT_MARKER: marker };

interface Checked {
  issues: Issue[];
  notes: Issue[];
}

async function check(
  provider: Omit<PythonProvider, 'type'>,
  opts: Partial<CheckContext> = {},
): Promise<Checked> {
  const notes: Issue[] = [];
  const issues = await checkPythonActivity({ type: 'python', ...provider } as PythonProvider, {
    baseDir: work,
    env,
    activity: 'my-activity',
    note: (n) => notes.push(n),
    ...opts,
  });
  return { issues, notes };
}

const messages = (list: Issue[]) => list.map((i) => [i.path, i.message]);

/** Validation with the python provider's hooks as src/providers/python.ts exposes them. */
const registries: ValidationRegistries = {
  providers: {
    get: (type) =>
      type === 'python'
        ? {
            check: checkPythonActivity as never,
            checkPerActivity: true,
            checkControl: checkPythonControl as never,
            isSafeguardControl: (p: { module: string }) => p.module === 'chaosaddons.controls.safeguards',
          }
        : undefined,
  },
  validateTolerance: () => [],
};

const probe = (name: string, module: string, func: string, args?: Record<string, unknown>) => ({
  type: 'probe',
  name,
  provider: { type: 'python', module, func, ...(args ? { arguments: args } : {}) },
});

describe('python activities: the static check', {
  skip: python ? false : 'no python3 on this machine',
}, () => {
  test('a module that cannot be found, and one that is found', async () => {
    const missing = await check({ module: 'fl_no_such_module.probes', func: 'ping' });
    assert.deepEqual(messages(missing.issues), [
      ['module', "could not find Python module 'fl_no_such_module.probes' in activity 'my-activity'"],
    ]);
    const found = await check({ module: 'fl_inspect_fixture.probes', func: 'ping', arguments: { url: 'x' } });
    assert.deepEqual(found, { issues: [], notes: [] });
  });

  test('a function the module does not expose (missing, a class) is an issue', async () => {
    for (const func of ['no_such_function', 'NotAFunction']) {
      const { issues } = await check({ module: 'fl_inspect_fixture.probes', func });
      assert.deepEqual(messages(issues), [
        [
          'func',
          `the python module 'fl_inspect_fixture.probes' does not expose a function called '${func}' in activity 'my-activity'`,
        ],
      ]);
    }
  });

  test('arguments against the signature: required missing, unknown, **kwargs, async def', async () => {
    const missing = await check({
      module: 'fl_inspect_fixture.probes',
      func: 'ping',
      arguments: { timeout: 1 },
    });
    assert.deepEqual(messages(missing.issues), [
      ['arguments', "required argument url is missing from activity 'ping'"],
    ]);
    const unknown = await check({
      module: 'fl_inspect_fixture.probes',
      func: 'ping',
      arguments: { url: 'x', colour: 'red', 'a.b': 1 },
    });
    assert.deepEqual(messages(unknown.issues), [
      ['arguments.colour', "argument colour is not part of the function signature in activity 'ping'"],
      ['arguments["a.b"]', "argument a.b is not part of the function signature in activity 'ping'"],
    ]);
    const kwargs = await check({
      module: 'fl_inspect_fixture.probes',
      func: 'anything',
      arguments: { x: 1, y: 2 },
    });
    assert.deepEqual(kwargs.issues, []);
    const asyncDef = await check({
      module: 'fl_inspect_fixture.probes',
      func: 'aping',
      arguments: { host: 'h' },
    });
    assert.deepEqual(asyncDef.issues, []);
  });

  test('configuration is supplied by the runner; secrets only when the provider declares them', async () => {
    assert.deepEqual((await check({ module: 'fl_inspect_fixture.probes', func: 'needs_config' })).issues, []);
    assert.deepEqual(
      (await check({ module: 'fl_inspect_fixture.probes', func: 'with_config', arguments: { n: 1 } })).issues,
      [],
    );
    const undeclared = await check({
      module: 'fl_inspect_fixture.probes',
      func: 'needs_secrets',
      arguments: { token: 't' },
    });
    assert.equal(undeclared.issues.length, 1);
    assert.equal(undeclared.issues[0]!.path, 'arguments');
    assert.match(
      undeclared.issues[0]!.message,
      /^required argument secrets is missing from activity 'needs_secrets' \(.*secrets: \[scope/,
    );
    const declared = await check({
      module: 'fl_inspect_fixture.probes',
      func: 'needs_secrets',
      arguments: { token: 't' },
      secrets: ['vault'],
    });
    assert.deepEqual(declared.issues, []);
  });

  test('the standard library: os.path.exists (loaded at startup) and json.dumps (read from source) pass', async () => {
    assert.deepEqual(await check({ module: 'os.path', func: 'exists', arguments: { path: '/' } }), {
      issues: [],
      notes: [],
    });
    assert.deepEqual(await check({ module: 'json', func: 'dumps', arguments: { obj: 1, indent: 2 } }), {
      issues: [],
      notes: [],
    });
    const bad = await check({ module: 'os.path', func: 'exists', arguments: { p: '/' } });
    assert.deepEqual(
      bad.issues.map((i) => i.path),
      ['arguments', 'arguments.p'],
    );
  });

  test('a name imported from a sibling module is followed; an assigned one and an extension are notes', async () => {
    const followed = await check({
      module: 'fl_inspect_fixture.probes',
      func: 'helped',
      arguments: { z: 1 },
    });
    assert.deepEqual(messages(followed.issues), [
      ['arguments', "required argument x is missing from activity 'helped'"],
      ['arguments.z', "argument z is not part of the function signature in activity 'helped'"],
    ]);
    const reexported = await check({
      module: 'fl_inspect_fixture.probes',
      func: 'exists',
      arguments: { path: '/' },
    });
    assert.deepEqual(reexported, { issues: [], notes: [] });
    const dynamic = await check({ module: 'fl_inspect_fixture.probes', func: 'made' });
    assert.deepEqual(dynamic.issues, []);
    assert.match(
      dynamic.notes[0]!.message,
      /function made of module fl_inspect_fixture.probes .*could not be checked statically; --import-modules imports it/,
    );
    const ext = await check({ module: 'fl_compiled_ext', func: 'probe' });
    assert.deepEqual(ext.issues, []);
    assert.deepEqual(messages(ext.notes), [
      [
        'module',
        'module fl_compiled_ext is a compiled extension: its function probe was not checked; --import-modules imports it',
      ],
    ]);
  });

  test('a module with a syntax error is an issue naming the file and line', async () => {
    const { issues } = await check({ module: 'fl_broken', func: 'probe' });
    assert.equal(issues.length, 1);
    assert.match(
      issues[0]!.message,
      /^Python module 'fl_broken' cannot be imported in activity 'my-activity': SyntaxError in .*fl_broken\.py at line 1/,
    );
  });

  test("plain validation does not execute the module's top-level code; importModules does", async () => {
    rmSync(marker, { force: true });
    const plain = await check({ module: 'fl_side_effect', func: 'probe', arguments: { value: 1 } });
    assert.deepEqual(plain, { issues: [], notes: [] });
    assert.equal(existsSync(marker), false, 'the static check imported the module');
    const imported = await check(
      { module: 'fl_side_effect', func: 'probe', arguments: { value: 1, extra: 2 } },
      { importModules: true },
    );
    assert.equal(existsSync(marker), true, 'importModules did not import the module');
    assert.deepEqual(messages(imported.issues), [
      ['arguments.extra', "argument extra is not part of the function signature in activity 'probe'"],
    ]);
    rmSync(marker, { force: true });
  });

  test('importModules reports what only an import shows: a missing dependency, a decorator that is no function', async () => {
    const staticCheck = await check({ module: 'fl_imports_missing', func: 'probe' });
    assert.deepEqual(staticCheck.issues, []);
    const imported = await check({ module: 'fl_imports_missing', func: 'probe' }, { importModules: true });
    assert.deepEqual(messages(imported.issues), [
      [
        'module',
        "importing Python module 'fl_imports_missing' failed in activity 'my-activity': ModuleNotFoundError: No module named 'fl_no_such_dependency'",
      ],
    ]);
    const cached = await check(
      { module: 'fl_inspect_fixture.probes', func: 'cached' },
      { importModules: true },
    );
    assert.match(cached.issues[0]?.message ?? '', /does not expose a function called 'cached'/);
    const missing = await check({ module: 'fl_nowhere', func: 'f' }, { importModules: true });
    assert.deepEqual(messages(missing.issues), [
      ['module', "could not find Python module 'fl_nowhere' in activity 'my-activity'"],
    ]);
  });

  test('a package found through a virtual environment (VIRTUAL_ENV), not otherwise', async (t) => {
    const venv = join(work, 'venv');
    const made = await new Promise<number | null>((resolve) => {
      const child = spawn(python!.command, ['-m', 'venv', '--without-pip', venv], { stdio: 'ignore' });
      child.on('error', () => resolve(-1));
      child.on('close', (code) => resolve(code));
    });
    const lib = join(venv, 'lib');
    if (made !== 0 || !existsSync(lib)) {
      t.skip(`python3 -m venv --without-pip failed (exit ${made}): no venv support here`);
      return;
    }
    const site = join(lib, readdirSync(lib).find((d) => d.startsWith('python'))!, 'site-packages');
    cpSync(join(FIXTURES, 'fl_inspect_fixture'), join(site, 'fl_venv_fixture'), { recursive: true });
    const { PYTHONPATH: _, FAULTLINE_PYTHON: __, ...bare } = process.env;
    const provider = { module: 'fl_venv_fixture.probes', func: 'ping', arguments: { url: 'u' } };
    const inVenv = await check(provider, { env: { ...bare, VIRTUAL_ENV: venv } });
    assert.deepEqual(inVenv, { issues: [], notes: [] });
    const outside = await check(provider, { env: bare });
    assert.match(outside.issues[0]?.message ?? '', /could not find Python module 'fl_venv_fixture.probes'/);
  });

  test('no Python: one issue naming the activity and what to install', async () => {
    const { issues } = await check(
      { module: 'fl_inspect_fixture.probes', func: 'ping' },
      { env: { ...env, PATH: '/nonexistent-bin', FAULTLINE_PYTHON: '', VIRTUAL_ENV: '' } },
    );
    assert.equal(issues.length, 1);
    assert.match(
      issues[0]!.message,
      /^activity 'my-activity' \(module 'fl_inspect_fixture.probes'\) needs Python, and none was found: install Python 3/,
    );
    const pointed = await check(
      { module: 'fl_inspect_fixture.probes', func: 'ping' },
      { env: { ...env, FAULTLINE_PYTHON: '/nonexistent/python3' } },
    );
    assert.match(
      pointed.issues[0]!.message,
      /needs Python, and FAULTLINE_PYTHON \(\/nonexistent\/python3\) is not an executable file/,
    );
  });
});

describe('python in a whole validation', { skip: python ? false : 'no python3 on this machine' }, () => {
  test('a file of many python activities is checked by ONE inspector process', async () => {
    // A real interpreter behind a wrapper that counts its starts.
    const count = join(work, 'starts');
    const wrapper = join(work, 'counting-python');
    writeFileSync(wrapper, `#!/bin/sh\necho x >> '${count}'\nexec '${python!.command}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    const method = Array.from({ length: 40 }, (_, i) =>
      probe(`p${i}`, i % 2 ? 'fl_inspect_fixture.probes' : 'os.path', i % 2 ? 'ping' : 'exists', {
        [i % 2 ? 'url' : 'path']: '/',
        ...(i === 7 ? { nope: 1 } : {}),
      }),
    );
    const result = await validateExperiment(
      { title: 't', description: 'd', method },
      { registries, env: { ...env, FAULTLINE_PYTHON: wrapper } },
    );
    assert.deepEqual(messages(result.issues), [
      [
        'method[7].provider.arguments.nope',
        "argument nope is not part of the function signature in activity 'ping'",
      ],
    ]);
    assert.equal(readFileSync(count, 'utf8'), 'x\n', 'one inspector process for the whole file');
  });

  test('each activity is named in its own issue, though their providers are identical', async () => {
    const result = await validateExperiment(
      {
        title: 't',
        description: 'd',
        method: [probe('first', 'fl_gone', 'f'), probe('second', 'fl_gone', 'f')],
      },
      { registries, env },
    );
    assert.deepEqual(messages(result.issues), [
      ['method[0].provider.module', "could not find Python module 'fl_gone' in activity 'first'"],
      ['method[1].provider.module', "could not find Python module 'fl_gone' in activity 'second'"],
    ]);
  });

  test('python probes of a safeguards control and of safeguards: are checked like any activity', async () => {
    const result = await validateExperiment(
      {
        title: 't',
        description: 'd',
        method: [],
        safeguards: [{ ...probe('sg-list', 'fl_gone_list', 'f'), tolerance: true }],
        controls: [
          {
            name: 'safeguards',
            provider: {
              type: 'python',
              module: 'chaosaddons.controls.safeguards',
              arguments: {
                probes: [
                  { ...probe('sg-control', 'fl_gone_control', 'f'), tolerance: true, frequency: 1 },
                  { ...probe('sg-ok', 'os.path', 'exists', { path: '/' }), tolerance: true },
                ],
              },
            },
          },
        ],
      },
      { registries, env },
    );
    assert.deepEqual(messages(result.issues), [
      ['safeguards[0].provider.module', "could not find Python module 'fl_gone_list' in activity 'sg-list'"],
      [
        'controls[0].provider.arguments.probes[0].provider.module',
        "could not find Python module 'fl_gone_control' in activity 'sg-control'",
      ],
    ]);
    assert.deepEqual(result.warnings, []);
  });

  test('a safeguards control without probes is an issue (the run refuses it)', async () => {
    const result = await validateExperiment(
      {
        title: 't',
        description: 'd',
        method: [],
        controls: [{ name: 's', provider: { type: 'python', module: 'chaosaddons.controls.safeguards' } }],
      },
      { registries, env },
    );
    assert.deepEqual(messages(result.issues), [
      [
        'controls[0].provider.arguments.probes',
        'required (a safeguards control needs at least one probe with a tolerance)',
      ],
    ]);
  });

  test('a python control whose module cannot be found is a warning, not an issue', async () => {
    const result = await validateExperiment(
      {
        title: 't',
        description: 'd',
        method: [],
        controls: [
          { name: 'gone', provider: { type: 'python', module: 'fl_gone_control' } },
          { name: 'here', provider: { type: 'python', module: 'fl_control' } },
        ],
      },
      { registries, env },
    );
    assert.deepEqual(result.issues, []);
    assert.deepEqual(messages(result.warnings), [
      [
        'controls[0].provider.module',
        "could not find Python module 'fl_gone_control' in control 'gone'. Did you install the Python module? The experiment will carry on running nonetheless.",
      ],
    ]);
  });
});

describe('python controls of a settings file', {
  skip: python ? false : 'no python3 on this machine',
}, () => {
  test('checked with the experiment: a missing module is a warning, a safeguard probe an activity', async () => {
    const result = await validateExperiment(
      { title: 't', description: 'd', method: [] },
      {
        registries,
        env,
        settingsControls: {
          audit: { provider: { type: 'python', module: 'fl_gone_settings_control' } },
          guard: {
            provider: {
              type: 'python',
              module: 'chaosaddons.controls.safeguards',
              arguments: { probes: [{ ...probe('org-guard', 'fl_gone_org_probe', 'f'), tolerance: true }] },
            },
          },
        },
      },
    );
    assert.deepEqual(messages(result.issues), [
      [
        'settings.controls.guard.provider.arguments.probes[0].provider.module',
        "could not find Python module 'fl_gone_org_probe' in activity 'org-guard'",
      ],
    ]);
    assert.deepEqual(
      result.warnings.map((w) => w.path),
      ['settings.controls.audit.provider.module'],
    );
    assert.match(result.warnings[0]!.message, /in control 'audit'\. .*carry on running nonetheless/);
  });
});

describe('the inspector reads its request defensively', {
  skip: python ? false : 'no python3 on this machine',
}, () => {
  function ask(input: Buffer | string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(python!.command, ['-B', INSPECTOR], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.on('error', () => undefined);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input);
    });
  }

  test('garbage, wrong shapes and deep nesting get one JSON error reply, never a traceback', async () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const inputs: (string | Buffer)[] = [
      '',
      'garbage',
      '\u0000\u0001',
      'null',
      '[]',
      '"check"',
      '{"op": "nope"}',
      '{"op": "check"}',
      '{"op": "check", "items": {}}',
      '{"op": "check", "items": [1]}',
      '{"op": "check", "items": [{"module": 3, "func": "f"}]}',
      '{"op": "check", "items": [{"module": "m", "func": ""}]}',
      '{"op": "discover", "package": "../etc"}',
      '{"op": "discover"}',
      `${'['.repeat(100_000)}`,
      Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
    ];
    for (let i = 0; i < 12; i++) {
      inputs.push(
        Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256))),
      );
    }
    for (const input of inputs) {
      const r = await ask(input);
      const shown = JSON.stringify(input.toString().slice(0, 40));
      assert.equal(r.stderr.includes('Traceback'), false, `${shown}: ${r.stderr}`);
      const reply = JSON.parse(r.stdout) as { ok: boolean; error?: string };
      assert.equal(reply.ok, false, shown);
      assert.equal(typeof reply.error, 'string', shown);
      assert.equal(r.code, 2, `${shown}: ${reply.error}`);
    }
  });

  test('a module name that is no Python name is not found, not an error', async () => {
    const r = await ask(
      JSON.stringify({ op: 'check', items: [{ id: 0, module: '../../etc/passwd', func: 'f' }] }),
    );
    assert.deepEqual(JSON.parse(r.stdout), { ok: true, results: [{ id: 0, status: 'no-module' }] });
  });
});
