/**
 * The blackout watcher on an injected clock, with a real SQLite store and a real (idle) runner:
 * `current()` answers from the windows last read (no query: it still answers with the store closed),
 * follows the clock across a window's opening and end, and a database that cannot be read keeps the
 * windows last read (a hiccup never lifts a blackout) and is reported once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BlackoutWatcher } from '../../src/server/blackouts/watcher.js';
import { openStore } from '../../src/server/db/index.js';
import { Runner } from '../../src/server/runner.js';
import { tempHome } from '../helpers/home.js';

test('current() follows an injected clock from the windows last read, and outlives the database', async () => {
  const home = await tempHome();
  const dir = await mkdtemp(join(tmpdir(), 'faultline-blackout-watcher-'));
  const store = await openStore({ home: home.home, database: join(dir, 'faultline.db') });
  let now = new Date('2026-12-19T12:00:00Z');
  const problems: string[] = [];
  const notices: string[] = [];
  const runner = new Runner({ store, serverId: 'server-watcher-test', home: home.home });
  const watcher = new BlackoutWatcher({
    store,
    runner,
    home: home.home,
    serverId: 'server-watcher-test',
    notify: (event, summary) => notices.push(`${event}: ${summary}`),
    // Only start() and refresh() look: the clock is the test's.
    pollMs: 3_600_000,
    now: () => now,
    onProblem: (m) => problems.push(m),
  });
  try {
    await store.blackouts.create(
      {
        name: 'freeze',
        timezone: 'Europe/Paris',
        dates: [{ from: '2026-12-20', to: '2026-12-21' }],
        reason: 'year end',
      },
      'alice',
    );
    await watcher.start();
    assert.equal(await watcher.current(), undefined);
    // Explicit instants are answered from the same windows.
    assert.equal((await watcher.current(new Date('2026-12-20T10:00:00Z')))?.name, 'freeze');

    now = new Date('2026-12-19T23:00:00Z'); // midnight in Paris: the window opens
    const open = await watcher.current();
    assert.deepEqual(open, {
      name: 'freeze',
      reason: 'blackout freeze (dates 2026-12-20 to 2026-12-21, Europe/Paris): year end',
      until: '2026-12-21T23:00:00.000Z',
    });

    // No query: it answers the same with the database closed, and a look that cannot read it keeps them.
    await store.close();
    now = new Date('2026-12-21T12:00:00Z');
    assert.equal((await watcher.current())?.name, 'freeze');
    await watcher.refresh();
    await watcher.refresh();
    assert.equal((await watcher.current())?.name, 'freeze', 'a database hiccup does not lift the blackout');
    assert.equal(problems.length, 1, `reported once: ${problems.join(' | ')}`);
    assert.match(problems[0]!, /^blackout windows: cannot read the database's: /);
    now = new Date('2026-12-21T23:00:00Z');
    assert.equal(await watcher.current(), undefined, 'it ends on time');
    // The opening is announced by the first look that sees it (current() only answers).
    assert.deepEqual(notices, [
      'blackout.opened: blackout freeze (dates 2026-12-20 to 2026-12-21, Europe/Paris): year end: nothing starts, until 2026-12-21T23:00:00.000Z',
    ]);
  } finally {
    await watcher.stop();
    await store.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await home.cleanup();
  }
});
