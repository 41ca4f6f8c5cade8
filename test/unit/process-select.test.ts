/** Process selection and the pure builders behind the process and stress faults. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FaultlineError } from '../../src/core/errors.js';
import { processKillKind, processKillRandomKind, processPauseKind } from '../../src/faults/process/index.js';
import {
  amountOf,
  ancestorsOf,
  chooseProcesses,
  describeSelector,
  formatCandidates,
  isKernelThread,
  matches,
  normalizeSignal,
  parseBootTime,
  parseCmdline,
  parseNofile,
  parseStat,
  pickRandom,
  prlimitArgs,
  protectedReason,
  selectProcesses,
  startedAt,
} from '../../src/faults/process/select.js';
import { fillBytes } from '../../src/faults/stress/disk-fill.js';
import { hasCapability, loweredLimits, lowestFree } from '../../src/faults/stress/fd-exhaust.js';
import { memAvailableMb, memoryRefusal } from '../../src/faults/stress/memory.js';
import { DEADLINE_GRACE_MS, deadlineFor, TAG_ARG, workerArgv } from '../../src/faults/stress/spawn.js';

describe('/proc parsing', () => {
  test('stat: comm with spaces and parentheses, state, ppid, start time', () => {
    const text =
      '4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 1 0 0 0 3 4 0 0 20 0 1 0 987654 1000 100\n';
    assert.deepEqual(parseStat(text), {
      pid: 4242,
      comm: 'my (odd) name',
      state: 'S',
      ppid: 17,
      start: '987654',
    });
    assert.equal(parseStat('4242 (x) T 1')?.state ?? null, null, 'too short: no start time');
    assert.equal(parseStat('garbage'), null);
  });

  test('cmdline: NUL-separated, trailing NUL padding dropped', () => {
    assert.equal(parseCmdline('node\0server.js\0--port\x008080\0'), 'node server.js --port 8080');
    assert.equal(parseCmdline('fl-title\0\0\0\0\0'), 'fl-title');
    assert.equal(parseCmdline(''), '');
  });

  test('limits: the Max open files line', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units',
      'Max processes             63581                63581                processes',
      'Max open files            1024                 524288               files',
      '',
    ].join('\n');
    assert.deepEqual(parseNofile(text), { soft: '1024', hard: '524288' });
    assert.deepEqual(
      parseNofile('Max open files            unlimited            unlimited            files'),
      {
        soft: 'unlimited',
        hard: 'unlimited',
      },
    );
    assert.equal(parseNofile('Max processes 1 1'), null);
  });
});

describe('matching and picking', () => {
  const proc = (over: Partial<Parameters<typeof matches>[0]>) => ({
    pid: 10,
    comm: 'worker',
    state: 'S',
    ppid: 1,
    start: '1',
    cmdline: 'node worker.js --queue jobs',
    ...over,
  });

  test('name is exact comm, a long name compares by its first 15 characters; pattern is a regex on the command line', () => {
    assert.equal(matches(proc({}), { name: 'worker' }), true);
    assert.equal(matches(proc({}), { name: 'work' }), false);
    assert.equal(matches(proc({ comm: 'averyveryverylo' }), { name: 'averyveryverylongname' }), true);
    assert.equal(matches(proc({}), { pattern: 'worker\\.js --queue \\w+' }), true);
    assert.equal(matches(proc({}), { pattern: '^python' }), false);
  });

  test('kernel threads are recognised', () => {
    assert.equal(isKernelThread(proc({ cmdline: '', ppid: 2 })), true);
    assert.equal(isKernelThread(proc({ cmdline: '', pid: 2, ppid: 0 })), true);
    assert.equal(isKernelThread(proc({})), false);
  });

  test('pid 1, this process and its ancestors are protected', () => {
    const anc = new Set([50, 7]);
    assert.match(protectedReason(1, 99, anc) ?? '', /init/);
    assert.match(protectedReason(99, 99, anc) ?? '', /itself/);
    assert.match(protectedReason(7, 99, anc) ?? '', /ancestor/);
    assert.equal(protectedReason(8, 99, anc), null);
  });

  test('count is capped, percentage rounds down but selects at least one, the default applies otherwise', () => {
    assert.equal(amountOf(4, { percentage: 50 }, 1), 2);
    assert.equal(amountOf(3, { percentage: 50 }, 1), 1);
    assert.equal(amountOf(3, { percentage: 10 }, 1), 1);
    assert.equal(amountOf(10, { percentage: 100 }, 1), 10);
    assert.equal(amountOf(10, { percentage: 30 }, 1), 3, 'no float error at exact shares');
    assert.equal(amountOf(3, { count: 5 }, 1), 3);
    assert.equal(amountOf(3, {}, 1), 1);
    assert.equal(amountOf(0, { count: 2 }, 1), 0);
  });

  test('pickRandom picks distinct items in their original order', () => {
    const items = [1, 2, 3, 4, 5, 6];
    for (let i = 0; i < 50; i++) {
      const got = pickRandom(items, 3);
      assert.equal(new Set(got).size, 3);
      assert.deepEqual(
        got,
        [...got].sort((a, b) => a - b),
      );
    }
    assert.deepEqual(
      pickRandom(items, 2, () => 0),
      [1, 2],
    );
    assert.deepEqual(
      pickRandom(items, 1, () => 0.999),
      [6],
    );
    assert.deepEqual(pickRandom(items, 10), items);
  });
});

describe('choosing among the matches', () => {
  const p = (pid: number, start: number, cmdline = `sleep ${pid}`) => ({
    pid,
    comm: 'sleep',
    state: 'S',
    ppid: 1,
    start: String(start),
    cmdline,
  });
  // Listed out of start order: pid 30 started first, pid 20 last.
  const three = [p(10, 500), p(20, 900), p(30, 100)];
  const opts = { fallback: 1, selector: 'name=sleep', ambiguous: true, bootSeconds: 1_700_000_000 };
  const pids = (c: { picked: { pid: number }[] }) => c.picked.map((x) => x.pid);

  test('a name matching several processes with no mode, count or percentage is refused: exit 2, candidates, the argument to add', () => {
    assert.throws(
      () => chooseProcesses(three, {}, opts),
      (err: FaultlineError) => {
        assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
        assert.equal(err.exitCode, 2);
        assert.equal(err.issues[0]?.path, 'mode');
        assert.match(
          err.message,
          /^mode: name=sleep matches 3 processes and the fault acts on one: say which with mode=oldest/,
        );
        assert.match(err.message, /count=N, percentage=P\), or select one by pid=<pid>/);
        // Every candidate with its pid, start time and command line, oldest first.
        const lines = err.message.split('\n').slice(1);
        assert.deepEqual(
          lines.map((l) => l.trim().split(/\s+/)[1]),
          ['30', '10', '20'],
        );
        assert.match(lines[0]!, /pid 30 {2}started 2023-11-14 22:13:21 UTC {2}sleep 30/);
        return true;
      },
    );
    assert.throws(() => chooseProcesses(three, { mode: 'one' }, opts), /mode 'one' expects exactly one/);
  });

  test('one match needs no mode; pid and pidfile are never ambiguous', () => {
    assert.deepEqual(chooseProcesses([p(10, 5)], {}, opts), {
      picked: [p(10, 5)],
      reason: 'the only process matching name=sleep',
    });
    assert.equal(
      chooseProcesses([p(10, 5)], { mode: 'one' }, opts).reason,
      'the only process matching name=sleep (mode one)',
    );
    assert.deepEqual(
      pids(chooseProcesses([p(10, 5)], {}, { ...opts, selector: 'pid 10', ambiguous: false })),
      [10],
    );
  });

  test('oldest and newest go by start time; all takes every match; count and percentage apply to them', () => {
    const oldest = chooseProcesses(three, { mode: 'oldest' }, opts);
    assert.deepEqual(pids(oldest), [30]);
    assert.equal(oldest.reason, 'the oldest of 3 processes matching name=sleep (mode oldest, default 1)');
    assert.deepEqual(pids(chooseProcesses(three, { mode: 'newest' }, opts)), [20]);
    const two = chooseProcesses(three, { mode: 'newest', count: 2 }, opts);
    assert.deepEqual(pids(two), [20, 10]);
    assert.equal(two.reason, 'the 2 newest of 3 processes matching name=sleep (mode newest, count 2)');
    assert.deepEqual(pids(chooseProcesses(three, { mode: 'oldest', percentage: 70 }, opts)), [30, 10]);
    const all = chooseProcesses(three, { mode: 'all' }, opts);
    assert.deepEqual(pids(all), [10, 20, 30]);
    assert.equal(all.reason, 'all 3 processes matching name=sleep (mode all)');
  });

  test('random, or a count or percentage without a mode, picks at random and says so', () => {
    const first = () => 0;
    const r = chooseProcesses(three, { mode: 'random' }, opts, first);
    assert.deepEqual(pids(r), [10]);
    assert.equal(r.reason, '1 of 3 processes matching name=sleep, chosen at random (mode random, default 1)');
    assert.equal(
      chooseProcesses(three, { count: 2 }, opts, first).reason,
      '2 of 3 processes matching name=sleep, chosen at random (count 2)',
    );
    assert.equal(
      chooseProcesses(three, { count: 5 }, opts).reason,
      'all 3 processes matching name=sleep (count 5)',
    );
  });

  test('mode one or all with a count or percentage is refused by the schema, naming the field', () => {
    const r = processPauseKind.args.safeParse({ name: 'x', mode: 'all', count: 2 });
    assert.equal(r.success, false);
    assert.deepEqual(
      r.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [
        [
          'count',
          "expected no count with mode 'all' (it selects every match); use mode random, oldest or newest with a count",
        ],
      ],
    );
    assert.equal(processKillKind.args.safeParse({ name: 'x', mode: 'newest', count: 2 }).success, true);
    assert.match(
      String(processKillKind.args.safeParse({ name: 'x', mode: 'first' }).error?.issues[0]?.message),
      /expected 'one', 'all', 'random', 'oldest' or 'newest'/,
    );
    assert.equal(
      describeSelector({ name: 'x', mode: 'newest', count: 2 }),
      'process name=x (mode newest, count 2)',
    );
  });

  test('start times: /proc/stat btime plus clock ticks; the list is capped', () => {
    assert.equal(parseBootTime('cpu  1 2 3\nbtime 1700000000\nprocesses 5\n'), 1_700_000_000);
    assert.equal(parseBootTime('cpu 1'), undefined);
    assert.equal(startedAt('12345', 1_700_000_000), '2023-11-14 22:15:23 UTC');
    const many = Array.from({ length: 25 }, (_, i) => p(i + 1, i));
    const lines = formatCandidates(many);
    assert.equal(lines.length, 21);
    assert.equal(lines[0], 'pid 1  start 0  sleep 1');
    assert.equal(lines.at(-1), '... and 5 more');
    assert.equal(formatCandidates([{ ...p(7, 1), cmdline: '' }])[0], 'pid 7  start 1  [sleep]');
  });
});

describe('signals and argument builders', () => {
  test('signals are normalised and checked against os.constants.signals', () => {
    assert.equal(normalizeSignal('SIGTERM'), 'SIGTERM');
    assert.equal(normalizeSignal('kill'), 'SIGKILL');
    assert.equal(normalizeSignal(' usr1 '), 'SIGUSR1');
    assert.equal(normalizeSignal('SIGNOPE'), undefined);
  });

  test('prlimit arguments are an array (no shell)', () => {
    assert.deepEqual(prlimitArgs(123, { soft: '3', hard: '3' }), ['--pid', '123', '--nofile=3:3']);
    assert.deepEqual(prlimitArgs(9, { soft: '1024', hard: 'unlimited' }), [
      '--pid',
      '9',
      '--nofile=1024:unlimited',
    ]);
  });

  test('fd limits: lowest free descriptor; never raised; hard limit only with CAP_SYS_RESOURCE', () => {
    assert.equal(lowestFree([0, 1, 2, 5, 3]), 4);
    assert.equal(lowestFree([1, 2]), 0);
    const old = { soft: '1024', hard: '4096' };
    assert.deepEqual(loweredLimits(old, 10, true), { soft: '10', hard: '10' });
    assert.deepEqual(loweredLimits(old, 10, false), { soft: '10', hard: '4096' });
    assert.deepEqual(loweredLimits(old, 5000, true), { soft: '1024', hard: '4096' });
    assert.deepEqual(loweredLimits({ soft: 'unlimited', hard: 'unlimited' }, 7, true), {
      soft: '7',
      hard: '7',
    });
    // CAP_SYS_RESOURCE is bit 24: root in a container often lacks it.
    assert.equal(hasCapability('CapPrm:\t0\nCapEff:\t000001fffeffffff\n', 24), false);
    assert.equal(hasCapability('CapEff:\t000001ffffffffff\n', 24), true);
    assert.equal(hasCapability('no caps here', 24), false);
  });

  test('worker argv: script (and tsx loader from source), config JSON, the tag last', () => {
    const config = { mode: 'cpu' as const, workers: 2, load: 50, deadline: 1000, parent: 7 };
    assert.deepEqual(workerArgv({ script: '/d/worker.js' }, config, 'abc'), [
      '/d/worker.js',
      JSON.stringify(config),
      `${TAG_ARG}abc`,
    ]);
    assert.deepEqual(
      workerArgv({ script: '/s/worker.ts', loader: 'file:///tsx.mjs' }, config, 'abc').slice(0, 3),
      ['--import', 'file:///tsx.mjs', '/s/worker.ts'],
    );
    assert.equal(deadlineFor(5000, 1_000), 1_000 + 5000 + DEADLINE_GRACE_MS);
    assert.ok(deadlineFor(undefined, 0) > 24 * 86_400_000, 'without a TTL the parent-death check bounds it');
  });

  test('disk fill: bytes must fit what unprivileged users may use; percent is the target usage', () => {
    // 1000 blocks of 1000 bytes, 400 free of which 350 available (50 reserved for root): 600 used.
    const fs = { bsize: 1000, blocks: 1000, bfree: 400, bavail: 350 };
    assert.equal(fillBytes({ bytes: 1000 }, fs), 1000);
    assert.match(String(fillBytes({ bytes: 350_001 }, fs)), /^bytes: .*350000 bytes are available/);
    // capacity as df counts it: used 600k + avail 350k = 950k; 80% = 760k -> write 160k.
    assert.equal(fillBytes({ percent: 80 }, fs), 160_000);
    assert.equal(fillBytes({ percent: 100 }, fs), 350_000, 'full, minus the root reserve');
    assert.match(String(fillBytes({ percent: 50 }, fs)), /^percent: the filesystem is already 63\.2% used/);
  });

  test('memory: refuses more than 90% of MemAvailable', () => {
    assert.equal(memAvailableMb('MemTotal: 100 kB\nMemAvailable:    2048000 kB\n'), 2000);
    assert.equal(memAvailableMb('nothing'), null);
    assert.equal(memoryRefusal(1800, 2000), null);
    assert.match(memoryRefusal(1801, 2000) ?? '', /^mb: 1801 MiB is more than 90% of the 2000 MiB available/);
    assert.equal(memoryRefusal(10_000, null), null);
  });
});

describe('argument validation', () => {
  const issues = (
    kind: { args: { safeParse(v: unknown): { success: boolean; error?: unknown } } },
    v: unknown,
  ) => {
    const r = kind.args.safeParse(v);
    return r.success
      ? []
      : (r.error as { issues: { path: PropertyKey[]; message: string }[] }).issues.map((i) => [
          i.path.join('.'),
          i.message,
        ]);
  };

  test('exactly one selector; count or percentage; a known signal', () => {
    assert.deepEqual(issues(processKillKind, { name: 'x' }), []);
    assert.match(String(issues(processKillKind, {})[0]?.[1]), /expected one of pid, pidfile, name, pattern/);
    assert.deepEqual(issues(processKillKind, { name: 'x', pid: 3 })[0]?.[0], 'name');
    assert.deepEqual(issues(processPauseKind, { name: 'x', count: 1, percentage: 5 })[0]?.[0], 'percentage');
    assert.deepEqual(issues(processKillKind, { name: 'x', signal: 'SIGNOPE' })[0]?.[0], 'signal');
    assert.deepEqual(issues(processKillKind, { pattern: '(' })[0]?.[0], 'pattern');
    assert.deepEqual(
      issues(processKillRandomKind, { name: 'x', count: 2 })[0]?.[0],
      '',
      'kill_random takes no count',
    );
    assert.deepEqual(
      issues(processPauseKind, { name: 'x', duration: 3 })[0]?.[0],
      '',
      'no duration: the TTL is the duration',
    );
  });
});

describe('selection against this machine', () => {
  test('never selects this process, its ancestors or pid 1', async () => {
    const ancestors = await ancestorsOf(process.pid);
    assert.ok(ancestors.size >= 1);
    await assert.rejects(selectProcesses({ pid: process.pid }, {}, 1), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_FAULT');
      assert.match(err.message, /refusing to select pid \d+: it is the Faultline process itself/);
      return true;
    });
    await assert.rejects(selectProcesses({ pid: 1 }, {}, 1), /init/);
    const parent = process.ppid;
    await assert.rejects(selectProcesses({ pid: parent }, {}, 1), /ancestor/);
    // A pattern that matches this very process's command line still selects nothing of ours.
    const mine = new RegExp(
      (await import('node:fs')).readFileSync(`/proc/${process.pid}/cmdline`, 'utf8').split('\0')[0] ?? 'node',
    );
    try {
      const sel = await selectProcesses({ pattern: mine.source }, { percentage: 100 }, 1);
      for (const s of sel.selected) {
        assert.notEqual(s.pid, process.pid);
        assert.equal(ancestors.has(s.pid), false);
        assert.notEqual(s.pid, 1);
      }
    } catch (err) {
      assert.match((err as Error).message, /no process matches/);
    }
  });

  test('no match is FAULTLINE_ERR_FAULT naming the selector', async () => {
    await assert.rejects(selectProcesses({ name: 'no-such-proc-x' }, {}, 1), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_FAULT');
      assert.match(err.message, /no process matches name=no-such-proc-x/);
      return true;
    });
    await assert.rejects(selectProcesses({ pidfile: '/nonexistent/pidfile' }, {}, 1), /pidfile: cannot read/);
  });
});
