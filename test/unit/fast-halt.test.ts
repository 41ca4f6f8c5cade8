import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFastHalt } from '../../src/cli/fast-halt.js';

test('global options anywhere keep a halt on the fast path', () => {
  assert.deepEqual(parseFastHalt(['halt']), { output: {} });
  assert.deepEqual(parseFastHalt(['--log-format', 'json', 'halt']), { output: { logFormat: 'json' } });
  assert.deepEqual(parseFastHalt(['--log-format=text', '-q', 'halt', '--reason', 'drill']), {
    reason: 'drill',
    output: { logFormat: 'text', quiet: true },
  });
  assert.deepEqual(parseFastHalt(['halt', '--reason=drill', '--verbose']), {
    reason: 'drill',
    output: { verbose: true },
  });
});

test('anything else goes to the full CLI (its help, its errors)', () => {
  for (const argv of [
    [],
    ['status'],
    ['halt', '--release'],
    ['halt', '--help'],
    ['halt', '--reason'],
    ['--log-format', 'xml', 'halt'],
    ['--log-format'],
    ['halt', 'extra'],
  ]) {
    assert.equal(parseFastHalt(argv), null, argv.join(' '));
  }
});
