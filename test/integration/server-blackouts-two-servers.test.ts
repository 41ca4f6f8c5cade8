/**
 * Blackouts with two control planes on one PostgreSQL (a scratch role and schema), each its own host:
 * a window created through one server opens while each server runs a run holding a real fault; each
 * server stops its own run (its fault reverted on its host), audits it under its own id, and the other
 * server refuses new runs too: the window is the database's, followed by every server.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pgScratchRole, pgSkipReason } from '../helpers/pg.js';
import { markerExperiment, runEnded, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

const skip = await pgSkipReason();
if (skip) console.log(`# skipping: ${skip}`);

const utc = (ms: number) => new Date(ms).toISOString().slice(0, 19);

test('a window opening stops the runs of every server on the database, each its own', { skip }, async () => {
  const scratch = await pgScratchRole('faultline_blackout2');
  const servers: TestServer[] = [];
  try {
    for (let i = 0; i < 2; i++)
      servers.push(await startTestServer({ database: scratch.url(), serve: { blackoutPollMs: 200 } }));
    const [a, b] = servers as [TestServer, TestServer];
    const markers = [join(a.dir, 'one.marker'), join(b.dir, 'two.marker')];
    for (const [i, marker] of markers.entries()) {
      const up = await a.api('POST', '/api/experiments', {
        name: `holder-${i}`,
        format: 'yaml',
        source: markerExperiment(marker, { pause: 300 }),
      });
      assert.equal(up.status, 201, up.text);
    }
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await a.api('POST', '/api/runs', { experiment: `holder-${i}` });
      assert.equal(r.status, 202, r.text);
      ids.push(r.body.id);
    }
    // Each server runs one run at a time, so each has claimed one.
    const running = await until('both runs to run, one per server', async () => {
      const runs = await Promise.all(ids.map((id) => a.store.getRun(id)));
      return runs.every((r) => r?.status === 'running') && markers.every((m) => existsSync(m))
        ? runs
        : undefined;
    });
    const claimers = new Set(running.map((r) => r!.claimedBy));
    assert.deepEqual(claimers, new Set([a.server.serverId, b.server.serverId]));

    const opens = Math.ceil((Date.now() + 2_000) / 1000) * 1000;
    const created = await a.api('POST', '/api/blackouts', {
      name: 'freeze',
      dates: [{ from: utc(opens), to: utc(opens + 3_600_000) }],
    });
    assert.equal(created.status, 201, created.text);

    for (const id of ids) {
      const run = await runEnded(a.store, id);
      assert.equal(run.status, 'interrupted');
      assert.match(String(run.reason), /blackout freeze .* opened: the run was stopped/);
    }
    for (const m of markers) assert.equal(existsSync(m), false, `${m} was reverted`);
    for (const s of servers) assert.deepEqual(await s.home.activeFaults(), []);
    const stops = (await a.store.listAudit()).filter((e) => e.action === 'blackout.stop');
    assert.deepEqual(
      new Set(stops.map((e) => `${e.subject} ${e.detail?.server}`)),
      new Set(running.map((r) => `${r!.id} ${r!.claimedBy}`)),
      'each run stopped once, by the server that ran it',
    );
    const refused = await b.api('POST', '/api/runs', { experiment: 'holder-0' });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error.code, 'blackout');
  } finally {
    for (const s of servers) await s.close().catch(() => undefined);
    await scratch.drop();
  }
});
