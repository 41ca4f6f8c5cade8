/**
 * Hostile experiments through the built CLI (issue #13): the attacks that
 * found each problem, scaled to run in seconds. Every wait is on output or on
 * the process ending, never on timing.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliSuite, journalOf, startCli } from '../helpers/cli.js';

const e2e = cliSuite('faultline-hostile-');

test('item 2: the ReDoS pattern in a regex tolerance neither stalls the run nor makes it deaf to SIGTERM', async () => {
  const file = join(e2e.work, 'redos.json');
  const journal = join(e2e.work, 'redos-journal.json');
  // The steady state is checked every 0.2 s during a long method: each check runs the attack.
  await writeFile(
    file,
    JSON.stringify({
      title: 'redos',
      description: 'a backtracking pattern against a crafted output',
      runtime: { hypothesis: { strategy: 'during-method-only', frequency: 0.2 } },
      'steady-state-hypothesis': {
        title: 'path is fine',
        probes: [
          {
            type: 'probe',
            name: 'crafted-path',
            provider: { type: 'process', path: 'printf', arguments: [`/${'a'.repeat(33)}!`] },
            tolerance: { type: 'regex', pattern: '^/(a+)+$', target: 'stdout' },
          },
        ],
      },
      method: [
        { type: 'action', name: 'wait', provider: { type: 'process', path: 'sleep', arguments: ['600'] } },
      ],
    }),
  );
  const cli = startCli(['run', file, '--journal-path', journal], { env: e2e.env });
  // Two checks done: the event loop is free (with a backtracking engine the first never ends).
  await cli.waitFor(/deviated during the method[\s\S]*deviated during the method/, 60_000);
  cli.child.kill('SIGTERM');
  const r = await cli.done;
  assert.equal(r.code, 1, r.stderr);
  const j = await journalOf(journal);
  assert.equal(j.status, 'interrupted');
  assert.ok(j.steady_states.during.length >= 2);
  assert.equal(j.steady_states.during[0].probes[0].tolerance_met, false);
});
