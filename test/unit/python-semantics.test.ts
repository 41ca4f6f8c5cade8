import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compareStrings,
  PyTypeError,
  pyContains,
  pyEquals,
  pyLessEqual,
  pyRepr,
  pyStr,
  pyTruthy,
} from '../../src/core/python.js';

test('pyEquals follows Python ==', () => {
  assert.ok(pyEquals(1, true));
  assert.ok(pyEquals(0, false));
  assert.ok(pyEquals(200, 200.0));
  assert.ok(pyEquals(null, undefined));
  assert.ok(pyEquals([1, { a: true }], [true, { a: 1 }]));
  assert.ok(pyEquals({ a: 1, b: 2 }, { b: 2, a: 1 }));
  assert.ok(!pyEquals({ status: 200 }, true));
  assert.ok(!pyEquals({ status: 200 }, 'x'));
  assert.ok(!pyEquals('1', 1));
  assert.ok(!pyEquals([1], 1));
  assert.ok(!pyEquals({ a: 1 }, { a: 1, b: 2 }));
  assert.ok(!pyEquals(Number.NaN, Number.NaN));
  assert.ok(pyEquals(10n, 10));
  assert.ok(pyContains([1, 2], true));
});

test('pyLessEqual orders numbers, strings by code point, lists lexicographically; raises otherwise', () => {
  assert.ok(pyLessEqual(1, 1.5));
  assert.ok(pyLessEqual(false, 0));
  assert.ok(pyLessEqual('a', 'b'));
  assert.ok(pyLessEqual('Z', 'a'));
  assert.ok(pyLessEqual([1, 2], [1, 2, 0]));
  assert.ok(!pyLessEqual([1, 3], [1, 2, 9]));
  assert.ok(compareStrings('\uffff', '\u{1F600}') < 0, 'astral characters sort after the BMP');
  assert.throws(() => pyLessEqual(null, 1), PyTypeError);
  assert.throws(() => pyLessEqual('1', 1), /'<=' not supported between instances of 'str' and 'int'/);
  assert.throws(() => pyLessEqual({}, {}), /'dict' and 'dict'/);
  assert.throws(() => pyLessEqual([1, 'a'], [1, 2]), /'str' and 'int'/);
});

test('pyTruthy follows bool()', () => {
  for (const v of [1, -1, Number.NaN, 'x', [0], { a: 0 }, true, new Date(0)])
    assert.equal(pyTruthy(v), true, String(v));
  for (const v of [0, -0, '', [], {}, null, undefined, false, 0n])
    assert.equal(pyTruthy(v), false, String(v));
});

test('pyStr and pyRepr follow str() and repr()', () => {
  assert.equal(pyStr(true), 'True');
  assert.equal(pyStr(null), 'None');
  assert.equal(pyStr(3), '3');
  assert.equal(pyStr(1.5), '1.5');
  assert.equal(pyStr(1.5e-7), '1.5e-07');
  assert.equal(pyStr(1e22), '10000000000000000000000');
  assert.equal(pyStr(0.00001), '1e-05');
  assert.equal(pyStr(0.0001), '0.0001');
  assert.equal(pyStr(123456.789), '123456.789');
  assert.equal(pyStr(Number.POSITIVE_INFINITY), 'inf');
  assert.equal(pyStr([1, 'a', null, true]), "[1, 'a', None, True]");
  assert.equal(pyStr({ a: [1.5] }), "{'a': [1.5]}");
  assert.equal(pyRepr("it's"), '"it\'s"');
  assert.equal(pyRepr('a\nb'), "'a\\nb'");
});
