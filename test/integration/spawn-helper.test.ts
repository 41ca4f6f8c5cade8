/**
 * The spawn helper (issue #14 item 3): `process` activities run through one
 * long-lived Perl process instead of a fork of Node each. Every case runs
 * the activity both ways (helper on, FAULTLINE_SPAWN_HELPER=0) and expects
 * the same outcome: the helper must be invisible but for its speed. Then
 * what only the helper has: it dies, it must not outlive Faultline.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ActivityFailed } from '../../src/core/errors.js';
import type { ProcessProvider } from '../../src/core/schema.js';
import { processProvider } from '../../src/providers/process.js';
import { HELPER_TAG, spawnHelper } from '../../src/providers/spawn-helper.js';
import { activityContext, type TestActivityContext } from '../helpers/activity-context.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
type Out = { status: number; stdout: string; stderr: string };
type Mode = 'helper' | 'spawn';

let dir: string;
before(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'faultline-spawn-helper-')));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs with the helper (the default) or with child_process.spawn. */
async function inMode<T>(mode: Mode, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.FAULTLINE_SPAWN_HELPER;
  if (mode === 'spawn') process.env.FAULTLINE_SPAWN_HELPER = '0';
  else delete process.env.FAULTLINE_SPAWN_HELPER;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.FAULTLINE_SPAWN_HELPER;
    else process.env.FAULTLINE_SPAWN_HELPER = saved;
  }
}

function run(provider: Omit<ProcessProvider, 'type'>, ctx: TestActivityContext = activityContext()) {
  return processProvider.run({ type: 'process', ...provider } as ProcessProvider, ctx) as Promise<Out>;
}

/** The same activity both ways: the outcomes (or error messages) must be equal. */
async function same(provider: Omit<ProcessProvider, 'type'>): Promise<Out> {
  const outcome = (mode: Mode) =>
    inMode(mode, () =>
      run(provider).then(
        (out) => ({ out }),
        (err: Error) => ({ error: `${err.constructor.name}: ${err.message}` }),
      ),
    );
  const viaHelper = await outcome('helper');
  const viaSpawn = await outcome('spawn');
  assert.deepEqual(viaHelper, viaSpawn);
  if ('error' in viaHelper) throw new Error(viaHelper.error);
  return viaHelper.out;
}

/** Pids whose command line holds all these arguments. */
function processesWith(...args: string[]): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (args.every((a) => argv.includes(a))) found.push(Number(name));
  }
  return found;
}

/** Waits (for events, not for a time) until no process holds these arguments. */
async function noProcessWith(...args: string[]): Promise<void> {
  while (processesWith(...args).length > 0) await new Promise((r) => setTimeout(r, 20));
}

test('the helper runs the commands: their parent is the helper, not Faultline', async () => {
  const helper = await inMode('helper', () => spawnHelper());
  assert.ok(helper?.pid, 'the helper started (perl is at /usr/bin/perl)');
  const out = await inMode('helper', () => run({ path: 'sh', arguments: ['-c', 'echo $PPID'] }));
  assert.equal(out.stdout.trim(), String(helper.pid));
  const legacy = await inMode('spawn', () => run({ path: 'sh', arguments: ['-c', 'echo $PPID'] }));
  assert.equal(legacy.stdout.trim(), String(process.pid));
});

test('argv is data: spaces, quotes, newlines, $, globs, unicode and lone surrogates; "" and null dropped', async () => {
  const args = ['a b', `it's "q"`, 'line1\nline2', '', null, '$HOME', '*', 'café ünï', '\uD800x', '-n', '\\'];
  const out = await same({ path: 'printf', arguments: ['[%s]', ...args] });
  assert.equal(out.stdout, `[a b][it's "q"][line1\nline2][$HOME][*][café ünï][\uFFFDx][-n][\\]`);
  const shell = await same({ path: 'echo', arguments: `'a  b' "$(printf 'c\\td')"` });
  assert.equal(shell.stdout, 'a  b c\td\n');
});

test('env and cwd are those of the Node process at the time of the call', async () => {
  const savedCwd = process.cwd();
  process.env.FAULTLINE_SPAWN_TEST = 'a b\nc=d é';
  delete process.env.FAULTLINE_SPAWN_GONE;
  try {
    const script = 'printf "%s|%s|%s" "$FAULTLINE_SPAWN_TEST" "${FAULTLINE_SPAWN_GONE-unset}" "$(pwd)"';
    let out = await same({ path: 'sh', arguments: ['-c', script] });
    assert.equal(out.stdout, `a b\nc=d é|unset|${savedCwd}`);
    process.chdir(dir);
    process.env.FAULTLINE_SPAWN_GONE = 'set now';
    out = await same({ path: 'sh', arguments: ['-c', script] });
    assert.equal(out.stdout, `a b\nc=d é|set now|${dir}`);
    delete process.env.FAULTLINE_SPAWN_GONE;
    out = await same({ path: 'sh', arguments: ['-c', script] });
    assert.equal(out.stdout, `a b\nc=d é|unset|${dir}`);
  } finally {
    process.chdir(savedCwd);
    delete process.env.FAULTLINE_SPAWN_TEST;
    delete process.env.FAULTLINE_SPAWN_GONE;
  }
});

test('the child: its own session and process group, stdin /dev/null, the same signal state as with spawn', async () => {
  const out = await same({
    path: 'sh',
    arguments: [
      '-c',
      'set -- $(cut -d" " -f1,5,6 /proc/$$/stat); [ "$1" = "$2" ] && [ "$1" = "$3" ] && echo leader; readlink /proc/$$/fd/0; grep -E "^Sig(Blk|Ign|Cgt)" /proc/self/status',
    ],
  });
  const [leader, stdin] = out.stdout.split('\n');
  assert.equal(leader, 'leader', 'session and group leader, as detached: true makes it');
  assert.equal(stdin, '/dev/null');
});

test('5 MB of stdout and of stderr, interleaved: each kept to the limit with a marker and a warning', async () => {
  const script =
    'i=0; while [ $i -lt 80 ]; do head -c 65536 /dev/zero | tr "\\0" a; head -c 65536 /dev/zero | tr "\\0" b >&2; i=$((i+1)); done';
  const logs: Record<Mode, unknown> = { helper: [], spawn: [] };
  const outs: Partial<Record<Mode, Out>> = {};
  for (const mode of ['helper', 'spawn'] as const) {
    const ctx = activityContext();
    outs[mode] = await inMode(mode, () => run({ path: 'sh', arguments: ['-c', script] }, ctx));
    logs[mode] = ctx.logs;
  }
  assert.deepEqual(outs.helper, outs.spawn);
  assert.deepEqual(logs.helper, logs.spawn);
  const limit = 1024 * 1024;
  const dropped = 80 * 65536 - limit;
  assert.ok(outs.helper?.stdout.startsWith('a'.repeat(limit)));
  assert.match(
    outs.helper?.stderr ?? '',
    new RegExp(`^b{${limit}}\\n\\[faultline: output truncated: .* dropped ${dropped} more`),
  );
  assert.deepEqual(logs.helper, [
    { level: 'warn', message: `process 'sh': stdout truncated to ${limit} bytes (${dropped} bytes dropped)` },
    { level: 'warn', message: `process 'sh': stderr truncated to ${limit} bytes (${dropped} bytes dropped)` },
  ]);

  // Under the limit, every byte arrives, in order.
  const saved = process.env.FAULTLINE_MAX_OUTPUT_BYTES;
  process.env.FAULTLINE_MAX_OUTPUT_BYTES = String(8 * 1024 * 1024);
  try {
    const full = await run({ path: 'sh', arguments: ['-c', script] });
    assert.equal(full.stdout, 'a'.repeat(80 * 65536));
    assert.equal(full.stderr, 'b'.repeat(80 * 65536));
  } finally {
    if (saved === undefined) delete process.env.FAULTLINE_MAX_OUTPUT_BYTES;
    else process.env.FAULTLINE_MAX_OUTPUT_BYTES = saved;
  }
});

test('20 commands at once each get their own output and status', async () => {
  for (const mode of ['helper', 'spawn'] as const) {
    const outs = await inMode(mode, () =>
      Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          run({
            path: 'sh',
            arguments: [
              '-c',
              'printf "out-%s" "$0"; sleep 0.05; printf "err-%s" "$0" >&2; exit $(($0 % 7))',
              String(i),
            ],
          }),
        ),
      ),
    );
    outs.forEach((out, i) => {
      assert.deepEqual(out, { status: i % 7, stdout: `out-${i}`, stderr: `err-${i}` }, `${mode} #${i}`);
    });
  }
});

test('exit codes, and signal deaths as -<signal number>', async () => {
  assert.equal((await same({ path: 'sh', arguments: ['-c', 'exit 0'] })).status, 0);
  assert.equal((await same({ path: 'sh', arguments: ['-c', 'exit 255'] })).status, 255);
  assert.equal((await same({ path: 'sh', arguments: ['-c', 'kill -9 $$'] })).status, -9);
  assert.equal((await same({ path: 'sh', arguments: ['-c', 'kill -15 $$'] })).status, -15);
  // A child that closes its pipes and lives on is reported when it exits.
  const late = await same({ path: 'sh', arguments: ['-c', 'exec >&- 2>&-; sleep 0.2; exit 4'] });
  assert.deepEqual(late, { status: 4, stdout: '', stderr: '' });
});

test('a timeout kills the whole process group: nothing of `sleep 100 & sleep 100` is left', async () => {
  for (const mode of ['helper', 'spawn'] as const) {
    const marker = `100.${process.pid}${mode === 'helper' ? 1 : 2}`;
    await assert.rejects(
      inMode(mode, () =>
        run({ path: 'sh', arguments: ['-c', `sleep ${marker} & sleep ${marker}`], timeout: 0.5 }),
      ),
      (err: unknown) =>
        err instanceof ActivityFailed && err.message === 'process activity took too long to complete',
    );
    await noProcessWith('sleep', marker);
  }
});

test('chatty commands timed out together: each fails, the helper goes on serving', async () => {
  for (const mode of ['helper', 'spawn'] as const) {
    const outcomes = await inMode(mode, () =>
      Promise.allSettled(Array.from({ length: 5 }, () => run({ path: 'yes', timeout: 0.3 }))),
    );
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      assert.match(String((o as PromiseRejectedResult).reason), /process activity took too long to complete/);
    }
    const next = await inMode(mode, () => run({ path: 'echo', arguments: ['still here'] }));
    assert.equal(next.stdout, 'still here\n');
  }
});

test('commands that cannot start fail with the same message both ways (ENOENT, EACCES)', async () => {
  writeFileSync(join(dir, 'no-interpreter'), '#!/nonexistent/interpreter\n');
  chmodSync(join(dir, 'no-interpreter'), 0o755);
  writeFileSync(join(dir, 'interp'), 'not executable');
  writeFileSync(join(dir, 'bad-interpreter'), `#!${join(dir, 'interp')}\n`);
  chmodSync(join(dir, 'bad-interpreter'), 0o755);
  for (const [name, code] of [
    ['no-interpreter', 'ENOENT'],
    ['bad-interpreter', 'EACCES'],
  ] as const) {
    const path = join(dir, name);
    await assert.rejects(same({ path }), (err: Error) => {
      assert.equal(err.message, `ActivityFailed: cannot run '${path}': spawn ${path} ${code}`);
      return true;
    });
  }
  // A script without #! runs through /bin/sh both ways (execvp's fallback).
  writeFileSync(join(dir, 'no-shebang'), 'echo "no shebang $#"\n');
  chmodSync(join(dir, 'no-shebang'), 0o755);
  assert.equal((await same({ path: join(dir, 'no-shebang'), arguments: ['x'] })).stdout, 'no shebang 1\n');
});

test('the helper killed mid-run: the running activity fails clearly, its command is ended, the next one works', () =>
  inMode('helper', async () => {
    const helper = await spawnHelper();
    assert.ok(helper?.pid);
    const ready = join(dir, 'ready');
    const marker = `100.${process.pid}3`;
    const pending = run({ path: 'sh', arguments: ['-c', `touch '${ready}'; sleep ${marker}`] });
    pending.catch(() => {});
    while (!existsSync(ready)) await new Promise((r) => setTimeout(r, 10));
    process.kill(helper.pid, 'SIGKILL');
    await assert.rejects(pending, (err: unknown) => {
      assert.ok(err instanceof ActivityFailed);
      assert.match(
        err.message,
        /^process activity failed: the spawn helper \(\/usr\/bin\/perl, pid \d+\) was killed by SIGKILL while '\/.*\/sh' ran$/,
      );
      return true;
    });
    await noProcessWith('sleep', marker);
    const next = await run({ path: 'sh', arguments: ['-c', 'echo $PPID'] });
    const replacement = await spawnHelper();
    assert.ok(replacement?.pid && replacement.pid !== helper.pid, 'a new helper');
    assert.equal(next.stdout.trim(), String(replacement.pid));
  }));

/** A Node process that runs a process activity with the built dist/ and reports the helper's pid. */
function faultlineChild(script: string) {
  const code = `
    import { processProvider } from ${JSON.stringify(join(ROOT, 'dist/providers/process.js'))};
    import { spawnHelper } from ${JSON.stringify(join(ROOT, 'dist/providers/spawn-helper.js'))};
    const ctx = { configuration: {}, secrets: {}, signal: new AbortController().signal, baseDir: process.cwd(),
      runId: 't', faults: undefined, log() {} };
    const pending = processProvider.run({ type: 'process', path: 'sh', arguments: ['-c', ${JSON.stringify(script)}] }, ctx);
    console.log('helper', (await spawnHelper()).pid);
    console.log('output', JSON.stringify(await pending));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FAULTLINE_SPAWN_HELPER: '' },
  });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    stdout += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Lines are read as they come: the helper's pid is needed while the activity runs.
  const line = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const look = () => new RegExp(`^${prefix} (.*)$`, 'm').exec(stdout)?.[1];
      const onData = () => {
        const found = look();
        if (found === undefined) return;
        child.stdout.off('data', onData);
        resolve(found);
      };
      child.stdout.on('data', onData);
      void exited.then(() => {
        const found = look();
        if (found === undefined) reject(new Error(`no '${prefix}' line in ${JSON.stringify(stdout)}`));
        else resolve(found);
      });
    });
  const output = line('output');
  output.catch(() => {}); // the SIGKILL case never prints it
  return { child, helperPid: line('helper').then(Number), output, exited };
}

function helperAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(HELPER_TAG);
  } catch {
    return false;
  }
}

test('no helper outlives Faultline: a Node process that ran an activity exits by itself, and its helper goes', {
  timeout: 60_000,
}, async () => {
  assert.ok(
    existsSync(join(ROOT, 'dist/providers/spawn-helper.js')),
    'dist/ is missing: run `npm run build` first',
  );
  const { helperPid, output, exited } = faultlineChild('echo hello');
  assert.deepEqual(JSON.parse(await output), { status: 0, stdout: 'hello\n', stderr: '' });
  // It exits without process.exit: the idle helper does not hold its event loop.
  assert.equal(await exited, 0);
  const pid = await helperPid;
  while (helperAlive(pid)) await new Promise((r) => setTimeout(r, 20));
});

test('no helper outlives a Faultline killed with SIGKILL mid-activity; the command lives on, as with spawn', {
  timeout: 60_000,
}, async () => {
  const pidFile = join(dir, 'command.pid');
  const marker = `100.${process.pid}4`;
  const { child, helperPid, exited } = faultlineChild(`echo $$ > '${pidFile}'; exec sleep ${marker}`);
  const pid = await helperPid;
  while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '')
    await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  await exited;
  while (helperAlive(pid)) await new Promise((r) => setTimeout(r, 20));
  // The command is in its own process group, as with spawn: Faultline's death does not end it.
  const command = Number(readFileSync(pidFile, 'utf8'));
  assert.deepEqual(processesWith('sleep', marker), [command]);
  process.kill(-command, 'SIGKILL');
  await noProcessWith('sleep', marker);
});
