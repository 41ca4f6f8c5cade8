/**
 * The Python worker and its client, against a real python3: values, optional
 * arguments, mutated objects, exceptions, interrupts, missing modules,
 * aborts, concurrency, printing user code, a killed worker, a killed runner.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ActivityFailed } from '../../src/core/errors.js';
import { resolvePython } from '../../src/python/interpreter.js';
import {
  PythonCallAborted,
  PythonError,
  PythonWorker,
  PythonWorkerGone,
  type PythonWorkerOptions,
} from '../../src/python/worker.js';
import { running } from '../helpers/process.js';

const FIXTURES = new URL('../fixtures/python/worker/', import.meta.url).pathname;
const python = resolvePython();
const skip = python ? false : 'python3 not found on PATH';

const workers: PythonWorker[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'faultline-pyworker-'));
after(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  rmSync(scratch, { recursive: true, force: true });
});

function makeWorker(extra: Partial<PythonWorkerOptions> = {}): { worker: PythonWorker; logs: string[] } {
  const logs: string[] = [];
  const worker = new PythonWorker({
    python: python!,
    cwd: FIXTURES,
    env: { ...process.env, PYTHONPATH: FIXTURES },
    log: (level, message) => logs.push(`${level} ${message}`),
    ...extra,
  });
  workers.push(worker);
  return { worker, logs };
}

const call = (func: string, kwargs: Record<string, unknown> = {}, more: object = {}) => ({
  module: 'flw_fixture',
  func,
  kwargs,
  ...more,
});

/** Polls until `check` holds; the limit is a hang guard, not an expectation. */
async function until(check: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`hang guard: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function childPid(path: string): Promise<number> {
  await until(() => existsSync(path), `the fixture did not write ${path}`);
  return Number(readFileSync(path, 'utf8'));
}

describe('python worker', { skip }, () => {
  test('starts lazily, reports its interpreter, and calls a standard-library function', async () => {
    const { worker } = makeWorker();
    assert.equal(worker.pid, undefined);
    const r = await worker.call({ module: 'os.path', func: 'exists', kwargs: { path: '/' } });
    assert.deepEqual(r, { value: true, returned: {} });
    assert.ok(worker.pid! > 0);
    assert.match(worker.info!.python, /^3\.\d+\.\d+$/);
    assert.ok(worker.info!.executable.length > 0);
    const pid = worker.pid!;
    await worker.stop();
    assert.equal(worker.pid, undefined);
    assert.ok(!running(pid));
    await worker.stop(); // idempotent
  });

  test('sys.path is the user’s: the worker’s own directory removed, the chaoslib shim last', async () => {
    const { worker } = makeWorker();
    const path = (await worker.call(call('sys_path'))) as { value: string[] };
    assert.ok(path.value.at(-1)!.endsWith('/python/shim'), path.value.at(-1));
    assert.ok(!path.value.some((p) => p.replace(/\/$/, '').endsWith('/python')), String(path.value));
    assert.ok(path.value.includes(FIXTURES.replace(/\/$/, '')) || path.value.includes(FIXTURES));
    const file = (await worker.call(call('chaoslib_file'))) as { value: string };
    assert.match(file.value, /python\/shim\/chaoslib\/__init__\.py$/);
  });

  test('Python values reach JavaScript through the codec', async () => {
    const { worker } = makeWorker();
    const r = await worker.call(call('python_values'));
    assert.equal(r.missing, undefined);
    const v = (r as { value: Record<string, unknown> }).value;
    assert.equal(v.int, 7);
    assert.equal(v.float, 1.5);
    assert.equal(v.big, 2n ** 64n + 1n);
    assert.equal(v.negbig, -(2n ** 60n));
    assert.ok(Number.isNaN(v.nan));
    assert.equal(v.inf, Number.POSITIVE_INFINITY);
    assert.equal(v.ninf, Number.NEGATIVE_INFINITY);
    assert.ok(Buffer.isBuffer(v.bytes));
    assert.deepEqual([...(v.bytes as Buffer)], [0, 1, 104, 105, 255]);
    assert.equal((v.bytearray as Buffer).toString(), 'ab');
    assert.deepEqual(v.tuple, [1, 'a', null]);
    assert.deepEqual(v.set, [3]);
    assert.deepEqual(v.frozenset, ['x']);
    assert.equal(v.datetime, '2026-12-06T22:05:01.250000');
    assert.equal(v.date, '2026-01-02');
    assert.equal(v.decimal, '1.10');
    assert.equal(v.uuid, '12345678-1234-5678-1234-567812345678');
    assert.equal(v.object, '<Thing 42>');
    assert.deepEqual(v.tagged_lookalike, { $bytes: 'not bytes' });
    assert.deepEqual(v.two_keys, { $int: '1', b: 2 });
    assert.deepEqual(v.int_keys, { '1': 'one', null: 'none', '2.5': 'half', false: 'no' });
    const nested = v.nested as [{ a: [Buffer, [bigint]] }];
    assert.equal(nested[0].a[0].toString(), 'z');
    assert.equal(nested[0].a[1][0], 2n ** 70n);
  });

  test('JavaScript values reach Python through the codec, and round-trip', async () => {
    const { worker } = makeWorker();
    const sent = {
      int: 3,
      float: 2.5,
      big: 2n ** 80n,
      nan: Number.NaN,
      inf: Number.NEGATIVE_INFINITY,
      bytes: new Uint8Array([1, 2, 3]),
      buffer: Buffer.from('hé'),
      date: new Date('2026-12-06T00:00:00.000Z'),
      list: [1, 'two', null, true],
      set: new Set([1]),
      lookalike: { $bytes: 'AAAA' },
      nestedLookalike: [{ $dict: 1 }],
      none: null,
    };
    const described = (await worker.call(call('describe', { value: sent }))) as {
      value: Record<string, [string, string]>;
    };
    const d = described.value;
    assert.deepEqual(d.int, ['int', '3']);
    assert.deepEqual(d.float, ['float', '2.5']);
    assert.deepEqual(d.big, ['int', String(2n ** 80n)]);
    assert.deepEqual(d.nan, ['float', 'nan']);
    assert.deepEqual(d.inf, ['float', '-inf']);
    assert.deepEqual(d.bytes, ['bytes', "b'\\x01\\x02\\x03'"]);
    assert.deepEqual(d.buffer, ['bytes', "b'h\\xc3\\xa9'"]);
    assert.deepEqual(d.date, ['str', "'2026-12-06T00:00:00.000Z'"]);
    assert.deepEqual(d.list, ['list', "[1, 'two', None, True]"]);
    assert.deepEqual(d.set, ['list', '[1]']);
    assert.deepEqual(d.lookalike, ['dict', "{'$bytes': 'AAAA'}"]);
    assert.deepEqual(d.nestedLookalike, ['list', "[{'$dict': 1}]"]);
    assert.deepEqual(d.none, ['NoneType', 'None']);

    const round = {
      a: [1, { $float: 'x' }, 'é', '\ud800'],
      b: { c: {} },
      big: -(2n ** 63n),
      bytes: Buffer.from([9]),
    };
    const echoed = await worker.call(call('echo', { value: round }));
    assert.deepEqual(echoed, { value: round, returned: {} });
  });

  test('optional arguments are passed only when the function declares them', async () => {
    const { worker } = makeWorker();
    const optional = { configuration: { url: 'http://x' }, secrets: { token: 's' } };
    const one = await worker.call(call('with_configuration', { x: 1 }, { optional }));
    assert.deepEqual(one, { value: { x: 1, configuration: { url: 'http://x' } }, returned: {} });
    const both = await worker.call(call('with_everything', { x: 2 }, { optional }));
    assert.deepEqual(both, { value: { x: 2, ...optional }, returned: {} });
    const none = await worker.call(call('plain', { x: 3 }, { optional }));
    assert.deepEqual(none, { value: { x: 3 }, returned: {} });
    // kwargs are always passed: an undeclared one is the function's TypeError.
    await assert.rejects(worker.call(call('plain', { x: 3, configuration: {} })), (err: PythonError) => {
      assert.equal(err.pythonType, 'TypeError');
      assert.match(err.message, /unexpected keyword argument 'configuration'/);
      return true;
    });
  });

  test('`return` sends back the objects as the function mutated them', async () => {
    const { worker } = makeWorker();
    const r = await worker.call(
      call(
        'control_hook',
        { context: { name: 'probe-1' } },
        {
          optional: { state: ['start'], experiment: { title: 'T' }, settings: {} },
          return: ['context', 'state', 'experiment', 'settings'],
        },
      ),
    );
    assert.deepEqual(r, {
      value: null,
      returned: {
        context: { name: 'probe-1', touched: true, events: ['before'] },
        state: ['start', 'visited'],
        experiment: { title: 'T (controlled)' },
        settings: {},
      },
    });
  });

  test('an exception is a PythonError with Chaos Toolkit’s journal lines, and the worker survives', async () => {
    const { worker } = makeWorker();
    await worker.call(call('noop'));
    const pid = worker.pid;
    const err = (await worker.call(call('boom')).catch((e) => e)) as PythonError;
    assert.ok(err instanceof PythonError);
    assert.ok(err instanceof ActivityFailed);
    assert.equal(err.code, 'FAULTLINE_ERR_ACTIVITY');
    assert.equal(err.message, 'RuntimeError: oops from python');
    assert.equal(err.pythonType, 'RuntimeError');
    assert.equal(err.pythonQualname, 'builtins.RuntimeError');
    assert.equal(err.interrupt, false);
    const lines = err.exceptionLines;
    assert.equal(lines[0], 'Traceback (most recent call last):\n');
    assert.match(lines[1]!, /flw_fixture\.py", line \d+, in boom\n/);
    assert.match(lines[2]!, /flw_fixture\.py", line \d+, in _inner\n\s+raise RuntimeError/);
    assert.ok(!lines.join('').includes('faultline_worker.py'), 'the worker’s own frames are dropped');
    assert.deepEqual(lines.slice(-3), [
      'RuntimeError: oops from python\n',
      '\nDuring handling of the above exception, another exception occurred:\n\n',
      'chaoslib.exceptions.ActivityFailed: RuntimeError: oops from python\n',
    ]);
    const chained = (await worker.call(call('boom_chained')).catch((e) => e)) as PythonError;
    assert.equal(chained.message, 'ValueError: bad value');
    assert.ok(chained.exceptionLines.some((l) => l.startsWith('KeyError')));
    const exited = (await worker.call(call('exit_system')).catch((e) => e)) as PythonError;
    assert.equal(exited.pythonType, 'SystemExit');
    assert.deepEqual(await worker.call(call('echo', { value: 'alive' })), { value: 'alive', returned: {} });
    assert.equal(worker.pid, pid);
  });

  test('InterruptExecution (the shim’s) sets interrupt, with the returned objects as mutated', async () => {
    const { worker } = makeWorker();
    const err = (await worker
      .call(call('mutate_then_interrupt', { context: {} }, { return: ['context'] }))
      .catch((e) => e)) as PythonError;
    assert.ok(err instanceof PythonError);
    assert.equal(err.interrupt, true);
    assert.equal(err.pythonQualname, 'chaoslib.exceptions.InterruptExecution');
    assert.equal(err.message, 'chaoslib.exceptions.InterruptExecution: stop the run');
    assert.deepEqual(err.returned, { context: { before_interrupt: true } });
  });

  test('a missing module or function: an error, or with missingOk a `missing` result', async () => {
    const { worker } = makeWorker();
    const mod = (await worker
      .call({ module: 'flw_nope', func: 'f', kwargs: {} })
      .catch((e) => e)) as PythonError;
    assert.equal(mod.pythonType, 'ModuleNotFoundError');
    assert.equal(mod.message, "ModuleNotFoundError: No module named 'flw_nope'");
    const fn = (await worker.call(call('nope')).catch((e) => e)) as PythonError;
    assert.equal(fn.pythonType, 'AttributeError');
    assert.equal(fn.message, "AttributeError: 'flw_fixture' does not expose a function called 'nope'");
    const notCallable = (await worker.call(call('not_a_function')).catch((e) => e)) as PythonError;
    assert.equal(notCallable.pythonType, 'TypeError');

    assert.deepEqual(await worker.call({ module: 'flw_nope', func: 'f', kwargs: {}, missingOk: true }), {
      missing: 'module',
      message: "ModuleNotFoundError: No module named 'flw_nope'",
    });
    assert.deepEqual(await worker.call(call('nope', {}, { missingOk: true })), {
      missing: 'function',
      message: "'flw_fixture' does not expose a function called 'nope'",
    });
    const broken = await worker.call({ module: 'flw_broken_import', func: 'f', kwargs: {}, missingOk: true });
    assert.deepEqual(broken, {
      missing: 'module',
      message: "ModuleNotFoundError: No module named 'flw_no_such_dependency'",
    });
  });

  test('calls run concurrently: a fast call answers while a slow one waits', async () => {
    const { worker } = makeWorker();
    const order: string[] = [];
    const slow = worker.call(call('wait_for_release')).then((r) => {
      order.push('slow');
      return r;
    });
    const fast = await worker.call(call('echo', { value: 'fast' }));
    order.push('fast');
    assert.deepEqual(fast, { value: 'fast', returned: {} });
    await worker.call(call('release'));
    assert.deepEqual(await slow, { value: 'released', returned: {} });
    assert.deepEqual(order, ['fast', 'slow']);
  });

  test('user code printing to stdout does not reach the protocol; its lines reach log()', async () => {
    const { worker, logs } = makeWorker();
    assert.deepEqual(await worker.call(call('noisy')), { value: 'quiet reply', returned: {} });
    assert.deepEqual(await worker.call(call('read_stdin')), { value: '', returned: {} });
    const expected = ['printed to stdout', 'written to fd 1', 'echoed by a subprocess', 'printed to stderr'];
    await until(
      () => expected.every((e) => logs.includes(`info python: ${e}`)),
      `log lines: ${logs.join(' | ')}`,
    );
  });

  test('aborting a call kills the worker and what it started; the next call gets a new worker', async () => {
    const { worker } = makeWorker();
    await worker.call(call('noop'));
    const pid = worker.pid!;
    const file = join(scratch, 'abort-child');
    const ac = new AbortController();
    const pending = worker.call(call('sleep_with_child', { path: file, seconds: 300 }), ac.signal);
    const other = worker.call(call('wait_for_release'));
    const child = await childPid(file);
    assert.ok(running(child));
    ac.abort(new Error('the safeguard tripped'));
    const err = (await pending.catch((e) => e)) as Error;
    assert.equal(err.name, 'AbortError');
    assert.ok(err instanceof PythonCallAborted);
    assert.match(err.message, /flw_fixture\.sleep_with_child was aborted: the safeguard tripped/);
    const gone = (await other.catch((e) => e)) as PythonWorkerGone;
    assert.ok(gone instanceof PythonWorkerGone);
    assert.equal(gone.call, 'flw_fixture.wait_for_release');
    assert.match(
      gone.message,
      new RegExp(`pid ${pid}\\) was killed by SIGKILL while running flw_fixture.wait_for_release`),
    );
    assert.ok(!running(pid), 'the worker is gone when the call rejects');
    await until(() => !running(child), 'the sleep subprocess outlived the worker');
    const again = await worker.call(call('pid'));
    assert.notEqual((again as { value: number }).value, pid);
    assert.equal(worker.pid, (again as { value: number }).value);
    // An already-aborted signal: no call, no worker started for it.
    const before = worker.pid;
    await assert.rejects(worker.call(call('noop'), AbortSignal.abort()), { name: 'AbortError' });
    assert.equal(worker.pid, before);
  });

  test('a worker killed from outside mid-call: PythonWorkerGone, and the next call starts a new one', async () => {
    const { worker } = makeWorker();
    await worker.call(call('noop'));
    const pid = worker.pid!;
    const slow = worker.call(call('sleep', { seconds: 300 }));
    process.kill(pid, 'SIGKILL');
    const err = (await slow.catch((e) => e)) as PythonWorkerGone;
    assert.ok(err instanceof PythonWorkerGone);
    assert.ok(err instanceof ActivityFailed);
    assert.equal(err.call, 'flw_fixture.sleep');
    assert.match(
      err.message,
      new RegExp(`^the Python worker \\(pid ${pid}\\) was killed by SIGKILL while running flw_fixture.sleep`),
    );
    const exited = worker.call(call('exit_now', { code: 4 }));
    await assert.rejects(exited, /exited with code 4 while running flw_fixture.exit_now/);
    assert.deepEqual(await worker.call(call('echo', { value: 1 })), { value: 1, returned: {} });
  });

  test('stop() while a call runs rejects it with PythonWorkerGone', async () => {
    const { worker } = makeWorker();
    const slow = worker.call(call('sleep', { seconds: 300 }));
    await until(() => worker.pid !== undefined && worker.info !== undefined, 'the worker did not start');
    const pid = worker.pid!;
    await worker.stop();
    await assert.rejects(slow, (err: PythonWorkerGone) => {
      assert.ok(err instanceof PythonWorkerGone);
      assert.match(err.message, /was stopped while running flw_fixture.sleep/);
      return true;
    });
    assert.ok(!running(pid));
  });

  test('a missing interpreter, or one that fails at start, rejects the call naming it', async () => {
    const { worker } = makeWorker({
      python: { command: join(scratch, 'no-python'), source: 'FAULTLINE_PYTHON' },
    });
    await assert.rejects(
      worker.call(call('noop')),
      (err: ActivityFailed) =>
        err instanceof ActivityFailed &&
        err.message.includes('no-python (from FAULTLINE_PYTHON)') &&
        /ENOENT/.test(err.message),
    );
    const bad = makeWorker({
      env: { ...process.env, PYTHONPATH: FIXTURES, PYTHONSTARTUP: '', PYTHONHOME: '/nonexistent' },
    });
    await assert.rejects(bad.worker.call(call('noop')), (err: ActivityFailed) => {
      assert.ok(err instanceof ActivityFailed);
      assert.match(err.message, /exited with code \d+ before it was ready/);
      assert.match(err.message, /stderr ended with/);
      return true;
    });
  });

  test('arguments that cannot be sent are refused before anything runs', async () => {
    const { worker } = makeWorker();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await assert.rejects(
      worker.call(call('echo', { value: cyclic })),
      /kwargs\.value\.self: the value contains itself/,
    );
    assert.equal(worker.pid, undefined);
    await assert.rejects(
      worker.call({ module: '', func: 'f', kwargs: {} }),
      /module: expected a non-empty string/,
    );
    await assert.rejects(
      worker.call({ module: 'm', func: 'f', kwargs: [] as unknown as Record<string, unknown> }),
      /kwargs: expected an object/,
    );
  });

  test('a killed runner takes its worker and the worker’s children with it', async (t) => {
    const file = join(scratch, 'runner-child');
    const workerUrl = pathToFileURL(new URL('../../src/python/worker.ts', import.meta.url).pathname).href;
    const code = `
      import { PythonWorker } from ${JSON.stringify(workerUrl)};
      import { existsSync } from 'node:fs';
      const w = new PythonWorker({ python: ${JSON.stringify(python)}, cwd: ${JSON.stringify(FIXTURES)},
        env: { ...process.env, PYTHONPATH: ${JSON.stringify(FIXTURES)} } });
      w.call({ module: 'flw_fixture', func: 'sleep_with_child', kwargs: { path: ${JSON.stringify(file)}, seconds: 300 } });
      const timer = setInterval(() => {
        if (existsSync(${JSON.stringify(file)})) { clearInterval(timer); console.log(JSON.stringify({ worker: w.pid })); }
      }, 20);
    `;
    const runner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => runner.kill('SIGKILL'));
    const first = await new Promise<string>((resolve, reject) => {
      let out = '';
      runner.stdout.on('data', (c) => {
        out += c;
        if (out.includes('\n')) resolve(out);
      });
      runner.on('exit', (c) => reject(new Error(`the runner exited with ${c} before starting its worker`)));
    });
    const workerPid = (JSON.parse(first) as { worker: number }).worker;
    const child = Number(readFileSync(file, 'utf8'));
    assert.ok(running(workerPid) && running(child));
    runner.kill('SIGKILL');
    await until(() => !running(workerPid), 'the worker outlived its runner');
    await until(() => !running(child), 'the worker’s child outlived the runner');
  });
});
