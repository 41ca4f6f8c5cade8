/**
 * The Python worker protocol under abuse, from both ends: random and extreme
 * values through the client, garbage written straight to a real worker's
 * stdin, and a fake worker (test/fixtures/python/worker/flw_fake_worker.py)
 * that breaks the protocol every way it can. Nothing may hang, crash the
 * worker, or throw uncaught in the client.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { ActivityFailed } from '../../src/core/errors.js';
import { PYTHON_DIR, resolvePython } from '../../src/python/interpreter.js';
import { decodeValue, encodeValue } from '../../src/python/protocol.js';
import { PythonWorker, PythonWorkerGone, type PythonWorkerOptions } from '../../src/python/worker.js';
import { prng } from '../helpers/http-raw.js';
import { running } from '../helpers/process.js';

const FIXTURES = new URL('../fixtures/python/worker/', import.meta.url).pathname;
const python = resolvePython();
const skip = python ? false : 'python3 not found on PATH';
const workers: PythonWorker[] = [];
after(async () => {
  await Promise.all(workers.map((w) => w.stop()));
});

function makeWorker(extra: Partial<PythonWorkerOptions> = {}, env: NodeJS.ProcessEnv = {}): PythonWorker {
  const worker = new PythonWorker({
    python: python!,
    cwd: FIXTURES,
    env: { ...process.env, PYTHONPATH: FIXTURES, ...env },
    ...extra,
  });
  workers.push(worker);
  return worker;
}

const call = (func: string, kwargs: Record<string, unknown> = {}) => ({
  module: 'flw_fixture',
  func,
  kwargs,
});

const KEYS = [
  'a',
  '$bytes',
  '$int',
  '$dict',
  '$repr',
  '$float',
  '$',
  '__proto__',
  'constructor',
  'é',
  '',
  'x y',
];

function randomString(r: () => number): string {
  const n = Math.floor(r() * 8);
  let s = r() < 0.2 ? '$' : '';
  for (let i = 0; i < n; i++) {
    const kind = r();
    if (kind < 0.6) s += String.fromCharCode(32 + Math.floor(r() * 95));
    else if (kind < 0.8)
      s += String.fromCharCode(Math.floor(r() * 0x10000)); // lone surrogates included
    else if (kind < 0.9) s += String.fromCodePoint(0x1f600 + Math.floor(r() * 50));
    else s += ['\n', '\t', '\0', '"', '\\'][Math.floor(r() * 5)];
  }
  return s;
}

/** A random value that round-trips unchanged (no -0, no integers beyond 2^53 as numbers, bigints only beyond). */
function randomValue(r: () => number, depth: number): unknown {
  const kind = Math.floor(r() * (depth > 4 ? 8 : 11));
  switch (kind) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return Math.floor((r() - 0.5) * 2 ** 40) || 1;
    case 3:
      return (r() - 0.5) * 10 ** Math.floor(r() * 35 - 20);
    case 4:
      return [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][Math.floor(r() * 3)];
    case 5:
      return (
        (r() < 0.5 ? -1n : 1n) *
        (2n ** 53n + BigInt(Math.floor(r() * 1e9))) *
        10n ** BigInt(Math.floor(r() * 30))
      );
    case 6:
      return randomString(r);
    case 7:
      return Buffer.from(Array.from({ length: Math.floor(r() * 10) }, () => Math.floor(r() * 256)));
    case 8:
    case 9: {
      const out: Record<string, unknown> = {};
      const n = Math.floor(r() * 4);
      for (let i = 0; i < n; i++) {
        const key = r() < 0.5 ? KEYS[Math.floor(r() * KEYS.length)]! : randomString(r);
        Object.defineProperty(out, key, {
          value: randomValue(r, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    default:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  }
}

describe('python worker codec (no Python)', () => {
  test('random values survive encode -> JSON -> decode in JavaScript alone', () => {
    const r = prng(7);
    for (let i = 0; i < 2000; i++) {
      const v = randomValue(r, 0);
      const back = decodeValue(JSON.parse(JSON.stringify(encodeValue(v))));
      assert.deepEqual(back, v, `case ${i}`);
    }
  });

  test('too deep, circular and malformed values are refused with their path', () => {
    let deep: unknown = [];
    for (let i = 0; i < 10_000; i++) deep = [deep];
    assert.throws(
      () => encodeValue({ a: deep }, 'kwargs'),
      /^CodecError: kwargs\.a(\[0\])+…(\[0\])+: nested deeper than 200 levels/,
    );
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    assert.throws(() => encodeValue(cyclic), /value\[0\]: the value contains itself/);
    assert.throws(() => decodeValue({ a: { $int: '1.5' } }), /value\.a: malformed tagged value \$int/);
    assert.throws(() => decodeValue([{ $dict: [[1, 2]] }]), /value\[0\]: malformed tagged value \$dict/);
    assert.deepEqual(decodeValue({ $unknown: 1 }), { $unknown: 1 });
    // The same object twice (not a cycle) is fine.
    const shared = { s: 1 };
    assert.deepEqual(encodeValue([shared, shared]), [{ s: 1 }, { s: 1 }]);
  });
});

describe('python worker fuzz', { skip }, () => {
  test('random values round-trip through the worker unchanged', async () => {
    const worker = makeWorker();
    const r = prng(42);
    for (let batch = 0; batch < 10; batch++) {
      const values = Array.from({ length: 30 }, () => randomValue(r, 0));
      const results = await Promise.all(values.map((value) => worker.call(call('echo', { value }))));
      for (const [i, res] of results.entries()) {
        assert.deepEqual(res, { value: values[i], returned: {} }, `batch ${batch} #${i}`);
      }
    }
  });

  test('extreme values: refused with a clear error, and the worker keeps serving', async () => {
    const worker = makeWorker({ maxLineBytes: 1024 * 1024 });
    await worker.call(call('noop'));
    const pid = worker.pid;
    await assert.rejects(worker.call(call('huge', { n: 2 * 1024 * 1024 })), (err: Error) => {
      assert.ok(err instanceof ActivityFailed);
      assert.match(
        err.message,
        /could not run flw_fixture\.huge: the reply is \d+ bytes, over the limit of 1048576/,
      );
      return true;
    });
    await assert.rejects(
      worker.call(call('echo', { value: 'y'.repeat(2 * 1024 * 1024) })),
      /the arguments of flw_fixture\.echo make a request of \d+ bytes, over the limit of 1048576/,
    );
    await assert.rejects(
      worker.call(call('deep', { n: 500 })),
      /could not run flw_fixture\.deep: the value is nested deeper than 200 levels/,
    );
    const fine = (await worker.call(call('deep', { n: 150 }))) as { value: unknown };
    let depth = 0;
    for (let v = fine.value; Array.isArray(v) && v.length; v = v[0]) depth++;
    assert.equal(depth, 150);
    assert.deepEqual(await worker.call(call('cyclic')), { value: [1, '[...]'], returned: {} });
    let deep: unknown = 'bottom';
    for (let i = 0; i < 90; i++) deep = { k: [deep] };
    assert.deepEqual(await worker.call(call('echo', { value: deep })), { value: deep, returned: {} });
    const big = 'z'.repeat(900 * 1024);
    assert.deepEqual(await worker.call(call('echo', { value: big })), { value: big, returned: {} });
    assert.equal(worker.pid, pid, 'the same worker served everything');
  });

  test('garbage on a real worker’s stdin: a ProtocolError for each request, and it keeps serving', async (t) => {
    const child = spawn(
      python!.command,
      ['-u', `${PYTHON_DIR}faultline_worker.py`, '--max-line-bytes', '65536'],
      {
        cwd: FIXTURES,
        env: { ...process.env, PYTHONPATH: FIXTURES },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      },
    );
    t.after(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    });
    child.stderr.resume();
    const replies: Record<string, unknown>[] = [];
    let waiting: (() => void) | undefined;
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        replies.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
      waiting?.();
    });
    const until = async (check: () => boolean, what: string) => {
      const end = Date.now() + 60_000;
      while (!check()) {
        if (Date.now() > end) assert.fail(`hang guard: ${what}`);
        await new Promise<void>((resolve) => {
          waiting = resolve;
          setTimeout(resolve, 100);
        });
      }
    };
    await until(() => replies.length === 1, 'no ready line');
    assert.equal(replies.shift()?.ready, true);

    const call = (id: number, extra: string) =>
      `{"id": ${id}, "op": "call", "module": "m", "func": "f"${extra}}`;
    const known: [string | Buffer, number | null][] = [
      ['not json', null],
      ['[1, 2]', null],
      ['"a string"', null],
      ['{}', null],
      ['{"id": "7"}', null],
      ['{"id": true, "op": "call"}', null],
      ['{"id": 5}', 5],
      ['{"id": 6, "op": "nope"}', 6],
      ['{"id": 7, "op": "call"}', 7],
      ['{"id": 8, "op": "call", "module": 3, "func": "f"}', 8],
      [call(9, ', "kwargs": []'), 9],
      [call(10, ', "return": [1]'), 10],
      [call(11, ', "missing_ok": "yes"'), 11],
      [call(12, ', "kwargs": {"a": {"$int": "zz"}}'), 12],
      [call(13, ', "kwargs": {"a": {"$nope": 1}}'), 13],
      [call(14, ', "kwargs": {"a": {"$bytes": "!!"}}'), 14],
      [call(15, `, "kwargs": {"a": "${'x'.repeat(100_000)}"}`), 15],
      [`{"id": 16, "x": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`, 16],
      [Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), null],
      [call(17, ', "kwargs": {"a": 1'), 17],
    ];
    for (const [line] of known) child.stdin.write(Buffer.concat([Buffer.from(line), Buffer.from('\n')]));
    child.stdin.write('\n   \n'); // blank lines: no reply
    const r = prng(3);
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.from(
        Array.from({ length: 1 + Math.floor(r() * 200) }, () => Math.floor(r() * 256)),
      );
      for (let j = 0; j < bytes.length; j++) if (bytes[j] === 10) bytes[j] = 32;
      child.stdin.write(Buffer.concat([bytes, Buffer.from('\n')]));
      const json = JSON.stringify(encodeValue(randomValue(r, 0)));
      child.stdin.write(`${json === undefined ? 'null' : json}\n`);
    }
    child.stdin.write(
      '{"id": 424242, "op": "call", "module": "os.path", "func": "exists", "kwargs": {"path": "/"}}\n',
    );
    await until(() => replies.some((m) => m.id === 424242), 'the worker stopped answering');
    const last = replies.pop()!;
    assert.deepEqual(last, { id: 424242, ok: true, value: true, returned: {} });
    assert.ok(replies.length >= known.length + 200, `${replies.length} replies`);
    for (const reply of replies) {
      assert.equal(reply.ok, false);
      assert.equal((reply.error as { type: string }).type, 'ProtocolError', JSON.stringify(reply));
    }
    assert.deepEqual(
      replies.slice(0, known.length).map((m) => m.id),
      known.map(([, id]) => id),
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.stdin.end();
    await exited;
  });

  const fake = `${FIXTURES}flw_fake_worker.py`;
  const cases: [string, RegExp | 'gone', Partial<PythonWorkerOptions>?][] = [
    ['no-ready', /exited with code 3 before it was ready; its stderr ended with:\nfake: cannot start/],
    ['bad-ready', /wrote "\{\\"ready\\": \\"yes\\"\}" instead of its ready line/],
    [
      'noise-then-exit',
      /exited with code 0 before it was ready; its stderr ended with:\n\(stdout before the worker started\) hello, I am not a worker/,
    ],
    ['endless-noise', /wrote more than 100 lines to stdout before its ready line, the last "noise"/],
    ['wrong-protocol', /speaks protocol 99, this Faultline 1/],
    ['silent', /did not say it was ready within/, { startTimeoutMs: 300 }],
    ['garbage', /wrote a line that is not a protocol message: "not json at all"/],
    ['partial', 'gone'],
    ['huge', /wrote a line longer than 1048576 bytes \(maxLineBytes\)/],
    ['huge-unterminated', /wrote a line longer than 1048576 bytes \(maxLineBytes\), starting "yyyy/],
    ['exit', 'gone'],
    ['unknown-id', /sent a reply to unknown call \d+/],
    ['wrong-shape', /wrote a reply that does not match the protocol/],
    ['null-id', /sent a reply without an id: bad/],
    ['bad-tag', /the reply of flw_fixture\.echo cannot be decoded: value: malformed tagged value \$int/],
    ['random', /the Python worker (wrote|sent)/],
  ];
  for (const [mode, expected, options] of cases) {
    test(`a fake worker (${mode}): the calls reject cleanly and no process is left`, async () => {
      const worker = makeWorker(
        { workerScript: fake, maxLineBytes: 1024 * 1024, ...options },
        { FLW_FAKE_MODE: mode },
      );
      const first = worker.call(call('echo', { value: 1 })).catch((e) => e);
      const second = worker.call(call('echo', { value: 2 })).catch((e) => e);
      const pid = worker.pid!;
      assert.ok(pid > 0);
      const errors = (await Promise.all([first, second])) as Error[];
      for (const err of errors) {
        assert.ok(err instanceof ActivityFailed, String(err));
        if (expected === 'gone') {
          if (err instanceof PythonWorkerGone)
            assert.match(err.message, /exited with code \d+ while running flw_fixture\.echo/);
        } else if (mode !== 'bad-tag') {
          assert.match(err.message, expected);
        }
      }
      if (mode === 'bad-tag') assert.match(errors[0]!.message, expected as RegExp);
      if (mode === 'exit')
        assert.match(
          errors[0]!.message,
          /exited with code 7 while running flw_fixture\.echo.*fake: giving up/s,
        );
      if (mode !== 'bad-tag') {
        const end = Date.now() + 30_000;
        while (running(pid)) {
          if (Date.now() > end) assert.fail('hang guard: the fake worker was left running');
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      await worker.stop();
      assert.ok(!running(pid));
    });
  }

  test('output on stdout before the worker starts (a printing sitecustomize) is logged, not fatal', async () => {
    const logs: string[] = [];
    const worker = makeWorker(
      { workerScript: fake, log: (level, message) => logs.push(`${level} ${message}`) },
      { FLW_FAKE_MODE: 'noisy-start' },
    );
    assert.deepEqual(await worker.call(call('echo', { value: 'fine' })), { value: 'fine', returned: {} });
    assert.ok(
      logs.includes('info python: (stdout before the worker started) sitecustomize says hello'),
      String(logs),
    );
    await worker.stop();
  });

  test('a reply written a byte at a time is joined', async () => {
    const worker = makeWorker({ workerScript: fake }, { FLW_FAKE_MODE: 'split' });
    assert.deepEqual(await worker.call(call('echo')), { value: 'joined', returned: {} });
    await worker.stop();
  });
});
