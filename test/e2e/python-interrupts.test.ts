/**
 * A Python fault through the built CLI, stopped three ways: Ctrl-C and
 * `faultline halt` interrupt the running Python call (its worker and what it
 * started are stopped), the rollbacks run in a fresh worker and undo the
 * fault; SIGKILL of the runner leaves no worker behind either (the worker
 * sees its stdin close and kills its process group). Python faults are not in
 * Faultline's ledger: after the SIGKILL the marker stays, as documented.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { resolvePython } from '../../src/python/interpreter.js';
import { cliSuite, journalOf, runCli, startCli } from '../helpers/cli.js';
import { untilGone } from '../helpers/process.js';

const EXT = fileURLToPath(new URL('../fixtures/python/ext/', import.meta.url));
const e2e = cliSuite('faultline-python-e2e-');

/** Waits (event: the file appears) for the pids the lingering call wrote; a generous hang guard. */
async function pidsIn(file: string): Promise<number[]> {
  for (let i = 0; i < 1200; i++) {
    if (existsSync(file)) {
      const text = (await readFile(file, 'utf8')).trim();
      if (text.includes(' ')) return text.split(' ').map(Number);
    }
    await sleep(50);
  }
  throw new Error(`${file} never appeared`);
}

async function gone(pids: number[]): Promise<void> {
  assert.deepEqual(await untilGone(pids), [], 'the worker and what it started are gone');
}

async function experiment(name: string): Promise<{ path: string; marker: string; pidFile: string }> {
  const marker = join(e2e.work, `${name}.marker`);
  const pidFile = join(e2e.work, `${name}.pids`);
  const path = join(e2e.work, `${name}.json`);
  const p = (func: string, args: Record<string, unknown>) => ({
    type: 'python',
    module: 'fl_ext_probes',
    func,
    arguments: args,
  });
  await writeFile(
    path,
    JSON.stringify({
      title: `python fault stopped by ${name}`,
      description: 'a marker file stands for the fault; a long call keeps the run busy',
      method: [
        { type: 'action', name: 'inject', provider: p('touch', { path: marker }) },
        { type: 'action', name: 'linger', provider: p('linger', { pid_file: pidFile }) },
      ],
      rollbacks: [{ type: 'action', name: 'revert', provider: p('remove', { path: marker }) }],
    }),
  );
  return { path, marker, pidFile };
}

describe('python interrupts through the CLI', {
  skip: resolvePython() ? false : 'no python3 on this machine',
}, () => {
  const env = () => ({ ...e2e.env, PYTHONPATH: EXT });

  test('Ctrl-C stops the Python call; the rollback reverts the fault; no worker left', async () => {
    const x = await experiment('sigint');
    const journalPath = join(e2e.work, 'sigint-journal.json');
    const cli = startCli(['run', x.path, '--journal-path', journalPath, '--rollback-strategy', 'always'], {
      env: env(),
    });
    const pids = await pidsIn(x.pidFile);
    assert.ok(existsSync(x.marker), 'the fault is in place');
    cli.child.kill('SIGINT');
    const result = await cli.done;
    assert.equal(result.code, 1, result.stderr);
    const journal = await journalOf(journalPath);
    assert.equal(journal.status, 'interrupted');
    assert.equal(journal.rollbacks[0].status, 'succeeded');
    assert.ok(!existsSync(x.marker), 'the rollback reverted the fault');
    assert.match(journal.faultline.python.ledger, /not in Faultline's ledger/);
    await gone(pids);
  });

  test('faultline halt stops the Python call; the rollback reverts the fault; no worker left', async () => {
    const x = await experiment('halt');
    const journalPath = join(e2e.work, 'halt-journal.json');
    const cli = startCli(['run', x.path, '--journal-path', journalPath, '--rollback-strategy', 'always'], {
      env: env(),
    });
    const pids = await pidsIn(x.pidFile);
    const halt = await runCli(['halt', '--reason', 'python test'], { env: e2e.env });
    assert.equal(halt.code, 0, halt.stderr);
    const result = await cli.done;
    await runCli(['halt', '--release'], { env: e2e.env });
    assert.equal(result.code, 1, result.stderr);
    const journal = await journalOf(journalPath);
    assert.equal(journal.status, 'interrupted');
    assert.equal(journal.rollbacks[0].status, 'succeeded');
    assert.ok(!existsSync(x.marker), 'the rollback reverted the fault');
    await gone(pids);
  });

  test('SIGKILL of the runner leaves no worker and no child of it behind', async () => {
    const x = await experiment('sigkill');
    const cli = startCli(['run', x.path, '--journal-path', join(e2e.work, 'k.json')], { env: env() });
    const pids = await pidsIn(x.pidFile);
    cli.child.kill('SIGKILL');
    await cli.done;
    await gone(pids);
    // Not ledgered, so nothing of Faultline's can revert it: the documented limit of Python faults.
    assert.ok(existsSync(x.marker));
  });
});
