/**
 * Patterns from experiments and policies run in linear time (issue #13): a
 * process `pattern` in RE2, blast-radius globs without RegExp. The hostile
 * cases run in a child process with a time limit, so that a regression fails
 * the test (the child is killed) instead of stalling the test runner; the
 * limit is generous: the fixed code answers in well under a second.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { globMatch } from '../../src/core/blast-radius.js';
import type { SteadyState } from '../../src/core/journal.js';
import { measureRecovery } from '../../src/engine/recovery-time.js';
import { processKillKind } from '../../src/faults/process/index.js';
import { matches } from '../../src/faults/process/select.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `code` (an ES module, .ts imports allowed) in a child; its stdout, trimmed. */
function inChild(code: string): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.signal, null, `the child was killed (${r.signal}): the match did not end`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

const proc = (cmdline: string): Parameters<typeof matches>[0] => ({
  pid: 10,
  comm: 'node',
  state: 'S',
  ppid: 1,
  start: '1',
  cmdline,
});

describe('process pattern', () => {
  test("'^(a+)+$' against a long command line answers (RE2), where a backtracking RegExp never did", () => {
    const out = inChild(`
      import { matches } from './src/faults/process/select.ts';
      const p = { pid: 10, ppid: 1, comm: 'x', state: 'S', start: '1', cmdline: 'a'.repeat(50000) + '!' };
      console.log(String(matches(p, { pattern: '^(a+)+$' })));
    `);
    assert.equal(out, 'false');
  });

  test('patterns still select; a backreference is refused naming pattern and RE2', () => {
    assert.equal(matches(proc('node worker.js --queue q1'), { pattern: 'worker\\.js --queue \\w+' }), true);
    assert.equal(matches(proc('python app.py'), { pattern: '^node' }), false);
    const r = processKillKind.args.safeParse({ pattern: '(a)\\1' });
    assert.equal(r.success, false);
    const issue = r.error?.issues[0];
    assert.deepEqual(issue?.path, ['pattern']);
    assert.match(issue?.message ?? '', /expected a valid RE2 regular expression: is invalid/);
  });
});

describe('blast-radius globs', () => {
  test('`*` matches any run, case-insensitively, anchored at both ends', () => {
    const cases: [string, string, boolean][] = [
      ['chaos-*', 'chaos-a', true],
      ['chaos-*', 'CHAOS-', true],
      ['chaos-*', 'xchaos-a', false],
      ['*-db', 'orders-db', true],
      ['*-db', 'orders-db2', false],
      ['a*b*c', 'abc', true],
      ['a*b*c', 'a_c_b', false],
      ['a*bc*bc', 'abcbc', true],
      ['a*a', 'a', false],
      ['*', '', true],
      ['**', 'x', true],
      ['web.1', 'web.1', true],
      ['web.1', 'webx1', false],
      ['a(b)?', 'a(b)?', true],
    ];
    for (const [pattern, value, expected] of cases) {
      assert.equal(globMatch(pattern, value), expected, `${pattern} vs ${value}`);
    }
    assert.equal(globMatch('*', undefined), false);
  });

  test('a hostile glob (30 stars) against a long value answers, where the RegExp it became never did', () => {
    const out = inChild(`
      import { globMatch } from './src/core/blast-radius.ts';
      console.log(String(globMatch('*a'.repeat(30) + '*b', 'a'.repeat(20000))));
    `);
    assert.equal(out, 'false');
  });
});

describe('recovery time', () => {
  test('an interval past 2^31-1 ms waits (one check) instead of firing after 1 ms (a busy loop of checks)', async () => {
    let checks = 0;
    const ac = new AbortController();
    const check = async (): Promise<SteadyState> => {
      checks += 1;
      // Give a timer that fired at once room to cause a second check before the abort.
      if (checks === 1) setTimeout(() => ac.abort(), 300);
      return { steady_state_met: false, probes: [] } as unknown as SteadyState;
    };
    const record = await measureRecovery(
      { deadline: '100000000s', interval: '3000000s' },
      [],
      check,
      ac.signal,
    );
    assert.equal(checks, 1);
    assert.equal(record.checks, 1);
    assert.equal(record.recovered_at, null);
  });
});
