/**
 * Schedules in real time against a real server (port 0, SQLite): a schedule firing every 2 s runs a
 * real marker-file fault through the run loop (runs pass, origin `schedule`, the fault reverted), pause
 * stops its firings and resume brings them back (a witness schedule proves time went by), the forbid
 * policy records skipped firings while a long run holds on, replace interrupts the previous run, and
 * the missed-run policies (skip, run-once, run-all) deal with what fell due while the server was
 * stopped and started again on the same SQLite file. Everything waits for outcomes, never for time.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore } from '../../src/server/db/index.js';
import { type RunningServer, startServer } from '../../src/server/server.js';
import type { Store } from '../../src/server/store.js';
import { tempHome } from '../helpers/home.js';
import { markerExperiment, runEnded, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';
import { type FiringBody, quickExperiment } from './server-schedules-fixtures.js';

async function firings(t: Pick<TestServer, 'api'>, name: string): Promise<FiringBody[]> {
  const r = await t.api('GET', `/api/schedules/${name}/firings?limit=1000`);
  assert.equal(r.status, 200, r.text);
  return r.body.firings;
}

describe('schedules in real time', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ serve: { schedulePollMs: 500 } });
  });
  after(async () => {
    await t?.close();
  });

  test('fires every 2 s: runs of a real fault pass with origin schedule; pause stops it, resume fires again', async () => {
    const marker = join(t.dir, 'scheduled.marker');
    for (const [name, source] of [
      ['marker', markerExperiment(marker, { title: 'scheduled marker' })],
      ['quick', quickExperiment('witness')],
    ]) {
      const up = await t.api('POST', '/api/experiments', { name, format: 'yaml', source });
      assert.equal(up.status, 201, up.text);
    }
    const created = await t.api('POST', '/api/schedules', {
      name: 'every-2s',
      experiment: 'marker',
      timing: { cron: '*/2 * * * * *' },
      tags: ['scheduled'],
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.concurrencyPolicy, 'forbid');
    assert.equal(created.body.nextFires.length, 5);
    for (const at of created.body.nextFires) assert.equal(new Date(at).getUTCSeconds() % 2, 0, at);
    const id = created.body.id;

    const passed = await until(
      'two scheduled runs to pass',
      async () => {
        const runs = (await t.store.listRuns({ limit: 500 })).runs.filter((r) => r.schedule === id);
        const done = runs.filter((r) => r.status === 'finished' && r.verdict === 'passed');
        return done.length >= 2 ? done : undefined;
      },
      120_000,
    );
    for (const run of passed) {
      assert.equal(run.origin, 'schedule');
      assert.equal(run.requestedBy, 'schedule:every-2s');
      assert.ok(run.tags.includes('scheduled') && run.tags.includes('server-test'), run.tags.join());
      const full = await t.store.getRun(run.id);
      const journal = full?.journal as { faultline: { faults: unknown[]; unreverted: unknown[] } };
      assert.equal(journal.faultline.faults.length, 1, 'the run injected its marker fault');
      assert.deepEqual(journal.faultline.unreverted, [], 'and reverted it');
    }
    const fired = (await firings(t, 'every-2s')).filter((f) => f.outcome === 'fired');
    assert.ok(fired.length >= 2);
    for (const f of fired) {
      assert.equal(f.server, t.server.serverId);
      assert.ok(f.run, 'a fired firing names its run');
      assert.ok(new Date(f.firedAt) >= new Date(f.due), `${f.firedAt} before ${f.due}`);
    }

    // Pause; once its last run ended, the fault is gone and no firing comes after the pause.
    const paused = await t.api('POST', '/api/schedules/every-2s/pause');
    assert.equal(paused.status, 200, paused.text);
    assert.equal(paused.body.paused, true);
    assert.deepEqual(paused.body.nextFires, []);
    const pausedAt = paused.body.updatedAt;
    await until('the paused schedule’s runs to end', async () => {
      const runs = (await t.store.listRuns({ limit: 500 })).runs.filter((r) => r.schedule === id);
      return runs.every((r) => r.status === 'finished' || r.status === 'interrupted');
    });
    assert.ok(!existsSync(marker), 'the marker fault was reverted');
    assert.deepEqual(await t.home.activeFaults(), []);

    // A witness schedule fires twice: time went by, and the paused one fired nothing meanwhile.
    const witness = await t.api('POST', '/api/schedules', {
      name: 'witness',
      experiment: 'quick',
      timing: { cron: '*/2 * * * * *' },
      historyLimit: 3,
    });
    assert.equal(witness.status, 201, witness.text);
    await until('the witness to fire twice', async () => (await firings(t, 'witness')).length >= 2, 60_000);
    const afterPause = (await firings(t, 'every-2s')).filter((f) => f.firedAt > pausedAt);
    assert.deepEqual(afterPause, [], 'nothing fired while paused');

    const resumed = await t.api('POST', '/api/schedules/every-2s/resume');
    assert.equal(resumed.status, 200, resumed.text);
    assert.equal(resumed.body.paused, false);
    const resumedAt = resumed.body.updatedAt;
    const again = await until(
      'a firing after the resume',
      async () => (await firings(t, 'every-2s')).find((f) => f.due > resumedAt && f.outcome === 'fired'),
      60_000,
    );
    assert.ok(again.run);
    // No catch-up of what fell due while paused: nothing due between the pause and the resume.
    const between = (await firings(t, 'every-2s')).filter((f) => f.due > pausedAt && f.due <= resumedAt);
    assert.deepEqual(between, []);

    // The witness keeps its last 3 firings' records; its runs all stay in the history.
    const witnessRuns = await until('the witness to have fired four times', async () => {
      const runs = (await t.store.listRuns({ limit: 500 })).runs.filter(
        (r) => r.schedule === witness.body.id,
      );
      return runs.length >= 4 ? runs : undefined;
    });
    const kept = await firings(t, 'witness');
    assert.equal(kept.length, 3, JSON.stringify(kept));
    // The newest three: consecutive due times, and none older than a record that was dropped.
    for (let i = 1; i < kept.length; i++)
      assert.equal(
        Date.parse((kept[i - 1] as FiringBody).due) - Date.parse((kept[i] as FiringBody).due),
        2000,
      );
    const oldestRunDue = witnessRuns.map((r) => r.requestedAt).sort()[0] as string;
    assert.ok((kept[2] as FiringBody).due > oldestRunDue, 'the oldest firings were the ones dropped');
    for (const name of ['every-2s', 'witness']) {
      const del = await t.api('DELETE', `/api/schedules/${name}`);
      assert.equal(del.status, 204, del.text);
    }
    const gone = await t.api('GET', '/api/schedules/every-2s');
    assert.equal(gone.status, 404);
    await runEnded(t.store, again.run as string);
    await until('every scheduled run to end', async () => {
      const { queued, running } = await t.store.countActiveRuns();
      return queued === 0 && running === 0;
    });
    assert.ok(!existsSync(marker), 'the marker fault was reverted');
    // The audit log has each change, by the request's actor.
    const audit = await t.store.listAudit({ limit: 100 });
    const actions = audit.filter((a) => a.subject === 'every-2s').map((a) => a.action);
    for (const a of ['schedule.create', 'schedule.pause', 'schedule.resume', 'schedule.delete'])
      assert.ok(actions.includes(a), `${a} in ${actions.join()}`);
  });

  test('forbid skips a firing while the previous run holds on; replace interrupts it and reverts its fault', async () => {
    const marker = join(t.dir, 'long.marker');
    const up = await t.api('POST', '/api/experiments', {
      name: 'long',
      format: 'yaml',
      source: markerExperiment(marker, { title: 'longer than the interval', pause: 600 }),
    });
    assert.equal(up.status, 201, up.text);
    const created = await t.api('POST', '/api/schedules', {
      name: 'forbid',
      experiment: 'long',
      timing: { cron: '@every 1s' },
    });
    assert.equal(created.status, 201, created.text);
    const skipped = await until(
      'a firing skipped by the forbid policy',
      async () => (await firings(t, 'forbid')).find((f) => f.outcome === 'skipped'),
      60_000,
    );
    assert.match(
      skipped.reason ?? '',
      /previous run .* is still (queued|running) \(concurrency policy forbid\)/,
    );
    assert.equal(skipped.run, undefined);
    const first = (await firings(t, 'forbid')).find((f) => f.outcome === 'fired');
    assert.ok(first?.run);

    // Replace: the next firing interrupts the long run (its fault reverted) and queues its own.
    await until('the long run to hold its marker', async () => existsSync(marker));
    const changed = await t.api('PUT', '/api/schedules/forbid', {
      experiment: 'long',
      timing: { cron: '@every 1s' },
      concurrencyPolicy: 'replace',
    });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.concurrencyPolicy, 'replace');
    const replaced = await runEnded(t.store, first.run);
    assert.equal(replaced.status, 'interrupted');
    assert.match(replaced.reason ?? '', /replaced by a newer run of schedule forbid/);
    const paused = await t.api('POST', '/api/schedules/forbid/pause');
    assert.equal(paused.status, 200);
    // The newest run (queued by the replacing firing) is aborted through the API, and everything ends.
    await until('every run of the schedule to end', async () => {
      const runs = (await t.store.listRuns({ limit: 500 })).runs.filter(
        (r) => r.schedule === created.body.id,
      );
      for (const r of runs)
        if (r.status === 'queued' || r.status === 'running') await t.api('POST', `/api/runs/${r.id}/abort`);
      return runs.every((r) => r.status === 'finished' || r.status === 'interrupted');
    });
    assert.ok(!existsSync(marker), 'the marker fault was reverted');
    const del = await t.api('DELETE', '/api/schedules/forbid');
    assert.equal(del.status, 204);
  });

  test('targets picked at random within the blast radius go into the run; the emergency stop skips firings', async () => {
    // The settings file's blast radius caps the picks (3 asked, at most 2 allowed).
    const settings = join(t.home.home, 'settings.yaml');
    await writeFile(settings, 'blast_radius:\n  max_targets: 2\n');
    try {
      const up = await t.api('POST', '/api/experiments', {
        name: 'picked',
        format: 'yaml',
        source: quickExperiment('picked targets'),
      });
      assert.equal(up.status, 201, up.text);
      const candidates = ['web-1', 'web-2', 'web-3', 'web-4'];
      const created = await t.api('POST', '/api/schedules', {
        name: 'monkey-targets',
        experiment: 'picked',
        timing: { cron: '@every 1s' },
        concurrencyPolicy: 'allow',
        targets: { candidates, count: 3, configurationKey: 'victims' },
      });
      assert.equal(created.status, 201, created.text);
      const fired = await until('a firing with its run', async () =>
        (await firings(t, 'monkey-targets')).find((f) => f.outcome === 'fired'),
      );
      const run = await runEnded(t.store, fired.run as string);
      assert.equal(run.verdict, 'passed', run.reason);
      const victims = run.configuration?.victims as string[];
      assert.equal(victims.length, 2, JSON.stringify(run.configuration));
      assert.equal(new Set(victims).size, 2);
      for (const v of victims) assert.ok(candidates.includes(v), v);

      const halt = await t.api('POST', '/api/halt', { reason: 'schedules must wait' });
      assert.equal(halt.status, 200, halt.text);
      const skipped = await until('a firing skipped by the emergency stop', async () =>
        (await firings(t, 'monkey-targets')).find(
          (f) => f.outcome === 'skipped' && /emergency stop/.test(f.reason ?? ''),
        ),
      );
      assert.match(skipped.reason ?? '', /schedules must wait/);
      assert.equal(skipped.run, undefined);
      const released = await t.api('DELETE', '/api/halt');
      assert.equal(released.status, 200, released.text);
      assert.equal((await t.api('DELETE', '/api/schedules/monkey-targets')).status, 204);
      await until('every run to end', async () => {
        const { queued, running } = await t.store.countActiveRuns();
        return queued === 0 && running === 0;
      });
    } finally {
      await rm(settings, { force: true });
    }
  });

  test('a production experiment without a standing approval, and a blackout, skip firings with the reason', async () => {
    const up = await t.api('POST', '/api/experiments', {
      name: 'prod-check',
      format: 'yaml',
      source: markerExperiment(join(t.dir, 'never.marker'), { title: 'production', tags: ['production'] }),
    });
    assert.equal(up.status, 201, up.text);
    const prod = await t.api('POST', '/api/schedules', {
      name: 'prod',
      experiment: 'prod-check',
      timing: { cron: '@every 1s' },
    });
    assert.equal(prod.status, 201, prod.text);
    const refused = await until('a firing skipped for want of an approval', async () =>
      (await firings(t, 'prod')).find((f) => f.outcome === 'skipped'),
    );
    assert.match(refused.reason ?? '', /tagged 'production' .*needs a standing approval/);
    assert.equal((await t.api('DELETE', '/api/schedules/prod')).status, 204);
    const runs = (await t.store.listRuns({ limit: 500 })).runs.filter((r) => r.schedule === prod.body.id);
    assert.deepEqual(runs, [], 'nothing ran without an approval');

    // A blackout window in force all week: the firings are skipped naming it.
    const blackout = await t.api('POST', '/api/blackouts', {
      name: 'freeze',
      timezone: 'UTC',
      weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', end: '24:00' }],
      reason: 'code freeze',
    });
    assert.equal(blackout.status, 201, blackout.text);
    try {
      const frozen = await t.api('POST', '/api/schedules', {
        name: 'frozen',
        experiment: 'quick',
        timing: { cron: '@every 1s' },
      });
      assert.equal(frozen.status, 201, frozen.text);
      const skipped = await until('a firing skipped by the blackout', async () =>
        (await firings(t, 'frozen')).find((f) => f.outcome === 'skipped'),
      );
      assert.match(skipped.reason ?? '', /freeze/);
      assert.equal((await t.api('DELETE', '/api/schedules/frozen')).status, 204);
    } finally {
      assert.equal((await t.api('DELETE', '/api/blackouts/freeze')).status, 204);
    }
  });
});

describe('missed firings across a server stopped and started again', () => {
  let dir: string;
  let home: Awaited<ReturnType<typeof tempHome>>;
  let server: RunningServer | undefined;
  let store: Store | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faultline-schedules-missed-'));
    home = await tempHome();
  });
  after(async () => {
    await server?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await home.cleanup();
  });
  const start = async () => {
    store = await openStore({ home: home.home, database: join(dir, 'faultline.db') });
    server = await startServer({ store, home: home.home, port: 0, pollMs: 200, schedulePollMs: 500 });
    const url = server.url;
    return async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, {
        method,
        ...(body === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
    };
  };
  const stop = async () => {
    await server?.close();
    await store?.close();
    server = undefined;
    store = undefined;
  };

  test('skip records them missed, run-once runs the latest, run-all runs each; the starting deadline decides', async () => {
    let api = await start();
    const up = await api('POST', '/api/experiments', {
      name: 'quick',
      format: 'yaml',
      source: quickExperiment('caught up'),
    });
    assert.equal(up.status, 201, up.text);
    const policies = ['skip', 'run-once', 'run-all'] as const;
    for (const policy of policies) {
      const r = await api('POST', '/api/schedules', {
        name: `missed-${policy}`,
        experiment: 'quick',
        timing: { cron: '*/2 * * * * *' },
        missedRunPolicy: policy,
        startingDeadline: '1s',
        concurrencyPolicy: 'allow',
      });
      assert.equal(r.status, 201, r.text);
    }
    const list = async (name: string): Promise<FiringBody[]> =>
      (await api('GET', `/api/schedules/${name}/firings?limit=1000`)).body.firings;
    for (const policy of policies)
      await until(`missed-${policy} to fire once`, async () => (await list(`missed-${policy}`)).length > 0);
    await stop();
    const stoppedAt = new Date();
    // The server stays down while at least three due times (every 2 s) pass: a wait for the calendar,
    // not an assertion on elapsed time.
    await sleep(7000);
    api = await start();
    const restartedAt = new Date();
    // Firings certainly missed: due while no server was up, more than the 1 s deadline before the restart.
    const window = (fs: FiringBody[]) =>
      fs.filter(
        (f) => new Date(f.due) > stoppedAt && new Date(f.at).getTime() < restartedAt.getTime() - 1000,
      );
    const seen = new Map<string, FiringBody[]>();
    for (const policy of policies) {
      seen.set(
        policy,
        await until(`missed-${policy}’s missed firings`, async () => {
          const fs = await list(`missed-${policy}`);
          // Dealt with once a firing due after the restart is recorded too.
          return fs.some((f) => new Date(f.due) > restartedAt) ? fs : undefined;
        }),
      );
    }
    const skip = window(seen.get('skip') ?? []);
    assert.ok(skip.length >= 3, `three or more due while down: ${JSON.stringify(skip)}`);
    for (const f of skip) {
      assert.equal(f.outcome, 'missed', JSON.stringify(f));
      assert.equal(f.run, undefined);
      assert.match(f.reason ?? '', /later than its starting deadline 1s .*missed-run policy skip/);
    }
    // What the restart dealt with in one go (a firing due later, and late on a loaded machine, would be
    // a catch-up of its own).
    const once = (seen.get('run-once') ?? []).filter(
      (f) => new Date(f.due) > stoppedAt && new Date(f.due) <= restartedAt,
    );
    const caught = once.filter((f) => f.outcome === 'fired' && /missed/.test(f.reason ?? ''));
    assert.equal(caught.length, 1, `one missed firing run: ${JSON.stringify(once)}`);
    const latest = caught[0] as FiringBody;
    assert.ok(latest.run);
    assert.match(latest.reason ?? '', /run as the missed-run policy run-once says/);
    for (const f of once.filter((f) => f.outcome === 'missed'))
      assert.ok(f.due < latest.due, JSON.stringify(f));
    assert.ok(window(once).filter((f) => f.outcome === 'missed').length >= 2);
    const all = window(seen.get('run-all') ?? []);
    assert.ok(all.length >= 3);
    for (const f of all) {
      assert.equal(f.outcome, 'fired', JSON.stringify(f));
      assert.ok(f.run);
      assert.match(f.reason ?? '', /run as the missed-run policy run-all says/);
    }
    // Every due time has one record (the key), and every run of run-all's catch-up ends and passes.
    for (const policy of policies) {
      const fs = await list(`missed-${policy}`);
      assert.equal(new Set(fs.map((f) => f.due)).size, fs.length);
      await api('POST', `/api/schedules/missed-${policy}/pause`);
    }
    for (const f of all) {
      const run = await runEnded(store as Store, f.run as string);
      assert.equal(run.verdict, 'passed', run.reason);
      assert.equal(run.origin, 'schedule');
    }
    await until('every run to end', async () => {
      const { queued, running } = await (store as Store).countActiveRuns();
      return queued === 0 && running === 0;
    });
    await stop();
  });
});
