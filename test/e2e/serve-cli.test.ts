/**
 * `faultline serve` as users run it, the built CLI in child processes: it
 * prints its real URL (`--port 0`), refuses a non-loopback address (exit 2),
 * `run --server` and `push` land runs in its history (a push that fails only
 * warns), SIGTERM mid-run interrupts the run and reverts its fault before the
 * server exits, and a server killed with SIGKILL mid-run finds its run at
 * restart: marked interrupted with the reason, its fault reverted.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type Cli, cliSuite, runCli, startCli } from '../helpers/cli.js';
import { ledgerFiles } from '../helpers/faults.js';
import { closedPort } from '../helpers/http-raw.js';
import { markerExperiment } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

const suite = cliSuite('faultline-serve-cli-');
const servers = new Set<Cli>();

after(async () => {
  for (const s of servers) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    await s.done;
  }
});

async function serve(args: string[] = []): Promise<{ cli: Cli; url: string }> {
  const cli = startCli(['serve', '--port', '0', '--database', join(suite.work, 'faultline.db'), ...args], {
    env: suite.env,
  });
  servers.add(cli);
  await cli.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/, 60_000);
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.stderr() + cli.stdout())?.[1];
  assert.ok(url);
  return { cli, url };
}

async function api(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function stop(cli: Cli): Promise<number | null> {
  cli.child.kill('SIGTERM');
  const r = await cli.done;
  servers.delete(cli);
  return r.code;
}

describe('faultline serve (built CLI)', () => {
  test('a non-loopback --host without an admin user is refused with exit 2 and says why', async () => {
    const r = await runCli(['serve', '--host', '0.0.0.0', '--port', '0'], { env: suite.env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--host 0\.0\.0\.0: .*no admin user yet/);
    assert.doesNotMatch(r.stderr, /\bat .+\.js:\d+/);
    const bad = await runCli(['serve', '--port', 'http'], { env: suite.env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--port: expected a port number/);
  });

  test('a database it cannot reach stops the start with one line, without the password', async () => {
    const port = await closedPort();
    const r = await runCli(
      ['serve', '--port', '0', '--database', `postgres://app:hunter2@127.0.0.1:${port}/test`],
      {
        env: suite.env,
      },
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
    assert.doesNotMatch(r.stderr, /\bat .+\.js:\d+/);
    assert.doesNotMatch(r.stderr, /listening on/);
  });

  test('run --server and push land runs in the history; a failed push only warns', async () => {
    const { cli, url } = await serve();
    try {
      const marker = join(suite.work, 'cli-run.marker');
      const exp = join(suite.work, 'exp.yaml');
      await writeFile(exp, markerExperiment(marker, { title: 'from the cli', tags: ['cli'] }));
      const journal = join(suite.work, 'journal.json');
      const run = await runCli(['run', exp, '--journal-path', journal, '--server', url], { env: suite.env });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /pushed to http:\/\/127\.0\.0\.1:\d+: run [0-9a-f-]{36} \(passed\)/);
      assert.ok(!existsSync(marker));

      const pushed = await runCli(['push', journal, '--server', url, '--tag', 'again'], { env: suite.env });
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.match(pushed.stderr, /journal\.json: pushed to .*\(passed\)/);
      const list = await api(url, 'GET', '/api/runs?tags=cli');
      assert.equal(list.body.runs.length, 2);
      assert.ok(list.body.runs.every((r: any) => r.origin === 'push' && r.verdict === 'passed'));
      assert.equal((await api(url, 'GET', '/api/runs?tags=cli,again')).body.runs.length, 1);

      const dead = `http://127.0.0.1:${await closedPort()}`;
      const offline = await runCli(['run', exp, '--journal-path', journal, '--server', dead], {
        env: suite.env,
      });
      assert.equal(offline.code, 0, 'a failed push does not change the exit code');
      assert.match(offline.stderr, /--server: the journal was not pushed: cannot reach the server/);
      const pushDead = await runCli(['push', journal, '--server', dead], { env: suite.env });
      assert.equal(pushDead.code, 1);
      assert.match(pushDead.stderr, /cannot reach the server/);
      const notJournal = await runCli(['push', exp, '--server', url], { env: suite.env });
      assert.equal(notJournal.code, 2, notJournal.stderr);
      const badUrl = await runCli(['push', journal, '--server', 'ftp://x'], { env: suite.env });
      assert.equal(badUrl.code, 2);
      assert.match(badUrl.stderr, /--server: expected an http\(s\) URL/);
    } finally {
      assert.equal(await stop(cli), 0);
    }
  });

  test('SIGTERM mid-run: the run is interrupted, its fault reverted, then the server exits', async () => {
    const marker = join(suite.work, 'sigterm.marker');
    const { cli, url } = await serve();
    let stopped = false;
    try {
      const up = await api(url, 'POST', '/api/experiments', {
        name: 'sigterm',
        format: 'yaml',
        source: markerExperiment(marker, { pause: 600 }),
      });
      assert.equal(up.status, 201);
      const queued = await api(url, 'POST', '/api/runs', { experiment: 'sigterm' });
      await until('the fault to be injected', () => existsSync(marker), 60_000);
      assert.equal(await stop(cli), 0);
      stopped = true;
      assert.ok(!existsSync(marker), 'reverted before the server exited');
      const again = await serve();
      try {
        const run = await api(again.url, 'GET', `/api/runs/${queued.body.id}`);
        assert.equal(run.body.status, 'interrupted');
        assert.equal(run.body.journal.status, 'interrupted');
      } finally {
        assert.equal(await stop(again.cli), 0);
      }
    } finally {
      if (!stopped) await stop(cli);
    }
  });

  test('kill -9 mid-run, restart: the run is interrupted with its reason and its fault reverted', async () => {
    const marker = join(suite.work, 'sigkill.marker');
    const first = await serve();
    const up = await api(first.url, 'POST', '/api/experiments', {
      name: 'sigkill',
      format: 'yaml',
      source: markerExperiment(marker, { pause: 600 }),
    });
    assert.equal(up.status, 201);
    const queued = await api(first.url, 'POST', '/api/runs', { experiment: 'sigkill' });
    await until('the fault to be injected', () => existsSync(marker), 60_000);
    await until(
      'the run to be running',
      async () => (await api(first.url, 'GET', `/api/runs/${queued.body.id}`)).body.status === 'running',
    );
    // Killed once the fault is recorded active (with the marker's identity): killed between creating
    // the file and recording it, recovery rightly leaves a file it cannot prove is its own.
    const home = String(suite.env.FAULTLINE_HOME);
    await until('the fault to be recorded active in the ledger', async () => {
      for (const f of await ledgerFiles(home)) {
        // An entry moves while it is updated (claimed, rewritten): a read that misses it is a miss.
        const text = await readFile(join(home, 'ledger', f), 'utf8').catch(() => '{}');
        if ((JSON.parse(text) as { state?: string }).state === 'active') return true;
      }
      return false;
    });
    first.cli.child.kill('SIGKILL');
    await first.cli.done;
    servers.delete(first.cli);

    const second = await serve();
    try {
      await until('the fault to be reverted', () => !existsSync(marker), 60_000);
      const run = await api(second.url, 'GET', `/api/runs/${queued.body.id}`);
      assert.equal(run.body.status, 'interrupted');
      assert.match(run.body.reason, /the server stopped while the run was running/);
      assert.match(second.cli.stderr(), new RegExp(`run ${queued.body.id} .* marked interrupted`));
      const workDirs = join(String(suite.env.FAULTLINE_HOME), 'server', 'work');
      assert.deepEqual(
        existsSync(workDirs)
          ? (await readdir(workDirs, { recursive: true })).filter((f) => f.endsWith('.yaml'))
          : [],
        [],
        'the work folder of the killed run was removed at restart',
      );
      const health = await api(second.url, 'GET', '/api/health');
      assert.equal(health.body.ok, true);
    } finally {
      assert.equal(await stop(second.cli), 0);
    }
  });
});
