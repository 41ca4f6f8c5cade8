/**
 * The one module for untrusted patterns (issue #13 item 2): the attack that
 * froze the event loop (`^/(a+)+$` against a crafted 35-byte path) answers at
 * once in the linear-time engine, what needs backtracking is refused with a
 * message naming the field, and Python syntax is translated.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSafeRegex, MAX_PATTERN_LENGTH, SafeRegexError } from '../../src/core/safe-regex.js';
import { checkTolerance } from '../../src/engine/tolerances/index.js';

// The attack from the issue: 35 bytes that make a backtracking engine try 2^33 paths.
const ATTACK_PATTERN = '^/(a+)+$';
const ATTACK_INPUT = `/${'a'.repeat(33)}!`;

test('the ReDoS attack: no match, without stalling (a backtracking engine never returns here)', () => {
  assert.equal(ATTACK_INPUT.length, 35);
  for (const syntax of ['re2', 'python'] as const) {
    const rx = compileSafeRegex(ATTACK_PATTERN, { field: 'path_regex', syntax });
    assert.equal(rx.test(ATTACK_INPUT), false);
    assert.equal(rx.test(`/${'a'.repeat(33)}`), true);
    // A much longer crafted input is still answered (linear time).
    assert.equal(rx.test(`/${'a'.repeat(100_000)}!`), false);
  }
});

test('a regex tolerance with the attack pattern is checked (not met) instead of hanging the run', async () => {
  const r = await checkTolerance(
    { type: 'regex', pattern: ATTACK_PATTERN, target: 'stdout' },
    { status: 0, stdout: ATTACK_INPUT, stderr: '' },
    { vars: {} } as never,
  );
  assert.equal(r.met, false);
});

test('what needs backtracking is refused, naming the field and the reason', () => {
  const cases: [string, RegExp][] = [
    ['(a)\\1', /backreference \\1/],
    ['(?P<w>a)(?P=w)', /named backreference/],
    ['a(?=b)', /lookahead or lookbehind/],
    ['(?<!a)b', /lookahead or lookbehind/],
    ['(?>a+)b', /atomic group/],
  ];
  for (const [pattern, reason] of cases) {
    assert.throws(
      () => compileSafeRegex(pattern, { field: 'tolerance.pattern', syntax: 'python' }),
      (err: unknown) => {
        assert.ok(err instanceof SafeRegexError);
        assert.match(err.message, /^tolerance\.pattern "/);
        assert.match(err.message, reason);
        assert.match(err.message, /linear|backtracking/);
        return true;
      },
      pattern,
    );
  }
  // RE2 syntax as is: the engine's own error, with the hint.
  assert.throws(
    () => compileSafeRegex('(a)\\1', { field: 'path_regex' }),
    /path_regex ".*" is invalid: .*backtracking/,
  );
});

test('patterns longer than the limit are refused with the limit named', () => {
  const long = 'a'.repeat(MAX_PATTERN_LENGTH + 1);
  assert.throws(
    () => compileSafeRegex(long, { field: 'path_regex' }),
    new RegExp(
      `path_regex ".*" is too long: ${MAX_PATTERN_LENGTH + 1} characters \\(the limit is ${MAX_PATTERN_LENGTH}\\)`,
    ),
  );
  assert.throws(() => compileSafeRegex('abc', { field: 'x', maxLength: 2 }), /the limit is 2/);
});

test('Python syntax is translated: $ before a final newline, \\Z, {,n}, leading ], (?x), \\u, flags', () => {
  const py = (p: string) => compileSafeRegex(p, { field: 'pattern', syntax: 'python' });
  assert.equal(py('^ok$').test('ok\n'), true);
  assert.equal(py('^ok$').test('ok\nmore'), false);
  assert.equal(py('ok\\Z').test('ok\n'), false);
  assert.equal(py('^a{,2}$').test('aa'), true);
  assert.equal(py('[]x]').test(']'), true);
  assert.equal(py('(?x) a  b # comment').test('ab'), true);
  assert.equal(py('caf\\u00e9').test('café'), true);
  assert.equal(py('(?i)^HELLO').test('hello'), true);
  assert.equal(py('(?s)a.b').test('a\nb'), true);
  assert.equal(py('a.b').test('a\nb'), false);
  assert.equal(py('(?m)^world$').test('hello\nworld\n'), true);
  assert.equal(py('(?P<code>\\d{3}) OK').test('HTTP 200 OK'), true);
  assert.equal(compileSafeRegex('HELLO', { field: 'x', ignoreCase: true }).test('hello'), true);
});
