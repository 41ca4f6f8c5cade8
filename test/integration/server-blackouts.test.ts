/**
 * Blackout windows on a real control plane: a window created through the API opens while a run holds
 * a real fault (a marker file): the run ends interrupted with the window in its reason, its fault is
 * reverted (the file is gone), the stop is in the audit log, the settings file's webhook (a real local
 * receiver) is told, POST /api/runs is refused with 409 `blackout` meanwhile, and a run queued before
 * it waits and starts once the window ends. Then the store on SQLite and the real PostgreSQL.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openStore } from '../../src/server/db/index.js';
import { pgScratchRole, pgSkipReason } from '../helpers/pg.js';
import { markerExperiment, runEnded, startTestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

let receiver: Server;
let hook: string;
const received: { event: string; text: string; facts: Record<string, unknown> }[] = [];

before(async () => {
  receiver = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const body = JSON.parse(text);
      received.push({ event: body.faultline?.event, text: body.text, facts: body.faultline });
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});

after(async () => {
  await new Promise<void>((r) => receiver.close(() => r()));
});

/** UTC local date-time with seconds, as a window's `dates` take it. */
const utc = (ms: number) => new Date(ms).toISOString().slice(0, 19);

test('a blackout opening during a run stops it, reverts its fault, audits, notifies; runs wait for its end', async () => {
  const t = await startTestServer({ serve: { blackoutPollMs: 200 } });
  try {
    await writeFile(
      join(t.home.home, 'settings.yaml'),
      [
        'notifications:',
        `  - url: ${hook}`,
        '    events: [blackout.opened, blackout.stopped]',
        'blackouts:',
        '  - name: far-future',
        '    timezone: Europe/Paris',
        '    dates: [{ from: "2099-12-24", to: "2099-12-26" }]',
        '',
      ].join('\n'),
    );
    const held = join(t.dir, 'held.marker');
    const later = join(t.dir, 'later.marker');
    for (const [name, source] of [
      ['holder', markerExperiment(held, { pause: 300 })],
      ['later', markerExperiment(later, { title: 'queued through the blackout' })],
    ] as const) {
      const up = await t.api('POST', '/api/experiments', { name, format: 'yaml', source });
      assert.equal(up.status, 201, up.text);
    }
    const a = await t.api('POST', '/api/runs', { experiment: 'holder' });
    assert.equal(a.status, 202, a.text);
    await until('the held fault to be in place', () => existsSync(held));
    // The runner runs one at a time: this one waits in the queue behind the first.
    const b = await t.api('POST', '/api/runs', { experiment: 'later' });
    assert.equal(b.status, 202, b.text);

    const opens = Math.ceil((Date.now() + 2_000) / 1000) * 1000;
    const created = await t.api('POST', '/api/blackouts', {
      name: 'freeze',
      dates: [{ from: utc(opens), to: utc(opens + 3_600_000) }],
      reason: 'release night',
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.createdBy, 'local');
    const dup = await t.api('POST', '/api/blackouts', {
      name: 'freeze',
      weekly: [{ start: '01:00', end: '02:00' }],
    });
    assert.equal(dup.status, 409, dup.text);
    assert.equal(dup.body.error.code, 'exists');

    const stopped = await runEnded(t.store, a.body.id);
    assert.equal(stopped.status, 'interrupted');
    assert.match(
      String(stopped.reason),
      /blackout freeze \(dates .*, UTC\): release night opened: the run was stopped/,
    );
    assert.ok(Date.parse(stopped.finishedAt!) >= opens, 'stopped once the window opened');
    assert.equal(existsSync(held), false, 'its fault was reverted');
    assert.deepEqual(await t.home.activeFaults(), []);

    const refused = await t.api('POST', '/api/runs', { experiment: 'later' });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error.code, 'blackout');
    assert.match(refused.body.error.message, /^blackout freeze .*: nothing starts until it ends \(/);
    assert.equal((await t.store.getRun(b.body.id))?.status, 'queued', 'the queued run waits');

    const audit = await t.store.listAudit();
    const stop = audit.find((e) => e.action === 'blackout.stop' && e.subject === a.body.id);
    assert.equal(stop?.actor, 'blackout');
    assert.equal(stop?.detail?.window, 'freeze');
    assert.ok(
      audit.some((e) => e.action === 'blackout.create' && e.subject === 'freeze' && e.actor === 'local'),
    );
    await until('the webhook to be told', () =>
      received.some((r) => r.event === 'blackout.stopped' && r.facts.run === a.body.id),
    );
    assert.equal(received.filter((r) => r.event === 'blackout.opened').length, 1, 'one opening, one notice');
    assert.match(received.find((r) => r.event === 'blackout.opened')!.text, /blackout freeze/);

    const listed = await t.api('GET', '/api/blackouts');
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.body.active.name, 'freeze');
    const byName = Object.fromEntries(listed.body.windows.map((w: any) => [w.name, w]));
    assert.equal(byName.freeze.source, 'database');
    assert.equal(byName.freeze.inForce, true);
    assert.equal(byName['far-future'].source, 'settings');
    assert.equal(byName['far-future'].inForce, false);
    assert.equal(byName['far-future'].nextOpening, undefined, 'beyond the 400 days looked ahead');

    // The window is shortened to end in a moment: the queued run starts after it, by itself.
    const ends = Math.ceil((Date.now() + 1_000) / 1000) * 1000;
    const changed = await t.api('PUT', '/api/blackouts/freeze', {
      dates: [{ from: utc(opens), to: utc(ends) }],
      reason: 'release night',
    });
    assert.equal(changed.status, 200, changed.text);
    const ran = await runEnded(t.store, b.body.id);
    assert.equal(ran.status, 'finished');
    assert.ok(Date.parse(ran.startedAt!) >= ends, 'started after the window ended');
    const after = await t.api('GET', '/api/blackouts');
    assert.equal(after.body.active, null);
    assert.ok(audit.length > 0 && (await t.store.listAudit()).some((e) => e.action === 'blackout.update'));

    const gone = await t.api('DELETE', '/api/blackouts/freeze');
    assert.equal(gone.status, 204, gone.text);
    assert.equal((await t.api('DELETE', '/api/blackouts/freeze')).status, 404);
    assert.equal(
      (await t.api('PUT', '/api/blackouts/freeze', { weekly: [{ start: '01:00', end: '02:00' }] })).status,
      404,
    );
  } finally {
    await t.close();
  }
});

test('a window in the settings file refuses runs; the API cannot take the settings names', async () => {
  const t = await startTestServer({ serve: { blackoutPollMs: 200 } });
  try {
    const up = await t.api('POST', '/api/experiments', {
      name: 'waits',
      format: 'yaml',
      source: markerExperiment(join(t.dir, 'waits.marker')),
    });
    assert.equal(up.status, 201, up.text);
    await writeFile(
      join(t.home.home, 'settings.yaml'),
      'blackouts:\n  - name: always\n    weekly: [{ start: "00:00", end: "24:00" }]\n',
    );
    await until(
      'the watcher to read the settings file',
      async () => (await t.api('GET', '/api/blackouts')).body.active,
    );
    const refused = await t.api('POST', '/api/runs', { experiment: 'waits' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'blackout');
    assert.match(refused.body.error.message, /blackout always/);
    // Creating a window through the API does not lift one of the settings file, and it cannot take its name.
    const clash = await t.api('POST', '/api/blackouts', {
      name: 'settings.time_windows',
      weekly: [{ start: '01:00', end: '02:00' }],
    });
    assert.equal(clash.status, 409);
  } finally {
    await t.close();
  }
});

const pgSkip = await pgSkipReason();
if (pgSkip) console.log(`# skipping the PostgreSQL blackout store test: ${pgSkip}`);

for (const kind of ['sqlite', 'postgres'] as const) {
  test(`the blackout store on ${kind}: create, list, get, update, delete`, {
    skip: kind === 'postgres' ? pgSkip : undefined,
  }, async () => {
    const t = kind === 'sqlite' ? await startTestServer() : undefined;
    const scratch = kind === 'postgres' ? await pgScratchRole('faultline_blackouts') : undefined;
    const store = t?.store ?? (await openStore({ home: '/nonexistent', database: scratch!.url() }));
    try {
      const w = {
        name: 'freeze',
        timezone: 'Europe/Paris',
        dates: [{ from: '2026-12-20', to: '2027-01-04' }],
      };
      const created = await store.blackouts.create(w, 'alice');
      assert.equal(created?.createdBy, 'alice');
      assert.equal(await store.blackouts.create(w, 'bob'), undefined, 'the name is taken');
      assert.deepEqual(
        (await store.blackouts.list()).map((x) => x.name),
        ['freeze'],
      );
      const updated = await store.blackouts.update(
        'freeze',
        { timezone: 'UTC', weekly: [{ days: ['sat'], start: '22:00', end: '06:00' }], reason: 'weekends' },
        'bob',
      );
      assert.equal(updated?.updatedBy, 'bob');
      assert.equal(updated?.dates, undefined);
      assert.deepEqual((await store.blackouts.get('freeze'))?.weekly, [
        { days: ['sat'], start: '22:00', end: '06:00' },
      ]);
      assert.equal(await store.blackouts.update('nope', { timezone: 'UTC', weekly: [] }, 'bob'), undefined);
      assert.equal(await store.blackouts.delete('freeze'), true);
      assert.equal(await store.blackouts.delete('freeze'), false);
      assert.equal(await store.blackouts.get('freeze'), undefined);
    } finally {
      if (t) await t.close();
      else {
        await store.close();
        await scratch?.drop();
      }
    }
  });
}
