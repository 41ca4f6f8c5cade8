import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, FaultlineError, formatIssue } from '../../src/core/errors.js';

test('docs/errors.md lists every error code with its exit status', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  for (const code of Object.keys(ERROR_CODES)) {
    const exit = new FaultlineError(code as keyof typeof ERROR_CODES, 'x').exitCode;
    assert.match(doc, new RegExp(`\`${code}\` \\|[^|]+\\| ${exit}`), `${code} documented with exit ${exit}`);
  }
});

test('issues format with path and position', () => {
  assert.equal(
    formatIssue({ path: 'method[0].provider.url', message: 'required', line: 7, column: 3 }, 'x.yaml'),
    'method[0].provider.url: required (x.yaml:7:3)',
  );
  assert.equal(formatIssue({ path: '', message: 'bad' }), 'bad');
});
