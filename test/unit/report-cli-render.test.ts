/**
 * The CLI's live view (cli/render-run.ts) says each phase once: the engine
 * announces a phase at every check, and the recovery wait used to be printed
 * at each of them ("waiting for the steady state to recover" twice, issue #12 item 4).
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createOutput } from '../../src/cli/output.js';
import { RunRenderer } from '../../src/cli/render-run.js';

test('a phase announced at every check is printed once', () => {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => {
    text += c.toString('utf8');
  });
  const renderer = new RunRenderer(createOutput({ stream: stream as unknown as NodeJS.WriteStream }));
  for (const phase of [
    'before-hypothesis',
    'method',
    'after-hypothesis',
    'revert',
    'recovery',
    'recovery',
    'recovery',
  ] as const)
    renderer.handle({ type: 'phase', phase });
  assert.equal(text.match(/waiting for the steady state to recover/g)?.length, 1, text);
  for (const label of ['steady state (before)', '» method', 'steady state (after)', 'reverting faults'])
    assert.equal(text.split(label).length - 1, 1, `${label}\n${text}`);
});
