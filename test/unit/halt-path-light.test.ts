/**
 * What `faultline halt` and a run's watchdog load. Both start beside a run that is reverting
 * (the watchdog with the run's first fault), so whatever they load is CPU taken from the halt
 * and from the run: zod alone was about 150 ms of it (docs/benchmarks.md, halt). The ledger
 * therefore checks its files by hand; those checks are tested here too.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ledger, type LedgerEntry, newFaultId } from '../../src/faults/ledger.js';
import { tempHomeSuite } from '../helpers/home.js';
import { deadOwnerEntry } from '../helpers/ledger-entries.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Every module (file or package) loading `module` loads at once, relative to the repository. */
function staticGraph(module: string): string[] {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'test/fixtures/module-graph.mjs'), join(root, module)],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out) as string[])
    .filter((url) => url.startsWith('file:'))
    .map((url) => fileURLToPath(url))
    .map((path) => (path.startsWith(root) ? path.slice(root.length) : path));
}

/** What must stay out: schema and regex libraries, fault kinds, the stress workers' spawner. */
const HEAVY =
  /node_modules\/(zod|re2js)\/|^src\/faults\/(marker|proxy)\.ts$|^src\/faults\/[a-z]+\/|^src\/core\/schema\.ts$/;

describe('modules loaded', () => {
  test('the halt fast path (bin/faultline.js) loads no schema library and no fault kind', () => {
    for (const module of [
      'src/cli/fast-halt.ts',
      'src/faults/home.ts',
      'src/cli/faults.ts',
      'src/cli/output.ts',
    ]) {
      const graph = staticGraph(module);
      assert.ok(graph.includes(module), `${module} was loaded: ${graph.join(', ')}`);
      assert.deepEqual(
        graph.filter((m) => HEAVY.test(m)),
        [],
        `${module} loads`,
      );
    }
  });

  test("the watchdog's loop loads the ledger and recovery, nothing heavy", () => {
    const graph = staticGraph('src/faults/watchdog-loop.ts');
    assert.ok(
      graph.includes('src/faults/ledger.ts') && graph.includes('src/faults/recovery.ts'),
      graph.join(', '),
    );
    assert.deepEqual(
      graph.filter((m) => HEAVY.test(m)),
      [],
    );
  });
});

describe('ledger files checked by hand', () => {
  const h = tempHomeSuite();

  // Its owner is dead, which does not matter here: only the shape is checked.
  const base = deadOwnerEntry('x', 'marker-file', '/tmp/x', { path: '/tmp/x' });
  const entry = (id: string): LedgerEntry => ({ ...base, id });

  test('an entry with one field wrong is corrupt, its error naming the field and what was expected', async () => {
    const ledger = new Ledger({ home: h.home });
    const wrong: [keyof LedgerEntry | 'extra', unknown, RegExp][] = [
      ['kind', '', /^kind: expected a non-empty string$/],
      ['runId', 5, /^runId: expected a string$/],
      ['target', undefined, /^target: expected a string, found none$/],
      ['args', undefined, /^args: expected a JSON value, found none$/],
      ['record', [1], /^record: expected an object$/],
      ['record', null, /^record: expected an object$/],
      ['state', 'done', /^state: expected one of pending, active, failed, reverting$/],
      ['ttlMs', -1, /^ttlMs: expected a number, at least 0$/],
      ['ownerPid', 1.5, /^ownerPid: expected an integer$/],
      ['ownerStart', 7, /^ownerStart: expected a string$/],
      ['revertAttempts', -2, /^revertAttempts: expected a whole number, at least 0$/],
      ['lastError', {}, /^lastError: expected a string$/],
    ];
    // Fields it does not know are kept; nullable and optional ones may be absent.
    const good = { ...entry(newFaultId()), irreversible: true, extra: { a: 1 } };
    await ledger.write(good as LedgerEntry);
    const ids: string[] = [];
    for (const [field, value, _] of wrong) {
      const e: Record<string, unknown> = { ...entry(newFaultId()) };
      if (value === undefined) delete e[field];
      else e[field] = value;
      ids.push(e.id as string);
      await writeFile(join(ledger.dir, `${e.id}.json`), JSON.stringify(e));
    }
    await writeFile(join(ledger.dir, 'notanobject.json'), '[1, 2]');

    const { entries, corrupt } = await ledger.list();
    assert.deepEqual(entries, [good]);
    const errors = new Map(corrupt.map((c) => [c.id, c.error]));
    for (const [k, [field, , expected]] of wrong.entries()) {
      assert.match(String(errors.get(ids[k]!)), expected, `${field}: ${errors.get(ids[k]!)}`);
    }
    assert.match(String(errors.get('notanobject')), /expected an object/);
    for (const id of [...ids, good.id, 'notanobject']) await ledger.remove(id);
  });

  test('run and halt files: a wrong one is ignored (run) or still a halt (halt)', async () => {
    const ledger = new Ledger({ home: h.home });
    const run = await ledger.registerRun('run-light');
    assert.deepEqual(await ledger.getRun('run-light'), run);
    await writeFile(
      join(ledger.runsDir, 'run-bad.json'),
      JSON.stringify({ ...run, runId: 'run-bad', pid: 'x' }),
    );
    assert.equal(await ledger.getRun('run-bad'), null);
    await ledger.unregisterRun('run-light');
    await ledger.unregisterRun('run-bad');

    const halt = { since: new Date().toISOString(), pid: process.pid, host: hostname(), reason: 'drill' };
    await ledger.writeHalt(halt);
    assert.deepEqual(await ledger.readHalt(), halt);
    await writeFile(ledger.haltFile, JSON.stringify({ ...halt, pid: null }));
    assert.equal((await ledger.readHalt())?.reason, 'unreadable halt file');
    assert.equal(await ledger.removeHalt(), true);
  });
});
