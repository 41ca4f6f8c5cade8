/**
 * Two control planes on one PostgreSQL (a scratch role and schema), each its
 * own host (FAULTLINE_HOME): 30 runs queued through both APIs are each
 * executed exactly once (every run's experiment appends its own name to a log
 * when it runs: each name is there once); a halt raised through one server
 * interrupts a run holding a marker fault on the other and reverts it there
 * (its watcher), neither claims while halted, a third server started while
 * halted applies the halt before it claims, and a server restarted after the
 * release finds its host flag lifted.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { haltState } from '../../src/faults/recovery.js';
import { type HaltServer, liveEvents, startHaltServer } from '../helpers/halt-server.js';
import { pgScratchRole, pgSkipReason, type ScratchRole } from '../helpers/pg.js';
import { markerExperiment, runEnded } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

/** An experiment whose one action appends `name` to `log`: one line per execution. */
function appendExperiment(log: string, name: string): string {
  return [
    `title: ${JSON.stringify(`append ${name}`)}`,
    'description: writes its name to a log when it runs',
    'method:',
    '  - type: action',
    '    name: append-name',
    '    provider:',
    '      type: process',
    `      path: ${JSON.stringify(process.execPath)}`,
    `      arguments: ["-e", "require('node:fs').appendFileSync(process.argv[1], process.argv[2] + '\\\\n')", ${JSON.stringify(log)}, ${JSON.stringify(name)}]`,
    '',
  ].join('\n');
}

describe('two servers on one PostgreSQL', async () => {
  const skip = await pgSkipReason();
  if (skip) console.log(`# skipping: ${skip}`);
  let scratch: ScratchRole | undefined;
  const servers: HaltServer[] = [];
  let dir: string | undefined;
  /** Homes a server was given (restarted on the same host): removed here, not by the server's close. */
  const homes: string[] = [];
  const closers: (() => void)[] = [];
  after(async () => {
    for (const close of closers) close();
    // A halt left raised would only matter to this scratch schema, but the hosts' flags and faults go too.
    for (const s of servers.reverse()) await s.close().catch(() => undefined);
    await scratch?.drop().catch(() => undefined);
    for (const h of [...homes, ...(dir ? [dir] : [])]) await rm(h, { recursive: true, force: true });
  });

  test('a run requested once is executed once; a halt through one server stops the other', {
    skip,
  }, async () => {
    scratch = await pgScratchRole('faultline_two');
    dir = await mkdtemp(join(tmpdir(), 'faultline-two-servers-'));
    const start = async (home?: string) => {
      const s = await startHaltServer({ database: scratch!.url(), ...(home ? { home } : {}) });
      servers.push(s);
      return s;
    };
    const a = await start();
    const b = await start();
    assert.notEqual(a.server.serverId, b.server.serverId);
    const opsA = await a.caller('ops-a', 'operator');
    const opsB = await b.caller('ops-b', 'operator');
    const approverA = await a.caller('approver-a', 'approver');

    // ------------------------------------------------ 30 runs through both APIs, each executed once
    const log = join(dir, 'executions.log');
    const names = Array.from({ length: 30 }, (_, i) => `quick-${i}`);
    for (const [i, name] of names.entries()) {
      const up = await (i % 2 ? opsB : opsA)('POST', '/api/experiments', {
        name,
        format: 'yaml',
        source: appendExperiment(log, name),
      });
      assert.equal(up.status, 201, up.text);
    }
    const ids: string[] = [];
    for (const [i, name] of names.entries()) {
      const r = await (i % 2 ? opsB : opsA)('POST', '/api/runs', { experiment: name });
      assert.equal(r.status, 202, r.text);
      ids.push(r.body.id);
    }
    const ended = await Promise.all(ids.map((id) => runEnded(a.store, id, 300_000)));
    for (const run of ended) assert.equal(run.verdict, 'passed', `${run.id}: ${run.reason ?? ''}`);
    const lines = (await readFile(log, 'utf8')).split('\n').filter(Boolean).sort();
    assert.deepEqual(lines, [...names].sort(), 'every run executed exactly once');
    const byServer = new Set(ended.map((r) => r.claimedBy));
    for (const id of byServer) assert.ok(id === a.server.serverId || id === b.server.serverId, String(id));

    // ------------------------------------------------ a halt through one server, a fault on the other
    const marker = join(dir, 'held.marker');
    const up = await opsB('POST', '/api/experiments', {
      name: 'held',
      format: 'yaml',
      source: markerExperiment(marker, { title: 'held', pause: 600 }),
    });
    assert.equal(up.status, 201, up.text);
    const held = await opsB('POST', '/api/runs', { experiment: 'held' });
    assert.equal(held.status, 202, held.text);
    const running = await until('the held run to run with its marker fault', async () => {
      const run = await a.store.getRun(held.body.id);
      return run?.status === 'running' && existsSync(marker) ? run : undefined;
    });
    // Whichever server claimed it, the halt is raised through the other one.
    const [runner, raiser] = running.claimedBy === a.server.serverId ? [a, b] : [b, a];
    const raiserOps = raiser === a ? opsA : opsB;
    await until('the fault in the running server’s ledger', async () => (await runner.faults()).length === 1);

    // The running server's /api/live viewers learn of the halt from its watcher.
    const live = await liveEvents(runner.url, (runner === a ? opsA : opsB).authorization);
    closers.push(() => live.close());
    await until('the first halt event', () => live.events.length > 0);
    assert.deepEqual(live.events[0], { event: 'halt', data: { halted: false } });
    const halted = await raiserOps('POST', '/api/halt', { reason: 'stop everything, both servers' });
    assert.equal(halted.status, 200, halted.text);
    assert.deepEqual(halted.body.runsInterrupted, [], 'the asked server was running nothing');
    const run = await runEnded(a.store, held.body.id);
    assert.equal(run.status, 'interrupted');
    assert.match(run.reason ?? '', /emergency stop by token:ops-[ab]: stop everything, both servers/);
    assert.ok(!existsSync(marker), 'the fault on the other server was reverted');
    assert.deepEqual(await runner.faults(), []);
    const flag = await until('the other host’s halt flag', () => haltState({ home: runner.home }));
    assert.match(flag.reason ?? '', /stop everything, both servers/);
    const told = await until('a halt event on the other server', () =>
      live.events.find((e) => e.event === 'halt' && e.data.halted),
    );
    assert.equal(told.data.reason, 'stop everything, both servers');
    assert.equal(told.data.since, halted.body.since);

    // ------------------------------------------------ neither server claims while halted
    const refused = await opsB('POST', '/api/runs', { experiment: 'quick-0' });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error.code, 'halted');
    // Queued straight into the database (as a run requested in the instant before the halt would be).
    const sneaked = await a.store.createRun({
      experiment: 'quick-1',
      experimentVersion: 1,
      title: 'queued while halted',
      tags: [],
      origin: 'server',
      requestedBy: 'test',
    });
    // A third server started while halted applies the halt before its run loop claims anything.
    const cHome = await mkdtemp(join(tmpdir(), 'faultline-third-host-'));
    homes.push(cHome);
    const c = await start(cHome);
    const cFlag = await haltState({ home: c.home });
    assert.match(cFlag?.reason ?? '', /stop everything, both servers/, 'applied during start-up');
    // Many polls of all three run loops (200 ms): the queued run is still queued.
    await sleep(1_500);
    assert.equal((await a.store.getRun(sneaked.id))?.status, 'queued');
    // The third server stops while halted: its host keeps the flag until it learns of the release.
    await c.close();
    servers.splice(servers.indexOf(c), 1);
    assert.ok(await haltState({ home: c.home }), "a stopped server's host stays halted");

    // ------------------------------------------------ released through the raiser: every host follows
    const released = await approverA('DELETE', '/api/halt');
    assert.equal(released.status, 200, released.text);
    await until(
      'the other host’s halt flag to be lifted',
      async () => (await haltState({ home: runner.home })) === null,
    );
    // Each host lifts its own flag when its server learns of the release: the raiser's may come second.
    await until(
      'the raiser’s host halt flag to be lifted',
      async () => (await haltState({ home: raiser.home })) === null,
    );
    await until('a release event on the other server', () =>
      live.events.some((e, i) => i > 0 && e.event === 'halt' && !e.data.halted),
    );
    live.close();
    const after = await runEnded(a.store, sneaked.id);
    assert.equal(after.verdict, 'passed', after.reason);
    const again = (await readFile(log, 'utf8')).split('\n').filter((l) => l === 'quick-1');
    assert.equal(again.length, 2, 'the queued run ran once after the release (quick-1 twice in all)');

    // ------------------------------------------------ the database goes away and comes back
    await scratch.disappear();
    const watcherProblems = () =>
      runner.problems.filter((p) => p.startsWith('cannot read the emergency stop from the database'));
    await until('the watcher to report the database away', () => watcherProblems().length > 0);
    // Several more polls (200 ms) while it is away: said once, and the server still answers.
    await sleep(1_500);
    assert.equal(watcherProblems().length, 1, runner.problems.join('\n'));
    assert.equal((await fetch(`${runner.url}/api/health`)).status, 503);
    await scratch.comeBack();
    await until('the server to be healthy again', async () => (await fetch(`${runner.url}/api/health`)).ok);
    const raisedAgain = await raiserOps('POST', '/api/halt', { reason: 'after the outage' });
    assert.equal(raisedAgain.status, 200, raisedAgain.text);
    await until('the watcher to follow again', async () =>
      /after the outage/.test((await haltState({ home: runner.home }))?.reason ?? ''),
    );
    assert.equal((await approverA('DELETE', '/api/halt')).status, 200);
    await until('the flag lifted again', async () => (await haltState({ home: runner.home })) === null);

    // The third server's host, started again: the release happened while it was down.
    const c2 = await start(c.home);
    assert.equal(await haltState({ home: c2.home }), null, 'a flag of a released halt is lifted at start');
    await c2.close();
    servers.splice(servers.indexOf(c2), 1);
  });
});
