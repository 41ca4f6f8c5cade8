import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import {
  loadVarFiles,
  mergeOverrides,
  parseEnvFile,
  parseVarOption,
  resolveConfiguration,
  resolveSecrets,
} from '../../src/experiment/index.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'experiment');

const usageError = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof FaultlineError, String(err));
  assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
  assert.equal(err.exitCode, 2);
  assert.match(err.message, /--var/);
  assert.match(err.message, pattern);
  return true;
};

describe('--var key[:type]=value', () => {
  test('untyped values are strings; the value may contain = and :', () => {
    assert.deepEqual(parseVarOption('name=web'), { key: 'name', value: 'web' });
    assert.deepEqual(parseVarOption('url=http://x:1/?a=b'), { key: 'url', value: 'http://x:1/?a=b' });
    assert.deepEqual(parseVarOption('empty='), { key: 'empty', value: '' });
  });

  test('every type name converts', () => {
    assert.deepEqual(parseVarOption('a:str=1'), { key: 'a', value: '1' });
    assert.deepEqual(parseVarOption('a:string=1'), { key: 'a', value: '1' });
    assert.deepEqual(parseVarOption('a:int=42'), { key: 'a', value: 42 });
    assert.deepEqual(parseVarOption('a:integer=-7'), { key: 'a', value: -7 });
    assert.deepEqual(parseVarOption('a:float=2.5'), { key: 'a', value: 2.5 });
    assert.deepEqual(parseVarOption('a:number=3'), { key: 'a', value: 3 });
    assert.deepEqual(parseVarOption('a:bool=no'), { key: 'a', value: false });
    assert.deepEqual(parseVarOption('a:bool=true'), { key: 'a', value: true });
    assert.deepEqual(parseVarOption('a:json={"x":[1]}'), { key: 'a', value: { x: [1] } });
    const bytes = parseVarOption('a:bytes=hi').value;
    assert.ok(Buffer.isBuffer(bytes));
    assert.equal((bytes as Buffer).toString(), 'hi');
  });

  test('bad specs and bad values are usage errors naming --var and what was expected', () => {
    assert.throws(() => parseVarOption('novalue'), usageError(/key=value/));
    assert.throws(() => parseVarOption('=x'), usageError(/key/));
    assert.throws(() => parseVarOption(':int=1'), usageError(/key/));
    assert.throws(() => parseVarOption('a:uuid=1'), usageError(/unknown type "uuid"/));
    assert.throws(() => parseVarOption('a:int=one'), usageError(/expected an int/));
    assert.throws(() => parseVarOption('a:float=x'), usageError(/expected a float/));
    assert.throws(() => parseVarOption('a:json={'), usageError(/JSON/));
  });
});

describe('--var-file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faultline-vars-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('JSON and YAML files give configuration and secrets; later files win', async () => {
    const env: NodeJS.ProcessEnv = {};
    const out = await loadVarFiles([join(fixtures, 'vars.json'), join(fixtures, 'vars.yaml')], env);
    assert.deepEqual(out.configuration, {
      service: 'worker',
      retries: 5,
      extra: true,
      port: { type: 'env', key: 'FAULTLINE_TEST_PORT', env_var_type: 'int' },
    });
    assert.deepEqual(out.secrets, { api: { token: 'from-json' }, db: { password: 'from-yaml' } });
    assert.deepEqual(env, {});
  });

  test('a later file replaces a whole secrets scope', async () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.yml');
    await writeFile(a, JSON.stringify({ secrets: { api: { token: 'a', user: 'a' } } }));
    await writeFile(b, 'secrets:\n  api:\n    token: b\n');
    const out = await loadVarFiles([a, b], {});
    assert.deepEqual(out.secrets, { api: { token: 'b' } });
  });

  test('other files are KEY=VALUE lines injected into the environment', async () => {
    const env: NodeJS.ProcessEnv = { FAULTLINE_TEST_PLAIN: 'old' };
    const out = await loadVarFiles([join(fixtures, 'vars.env')], env);
    assert.deepEqual(out, { configuration: {}, secrets: {} });
    assert.equal(env.FAULTLINE_TEST_PLAIN, 'plain value');
    assert.equal(env.FAULTLINE_TEST_EXPORTED, 'yes');
    assert.equal(env.FAULTLINE_TEST_DOUBLE, 'a "quoted" line\nnext');
    assert.equal(env.FAULTLINE_TEST_SINGLE, 'single # not a comment');
    assert.equal(env.FAULTLINE_TEST_INLINE, 'value');
    assert.equal(env.FAULTLINE_TEST_EMPTY, '');
  });

  test('env file lines must be KEY=VALUE', () => {
    assert.deepEqual(parseEnvFile('A=1\r\n# c\n\nB = two\n'), { A: '1', B: 'two' });
    assert.throws(
      () => parseEnvFile('A=1\njust words\n', 'x.env'),
      (err: unknown) =>
        err instanceof FaultlineError && /x\.env:2/.test(err.message) && err.issues[0]?.line === 2,
    );
  });

  test('missing, unparsable and mis-shaped var files fail with exit status 2', async () => {
    const bad = join(dir, 'bad.json');
    const shape = join(dir, 'shape.yaml');
    await writeFile(bad, '{"configuration": ');
    await writeFile(shape, 'configuration: [1, 2]\n');
    for (const [path, code, pattern] of [
      [join(dir, 'nope.json'), 'FAULTLINE_ERR_LOAD', /Var file ".*nope\.json" does not exist/],
      [bad, 'FAULTLINE_ERR_PARSE', /line 1/],
      [shape, 'FAULTLINE_ERR_CONFIG', /configuration.*object/],
    ] as const) {
      await assert.rejects(loadVarFiles([path], {}), (err: unknown) => {
        assert.ok(err instanceof FaultlineError);
        assert.equal(err.code, code);
        assert.equal(err.exitCode, 2);
        assert.match(err.message, pattern);
        return true;
      });
    }
  });

  test('--var overrides every file; overrides flow into configuration resolution', async () => {
    const env: NodeJS.ProcessEnv = { FAULTLINE_TEST_PORT: '9000' };
    const files = await loadVarFiles([join(fixtures, 'vars.json'), join(fixtures, 'vars.yaml')], env);
    const merged = mergeOverrides(files, [parseVarOption('service=cli'), parseVarOption('undeclared=1')]);
    assert.equal(merged.configuration.service, 'cli');
    const warnings: string[] = [];
    const configuration = await resolveConfiguration(
      { service: 'declared', port: 80, retries: 1 },
      { env, overrides: merged.configuration, onWarning: (m) => warnings.push(m) },
    );
    assert.deepEqual(configuration, { service: 'cli', port: 9000, retries: 5 });
    assert.equal(warnings.length, 2, warnings.join('\n'));
    const secrets = await resolveSecrets(
      { api: { token: 'declared', user: 'u' } },
      { env, overrides: merged.secrets },
    );
    assert.deepEqual(secrets, { api: { token: 'from-json' } });
  });

  test('mergeOverrides accepts a plain record of vars', () => {
    assert.deepEqual(mergeOverrides({ configuration: { a: 1, b: 1 } }, { b: 2 }), {
      configuration: { a: 1, b: 2 },
      secrets: {},
    });
  });
});
