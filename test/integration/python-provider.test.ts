/**
 * Chaos Toolkit's Python activities and controls through the library's run
 * (runFromSource), in a real Python 3: values as the journal records them,
 * configuration and secrets by signature, tracebacks in Chaos Toolkit's shape,
 * the standard library called straight from an experiment, controls at every
 * hook point changing what they are handed, a control that interrupts, a
 * missing control module (a warning), a Python probe in a safeguard that
 * breaches, native modules first unless told otherwise, and one worker per run,
 * gone when the run ends.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Experiment } from '../../src/core/schema.js';
import { type RunSourceEvent, runFromSource } from '../../src/lib/run-source.js';
import { resolvePython } from '../../src/python/interpreter.js';
import { tempHome } from '../helpers/home.js';
import { untilGone } from '../helpers/process.js';

const EXT = fileURLToPath(new URL('../fixtures/python/ext/', import.meta.url));
const python = resolvePython();

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;
before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-python-'));
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

const env = (extra: NodeJS.ProcessEnv = {}) => ({
  ...process.env,
  FAULTLINE_HOME: home.home,
  PYTHONPATH: EXT,
  ...extra,
});

const py = (func: string, args: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  type: 'python' as const,
  module: 'fl_ext_probes',
  func,
  arguments: args,
  ...extra,
});

async function run(experiment: Record<string, unknown>, options: Parameters<typeof runFromSource>[1] = {}) {
  const events: RunSourceEvent[] = [];
  const result = await runFromSource(experiment as Experiment, {
    env: env(),
    cwd: work,
    onEvent: (e) => events.push(e),
    ...options,
  });
  const notices = events.flatMap((e) =>
    e.type === 'notice' ? [e.message] : e.type === 'log' ? [(e as { message: string }).message] : [],
  );
  return { ...result, events, notices };
}

describe('python activities', { skip: python ? false : 'no python3 on this machine' }, () => {
  test('values come back as the journal records them; configuration and secrets by signature', async () => {
    const { journal, exitCode } = await run({
      title: 'python values',
      description: 'each kind of value',
      configuration: { region: 'eu-west-1' },
      secrets: { cloud: { token: 's3cret' }, other: { token: 'not-listed' } },
      method: [
        { type: 'probe', name: 'count', provider: py('count', { n: 7 }) },
        { type: 'probe', name: 'ratio', provider: py('ratio') },
        { type: 'probe', name: 'describe', provider: py('describe', { name: 'api' }) },
        { type: 'probe', name: 'listing', provider: py('listing') },
        { type: 'probe', name: 'raw', provider: py('raw') },
        { type: 'probe', name: 'binary', provider: py('raw_binary') },
        { type: 'probe', name: 'big', provider: py('big') },
        { type: 'probe', name: 'config', provider: py('with_configuration', { key: 'region' }) },
        {
          type: 'probe',
          name: 'secret',
          provider: py('with_secrets', { key: 'token' }, { secrets: ['cloud'] }),
        },
        { type: 'probe', name: 'plain', provider: py('without_extras', { value: 'x' }) },
        {
          type: 'probe',
          name: 'stdlib',
          provider: { type: 'python', module: 'os.path', func: 'exists', arguments: { path: '/' } },
        },
      ],
    });
    assert.equal(exitCode, 0);
    const out = Object.fromEntries(journal.run.map((r) => [r.activity.name, r]));
    for (const r of journal.run) assert.equal(r.status, 'succeeded', `${r.activity.name}: ${r.exception}`);
    assert.equal(out.count?.output, 7);
    assert.equal(out.ratio?.output, 0.25);
    assert.deepEqual(out.describe?.output, { name: 'api', replicas: [1, 2, 3], ready: true, owner: null });
    assert.deepEqual(out.listing?.output, ['a', 1, 2.5, false]);
    // The journal's JSON form (docs/python.md): valid UTF-8 as text, other bytes as base64; big ints as digits.
    assert.equal(out.raw?.output, '\x00\x01bytes');
    assert.deepEqual(out.binary?.output, { $bytes: Buffer.from([0xff, 0xfe, 0]).toString('base64') });
    assert.equal(out.big?.output, (2n ** 70n).toString());
    assert.equal(out.config?.output, 'eu-west-1');
    // Only the listed scope, flattened, as Chaos Toolkit hands it; the journal masks the value.
    assert.equal(out.secret?.status, 'succeeded');
    assert.equal(out.plain?.output, 'x');
    assert.equal(out.stdlib?.output, true);
    for (const r of journal.run)
      assert.ok(!Number.isInteger(r.duration), `${r.activity.name}: a float duration`);
    const record = journal.faultline.python as { calls: number; workers: number; ledger: string };
    assert.equal(record.calls, 11);
    assert.equal(record.workers, 1, 'one worker for the whole run');
    assert.match(record.ledger, /not in Faultline's ledger/);
  });

  test('an exception fails the activity with the traceback in Chaos Toolkit shape; the worker survives', async () => {
    const { journal } = await run({
      title: 'python raises',
      description: 'a failing action then a probe',
      method: [
        { type: 'action', name: 'boom', provider: py('boom') },
        { type: 'probe', name: 'after', provider: py('pid') },
        { type: 'probe', name: 'again', provider: py('pid') },
      ],
    });
    const [boom, after1, after2] = journal.run;
    assert.equal(boom?.status, 'failed');
    assert.equal(boom?.output, null);
    const lines = boom?.exception ?? [];
    assert.equal(lines[0], 'Traceback (most recent call last):\n');
    assert.ok(
      lines.some((l) => /fl_ext_probes\.py", line \d+, in boom/.test(l)),
      lines.join(''),
    );
    assert.ok(lines.includes('RuntimeError: oops from python\n'), lines.join(''));
    assert.equal(lines.at(-1), 'chaoslib.exceptions.ActivityFailed: RuntimeError: oops from python\n');
    // A failed action does not fail the experiment, as in Chaos Toolkit.
    assert.equal(journal.status, 'completed');
    assert.equal(after1?.output, after2?.output, 'the same worker served both');
    assert.deepEqual(await untilGone([after1?.output as number]), [], 'the worker is gone after the run');
  });

  test('controls run at every hook point, change what they are handed, and are cleaned up', async () => {
    const log = join(work, 'controls.jsonl');
    const { journal } = await run(
      {
        title: 'python controls',
        description: 'every hook',
        controls: [
          { name: 'recorder', provider: { type: 'python', module: 'fl_ext_controls', arguments: { log } } },
        ],
        'steady-state-hypothesis': {
          title: 'ok',
          probes: [{ type: 'probe', name: 'steady', provider: py('count', { n: 1 }), tolerance: 1 }],
        },
        method: [{ type: 'probe', name: 'rewritten', provider: py('without_extras', { value: 'original' }) }],
        rollbacks: [{ type: 'action', name: 'undo', provider: py('count') }],
      },
      { rollbackStrategy: 'always' },
    );
    const hooks = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { hook: string; name?: string; status?: string });
    const names = hooks.map((h) => h.hook);
    for (const hook of [
      'configure',
      'before_experiment',
      'before_hypothesis',
      'after_hypothesis',
      'before_method',
      'before_activity',
      'after_activity',
      'after_method',
      'before_rollback',
      'after_rollback',
      'after_experiment',
      'cleanup',
    ])
      assert.ok(names.includes(hook), `${hook} called: ${names.join(', ')}`);
    assert.equal(names[0], 'configure');
    assert.equal(names.at(-1), 'cleanup');
    const method = journal.run.find((r) => r.activity.name === 'rewritten');
    assert.equal(method?.output, 'from the control', 'the control changed the activity before it ran');
    assert.ok(
      hooks.some((h) => h.hook === 'after_activity' && h.name === 'rewritten' && h.status === 'succeeded'),
    );
    const ext = (journal as { extensions?: { name: string }[] }).extensions ?? [];
    assert.ok(
      ext.some((e) => e.name === 'fl_ext_controls'),
      'after_experiment_control changed the journal',
    );
  });

  test('a control that raises InterruptExecution interrupts the run; a missing control module is a warning', async () => {
    const marker = join(work, 'never.txt');
    const { journal, notices } = await run({
      title: 'python control interrupts',
      description: 'stop before the second action',
      controls: [
        {
          name: 'stopper',
          provider: { type: 'python', module: 'fl_ext_interrupt', arguments: { stop_at: 'second' } },
        },
        { name: 'ghost', provider: { type: 'python', module: 'fl_no_such_module' } },
      ],
      method: [
        { type: 'action', name: 'first', provider: py('count') },
        { type: 'action', name: 'second', provider: py('touch', { path: marker }) },
      ],
    });
    assert.equal(journal.status, 'interrupted');
    assert.ok(!existsSync(marker), 'the interrupted action never ran');
    assert.ok(
      notices.some((m) => /control 'ghost'.*fl_no_such_module.*carries on/.test(m)),
      `a warning names the missing module: ${notices.join(' | ')}`,
    );
  });

  test('a Python probe in a safeguard breaches and stops the run', async () => {
    const flag = join(work, 'breach.flag');
    const { journal } = await run({
      title: 'python safeguard',
      description: 'the guard sees a file an action creates',
      controls: [
        {
          name: 'safeguards',
          provider: {
            type: 'python',
            module: 'chaosaddons.controls.safeguards',
            arguments: {
              probes: [
                {
                  type: 'probe',
                  name: 'no-flag',
                  frequency: 0.1,
                  provider: py('exists', { path: flag }),
                  tolerance: false,
                },
              ],
            },
          },
        },
      ],
      method: [
        { type: 'action', name: 'raise the flag', provider: py('touch', { path: flag }) },
        {
          type: 'action',
          name: 'wait',
          provider: py('linger', { pid_file: join(work, 'guard.pid'), seconds: 600 }),
        },
      ],
    });
    assert.equal(journal.status, 'interrupted');
    assert.match(String(journal.faultline.reason ?? ''), /no-flag|safeguard/);
    // The guard may trip before the long call starts on a busy machine: then there is nothing to stop.
    const guardPids = join(work, 'guard.pid');
    if (existsSync(guardPids)) {
      const pids = (await readFile(guardPids, 'utf8')).trim().split(' ').map(Number);
      assert.deepEqual(await untilGone(pids), [], 'the interrupted call and its child are gone');
    }
  });

  test('native modules run natively first; providerOptions.python.native false sends them to Python', async () => {
    const experiment = {
      title: 'native first',
      description: 'chaosaddons is native; with native off it is not installed here',
      method: [
        {
          type: 'probe',
          name: 'n',
          provider: {
            type: 'python',
            module: 'chaosprometheus.probes',
            func: 'query',
            arguments: { query: 'up', when: 'now' },
            timeout: 30,
          },
        },
      ],
    };
    const native = await run(experiment, { validation: false });
    const forced = await run(experiment, {
      validation: false,
      providerOptions: { python: { native: false } },
    });
    // Natively the probe fails on the missing Prometheus, never on Python; forced, Python cannot import it.
    assert.doesNotMatch(String(native.journal.run[0]?.exception ?? ''), /ModuleNotFoundError/);
    assert.match(
      String(forced.journal.run[0]?.exception ?? ''),
      /ModuleNotFoundError: No module named 'chaosprometheus'/,
    );
    assert.equal(native.journal.faultline.python, undefined, 'no worker started for a native activity');
  });

  test('a timeout interrupts a running Python call; the rollbacks still run in a new worker', async () => {
    const pidFile = join(work, 'slow.pid');
    const { journal } = await run(
      {
        title: 'python timeout',
        description: 'a call longer than its timeout',
        method: [
          { type: 'action', name: 'slow', provider: py('linger', { pid_file: pidFile }, { timeout: 2 }) },
        ],
        rollbacks: [{ type: 'action', name: 'after', provider: py('pid') }],
      },
      { rollbackStrategy: 'always' },
    );
    const slow = journal.run[0];
    assert.equal(slow?.status, 'failed');
    assert.match(String(slow?.exception), /timeout of 2 s: its Python worker was stopped/);
    // On a very busy machine the call may not have reached its sleep before the timeout: then there is no pid file.
    if (existsSync(pidFile)) {
      const pids = (await readFile(pidFile, 'utf8')).trim().split(' ').map(Number);
      assert.deepEqual(await untilGone(pids), [], 'the timed-out call and its child are gone');
      assert.notEqual(journal.rollbacks[0]?.output, pids[0], 'a new worker ran the rollback');
    }
    assert.equal(journal.rollbacks[0]?.status, 'succeeded');
    assert.equal((journal.faultline.python as { workers: number }).workers, 2);
  });

  test('a dynamic-configuration probe (without a name) and a settings-file control with loading hooks', async () => {
    const log = join(work, 'settings-controls.jsonl');
    const { journal } = await run(
      {
        title: 'python configuration',
        description: 'as written',
        configuration: { replicas: { type: 'probe', provider: py('count', { n: 4 }) } },
        method: [{ type: 'probe', name: 'echo', provider: py('without_extras', { value: '${replicas}' }) }],
      },
      {
        settings: {
          controls: {
            recorder: { provider: { type: 'python', module: 'fl_ext_controls', arguments: { log } } },
          },
        },
      },
    );
    assert.equal(journal.run[0]?.output, 4, 'the probe filled the configuration value');
    const hooks = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).hook as string);
    assert.ok(hooks.includes('before_loading') && hooks.includes('after_loading'), hooks.join(', '));
    assert.equal(journal.experiment.description, 'changed while loading');
  });

  test('a module found through a virtual environment (VIRTUAL_ENV, no PYTHONPATH)', async (t) => {
    const venv = join(work, 'venv');
    const made = spawnSync(python!.command, ['-m', 'venv', '--without-pip', venv], { encoding: 'utf8' });
    if (made.status !== 0) {
      t.skip(
        `python3 -m venv failed here (${made.stderr.trim().split('\n').at(-1)}); Debian needs python3-venv`,
      );
      return;
    }
    const site = spawnSync(
      join(venv, 'bin', 'python'),
      ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
      {
        encoding: 'utf8',
      },
    ).stdout.trim();
    await writeFile(join(site, 'fl_venv_only.py'), 'import sys\n\ndef prefix():\n    return sys.prefix\n');
    const { PYTHONPATH: _, ...rest } = env();
    const { journal } = await run(
      {
        title: 'python venv',
        description: 'the active virtual environment',
        method: [
          {
            type: 'probe',
            name: 'prefix',
            provider: { type: 'python', module: 'fl_venv_only', func: 'prefix' },
          },
        ],
      },
      { env: { ...rest, VIRTUAL_ENV: venv } },
    );
    assert.equal(journal.run[0]?.status, 'succeeded', String(journal.run[0]?.exception));
    assert.equal(journal.run[0]?.output, venv);
    assert.equal((journal.faultline.python as { from: string }).from, 'VIRTUAL_ENV');
  });

  test('no Python on the host: a clear error naming the activity', async () => {
    const { journal } = await run(
      {
        title: 'no python',
        description: 'no python3 on PATH, no FAULTLINE_PYTHON, no VIRTUAL_ENV',
        method: [{ type: 'probe', name: 'p', provider: py('count') }],
      },
      {
        validation: false,
        env: env({ PATH: join(work, 'empty-bin'), FAULTLINE_PYTHON: '', VIRTUAL_ENV: '' }),
      },
    );
    assert.equal(journal.run[0]?.status, 'failed');
    assert.match(
      String(journal.run[0]?.exception),
      /fl_ext_probes\.count needs Python 3, and none was found: install Python 3/,
    );
  });
});
