/**
 * Unbounded input to providers (issue #13 item 10): a process with endless
 * output kept 2.1 GB in 20 s, and `module: /dev/zero` hung the run reading
 * 2 GB. Outputs are capped per stream (read to the end, truncated with a
 * marker), module files must be regular files of bounded size.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeProvider, ProcessProvider } from '../../src/core/schema.js';
import { httpProvider } from '../../src/providers/http.js';
import { nodeProvider } from '../../src/providers/node.js';
import { processProvider } from '../../src/providers/process.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../../src/providers/util.js';
import { activityContext } from '../helpers/activity-context.js';
import { startServer } from '../helpers/server.js';

type Out = { status: number; stdout: string; stderr: string };
const sh = (script: string, timeout?: number): ProcessProvider => ({
  type: 'process',
  path: 'sh',
  arguments: ['-c', script],
  ...(timeout === undefined ? {} : { timeout }),
});

test('3 MiB of stdout: the first 1 MiB is kept with a marker, the process is read to its end', async () => {
  const ctx = activityContext();
  const out = (await processProvider.run(
    sh('head -c 3145728 /dev/zero | tr "\\0" a; echo finished >&2'),
    ctx,
  )) as Out;
  assert.equal(out.status, 0);
  assert.equal(out.stderr, 'finished\n', 'the process ran to its end');
  const [kept, marker] = out.stdout.split('\n[faultline: ');
  assert.equal(kept, 'a'.repeat(DEFAULT_MAX_OUTPUT_BYTES));
  assert.match(marker!, /kept the first 1048576 bytes, dropped 2097152 more \(FAULTLINE_MAX_OUTPUT_BYTES\)/);
  assert.ok(ctx.logs.some((l) => l.level === 'warn' && /stdout truncated to 1048576 bytes/.test(l.message)));
});

test('endless output until the timeout: killed, nothing more than the cap kept', async () => {
  // `yes` never stops; before the fix every byte was kept until the timeout.
  await assert.rejects(processProvider.run(sh('yes', 1), activityContext()), /took too long/);
});

test('FAULTLINE_MAX_OUTPUT_BYTES sets the cap; a bad value fails naming the variable', async () => {
  const saved = process.env.FAULTLINE_MAX_OUTPUT_BYTES;
  try {
    process.env.FAULTLINE_MAX_OUTPUT_BYTES = '2048';
    const out = (await processProvider.run(
      sh('head -c 5000 /dev/zero | tr "\\0" b'),
      activityContext(),
    )) as Out;
    assert.ok(out.stdout.startsWith(`${'b'.repeat(2048)}\n[faultline: output truncated`));
    process.env.FAULTLINE_MAX_OUTPUT_BYTES = 'lots';
    await assert.rejects(
      processProvider.run(sh('true'), activityContext()),
      /FAULTLINE_MAX_OUTPUT_BYTES: expected a whole number of bytes, at least 1024, got 'lots'/,
    );
  } finally {
    if (saved === undefined) delete process.env.FAULTLINE_MAX_OUTPUT_BYTES;
    else process.env.FAULTLINE_MAX_OUTPUT_BYTES = saved;
  }
});

test('module: /dev/zero is refused, at run time and by validation, instead of read forever', async () => {
  const provider: NodeProvider = { type: 'node', module: '/dev/zero', func: 'f' };
  await assert.rejects(
    nodeProvider.run(provider, activityContext()),
    /module '\/dev\/zero' is not a regular file/,
  );
  const issues = await nodeProvider.check!(provider, { baseDir: process.cwd() });
  assert.equal(issues[0]?.path, 'module');
  assert.match(issues[0]!.message, /not a regular file/);
});

test('an http body without end is cut at the cap (text: marker; JSON: the activity fails naming the limit)', async () => {
  // Answers every request with a body that never ends, until the client goes away.
  const server = await startServer((req, res) => {
    res.setHeader('content-type', req.url === '/json' ? 'application/json' : 'text/plain');
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) {}
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  try {
    const ctx = activityContext();
    const out = (await httpProvider.run({ type: 'http', url: `${server.url}/text` }, ctx)) as {
      body: string;
    };
    const [kept, marker] = out.body.split('\n[faultline: ');
    assert.equal(kept, 'x'.repeat(DEFAULT_MAX_OUTPUT_BYTES));
    assert.match(marker!, /kept the first 1048576 bytes of a longer body/);
    assert.ok(ctx.logs.some((l) => /body truncated to 1048576 bytes/.test(l.message)));
    await assert.rejects(
      httpProvider.run({ type: 'http', url: `${server.url}/json` }, activityContext()),
      /is larger than 1048576 bytes \(FAULTLINE_MAX_OUTPUT_BYTES\): not parsed as JSON/,
    );
  } finally {
    await server.close();
  }
});
