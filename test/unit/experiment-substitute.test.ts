// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} strings are the Chaos Toolkit syntax under test
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mergeVars, substitute, substituteString } from '../../src/experiment/index.js';

const vars = { port: 8080, host: 'db', list: [1, 2], obj: { a: 1 }, flag: false, nothing: null };

describe('substitution (Python string.Template rules)', () => {
  test('a whole-string ${name} becomes the typed value', () => {
    assert.equal(substituteString('${port}', vars), 8080);
    assert.deepEqual(substituteString('${list}', vars), [1, 2]);
    assert.deepEqual(substituteString('${obj}', vars), { a: 1 });
    assert.equal(substituteString('${flag}', vars), false);
    assert.equal(substituteString('${nothing}', vars), null);
  });

  test('anything else is interpolated as text, $name and ${name} alike', () => {
    assert.equal(substituteString('http://${host}:${port}/x', vars), 'http://db:8080/x');
    assert.equal(substituteString('$host:$port', vars), 'db:8080');
    assert.equal(substituteString(' ${port}', vars), ' 8080');
  });

  test('$$ becomes $', () => {
    assert.equal(substituteString('cost: $$5 on $host', vars), 'cost: $5 on db');
    assert.equal(substituteString('$$host', vars), '$host');
  });

  test('unknown names are left as written', () => {
    assert.equal(substituteString('${unknown}', vars), '${unknown}');
    assert.equal(substituteString('cat $MY_FILE', vars), 'cat $MY_FILE');
  });

  test('invalid names such as ${my-key} are never replaced', () => {
    const v = { 'my-key': 'x', my: 'M' };
    assert.equal(substituteString('${my-key}', v), '${my-key}');
    // `$my-key` is `$my` followed by "-key", as in Python.
    assert.equal(substituteString('$my-key', v), 'M-key');
    assert.equal(substituteString('${1abc}', { '1abc': 'x' }), '${1abc}');
  });

  test('recurses into lists and objects without touching other values', () => {
    const out = substitute({ a: ['${port}', { b: '$host' }], n: 3, t: true, z: null }, vars);
    assert.deepEqual(out, { a: [8080, { b: 'db' }], n: 3, t: true, z: null });
  });

  test('mergeVars: configuration keys and the inner keys of every secret scope', () => {
    const merged = mergeVars({ a: 1 }, { s1: { token: 't' }, s2: { user: 'u' } });
    assert.deepEqual(merged, { a: 1, token: 't', user: 'u' });
    assert.equal(substituteString('${token}:${user}', merged), 't:u');
  });
});

test('mergeVars: configuration wins over secrets, an earlier scope over a later one (ChainMap order)', () => {
  const v = mergeVars(
    { a: 'config' },
    { first: { a: 'secret', b: 'first' }, second: { b: 'second', c: 'second' } },
  );
  assert.deepEqual({ a: v.a, b: v.b, c: v.c }, { a: 'config', b: 'first', c: 'second' });
});
