/**
 * Exactly once with several servers on one PostgreSQL (a scratch role and schema): one server in this
 * process and one in a child process tick the same schedule every 2 s; the child is killed (SIGKILL)
 * right at a due time, and every due time from the first firing to the last has exactly one firing
 * record and one run — none twice, none lost — whichever server recorded it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pgScratchRole, pgSkipReason, type ScratchRole } from '../helpers/pg.js';
import { runEnded, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';
import { type FiringBody, quickExperiment } from './server-schedules-fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A server in a process of its own, so it can be killed: it prints its URL and id once listening. */
function childScript(): string {
  const src = (p: string) => JSON.stringify(pathToFileURL(join(ROOT, p)).href);
  return [
    `import { openStore } from ${src('src/server/db/index.ts')};`,
    `import { startServer } from ${src('src/server/server.ts')};`,
    'const [database, home] = process.argv.slice(2);',
    'const store = await openStore({ home, database });',
    'const server = await startServer({ store, home, port: 0, pollMs: 200, schedulePollMs: 500 });',
    'process.stdout.write(`${JSON.stringify({ url: server.url, serverId: server.serverId })}\\n`);',
    '',
  ].join('\n');
}

describe('schedules on two servers sharing PostgreSQL', async () => {
  const skip = await pgSkipReason();
  if (skip) console.log(`# skipping: ${skip}`);
  let scratch: ScratchRole | undefined;
  let a: TestServer | undefined;
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await a?.close().catch(() => undefined);
    await scratch?.drop().catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('every due time fires exactly once, also when a server is killed at a fire time', {
    skip,
  }, async () => {
    scratch = await pgScratchRole('faultline_sched');
    dir = await mkdtemp(join(tmpdir(), 'faultline-schedules-two-'));
    const t = await startTestServer({ database: scratch.url(), serve: { schedulePollMs: 500 } });
    a = t;
    const script = join(dir, 'server.mts');
    await writeFile(script, childScript());
    const childHome = join(dir, 'home-b');
    const b = spawn(process.execPath, ['--import', 'tsx', script, scratch.url(), childHome], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = b;
    let out = '';
    let err = '';
    b.stdout?.on('data', (d) => {
      out += d;
    });
    b.stderr?.on('data', (d) => {
      err += d;
    });
    const info = await until(
      'the child server to listen',
      () => {
        if (b.exitCode !== null) throw new Error(`the child server exited: ${err}`);
        const line = out.split('\n')[0];
        return out.includes('\n') && line
          ? (JSON.parse(line) as { url: string; serverId: string })
          : undefined;
      },
      120_000,
    );
    assert.notEqual(info.serverId, t.server.serverId);

    const up = await t.api('POST', '/api/experiments', {
      name: 'quick',
      format: 'yaml',
      source: quickExperiment(),
    });
    assert.equal(up.status, 201, up.text);
    const created = await t.api('POST', '/api/schedules', {
      name: 'both',
      experiment: 'quick',
      timing: { cron: '*/2 * * * * *' },
      concurrencyPolicy: 'allow',
      historyLimit: 1000,
    });
    assert.equal(created.status, 201, created.text);
    const list = async (): Promise<FiringBody[]> => {
      const r = await t.api('GET', '/api/schedules/both/firings?limit=1000');
      assert.equal(r.status, 200, r.text);
      return (r.body.firings as FiringBody[]).slice().reverse();
    };
    // The child sees the schedule through its poll (another server's change) and ticks it too.
    const fromB = await fetch(`${info.url}/api/schedules/both`);
    assert.equal(fromB.status, 200);
    // Both servers race for every firing: wait until the child has won one (it fires too, not only watches).
    await until(
      'firings recorded by each server',
      async () => {
        const fs = await list();
        return (
          fs.length >= 3 &&
          fs.some((f) => f.server === info.serverId) &&
          fs.some((f) => f.server === t.server.serverId)
        );
      },
      120_000,
    );

    // Kill the child right at the next due time (the calendar, not an assertion on time).
    const view = await t.api('GET', '/api/schedules/both');
    const next = new Date(view.body.nextFires[0]).getTime();
    await sleep(Math.max(0, next - Date.now()));
    b.kill('SIGKILL');
    const killedAt = Date.now();
    await until('the child to die', () => b.exitCode !== null || b.signalCode !== null);
    const fs = await until(
      'four firings after the kill',
      async () => {
        const all = await list();
        return all.filter((f) => new Date(f.due).getTime() > killedAt).length >= 4 ? all : undefined;
      },
      60_000,
    );
    await t.api('POST', '/api/schedules/both/pause');

    // Exactly once: one record per due time (the key), consecutive due times 2 s apart (none lost),
    // each fired with a run of its own, and the runs of the schedule are exactly those.
    assert.ok(
      fs.some((f) => Math.abs(new Date(f.due).getTime() - next) < 1),
      'the due time of the kill was fired',
    );
    for (let i = 1; i < fs.length; i++) {
      const gap =
        new Date((fs[i] as FiringBody).due).getTime() - new Date((fs[i - 1] as FiringBody).due).getTime();
      assert.equal(gap, 2000, `due times ${fs[i - 1]?.due} then ${fs[i]?.due}`);
    }
    for (const f of fs) {
      assert.equal(f.outcome, 'fired', JSON.stringify(f));
      assert.ok(f.run);
      assert.ok(f.server === t.server.serverId || f.server === info.serverId, f.server);
    }
    for (const f of fs.filter((f) => new Date(f.due).getTime() > killedAt))
      assert.equal(f.server, t.server.serverId, 'after the kill only the live server records');
    const runIds = fs.map((f) => f.run as string);
    assert.equal(new Set(runIds).size, runIds.length, 'no run twice');
    const runs = (await t.store.listRuns({ limit: 500 })).runs.filter((r) => r.schedule === created.body.id);
    const firingsNow = await list();
    assert.deepEqual(
      runs.map((r) => r.id).sort(),
      firingsNow.map((f) => f.run).sort(),
      'one run per firing, no other',
    );
    // The runs the live server claimed pass; one the killed server held stays its own (it never comes back).
    for (const r of runs.filter((r) => r.claimedBy !== info.serverId)) {
      const ended = await runEnded(t.store, r.id);
      assert.equal(ended.verdict, 'passed', ended.reason);
    }
  });
});

describe('replace across two servers on PostgreSQL', async () => {
  const skip = await pgSkipReason();
  let scratch: ScratchRole | undefined;
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.api('POST', '/api/schedules/replacing/pause').catch(() => undefined);
    for (const s of servers.reverse()) await s.close().catch(() => undefined);
    await scratch?.drop().catch(() => undefined);
  });

  test('a firing recorded by one server stops the previous run where it runs, also on the other server', {
    skip,
  }, async () => {
    scratch = await pgScratchRole('faultline_sched_replace');
    const a = await startTestServer({ database: scratch.url(), serve: { schedulePollMs: 300 } });
    servers.push(a);
    const b = await startTestServer({ database: scratch.url(), serve: { schedulePollMs: 300 } });
    servers.push(b);
    const ids = new Set([a.server.serverId, b.server.serverId]);
    const up = await a.api('POST', '/api/experiments', {
      name: 'holds-on',
      format: 'yaml',
      source: [
        'title: holds on',
        'description: an action that lasts until it is stopped',
        'method:',
        '  - type: action',
        '    name: wait',
        `    provider: { type: process, path: ${JSON.stringify(process.execPath)}, arguments: ["-e", "setTimeout(() => {}, 600000)"], timeout: 900 }`,
        '',
      ].join('\n'),
    });
    assert.equal(up.status, 201, up.text);
    const created = await a.api('POST', '/api/schedules', {
      name: 'replacing',
      experiment: 'holds-on',
      timing: { cron: '@every 2s' },
      concurrencyPolicy: 'replace',
      historyLimit: 1000,
    });
    assert.equal(created.status, 201, created.text);
    // A run replaced by a firing the other server recorded: that server asked, this one stopped it.
    const crossed = await until(
      'a run replaced by a firing recorded on the other server',
      async () => {
        const firings = (await a.api('GET', '/api/schedules/replacing/firings?limit=1000')).body
          .firings as FiringBody[];
        const byRun = new Map(firings.filter((f) => f.run).map((f) => [f.run as string, f]));
        const runs = (await a.store.listRuns({ limit: 500 })).runs.filter(
          (r) => r.schedule === created.body.id,
        );
        for (const r of runs) {
          if (r.status !== 'interrupted' || !/replaced by a newer run/.test(r.reason ?? '')) continue;
          // The firing after the one that queued r is the one that replaced it.
          const mine = byRun.get(r.id);
          const next = firings
            .filter((f) => f.outcome === 'fired' && mine && f.due > mine.due)
            .sort((x, y) => x.due.localeCompare(y.due))[0];
          if (next && r.claimedBy && next.server !== r.claimedBy) return { run: r, by: next };
        }
        return undefined;
      },
      180_000,
    );
    assert.ok(ids.has(crossed.by.server) && ids.has(crossed.run.claimedBy as string));
    assert.match(crossed.run.reason ?? '', /concurrency policy replace/);
    for (const s of servers) await s.api('POST', '/api/schedules/replacing/pause');
    // Everything still running is stopped through the server running it; every run ends.
    await until(
      'every run of the schedule to end',
      async () => {
        const runs = (await a.store.listRuns({ limit: 500 })).runs.filter(
          (r) => r.schedule === created.body.id,
        );
        for (const r of runs)
          if (r.status === 'queued' || r.status === 'running')
            for (const s of servers) await s.api('POST', `/api/runs/${r.id}/abort`);
        return runs.every((r) => r.status === 'finished' || r.status === 'interrupted');
      },
      120_000,
    );
  });
});
