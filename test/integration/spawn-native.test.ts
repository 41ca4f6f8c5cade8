/**
 * The process provider's two ways of starting a child (src/providers/spawn-native.ts): the native
 * posix_spawn addon (native/spawn.c, built by `npm run build`) and child_process.spawn. Every case runs
 * through both and expects the same outcome, with real processes: output, exit codes, signals, errors
 * for a missing or non-executable file, a new session, default signal dispositions, the environment,
 * concurrency, and no child left unreaped.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NATIVE_ADDON, spawnCaptured, spawnMechanism } from '../../src/providers/spawn-native.js';

interface Outcome {
  code?: number | null;
  signal?: NodeJS.Signals | null;
  stdout?: string;
  stderr?: string;
  error?: string;
  errorCode?: string;
  pid?: number;
}

const NODE_WAY = (file: string, argv: string[]) =>
  spawn(file, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] }) as unknown as ReturnType<
    typeof spawnCaptured
  >;

const WAYS = [
  { name: 'posix_spawn (native addon)', start: spawnCaptured },
  { name: 'child_process.spawn', start: NODE_WAY },
] as const;

function run(start: typeof spawnCaptured, file: string, argv: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = start(file, argv);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b;
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b;
    });
    child.on('error', (e) => resolve({ error: e.message, errorCode: (e as NodeJS.ErrnoException).code }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid }));
  });
}

const built = existsSync(NATIVE_ADDON);
if (!built)
  console.log(`# skipping the native half: ${NATIVE_ADDON} was not built (no C compiler at npm run build)`);

test('the addon is what spawnCaptured uses when it was built', () => {
  assert.equal(spawnMechanism(), built ? 'posix_spawn' : 'child_process');
});

test('FAULTLINE_NATIVE_SPAWN=0 turns the addon off', () => {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { spawnMechanism } from ${JSON.stringify(new URL('../../src/providers/spawn-native.ts', import.meta.url).href)}; console.log(spawnMechanism());`,
    ],
    { env: { ...process.env, FAULTLINE_NATIVE_SPAWN: '0' }, encoding: 'utf8' },
  );
  assert.equal(r.stdout.trim(), 'child_process', r.stderr);
});

for (const way of WAYS) {
  describe(way.name, {
    skip: way.start === spawnCaptured && !built ? 'the addon was not built' : false,
  }, () => {
    test('stdout, stderr and the exit code', async () => {
      const r = await run(way.start, '/bin/sh', ['-c', 'printf out; printf err >&2; exit 3']);
      assert.deepEqual([r.code, r.signal, r.stdout, r.stderr], [3, null, 'out', 'err']);
    });

    test('a child ended by a signal reports the signal, not a code', async () => {
      const r = await run(way.start, '/bin/sh', ['-c', 'kill -9 $$']);
      assert.deepEqual([r.code, r.signal], [null, 'SIGKILL']);
    });

    test('a file that is not there: an error event naming it and ENOENT', async () => {
      const r = await run(way.start, '/nonexistent/faultline-no-such-file', []);
      assert.deepEqual(
        [r.error, r.errorCode],
        ['spawn /nonexistent/faultline-no-such-file ENOENT', 'ENOENT'],
      );
    });

    test('a file that is not executable: EACCES', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'faultline-spawn-'));
      try {
        const file = join(dir, 'plain');
        writeFileSync(file, 'not a program\n', { mode: 0o644 });
        const r = await run(way.start, file, []);
        assert.equal(r.errorCode, 'EACCES');
        assert.equal(r.error, `spawn ${file} EACCES`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('the child leads its own session and process group; stdin is /dev/null', async () => {
      const r = await run(way.start, '/bin/sh', [
        '-c',
        'cut -d " " -f 5,6 /proc/$$/stat; readlink /proc/$$/fd/0',
      ]);
      const [ids, stdin] = (r.stdout ?? '').trim().split('\n');
      assert.deepEqual((ids ?? '').trim().split(/\s+/).map(Number), [r.pid, r.pid]);
      assert.equal(stdin, '/dev/null');
    });

    test('signals are at their defaults and unblocked (Node ignores SIGPIPE; the child must not)', async () => {
      // `yes` into a `head` that exits: yes dies of SIGPIPE, silently, when SIGPIPE is at its default;
      // with SIGPIPE ignored it would print "Broken pipe" and exit 1.
      const piped = await run(way.start, '/bin/sh', ['-c', 'yes | head -n 1 >/dev/null']);
      assert.equal(piped.stderr, '');
      // The masks of the started process itself, read by it: a shell reading its own would catch it with
      // every signal blocked while it forks (dash does that), as a loaded machine showed.
      const r = await run(way.start, '/bin/grep', ['-E', '^(SigIgn|SigBlk)', '/proc/self/status']);
      const mask = (name: string) =>
        BigInt(`0x${new RegExp(`${name}:\\s+([0-9a-f]+)`).exec(r.stdout ?? '')?.[1]}`);
      assert.equal(mask('SigBlk'), 0n);
      // glibc's posix_spawn leaves its two internal signals (32 and 33, below SIGRTMIN, which no
      // program may use) ignored in the child; every signal a program can use is at its default.
      assert.equal(mask('SigIgn') & ~0x180000000n, 0n);
    });

    test('the environment as this process sees it now, and arguments as given', async () => {
      process.env.FAULTLINE_SPAWN_TEST = 'a b  "c"';
      try {
        const r = await run(way.start, '/bin/sh', [
          '-c',
          'printf "%s|" "$FAULTLINE_SPAWN_TEST" "$0" "$1"',
          'zero',
          ' one ',
        ]);
        assert.equal(r.stdout, 'a b  "c"|zero| one |');
      } finally {
        delete process.env.FAULTLINE_SPAWN_TEST;
      }
    });

    test('4 MiB of output on each stream is read whole', async () => {
      const r = await run(way.start, '/bin/sh', [
        '-c',
        'head -c 4194304 /dev/zero; head -c 4194304 /dev/zero >&2',
      ]);
      assert.deepEqual([r.code, r.stdout?.length, r.stderr?.length], [0, 4194304, 4194304]);
    });

    test('50 children at once each report their own outcome, and none is left unreaped', async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, (_, i) => run(way.start, '/bin/sh', ['-c', `echo ${i}; exit ${i % 7}`])),
      );
      outcomes.forEach((r, i) => {
        assert.deepEqual([r.code, r.stdout], [i % 7, `${i}\n`]);
        // Reaped: no /proc entry (a zombie would still have one).
        assert.equal(existsSync(`/proc/${r.pid}`), false, `child ${r.pid} still has a /proc entry`);
      });
    });
  });
}
