// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} strings are the Chaos Toolkit syntax under test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tolerance } from '../../src/core/schema.js';
import {
  checkTolerance,
  type ToleranceContext,
  validateTolerance,
} from '../../src/engine/tolerances/index.js';

const ctx = (vars: Record<string, unknown> = {}): ToleranceContext => ({
  vars,
  runProbe: async () => {
    throw new Error('no probe expected');
  },
});
const http = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  headers,
  body,
});
const proc = (status: number, stdout = '', stderr = '') => ({ status, stdout, stderr });

const check = async (tolerance: unknown, output: unknown, vars: Record<string, unknown> = {}) =>
  checkTolerance(tolerance as Tolerance, output, ctx(vars));

// [title, tolerance, output, met]
const cases: [string, unknown, unknown, boolean][] = [
  // range
  ['range 4.2 in [4, 5]', { type: 'range', range: [4, 5] }, 4.2, true],
  ['range lower bound inclusive', { type: 'range', range: [4, 5] }, 4, true],
  ['range upper bound inclusive', { type: 'range', range: [4, 5] }, 5, true],
  ['range 5.01 out', { type: 'range', range: [4, 5] }, 5.01, false],
  ['range numeric string "580"', { type: 'range', range: [500, 600] }, '580', true],
  ['range padded string " 4.2 "', { type: 'range', range: [4, 5] }, ' 4.2 ', true],
  ['range string with exponent', { type: 'range', range: [100, 200] }, '1.5e2', true],
  ['range string with underscores', { type: 'range', range: [1000, 2000] }, '1_500', true],
  ['range non-numeric string', { type: 'range', range: [0, 10] }, 'five', false],
  ['range "NaN"', { type: 'range', range: [0, 10] }, 'NaN', false],
  ['range "Infinity" above', { type: 'range', range: [0, 10] }, 'Infinity', false],
  ['range bool True is 1', { type: 'range', range: [0, 1] }, true, true],
  ['range null (CTK crashes)', { type: 'range', range: [0, 10] }, null, false],
  ['range object (CTK crashes)', { type: 'range', range: [0, 10] }, { a: 1 }, false],
  ['range target status', { type: 'range', range: [200, 299], target: 'status' }, http(204, ''), true],
  ['range target status out', { type: 'range', range: [200, 299], target: 'status' }, http(503, ''), false],
  [
    'range target stdout numeric',
    { type: 'range', range: [0, 100], target: 'stdout' },
    proc(0, '42\n'),
    true,
  ],
  ['range missing target uses whole output', { type: 'range', range: [0, 100], target: 'x' }, 7, true],
  ['range float bounds', { type: 'range', range: [0.1, 0.2] }, 0.15, true],
  ['range negative', { type: 'range', range: [-5, -1] }, '-3', true],
  // regex
  ['regex on stdout', { type: 'regex', pattern: 'hello', target: 'stdout' }, proc(0, 'say hello\n'), true],
  ['regex unanchored search', { type: 'regex', pattern: 'ell' }, 'hello', true],
  [
    'regex anchored ^...$ on stdout with trailing newline',
    { type: 'regex', pattern: '^hello$', target: 'stdout' },
    proc(0, 'hello\n'),
    true,
  ],
  [
    'regex $ does not match before an inner newline',
    { type: 'regex', pattern: '^hello$' },
    'hello\nworld',
    false,
  ],
  ['regex (?m) multiline', { type: 'regex', pattern: '(?m)^world$' }, 'hello\nworld\n', true],
  ['regex on stderr', { type: 'regex', pattern: 'warn', target: 'stderr' }, proc(1, '', 'a warning'), true],
  ['regex no match', { type: 'regex', pattern: '^bye', target: 'stdout' }, proc(0, 'hello'), false],
  [
    'regex on http body',
    { type: 'regex', pattern: '"status":\\s*"up"', target: 'body' },
    http(200, '{"status": "up"}'),
    true,
  ],
  [
    'regex on parsed JSON body (object; CTK crashes)',
    { type: 'regex', pattern: 'up', target: 'body' },
    http(200, { status: 'up' }),
    false,
  ],
  ['regex on whole http dict (CTK crashes)', { type: 'regex', pattern: 'up' }, http(200, 'up'), false],
  ['regex on a number (CTK crashes)', { type: 'regex', pattern: '1' }, 1, false],
  ['regex named group (?P<n>)', { type: 'regex', pattern: '(?P<code>\\d{3}) OK' }, 'HTTP 200 OK', true],
  // Backreferences need backtracking: refused (linear-time engine, issue #13 item 2), so not met.
  ['regex backreference (?P=n) refused', { type: 'regex', pattern: '(?P<w>a+)-(?P=w)$' }, 'aa-aa', false],
  ['regex scoped flags (?i:...)', { type: 'regex', pattern: '^(?i:HEL)lo' }, 'hello', true],
  ['regex \\u escape', { type: 'regex', pattern: '^caf\\u00e9$' }, 'café', true],
  ['regex (?i)', { type: 'regex', pattern: '(?i)^HELLO' }, 'hello', true],
  ['regex dot does not match newline', { type: 'regex', pattern: 'a.b' }, 'a\nb', false],
  ['regex (?s) dot matches newline', { type: 'regex', pattern: '(?s)a.b' }, 'a\nb', true],
  ['regex dot matches \\r (Python)', { type: 'regex', pattern: 'a.b' }, 'a\rb', true],
  ['regex \\A and \\Z', { type: 'regex', pattern: '\\Aok\\Z' }, 'ok', true],
  ['regex \\Z is the very end', { type: 'regex', pattern: 'ok\\Z' }, 'ok\n', false],
  ['regex {,2} quantifier', { type: 'regex', pattern: '^a{,2}$' }, 'aa', true],
  ['regex leading ] in a class', { type: 'regex', pattern: '[]x]' }, ']', true],
  ['regex verbose', { type: 'regex', pattern: '(?x) ^ hel  lo # greeting\n $' }, 'hello', true],
  ['regex substituted pattern', { type: 'regex', pattern: '^${word}$' }, 'ready', true],
  // jsonpath
  ['jsonpath match exists', { type: 'jsonpath', path: '$.status' }, { status: 'up' }, true],
  ['jsonpath no match', { type: 'jsonpath', path: '$.nope' }, { status: 'up' }, false],
  ['jsonpath expect scalar', { type: 'jsonpath', path: '$.status', expect: 'up' }, { status: 'up' }, true],
  [
    'jsonpath expect scalar mismatch',
    { type: 'jsonpath', path: '$.status', expect: 'down' },
    { status: 'up' },
    false,
  ],
  [
    'jsonpath expect scalar with 2 equal matches is not met',
    { type: 'jsonpath', path: '$.items[*].ok', expect: true },
    { items: [{ ok: true }, { ok: true }] },
    false,
  ],
  [
    'jsonpath expect list exact',
    { type: 'jsonpath', path: '$.items[*].ok', expect: [true, true] },
    { items: [{ ok: true }, { ok: true }] },
    true,
  ],
  [
    'jsonpath expect list order matters',
    { type: 'jsonpath', path: '$.a[*]', expect: [2, 1] },
    { a: [1, 2] },
    false,
  ],
  [
    'jsonpath expect [] when nothing matches',
    { type: 'jsonpath', path: '$.nope', expect: [] },
    { a: 1 },
    true,
  ],
  [
    'jsonpath expect overrides count',
    { type: 'jsonpath', path: '$.a[*]', count: 5, expect: [1, 2] },
    { a: [1, 2] },
    true,
  ],
  ['jsonpath expect null', { type: 'jsonpath', path: '$.a', expect: null }, { a: null }, true],
  ['jsonpath expect 1 equals true (Python)', { type: 'jsonpath', path: '$.a', expect: 1 }, { a: true }, true],
  ['jsonpath count', { type: 'jsonpath', path: '$.items[*]', count: 3 }, { items: [1, 2, 3] }, true],
  [
    'jsonpath count mismatch',
    { type: 'jsonpath', path: '$.items[*]', count: 2 },
    { items: [1, 2, 3] },
    false,
  ],
  ['jsonpath count 0', { type: 'jsonpath', path: '$.nope', count: 0 }, { items: [] }, true],
  [
    'jsonpath target body (parsed JSON)',
    { type: 'jsonpath', path: '$.status', target: 'body', expect: 'up' },
    http(200, { status: 'up' }),
    true,
  ],
  [
    'jsonpath target body as JSON text',
    { type: 'jsonpath', path: '$.status', target: 'body', expect: 'up' },
    http(200, '{"status":"up"}'),
    true,
  ],
  [
    'jsonpath target stdout JSON',
    { type: 'jsonpath', path: '$.n', target: 'stdout', expect: 3 },
    proc(0, '{"n": 3}\n'),
    true,
  ],
  [
    'jsonpath without target on http dict',
    { type: 'jsonpath', path: '$.status', expect: 200 },
    http(200, ''),
    true,
  ],
  [
    'jsonpath jsonpath2 filter (= equality)',
    { type: 'jsonpath', path: '$.foo[*][?(@.baz="hello")].id', expect: 2 },
    {
      foo: [
        { baz: 'x', id: 1 },
        { baz: 'hello', id: 2 },
      ],
    },
    true,
  ],
  [
    'jsonpath filter on an object tests the object',
    { type: 'jsonpath', path: '$.foo[?(@.baz = "hello")]', count: 1 },
    { foo: { baz: 'hello' } },
    true,
  ],
  [
    'jsonpath filter on a list tests its items',
    { type: 'jsonpath', path: '$.foo[?(@.baz == "hello")]', count: 1 },
    { foo: [{ baz: 'hello' }, { baz: 'x' }] },
    true,
  ],
  [
    'jsonpath string output that is not JSON',
    { type: 'jsonpath', path: '$', expect: 'plain' },
    'plain',
    true,
  ],
  [
    'jsonpath substituted path and expect',
    { type: 'jsonpath', path: '$.${key}', expect: '${want}' },
    { svc: 'up' },
    true,
  ],
  ['jsonpath invalid path at run time', { type: 'jsonpath', path: '$..' }, { a: 1 }, false],
];

for (const [title, tolerance, output, met] of cases) {
  test(`tolerance ${title} -> ${met ? 'met' : 'not met'}`, async () => {
    const result = await check(tolerance, output, { word: 'ready', key: 'svc', want: 'up' });
    assert.equal(result.met, met, result.reason);
    if (!met) assert.ok(result.reason, 'a miss carries a reason');
  });
}

test('reasons say what was found', async () => {
  const r = await check({ type: 'jsonpath', path: '$.a[*]', expect: 1 }, { a: [1, 1] });
  assert.match(r.reason!, /found \[1,1\], expected \[1\]/);
  const rx = await check({ type: 'regex', pattern: 'x' }, { status: 0, stdout: '' });
  assert.match(rx.reason!, /needs a string.*set `target`/);
  const rg = await check({ type: 'range', range: [0, 1] }, null);
  assert.match(rg.reason!, /range needs a number, got null/);
});

test('validateTolerance reports regexes that do not compile, with the path `pattern`', () => {
  assert.deepEqual(validateTolerance({ type: 'regex', pattern: '^ok$' } as Tolerance), []);
  assert.deepEqual(validateTolerance({ type: 'regex', pattern: '(?P<n>\\d+)' } as Tolerance), []);
  const issues = validateTolerance({ type: 'regex', pattern: '(unclosed' } as Tolerance);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.path, 'pattern');
  assert.match(issues[0]!.message, /pattern "\(unclosed" is invalid: missing closing \)/);
  assert.equal(validateTolerance({ type: 'regex', pattern: '\\q' } as Tolerance)[0]?.path, 'pattern');
  assert.match(
    validateTolerance({ type: 'regex', pattern: 'a(?i)b' } as Tolerance)[0]!.message,
    /global flags/,
  );
  // a ${var} pattern is only known at run time
  assert.deepEqual(validateTolerance({ type: 'regex', pattern: '(${open}' } as Tolerance), []);
});

test('validateTolerance reports JSON paths that do not parse, with the offending position', () => {
  assert.deepEqual(validateTolerance({ type: 'jsonpath', path: '$.a[*][?(@.b = 1)]' } as Tolerance), []);
  const [issue] = validateTolerance({ type: 'jsonpath', path: '$.a[?(@.b = )]' } as Tolerance);
  assert.equal(issue?.path, 'path');
  assert.match(
    issue!.message,
    /JSON path \$\.a\[\?\(@\.b = \)\] is invalid: expected a path or a value, found '\)' at position 12/,
  );
  assert.match(
    validateTolerance({ type: 'jsonpath', path: 'a.b' } as Tolerance)[0]!.message,
    /must start with '\$'/,
  );
  assert.match(
    validateTolerance({ type: 'jsonpath', path: '   ' } as Tolerance)[0]!.message,
    /cannot be empty/,
  );
  assert.deepEqual(validateTolerance({ type: 'jsonpath', path: '$.${key}' } as Tolerance), []);
});

test('validateTolerance reports range bounds', () => {
  assert.deepEqual(validateTolerance({ type: 'range', range: [1, 2] } as Tolerance), []);
  assert.deepEqual(
    validateTolerance({ type: 'range', range: [1, 'x'] } as unknown as Tolerance).map((i) => i.path),
    ['range[1]'],
  );
  assert.match(
    validateTolerance({ type: 'range', range: [1] } as unknown as Tolerance)[0]!.message,
    /two values/,
  );
  assert.match(
    validateTolerance({ type: 'range', range: 3 } as unknown as Tolerance)[0]!.message,
    /must be a list/,
  );
});

test('validateTolerance accepts scalars and lists, rejects unknown object types', () => {
  for (const t of [true, 200, 'ok', [200, 204], '${x}'])
    assert.deepEqual(validateTolerance(t as Tolerance), []);
  assert.deepEqual(validateTolerance({ type: 'nope' } as unknown as Tolerance), [
    { path: 'type', message: "tolerance type 'nope' is unsupported" },
  ]);
  assert.equal(validateTolerance(1.5 as Tolerance).length, 1);
});
