/**
 * The game days' API against hostile and mistaken input (a real server on port 0, real SQLite): a plan
 * with mistakes gets a 422 naming each (path, line, column), an experiment step naming an experiment
 * not stored here is one of them, wrong types and unknown fields are 400s naming the field, random
 * bodies on every POST route are 4xx JSON (never a 5xx or a hang), and the server stays healthy. Then
 * the GameDayStore on the real PostgreSQL: two stores (two servers) appending to one timeline at once
 * keep one sequence, a game day starts once, follow-ups open and close, and a server's game days left
 * running are marked failed; and a whole game day through a server on it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../src/server/db/index.js';
import type { Store } from '../../src/server/store.js';
import { tempHome } from '../helpers/home.js';
import { assertClientError, http, prng, randomJson } from '../helpers/http-raw.js';
import { pgScratchRole, pgSkipReason, type ScratchRole } from '../helpers/pg.js';
import { markerExperiment, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

const PLAN = [
  'name: fuzz-target',
  'title: A game day to aim at',
  'objective: Be there',
  'hypothesis: Nothing breaks',
  'participants: [{ name: alice, role: incident-commander }]',
  'steps:',
  '  - { id: look, kind: manual, owner: alice }',
  '  - { id: poke, kind: experiment, experiment: target }',
  '',
].join('\n');

const NIL = '00000000-0000-4000-8000-000000000000';

describe('the game days API refuses what it cannot take', () => {
  let t: TestServer;
  let id = '';
  const post = (path: string, body: unknown) =>
    http(t.url, 'POST', path, typeof body === 'string' ? body : JSON.stringify(body), {
      host: `127.0.0.1:${new URL(t.url).port}`,
      'content-type': 'application/json',
    });

  before(async () => {
    t = await startTestServer();
    const up = await t.api('POST', '/api/experiments', {
      name: 'target',
      format: 'yaml',
      source: markerExperiment('/nonexistent/never-run.marker'),
    });
    assert.equal(up.status, 201, up.text);
    const created = await t.api('POST', '/api/gamedays', { source: PLAN });
    assert.equal(created.status, 201, created.text);
    id = created.body.id;
  });
  after(async () => {
    await t?.close();
  });

  test('a plan with mistakes: 422 with every issue, its path, line and column', async () => {
    const bad = [
      'name: bad plan',
      'title: t',
      'objective: o',
      'hypothesis: h',
      'participants: [{ name: alice, role: chef }]',
      'steps:',
      '  - { id: a, kind: experiment, experiment: not-stored }',
      '  - { id: a, kind: wait, duration: soon }',
      '',
    ].join('\n');
    const r = await t.api('POST', '/api/gamedays', { source: bad });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.body.error.code, 'invalid_plan');
    const paths = r.body.error.issues.map((i: any) => i.path);
    for (const p of ['name', 'participants[0].role', 'steps[1].duration'])
      assert.ok(paths.includes(p), `an issue at ${p}: ${JSON.stringify(r.body.error.issues)}`);
    const role = r.body.error.issues.find((i: any) => i.path === 'participants[0].role');
    assert.equal(role.line, 5);

    // Valid as a plan, but its experiment is not stored here.
    const missing = await t.api('POST', '/api/gamedays', {
      source: PLAN.replace('experiment: target', 'experiment: not-stored'),
    });
    assert.equal(missing.status, 422, missing.text);
    assert.deepEqual(
      missing.body.error.issues.map((i: any) => i.path),
      ['steps[1].experiment'],
    );
    assert.match(missing.body.error.issues[0].message, /no experiment not-stored is stored on this server/);

    // The plan as a JSON object works as the text does; YAML that is not a mapping does not.
    const asObject = await t.api('POST', '/api/gamedays', {
      plan: {
        name: 'as-object',
        title: 'From JSON',
        objective: 'o',
        hypothesis: 'h',
        participants: [{ name: 'alice', role: 'scribe' }],
        steps: [{ id: 'w', kind: 'wait', duration: '1s' }],
      },
    });
    assert.equal(asObject.status, 201, asObject.text);
    assert.equal((await t.api('POST', '/api/gamedays', { source: '- a\n- b\n' })).status, 422);
    assert.equal((await t.api('POST', '/api/gamedays', { source: 'a: [' })).status, 422);
    const nul = await t.api('POST', '/api/gamedays', {
      source: PLAN.replace('title: A game day to aim at', 'title: "A\\0 day"'),
    });
    assert.equal(nul.status, 422, nul.text);
    assert.match(nul.text, /NUL/);
  });

  test('wrong types, unknown fields and bad ids name the field', async () => {
    const cases: [string, unknown, number, string][] = [
      ['/api/gamedays', {}, 400, 'source'],
      ['/api/gamedays', { source: PLAN, plan: {} }, 400, 'not both'],
      ['/api/gamedays', { source: 7 }, 400, 'source'],
      ['/api/gamedays', { source: PLAN, extra: 1 }, 400, 'extra'],
      [`/api/gamedays/${id}/notes`, { text: '   ' }, 400, 'text'],
      [`/api/gamedays/${id}/notes`, { text: 'a\u0000b' }, 400, 'NUL'],
      [`/api/gamedays/${id}/notes`, { text: 'x'.repeat(10_001) }, 400, 'text'],
      [`/api/gamedays/${id}/steps/look/confirm`, { ok: 'yes' }, 400, 'ok'],
      [`/api/gamedays/${id}/steps/look/decide`, { choice: 3 }, 400, 'choice'],
      [`/api/gamedays/${id}/steps/a.b/confirm`, { ok: true }, 400, 'step'],
      [`/api/gamedays/${id}/stop`, {}, 400, 'reason'],
      [`/api/gamedays/${id}/criteria/c1`, { met: 'yes' }, 400, 'met'],
      [`/api/gamedays/${id}/criteria/c.1`, { met: true }, 400, 'criterion'],
      ['/api/gamedays/not-a-uuid/start', {}, 400, 'id'],
      ['/api/followups', { gameday: 'x', text: 'y' }, 400, 'gameday'],
      ['/api/followups', { gameday: id, text: '' }, 400, 'text'],
      ['/api/followups/nope/close', {}, 400, 'id'],
    ];
    for (const [path, body, status, field] of cases) {
      const r = await post(path, body);
      assert.equal(r.status, status, `${path} ${JSON.stringify(body).slice(0, 80)}: ${r.body}`);
      assertClientError(r, path);
      assert.ok(r.body.includes(field), `${path}: the error names ${field}: ${r.body}`);
    }
    // Not found, and not running: JSON all the same.
    for (const [path, body, status] of [
      [`/api/gamedays/${NIL}/start`, {}, 404],
      [`/api/gamedays/${NIL}/notes`, { text: 'hi' }, 404],
      [`/api/followups/${NIL}/close`, {}, 404],
      ['/api/followups', { gameday: NIL, text: 'orphan' }, 404],
      [`/api/gamedays/${id}/steps/look/confirm`, { ok: true }, 409],
      [`/api/gamedays/${id}/stop`, { reason: 'not started' }, 409],
    ] as const) {
      const r = await post(path, body);
      assert.equal(r.status, status, `${path}: ${r.body}`);
      assertClientError(r, path);
    }
    for (const path of [`/api/gamedays/${NIL}`, `/api/gamedays/${NIL}/report`, `/api/gamedays/${NIL}/live`]) {
      const r = await t.api('GET', path);
      assert.equal(r.status, 404, `${path}: ${r.text}`);
    }
    for (const q of ['?status=done', '?limit=0', '?limit=x']) {
      const r = await t.api('GET', `/api/gamedays${q}`);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
    }
    assert.equal((await t.api('GET', '/api/followups?state=maybe')).status, 400);
    assert.equal((await t.api('GET', `/api/gamedays/${id}/report?format=pdf`)).status, 400);
  });

  test('random JSON bodies on every POST route: 4xx JSON errors, never a 5xx', async () => {
    const routes = [
      '/api/gamedays',
      `/api/gamedays/${id}/steps/look/confirm`,
      `/api/gamedays/${id}/steps/look/decide`,
      `/api/gamedays/${id}/notes`,
      `/api/gamedays/${id}/stop`,
      `/api/gamedays/${id}/criteria/c1`,
      '/api/followups',
      `/api/followups/${NIL}/close`,
    ];
    const fields = ['source', 'plan', 'ok', 'note', 'choice', 'text', 'reason', 'gameday', 'owner', 'met'];
    const rand = prng(18);
    for (let i = 0; i < 280; i++) {
      const path = routes[i % routes.length] as string;
      const body = JSON.stringify(randomJson(rand, fields)) ?? 'null';
      const r = await post(path, body);
      // A random note may be a good one (201): the rest must be refusals.
      if (r.status === 201 && path.endsWith('/notes')) continue;
      assertClientError(r, `POST ${path} ${body.slice(0, 120)}`);
    }
    // Random plans: a mapping with plan-ish keys, as text and as an object.
    const planKeys = [
      'name',
      'title',
      'objective',
      'hypothesis',
      'participants',
      'steps',
      'rollback',
      'kind',
      'id',
      'experiment',
      'success_criteria',
      'measure',
    ];
    for (let i = 0; i < 80; i++) {
      const value = randomJson(rand, planKeys);
      const body = i % 2 === 0 ? { plan: value } : { source: JSON.stringify(value) ?? 'null' };
      const r = await post('/api/gamedays', body);
      assertClientError(r, `POST /api/gamedays ${JSON.stringify(body).slice(0, 120)}`);
    }
    for (const raw of ['{', '[1,', '', 'null', '"plan"', '{"source": "a"}{']) {
      const r = await post('/api/gamedays', raw);
      assertClientError(r, `POST /api/gamedays ${raw}`);
    }
    const health = await t.api('GET', '/api/health');
    assert.equal(health.status, 200);
  });

  test('the OpenAPI document has every game-day route', async () => {
    const doc = await t.api('GET', '/api/openapi.json');
    assert.equal(doc.status, 200, doc.text.slice(0, 300));
    const paths = Object.keys(doc.body.paths).filter((p) => /gamedays|followups/.test(p));
    assert.equal(paths.length, 12, paths.join(', '));
    assert.ok(doc.body.paths['/api/gamedays/{id}/live'].get.responses['200'].content['text/event-stream']);
  });
});

const pgSkip = await pgSkipReason();
if (pgSkip) console.log(`# skipping the game days' PostgreSQL store tests: ${pgSkip}`);

/** `end` writes a game day's end and its follow-ups together, or neither. */
async function endIsAtomic(store: Store): Promise<void> {
  const g = await store.gamedays.create({
    name: 'ending',
    title: 'Ends once',
    source: 'name: ending',
    plan: { name: 'ending' },
    createdBy: 'alice',
  });
  const at = new Date().toISOString();
  assert.ok(await store.gamedays.claim(g.id, { by: 'alice', server: 'here', at }));
  // The second follow-up breaks a NOT NULL column: the end and the first follow-up go with it.
  await assert.rejects(
    store.gamedays.end(g.id, { status: 'finished', endedAt: at }, [
      { text: 'first', createdBy: 'gameday' },
      { text: null as unknown as string, createdBy: 'gameday' },
    ]),
    (err: any) => err.code === 'FAULTLINE_ERR_STORE',
  );
  assert.equal((await store.gamedays.get(g.id))?.status, 'running');
  assert.deepEqual(await store.gamedays.listFollowUps({ gameday: g.id }), []);

  const made = await store.gamedays.end(g.id, { status: 'finished', endedAt: at, reason: 'done' }, [
    { text: 'first', owner: 'bob', createdBy: 'gameday' },
    { text: 'second', createdBy: 'gameday' },
  ]);
  const ended = await store.gamedays.get(g.id);
  assert.deepEqual([ended?.status, ended?.reason, ended?.endedAt], ['finished', 'done', at]);
  assert.deepEqual(
    (await store.gamedays.listFollowUps({ gameday: g.id })).map((f) => [f.text, f.owner, f.state]).sort(),
    [
      ['first', 'bob', 'open'],
      ['second', undefined, 'open'],
    ],
  );
  assert.deepEqual(
    made.map((f) => f.text),
    ['first', 'second'],
  );
}

test('the game day store on SQLite: an end and its follow-ups are written together, or neither', async () => {
  const home = await tempHome();
  const store = await openStore({ home: home.home });
  try {
    await endIsAtomic(store);
  } finally {
    await store.close();
    await home.cleanup();
  }
});

describe('the game day store on PostgreSQL', { skip: pgSkip }, () => {
  let scratch: ScratchRole;
  let home: Awaited<ReturnType<typeof tempHome>>;
  let a: Store;
  let b: Store;

  before(async () => {
    scratch = await pgScratchRole('faultline_gd');
    home = await tempHome();
    a = await openStore({ home: home.home, database: scratch.url() });
    b = await openStore({ home: home.home, database: scratch.url() });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await scratch?.drop();
    await home?.cleanup();
  });

  test('two stores on one timeline keep one sequence; a game day starts once; follow-ups open and close', async () => {
    const g = await a.gamedays.create({
      name: 'pg-day',
      title: 'On PostgreSQL',
      source: 'name: pg-day',
      plan: { name: 'pg-day', note: 'keeps \u0000 as JSON does' },
      createdBy: 'alice',
    });
    assert.equal((await b.gamedays.get(g.id))?.plan.note, 'keeps \u0000 as JSON does');
    const at = new Date().toISOString();
    // Interleaved appends from two connections (two servers): every event gets its own seq.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? a : b).gamedays.appendEvents(g.id, [
          { at, type: 'note', by: i % 2 === 0 ? 'a' : 'b', text: `note ${i}` },
          { at, type: 'note', by: 'x', text: `second ${i}`, data: { i } },
        ]),
      ),
    );
    const timeline = await a.gamedays.timeline(g.id);
    assert.equal(timeline.length, 40);
    assert.deepEqual(
      timeline.map((e) => e.seq),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.equal((await b.gamedays.timeline(g.id, 38)).length, 2);

    const [first, second] = await Promise.all([
      a.gamedays.claim(g.id, { by: 'alice', server: 'server-a', at }),
      b.gamedays.claim(g.id, { by: 'bob', server: 'server-b', at }),
    ]);
    assert.equal([first, second].filter(Boolean).length, 1, 'started exactly once');
    const owner = first ? 'server-a' : 'server-b';
    assert.deepEqual(
      await a.gamedays.abandonOf(owner === 'server-a' ? 'server-b' : 'server-a', 'gone', at),
      [],
    );
    assert.deepEqual(await b.gamedays.abandonOf(owner, 'the server stopped', at), [g.id]);
    const failed = await a.gamedays.get(g.id);
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.reason, 'the server stopped');
    assert.equal((await a.gamedays.timeline(g.id)).at(-1)?.type, 'gameday.ended');

    const f = await a.gamedays.createFollowUp({
      gameday: g.id,
      text: 'Fix the failover',
      owner: 'bob',
      createdBy: 'alice',
    });
    assert.deepEqual(
      (await b.gamedays.listFollowUps({ state: 'open', gameday: g.id })).map((x) => [x.text, x.gamedayName]),
      [['Fix the failover', 'pg-day']],
    );
    const [c1, c2] = await Promise.all([
      a.gamedays.closeFollowUp(f.id, { by: 'alice', at, note: 'done' }),
      b.gamedays.closeFollowUp(f.id, { by: 'bob', at }),
    ]);
    assert.equal([c1?.changed, c2?.changed].filter(Boolean).length, 1, 'closed once');
    assert.equal((await a.gamedays.listFollowUps({ state: 'open', gameday: g.id })).length, 0);
    assert.equal(
      (await a.gamedays.list({ status: 'failed' })).some((x) => x.id === g.id),
      true,
    );
  });

  test('an end and its follow-ups are written together, or neither', async () => {
    await endIsAtomic(a);
  });

  test('a game day through a server on PostgreSQL: start, confirm, notes, end, report', async () => {
    const srv = await startTestServer({ database: scratch.url() });
    try {
      const plan = [
        'name: on-postgres',
        'title: On PostgreSQL',
        'objective: o',
        'hypothesis: h',
        'participants: [{ name: alice, role: scribe }]',
        'steps:',
        '  - { id: look, kind: manual, owner: scribe }',
        '  - { id: soak, kind: wait, duration: 100ms }',
        'success_criteria: [{ id: comms, description: Told everyone, measure: { kind: manual } }]',
        'follow_ups: [{ text: Tidy up, owner: alice }]',
        '',
      ].join('\n');
      const created = await srv.api('POST', '/api/gamedays', { source: plan });
      assert.equal(created.status, 201, created.text);
      const id = created.body.id;
      assert.equal((await srv.api('POST', `/api/gamedays/${id}/start`)).status, 202);
      await until(
        'waiting on look',
        async () => (await srv.api('GET', `/api/gamedays/${id}`)).body.waitingFor?.step === 'look',
      );
      assert.equal((await srv.api('POST', `/api/gamedays/${id}/notes`, { text: 'on postgres' })).status, 201);
      assert.equal(
        (await srv.api('POST', `/api/gamedays/${id}/steps/look/confirm`, { ok: true })).status,
        202,
      );
      const done = await until('finished', async () => {
        const g = (await srv.api('GET', `/api/gamedays/${id}`)).body;
        return g.status === 'finished' ? g : undefined;
      });
      assert.deepEqual(
        done.followUps.map((f: any) => [f.text, f.owner]),
        [['Tidy up', 'alice']],
      );
      const judged = await srv.api('POST', `/api/gamedays/${id}/criteria/comms`, {
        met: false,
        note: 'forgot',
      });
      assert.equal(judged.body.criteria[0].verdict, 'not-met');
      const md = await srv.api('GET', `/api/gamedays/${id}/report?format=markdown`);
      assert.ok(md.text.includes('on postgres'));
    } finally {
      await srv.close();
    }
  });
});
