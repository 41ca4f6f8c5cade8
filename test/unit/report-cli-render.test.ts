/**
 * The CLI's live view (cli/render-run.ts) says each phase once: the engine
 * announces a phase at every check, and the recovery wait used to be printed
 * at each of them ("waiting for the steady state to recover" twice, issue #12 item 4);
 * and its final summary reads the run as the reports do (report/model.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createOutput } from '../../src/cli/output.js';
import { RunRenderer } from '../../src/cli/render-run.js';
import { parseJournal } from '../../src/report/index.js';
import { loadOf, verdictOf } from '../../src/report/model.js';

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

test("the run's summary says what the report says: verdict and exit code, checks under a fault, recovery, the journal's load totals", () => {
  const r = parseJournal(
    JSON.parse(readFileSync(new URL('../fixtures/report/safeguard-trip.json', import.meta.url), 'utf8')),
  );
  assert.ok(r.ok);
  const j = r.journal;
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => {
    text += c.toString('utf8');
  });
  new RunRenderer(createOutput({ stream: stream as unknown as NodeJS.WriteStream })).summary(j, undefined, 1);
  const v = verdictOf(j);
  assert.match(text, new RegExp(`verdict: ${v.label}, exit code ${v.exitCode}`));
  for (const reason of v.reasons) assert.ok(text.includes(`reason: ${reason}`), `${reason}\n${text}`);
  // Its three checks were made before the fault: none counts as "while a fault was active".
  assert.match(text, /during: 3\/3 met \(0\/0 while a fault was active\)/);
  assert.match(text, /recovery: Recovered 1\.01 s after the faults were reverted/);
  const load = loadOf(j);
  assert.ok(load);
  assert.ok(
    text.includes(`load: ${load.totals.requests} requests, ${load.totals.successes} succeeded`),
    text,
  );
});
