// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} strings are the Chaos Toolkit syntax under test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tolerance } from '../../src/core/schema.js';
import { checkTolerance, type ToleranceContext } from '../../src/engine/tolerances/index.js';

const ctx = (vars: Record<string, unknown> = {}): ToleranceContext => ({
  vars,
  runProbe: async () => {
    throw new Error('no probe expected');
  },
});

const http = (status: number, body: unknown = '') => ({
  status,
  headers: { 'content-type': 'text/plain' },
  body,
});
const proc = (status: number, stdout = '', stderr = '') => ({ status, stdout, stderr });

// [title, tolerance, output, met] — Chaos Toolkit's outcomes (reference §2 and §6).
const cases: [string, unknown, unknown, boolean][] = [
  // booleans: Python equality
  ['true vs true', true, true, true],
  ['true vs false', true, false, false],
  ['true vs 1 (1 == True)', true, 1, true],
  ['false vs 0 (0 == False)', false, 0, true],
  ['true vs 1.0', true, 1.0, true],
  ['true vs "true"', true, 'true', false],
  ['true vs null', true, null, false],
  ['false vs null', false, null, false],
  ['true vs http dict', true, http(200), false],
  ['false vs empty dict', false, {}, false],
  ['true vs [true]', true, [true], false],
  // integers
  ['200 vs http 200', 200, http(200), true],
  ['200 vs http 503', 200, http(503), false],
  ['0 vs process exit 0', 0, proc(0, 'hello\n'), true],
  ['1 vs process exit 0 (fixture F)', 1, proc(0, 'hello\n'), false],
  ['200 vs 200.0', 200, 200.0, true],
  ['1 vs true', 1, true, true],
  ['0 vs false', 0, false, true],
  ['200 vs "200"', 200, '200', false],
  ['200 vs dict without status', 200, { code: 200 }, false],
  ['200 vs any dict with status', 200, { status: 200 }, true],
  ['200 vs dict with status "200"', 200, { status: '200' }, false],
  ['0 vs null', 0, null, false],
  // strings
  ['"ok" vs "ok"', 'ok', 'ok', true],
  ['"ok" vs "OK"', 'ok', 'OK', false],
  ['"200" vs http 200', '200', http(200), false],
  ['"hello" vs process stdout hello', 'hello', proc(0, 'hello'), false],
  ['"1" vs 1', '1', 1, false],
  // lists
  ['[200,204] vs http 201: membership', [200, 204], http(201), false],
  ['[200,204] vs http 204', [200, 204], http(204), true],
  ['[200,204] vs plain 201: inclusive range', [200, 204], 201, true],
  ['[200,204] vs plain 200 (inclusive)', [200, 204], 200, true],
  ['[200,204] vs plain 204 (inclusive)', [200, 204], 204, true],
  ['[200,204] vs plain 205', [200, 204], 205, false],
  ['[200,301,302] vs http 200 (fixture D)', [200, 301, 302], http(200), true],
  ['[200,301,302] vs http 404 (fixture D)', [200, 301, 302], http(404), false],
  ['[200,301,302] vs http 500 (fixture E)', [200, 301, 302], http(500), false],
  ['[0] vs process exit 0', [0], proc(0), true],
  ['[0, 1, 2] vs plain 1', [0, 1, 2], 1, true],
  ['[0, 1, 2] vs plain 1.5: membership', [0, 1, 2], 1.5, false],
  ['[1] vs true', [1], true, true],
  ['["a", "c"] vs "b": string range', ['a', 'c'], 'b', true],
  ['["a", "c"] vs "d"', ['a', 'c'], 'd', false],
  ['["b", "a", "c"] vs "b"', ['b', 'a', 'c'], 'b', true],
  ['[1.5, 2.5] vs 2', [1.5, 2.5], 2, true],
  ['[0, 10] vs true (True == 1)', [0, 10], true, true],
  [
    '[[1, 2], [1, 4]] vs [1, 3]: list ordering',
    [
      [1, 2],
      [1, 4],
    ],
    [1, 3],
    true,
  ],
  ['[{"a": 1}, {"b": 2}, 3] vs {"b": 2}: dict membership', [{ a: 1 }, { b: 2 }, 3], { b: 2 }, true],
  ['[] vs anything', [], 1, false],
  // incomparable types: Chaos Toolkit raises; not met here
  ['[0, 10] vs null', [0, 10], null, false],
  ['[0, 10] vs "5"', [0, 10], '5', false],
  ['[0, 10] vs dict without status', [0, 10], { value: 5 }, false],
  // chained comparison short-circuits: 5 <= 3 is false before "x" is compared
  ['[5, "x"] vs 3', [5, 'x'], 3, false],
  // floats and null are not tolerances (Chaos Toolkit: not met)
  ['float tolerance', 0.5, 0.5, false],
  ['null tolerance', null, null, false],
  ['object without type', { value: 1 }, 1, false],
  ['unknown object type', { type: 'nope' }, 1, false],
];

for (const [title, tolerance, output, met] of cases) {
  test(`tolerance ${title} -> ${met ? 'met' : 'not met'}`, async () => {
    const result = await checkTolerance(tolerance as Tolerance, output, ctx());
    assert.equal(result.met, met, result.reason);
    if (!met) assert.ok(result.reason && result.reason.length > 0, 'a miss carries a reason');
  });
}

test('a list range with incomparable types explains the Python TypeError', async () => {
  const r = await checkTolerance([0, 10], null, ctx());
  assert.equal(r.met, false);
  assert.match(r.reason!, /not supported between instances of 'int' and 'NoneType'/);
});

test('a "${var}" tolerance is substituted with its typed value and re-dispatched', async () => {
  assert.equal((await checkTolerance('${expected}', http(200), ctx({ expected: 200 }))).met, true);
  assert.equal((await checkTolerance('${expected}', http(503), ctx({ expected: 200 }))).met, false);
  assert.equal((await checkTolerance('${codes}', http(201), ctx({ codes: [200, 204] }))).met, false);
  assert.equal((await checkTolerance('${codes}', 201, ctx({ codes: [200, 204] }))).met, true);
  assert.equal((await checkTolerance('${flag}', 1, ctx({ flag: true }))).met, true);
  const regex = { type: 'regex', pattern: '^ok', target: 'stdout' };
  assert.equal((await checkTolerance('${rx}', proc(0, 'ok\n'), ctx({ rx: regex }))).met, true);
});

test('string tolerances are interpolated, and never substituted twice', async () => {
  assert.equal((await checkTolerance('hello ${name}', 'hello Jane', ctx({ name: 'Jane' }))).met, true);
  assert.equal((await checkTolerance('$$5', '$5', ctx())).met, true);
  assert.equal((await checkTolerance('${missing}', '${missing}', ctx())).met, true);
  // the substituted value holds a reference: compared literally
  assert.equal((await checkTolerance('${a}', '${b}', ctx({ a: '${b}', b: 'x' }))).met, true);
  // ${my-key} is never a reference
  assert.equal((await checkTolerance('${my-key}', '${my-key}', ctx({ 'my-key': 1 }))).met, true);
});
