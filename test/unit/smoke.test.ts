import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';

test('errors carry a code and an exit status', () => {
  const e = new FaultlineError('FAULTLINE_ERR_VALIDATION', 'x');
  assert.equal(e.exitCode, 2);
});
