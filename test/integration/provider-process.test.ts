import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { ActivityFailed } from '../../src/core/errors.js';
import type { ProcessProvider } from '../../src/core/schema.js';
import { buildCommand, expandUser, processProvider, resolveExecutable } from '../../src/providers/process.js';
import { activityContext } from '../helpers/activity-context.js';

type Output = { status: number; stdout: string; stderr: string };
const run = (provider: Omit<ProcessProvider, 'type'>, signal?: AbortSignal) =>
  processProvider.run(
    { type: 'process', ...provider } as ProcessProvider,
    activityContext(signal ? { signal } : {}),
  ) as Promise<Output>;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'faultline-process-'));
  writeFileSync(join(dir, 'tool.sh'), '#!/bin/sh\necho "tool:$1"\n');
  chmodSync(join(dir, 'tool.sh'), 0o755);
  writeFileSync(join(dir, 'plain.txt'), 'not executable');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'mytool'), '#!/bin/sh\necho mine\n');
  chmodSync(join(dir, 'bin', 'mytool'), 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('argv building (pure): list items stringified, null and "" dropped; strings go through /bin/sh', () => {
  assert.deepEqual(buildCommand('/bin/echo', ['a b', null, '', 3, 1.5, true, false]), {
    file: '/bin/echo',
    argv: ['a b', '3', '1.5', 'True', 'False'],
    shell: false,
  });
  assert.deepEqual(buildCommand('/bin/ls', '-la $HOME'), {
    file: '/bin/sh',
    argv: ['-c', '/bin/ls -la $HOME'],
    shell: true,
  });
  assert.deepEqual(buildCommand('/bin/x', { '-n': 3, '--flag': null }), {
    file: '/bin/x',
    argv: ['-n', '3', '--flag'],
    shell: false,
  });
  assert.deepEqual(buildCommand('/bin/x', undefined).argv, []);
});

test('path lookup: $PATH, ~ expansion, paths with a slash as given', () => {
  assert.match(resolveExecutable('sh')!, /\/sh$/);
  assert.equal(
    resolveExecutable('mytool', { env: { PATH: `/nonexistent:${join(dir, 'bin')}` } }),
    join(dir, 'bin', 'mytool'),
  );
  assert.equal(resolveExecutable('~/bin/mytool', { home: dir }), join(dir, 'bin', 'mytool'));
  assert.equal(expandUser('~', '/home/x'), '/home/x');
  assert.equal(expandUser('a/~', '/home/x'), 'a/~');
  assert.equal(resolveExecutable(join(dir, 'tool.sh')), join(dir, 'tool.sh'));
  assert.equal(resolveExecutable(join(dir, 'plain.txt')), undefined);
  assert.equal(resolveExecutable('faultline-no-such-tool'), undefined);
  assert.equal(resolveExecutable(dir), undefined, 'a directory is not an executable');
});

test("list arguments are exec'd directly: spaces are not split, nothing is expanded", async () => {
  const out = await run({ path: 'printf', arguments: ['%s|', 'a b', '$HOME', null, '', 42] });
  assert.deepEqual(out, { status: 0, stdout: 'a b|$HOME|42|', stderr: '' });
});

test('string arguments go through the shell: $HOME is expanded', async () => {
  const out = await run({ path: 'echo', arguments: '"$HOME" two  words' });
  assert.equal(out.stdout, `${process.env.HOME} two words\n`);
});

test('a relative path with a slash is resolved against the current directory', async () => {
  const out = await run({ path: `./${relative(process.cwd(), join(dir, 'tool.sh'))}`, arguments: ['x'] });
  assert.equal(out.stdout, 'tool:x\n');
});

test('non-zero exit codes do not fail; stderr is captured; a signal death is negative', async () => {
  const out = await run({ path: 'sh', arguments: ['-c', 'echo oops >&2; exit 3'] });
  assert.deepEqual(out, { status: 3, stdout: '', stderr: 'oops\n' });
  const killed = await run({ path: 'sh', arguments: ['-c', 'kill -9 $$'] });
  assert.equal(killed.status, -9);
});

test('output is decoded as utf-8', async () => {
  const out = await run({ path: 'printf', arguments: ['caf\\303\\251'] });
  assert.equal(out.stdout, 'café');
});

test('a timeout kills the process and fails with "process activity took too long to complete"', async () => {
  const started = Date.now();
  await assert.rejects(run({ path: 'sleep', arguments: ['10'], timeout: 0.2 }), (err: unknown) => {
    assert.ok(err instanceof ActivityFailed);
    assert.equal(err.message, 'process activity took too long to complete');
    return true;
  });
  assert.ok(Date.now() - started < 3000, 'sleep 10 was killed');
});

test("a timeout through the shell does not wait for the shell's children", async () => {
  const started = Date.now();
  // `sleep` holds stdout open: waiting for the pipes would take 10 s.
  await assert.rejects(
    run({ path: 'sh', arguments: '-c "sleep 10; echo done"', timeout: 0.2 }),
    /took too long/,
  );
  assert.ok(Date.now() - started < 3000);
});

test('an abort kills the whole process group, including what a shell started', {
  timeout: 15_000,
}, async () => {
  // A grandchild (node, started by the shell) connects back; its socket closes when it dies.
  const server = createServer();
  const connected = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const ac = new AbortController();
  const script = `require('net').connect(${port}, '127.0.0.1'); setTimeout(() => {}, 30000)`;
  const pending = run(
    { path: 'sh', arguments: `-c "'${process.execPath}' -e \\"${script}\\"; echo never"` },
    ac.signal,
  );
  pending.catch(() => {});
  const socket = await connected;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.resume();
  ac.abort(new Error('ctrl-c'));
  await assert.rejects(pending, /process activity was interrupted: ctrl-c/);
  await closed; // the grandchild is gone
  server.close();
});

test('an abort signal kills the process and rejects promptly', async () => {
  const ac = new AbortController();
  const pending = run({ path: 'sleep', arguments: ['10'] }, ac.signal);
  queueMicrotask(() => ac.abort(new Error('ctrl-c')));
  const started = Date.now();
  await assert.rejects(pending, /process activity was interrupted: ctrl-c/);
  assert.ok(Date.now() - started < 2000);
});

test('an unknown path fails the activity', async () => {
  await assert.rejects(
    run({ path: 'faultline-no-such-tool' }),
    /path 'faultline-no-such-tool' cannot be found/,
  );
});

test('check() reports a path that cannot be found or is not executable, at `path`', async () => {
  const check = (path: string) => processProvider.check!({ type: 'process', path }, { baseDir: dir });
  assert.deepEqual(await check('sh'), []);
  assert.deepEqual(await check('faultline-no-such-tool'), [
    { path: 'path', message: "path 'faultline-no-such-tool' cannot be found" },
  ]);
  const [issue] = await check(join(dir, 'plain.txt'));
  assert.equal(issue?.path, 'path');
  assert.match(issue!.message, /no access permission/);
});

test('reference §6 A/F: exit-code tolerances against real processes', async () => {
  const { checkTolerance } = await import('../../src/engine/tolerances/index.js');
  const tctx = { vars: {}, runProbe: async () => undefined };
  const out = await run({ path: 'echo', arguments: ['hello'] });
  assert.equal((await checkTolerance(0, out, tctx)).met, true);
  assert.equal((await checkTolerance(1, out, tctx)).met, false);
  assert.equal(
    (await checkTolerance({ type: 'regex', pattern: '^hello$', target: 'stdout' }, out, tctx)).met,
    true,
  );
});
