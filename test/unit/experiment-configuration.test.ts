// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} strings are the Chaos Toolkit syntax under test
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import {
  type ConfigWarning,
  convertValue,
  resolveConfiguration,
  resolveSecrets,
  undeclaredOverrides,
} from '../../src/experiment/index.js';

const configError = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof FaultlineError, String(err));
  assert.equal(err.code, 'FAULTLINE_ERR_CONFIG');
  assert.equal(err.exitCode, 2);
  assert.match(err.message, pattern);
  return true;
};

describe('configuration: literals and environment values', () => {
  test('literals of any JSON type are kept as they are', async () => {
    const decl = { s: 'x', n: 3, b: false, o: { nested: [1] }, z: null };
    assert.deepEqual(await resolveConfiguration(decl, { env: {} }), decl);
  });

  test('an env value is read; a missing one without default fails with the Chaos Toolkit message', async () => {
    assert.deepEqual(
      await resolveConfiguration({ h: { type: 'env', key: 'HOST' } }, { env: { HOST: 'db' } }),
      { h: 'db' },
    );
    await assert.rejects(
      resolveConfiguration({ h: { type: 'env', key: 'HOST' } }, { env: {} }),
      configError(/^Configuration makes reference to an environment key that does not exist: HOST$/),
    );
  });

  test('the default applies only when the variable is unset; null is a valid default', async () => {
    const decl = {
      a: { type: 'env', key: 'A', default: 'fallback' },
      b: { type: 'env', key: 'B', default: null },
      c: { type: 'env', key: 'C', default: 'fallback' },
    };
    const out = await resolveConfiguration(decl, { env: { C: '' } });
    assert.deepEqual(out, { a: 'fallback', b: null, c: '' });
  });

  test('env_var_type converts the value (and the default)', async () => {
    const env = { I: '42', F: '2.5', S: '7', J: '{"a":[1,2]}', B: 'hello' };
    const out = await resolveConfiguration(
      {
        i: { type: 'env', key: 'I', env_var_type: 'int' },
        f: { type: 'env', key: 'F', env_var_type: 'float' },
        s: { type: 'env', key: 'S', env_var_type: 'str' },
        j: { type: 'env', key: 'J', env_var_type: 'json' },
        y: { type: 'env', key: 'B', env_var_type: 'bytes' },
        d: { type: 'env', key: 'UNSET', default: '8080', env_var_type: 'int' },
      },
      { env },
    );
    assert.deepEqual(
      { ...out, y: undefined },
      { i: 42, f: 2.5, s: '7', j: { a: [1, 2] }, y: undefined, d: 8080 },
    );
    assert.ok(Buffer.isBuffer(out.y));
    assert.equal((out.y as Buffer).toString('utf8'), 'hello');
  });

  test('bool: "false", "0" and "no" are false, anything else is true', async () => {
    for (const [raw, expected] of [
      ['false', false],
      ['False', false],
      ['0', false],
      ['no', false],
      ['NO', false],
      ['true', true],
      ['1', true],
      ['yes', true],
      ['anything', true],
    ] as const) {
      const out = await resolveConfiguration(
        { v: { type: 'env', key: 'V', env_var_type: 'bool' } },
        { env: { V: raw } },
      );
      assert.equal(out.v, expected, raw);
    }
  });

  test('a value that does not convert fails naming the key and the expected type', async () => {
    await assert.rejects(
      resolveConfiguration(
        { port: { type: 'env', key: 'PORT', env_var_type: 'int' } },
        { env: { PORT: 'eighty' } },
      ),
      configError(/"port".*PORT.*int/),
    );
    await assert.rejects(
      resolveConfiguration({ j: { type: 'env', key: 'J', env_var_type: 'json' } }, { env: { J: '{' } }),
      configError(/"j".*JSON/),
    );
    await assert.rejects(
      resolveConfiguration({ j: { type: 'env', key: 'J', env_var_type: 'uuid' } }, { env: { J: 'x' } }),
      configError(/"j".*uuid/),
    );
  });

  test('an env entry without a key fails clearly', async () => {
    await assert.rejects(resolveConfiguration({ x: { type: 'env' } }, { env: {} }), configError(/"x".*key/));
  });

  test('convertValue follows Python int()/float() on strings', () => {
    assert.equal(convertValue('int', ' 17 '), 17);
    assert.equal(convertValue('integer', '+1_000'), 1000);
    assert.equal(convertValue('number', '1e3'), 1000);
    assert.equal(convertValue('float', '-inf'), Number.NEGATIVE_INFINITY);
    assert.throws(() => convertValue('int', '1.5'));
    assert.throws(() => convertValue('float', ''));
    assert.equal(convertValue('string', 5), '5');
    assert.equal(convertValue(undefined, 'x'), 'x');
  });
});

describe('configuration: overrides', () => {
  test('overrides only replace declared keys; undeclared ones are dropped and reported', async () => {
    const warnings: ConfigWarning[] = [];
    const out = await resolveConfiguration(
      { a: 1, b: 2 },
      { env: {}, overrides: { b: 20, c: 30 }, onWarning: (_m, w) => warnings.push(w) },
    );
    assert.deepEqual(out, { a: 1, b: 20 });
    assert.deepEqual(
      warnings.map((w) => w.kind === 'override-ignored' && w.key),
      ['c'],
    );
    assert.deepEqual(undeclaredOverrides({ a: 1 }, { a: 2, z: 3 }), ['z']);
  });

  test('an override of an env key avoids the missing-variable error', async () => {
    const out = await resolveConfiguration(
      { h: { type: 'env', key: 'UNSET_HOST' } },
      { env: {}, overrides: { h: 'db' } },
    );
    assert.deepEqual(out, { h: 'db' });
  });

  test('an override may itself be an env definition', async () => {
    const out = await resolveConfiguration(
      { port: 80 },
      { env: { P: '9090' }, overrides: { port: { type: 'env', key: 'P', env_var_type: 'int' } } },
    );
    assert.deepEqual(out, { port: 9090 });
  });
});

describe('configuration: dynamic probes', () => {
  test('probes run in declaration order, later ones see earlier values, failures drop the key', async () => {
    const calls: { name: string; probe: unknown; configuration: unknown }[] = [];
    const warnings: string[] = [];
    const out = await resolveConfiguration(
      {
        host: 'db',
        first: {
          type: 'probe',
          name: 'get-first',
          provider: { type: 'python', module: 'm', func: 'f', arguments: { h: '${host}' } },
        },
        broken: { type: 'probe', name: 'get-broken', provider: { type: 'process', path: 'false' } },
        second: {
          type: 'probe',
          name: 'get-second',
          provider: { type: 'http', url: 'http://${host}/${first}' },
        },
        last: 'literal',
      },
      {
        env: {},
        onWarning: (m) => warnings.push(m),
        runProbe: async (name, probe, configuration) => {
          calls.push({ name, probe, configuration });
          if (name === 'get-broken') throw new Error('exit 1');
          return name === 'get-first' ? 'one' : { answer: 2 };
        },
      },
    );
    assert.deepEqual(
      calls.map((c) => c.name),
      ['get-first', 'get-broken', 'get-second'],
    );
    assert.deepEqual((calls[0]!.probe as any).provider.arguments, { h: 'db' });
    assert.equal((calls[2]!.probe as any).provider.url, 'http://db/one');
    assert.deepEqual(out, { host: 'db', first: 'one', second: { answer: 2 }, last: 'literal' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /"broken".*get-broken.*exit 1/);
  });

  test('without a runner, probe entries are returned unresolved', async () => {
    const probe = { type: 'probe', name: 'p', provider: { type: 'process', path: 'echo' } };
    assert.deepEqual(await resolveConfiguration({ p: probe }, { env: {} }), { p: probe });
  });

  test('an override replaces a dynamic probe, which then does not run', async () => {
    let ran = false;
    const out = await resolveConfiguration(
      { p: { type: 'probe', name: 'p', provider: { type: 'process', path: 'echo' } } },
      {
        env: {},
        overrides: { p: 'fixed' },
        runProbe: async () => {
          ran = true;
          return 'x';
        },
      },
    );
    assert.deepEqual(out, { p: 'fixed' });
    assert.equal(ran, false);
  });
});

describe('secrets', () => {
  test('inline and env secrets resolve; empty scopes disappear', async () => {
    const out = await resolveSecrets(
      { api: { token: 'inline', user: { type: 'env', key: 'API_USER' } }, empty: {} },
      { env: { API_USER: 'bob' } },
    );
    assert.deepEqual(out, { api: { token: 'inline', user: 'bob' } });
  });

  test('a missing env secret fails even with a default (secrets have none)', async () => {
    await assert.rejects(
      resolveSecrets({ api: { token: { type: 'env', key: 'NO_TOKEN', default: 'x' } } }, { env: {} }),
      configError(/^Secrets make reference to an environment key that does not exist: NO_TOKEN$/),
    );
  });

  test('vault secrets are refused for now', async () => {
    await assert.rejects(
      resolveSecrets({ db: { password: { type: 'vault', path: 'secret/db' } } }, { env: {} }),
      configError(/vault secrets are not supported yet/),
    );
  });

  test('a secret override replaces the whole scope; undeclared scopes are reported', async () => {
    const warnings: string[] = [];
    const out = await resolveSecrets(
      { api: { token: 'old', user: 'alice' } },
      {
        env: { T: 'from-env' },
        overrides: { api: { token: { type: 'env', key: 'T' } }, other: { x: 1 } },
        onWarning: (m) => warnings.push(m),
      },
    );
    assert.deepEqual(out, { api: { token: 'from-env' } });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /"other"/);
  });
});
