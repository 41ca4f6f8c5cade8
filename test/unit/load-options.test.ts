/**
 * The load generator's options are checked before anything is sent: a mistake
 * is a FaultlineError (FAULTLINE_ERR_VALIDATION, exit 2) whose issues name each
 * field, the same family every other invalid input raises (issue #14 item 8).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import { LoadGenerator, runLoad } from '../../src/load/generator.js';
import { LoadOptionsSchema, loadOptionIssues } from '../../src/load/schema.js';

function refusal(fn: () => unknown): FaultlineError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FaultlineError, `a FaultlineError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the options to be refused');
}

test('invalid generator options are a FAULTLINE_ERR_VALIDATION naming every field', () => {
  const err = refusal(
    () =>
      new LoadGenerator({
        rate: 0,
        requests: [{ url: 'ftp://x/' }, { url: 'http://x/', headers: { a: 1 as unknown as string } }],
      }),
  );
  assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
  assert.equal(err.exitCode, 2);
  assert.deepEqual(
    err.issues.map((i) => i.path),
    ['rate', 'requests[0].url', 'requests[1].headers.a'],
  );
  assert.match(err.message, /rate: expected a positive rate/);
  assert.match(err.message, /requests\[0\]\.url: expected an http\(s\) URL/);
  assert.match(err.message, /requests\[1\]\.headers\.a: expected header values as strings/);
});

test('runLoad refuses invalid options before it sends anything', () => {
  const err = refusal(() => runLoad({ rate: 1, requests: [] }));
  assert.deepEqual(err.issues, [{ path: 'requests', message: 'expected at least one request template' }]);
});

test('issues are spelled as the caller names the options', () => {
  const parsed = LoadOptionsSchema.safeParse({
    rate: 1,
    durationMs: -1,
    requests: [{ url: 'http://x/', headers: { durationMs: 2 } }],
  });
  assert.ok(!parsed.success);
  // Only the top-level option is renamed: a header that happens to share its name keeps it.
  assert.deepEqual(
    loadOptionIssues(parsed.error, 'load', { durationMs: 'duration' }).map((i) => i.path),
    ['load.duration', 'load.requests[0].headers.durationMs'],
  );
});
