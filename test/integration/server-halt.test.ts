/**
 * The emergency stop through a real control plane (port 0, SQLite, tokens per
 * role): a run holding a real marker-file fault is interrupted with who and
 * why, the marker is gone and the host's ledger empty, the host's halt flag
 * refuses `faultline run` here too, the audit log has it; new runs are 409
 * `halted`, queued ones stay queued; a second POST keeps the first halt;
 * viewer and operator are refused what their roles do not allow; a release
 * lets the queued run run. Then hostile bodies on POST /api/halt.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { haltState, releaseHalt as releaseHostHalt } from '../../src/faults/recovery.js';
import { haltAll } from '../../src/lib/faults.js';
import { RaiseHaltSchema } from '../../src/server/halt.js';
import { type Call, type HaltServer, liveEvents, startHaltServer } from '../helpers/halt-server.js';
import { assertClientError, http, prng, randomJson } from '../helpers/http-raw.js';
import { markerExperiment, runEnded } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

describe('the emergency stop (POST/DELETE /api/halt)', () => {
  let t: HaltServer;
  let viewer: Call;
  let operator: Call;
  let approver: Call;
  before(async () => {
    t = await startHaltServer();
    viewer = await t.caller('eve', 'viewer');
    operator = await t.caller('ops', 'operator');
    approver = await t.caller('appr', 'approver');
  });
  after(async () => {
    // Never leave a halt flag or a fault behind, whatever failed above.
    await approver?.('DELETE', '/api/halt').catch(() => undefined);
    await t?.close();
  });

  test('halts a running run and its fault, refuses new runs, keeps queued ones, releases', async () => {
    const marker = join(t.dir, 'held.marker');
    const waitingMarker = join(t.dir, 'waiting.marker');
    for (const [name, source] of [
      ['held', markerExperiment(marker, { title: 'held', pause: 600 })],
      ['waiting', markerExperiment(waitingMarker, { title: 'waiting' })],
    ] as const) {
      const up = await operator('POST', '/api/experiments', { name, format: 'yaml', source });
      assert.equal(up.status, 201, up.text);
    }
    const before = await operator('GET', '/api/halt');
    assert.deepEqual(before.body, { halted: false });

    const held = await operator('POST', '/api/runs', { experiment: 'held' });
    assert.equal(held.status, 202, held.text);
    await until(
      'the marker fault to be active in the ledger',
      async () => existsSync(marker) && (await t.faults()).length === 1,
    );
    // One run at a time per server: this one waits in the queue behind the held one.
    const waiting = await operator('POST', '/api/runs', { experiment: 'waiting' });
    assert.equal(waiting.status, 202, waiting.text);

    const refused = await viewer('POST', '/api/halt', { reason: 'a viewer tries' });
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.body.error.code, 'forbidden');
    assert.equal((await viewer('GET', '/api/halt')).body.halted, false, 'a refused POST raised nothing');

    const live = await liveEvents(t.url, viewer.authorization);
    const halted = await operator('POST', '/api/halt', { reason: 'the payments database is on fire' });
    assert.equal(halted.status, 200, halted.text);
    assert.equal(halted.body.halted, true);
    assert.equal(halted.body.by, 'token:ops');
    assert.equal(halted.body.reason, 'the payments database is on fire');
    assert.deepEqual(halted.body.runsInterrupted, [held.body.id]);
    assert.deepEqual(halted.body.failed, []);
    assert.equal(halted.body.fleet, undefined, 'no fleet without --nats');

    const told = await until('the halt on /api/live', () =>
      live.events.find((e) => e.event === 'halt' && e.data.halted),
    );
    assert.deepEqual(told.data, {
      halted: true,
      since: halted.body.since,
      by: 'token:ops',
      reason: 'the payments database is on fire',
    });

    const run = await runEnded(t.store, held.body.id);
    assert.equal(run.status, 'interrupted');
    assert.equal(run.verdict, 'interrupted');
    assert.match(run.reason ?? '', /emergency stop by token:ops: the payments database is on fire/);
    assert.ok(!existsSync(marker), 'the marker fault was reverted');
    assert.deepEqual(await t.faults(), [], 'the ledger is empty');
    // The host's flag: `faultline run` and `inject` on this host are refused as after `faultline halt`.
    const flag = await haltState({ home: t.home });
    assert.match(flag?.reason ?? '', /the payments database is on fire/);

    const state = await viewer('GET', '/api/halt');
    assert.deepEqual(
      { ...state.body, since: undefined },
      { halted: true, by: 'token:ops', reason: 'the payments database is on fire', since: undefined },
    );
    assert.equal(state.body.since, halted.body.since);

    const audit = await viewer('GET', '/api/audit?limit=50');
    const entry = audit.body.find((e: { action: string }) => e.action === 'halt');
    assert.ok(entry, JSON.stringify(audit.body));
    assert.equal(entry.actor, 'token:ops');
    assert.equal(entry.detail.reason, 'the payments database is on fire');
    assert.deepEqual(entry.detail.runsInterrupted, [held.body.id]);

    const blocked = await operator('POST', '/api/runs', { experiment: 'waiting' });
    assert.equal(blocked.status, 409, blocked.text);
    assert.equal(blocked.body.error.code, 'halted');
    assert.match(blocked.body.error.message, /token:ops/);
    assert.match(blocked.body.error.message, /the payments database is on fire/);

    // Several of the run loop's and the watcher's polls (200 ms each): the queued run is not claimed.
    await sleep(1_500);
    assert.equal((await t.store.getRun(waiting.body.id))?.status, 'queued', 'queued runs stay queued');
    assert.ok(!existsSync(waitingMarker));

    const again = await approver('POST', '/api/halt', { reason: 'someone else also pressed it' });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.since, halted.body.since, 'the first halt is kept');
    assert.equal(again.body.by, 'token:ops');
    assert.equal(again.body.reason, 'the payments database is on fire');
    assert.deepEqual(again.body.runsInterrupted, []);
    assert.equal(again.body.reverted, 0);

    const notAllowed = await operator('DELETE', '/api/halt');
    assert.equal(notAllowed.status, 403, notAllowed.text);
    assert.match(notAllowed.body.error.message, /halt\.release needs the approver role/);
    assert.equal((await viewer('GET', '/api/halt')).body.halted, true);

    const released = await approver('DELETE', '/api/halt');
    assert.equal(released.status, 200, released.text);
    assert.deepEqual(released.body, { halted: false });
    assert.equal(await haltState({ home: t.home }), null, "the host's flag is lifted");
    assert.deepEqual((await viewer('GET', '/api/halt')).body, { halted: false });
    await until('the release on /api/live', () =>
      live.events.some((e, i) => i > 0 && e.event === 'halt' && !e.data.halted),
    );
    const haltEvents = live.events.filter((e) => e.event === 'halt');
    live.close();
    // First the state on connect, then the raise and the release: the watcher, finding this
    // server's own flag, does not tell them again (nor does the second POST, which raised nothing new).
    assert.deepEqual(
      haltEvents.map((e) => e.data.halted),
      [false, true, false],
    );

    const ran = await runEnded(t.store, waiting.body.id);
    assert.equal(ran.status, 'finished', ran.reason);
    assert.equal(ran.verdict, 'passed', ran.reason);
    const after = await operator('POST', '/api/runs', { experiment: 'waiting' });
    assert.equal(after.status, 202, after.text);
    await runEnded(t.store, after.body.id);

    const released2 = await approver('DELETE', '/api/halt');
    assert.equal(released2.status, 200, 'releasing twice is harmless');
    const actions = (await viewer('GET', '/api/audit?limit=100')).body.map(
      (e: { action: string }) => e.action,
    );
    assert.equal(
      actions.filter((a: string) => a === 'halt.release').length,
      1,
      'a release of nothing is not audited',
    );
    assert.equal(actions.filter((a: string) => a === 'halt').length, 2);
    assert.deepEqual(await t.faults(), []);
  });

  test("a `faultline halt` typed on the host stays when the API's halt is released", async () => {
    const typed = await haltAll({ home: t.home, reason: 'typed on the host' });
    assert.equal(typed.flag.raised, true);
    const raised = await operator('POST', '/api/halt', { reason: 'and through the API' });
    assert.equal(raised.status, 200, raised.text);
    assert.equal((await haltState({ home: t.home }))?.reason, 'typed on the host', 'its text is kept');
    const released = await approver('DELETE', '/api/halt');
    assert.equal(released.status, 200, released.text);
    assert.equal((await haltState({ home: t.home }))?.reason, 'typed on the host', 'and it stays');
    const entry = (await viewer('GET', '/api/audit?limit=5')).body.find(
      (e: { action: string }) => e.action === 'halt.release',
    );
    assert.match(entry?.detail.hostLeft ?? '', /raised by `faultline halt`/);
    // The database's halt is gone: runs are accepted, and refused on this host by its own flag.
    const queued = await operator('POST', '/api/runs', { experiment: 'waiting' });
    assert.equal(queued.status, 202, queued.text);
    const run = await runEnded(t.store, queued.body.id);
    assert.equal(run.verdict, 'refused');
    assert.match(run.reason ?? '', /typed on the host/);
    assert.equal(await releaseHostHalt({ home: t.home }), true);
  });

  test('hostile bodies on POST /api/halt: 4xx JSON errors naming the field, never a 5xx', async () => {
    const host = { host: `127.0.0.1:${t.server.port}` };
    const token = await t.caller('fuzzer', 'operator');
    // Valid bodies halt (and are released); everything else is a client error.
    const rand = prng(17);
    for (let i = 0; i < 200; i++) {
      const value = randomJson(rand, ['reason', 'by', 'since']);
      const body = JSON.stringify(value) ?? 'null';
      const r = await token('POST', '/api/halt', body);
      if (RaiseHaltSchema.safeParse(value).success) {
        assert.equal(r.status, 200, `${body}: ${r.text}`);
        assert.equal((await approver('DELETE', '/api/halt')).status, 200);
      } else {
        assertClientError(
          { status: r.status, headers: { 'content-type': r.contentType }, body: r.text },
          `POST /api/halt ${body.slice(0, 120)}`,
        );
      }
    }
    const cases: [string | undefined, Record<string, string>, RegExp][] = [
      [JSON.stringify({}), {}, /reason/],
      [JSON.stringify({ reason: '' }), {}, /reason/],
      [JSON.stringify({ reason: '   ' }), {}, /reason/],
      [JSON.stringify({ reason: 7 }), {}, /reason/],
      [JSON.stringify({ reason: 'x'.repeat(501) }), {}, /reason/],
      [JSON.stringify({ reason: 'ok', extra: true }), {}, /extra/],
      [JSON.stringify(['reason']), {}, /./],
      ['{"reason": "unterminated', {}, /JSON/],
      ['reason=fire', { 'content-type': 'application/x-www-form-urlencoded' }, /JSON/],
      [undefined, {}, /./],
      [JSON.stringify({ reason: 'x'.repeat(6 * 1024 * 1024) }), {}, /larger/],
    ];
    for (const [body, headers, expected] of cases) {
      const r = await http(t.url, 'POST', '/api/halt', body, {
        ...host,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        authorization: token.authorization,
        ...headers,
      });
      assertClientError(r, `POST /api/halt ${String(body).slice(0, 60)}`);
      assert.match(r.body, expected, r.body.slice(0, 300));
    }
    assert.deepEqual((await token('GET', '/api/halt')).body, { halted: false }, 'no bad body raised a halt');
    // A client error's answer from GET/DELETE is no different: unknown methods are 404 JSON.
    const put = await token('PUT', '/api/halt', { reason: 'x' });
    assertClientError(
      { status: put.status, headers: { 'content-type': put.contentType }, body: put.text },
      'PUT /api/halt',
    );
    const health = await token('GET', '/api/health');
    assert.equal(health.status, 200);
    assert.deepEqual(
      t.problems.filter((p) => /internal error/.test(p)),
      [],
    );
  });
});
