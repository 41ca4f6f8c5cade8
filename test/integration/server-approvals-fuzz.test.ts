/**
 * Hostile input against the approvals API of a real control plane (port 0, real SQLite): random JSON
 * bodies on the request, approve and reject routes, malformed JSON and wrong content types, random ids
 * and query strings. Every answer is a 4xx with the JSON error shape (the valid requests the random
 * bodies make are already waiting, `local` may not approve what `local` asked for, and a decided request
 * is not decided again), never a 5xx or a hang, and the approvals stay as they were.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClientError, http, prng, randomJson } from '../helpers/http-raw.js';
import { markerExperiment, startTestServer, type TestServer } from '../helpers/serve.js';

let t: TestServer;
let headers: Record<string, string>;
const pending: string[] = [];

before(async () => {
  t = await startTestServer();
  headers = { host: `127.0.0.1:${new URL(t.url).port}`, 'content-type': 'application/json' };
  const up = await t.api('POST', '/api/experiments', {
    name: 'prod',
    format: 'yaml',
    source: markerExperiment('/nonexistent/never-run.marker', { tags: ['production'] }),
  });
  assert.equal(up.status, 201, up.text);
  // Both kinds already asked for: a random body that happens to be valid is `already_requested`.
  for (const standing of [false, true]) {
    const r = await t.api('POST', '/api/experiments/prod/approvals', { standing });
    assert.equal(r.status, 201, r.text);
    pending.push(r.body.id);
  }
  // Rejecting is open to `local` (a withdrawal lets nothing run): a decided one is what it may not redo.
  const rejected = await t.api('POST', `/api/approvals/${pending[1]}/reject`, {});
  assert.equal(rejected.status, 200, rejected.text);
  const again = await t.api('POST', '/api/experiments/prod/approvals', { standing: true });
  assert.equal(again.status, 201, again.text);
  pending.push(again.body.id);
});

after(async () => {
  await t?.close();
});

const routes = () => [
  '/api/experiments/prod/approvals',
  '/api/experiments/absent/approvals',
  `/api/approvals/${pending[0]}/approve`,
  `/api/approvals/${pending[1]}/reject`,
  `/api/approvals/${pending[1]}/approve`,
  '/api/approvals/00000000-0000-4000-8000-000000000000/approve',
];

test('random JSON bodies on every approvals POST route: 4xx JSON errors, never a 5xx', async () => {
  const rand = prng(18);
  const fields = ['version', 'standing', 'expiresIn', 'comment'];
  for (let i = 0; i < 400; i++) {
    const all = routes();
    const path = all[i % all.length] as string;
    const body = JSON.stringify(randomJson(rand, fields)) ?? 'null';
    const r = await http(t.url, 'POST', path, body, headers);
    assertClientError(r, `POST ${path} ${body.slice(0, 120)}`);
  }
  // Nothing random was approved or rejected: the requests are as they were.
  assert.equal((await t.store.approvals.get(pending[0] as string))?.state, 'pending');
  assert.equal((await t.store.approvals.get(pending[1] as string))?.state, 'rejected');
  assert.equal((await t.store.approvals.get(pending[2] as string))?.state, 'pending');
});

test('edge values name the field', async () => {
  const cases: [unknown, string][] = [
    [{ expiresIn: 59 }, 'expiresIn'],
    [{ expiresIn: 2_592_001 }, 'expiresIn'],
    [{ expiresIn: -5 }, 'expiresIn'],
    [{ expiresIn: '1e9h' }, 'expiresIn'],
    [{ expiresIn: { h: 1 } }, 'expiresIn'],
    [{ version: 1.5 }, 'version'],
    [{ version: '1' }, 'version'],
    [{ comment: 'x'.repeat(2001) }, 'comment'],
    [{ standing: null }, 'standing'],
  ];
  for (const [body, field] of cases) {
    const r = await http(t.url, 'POST', '/api/experiments/prod/approvals', JSON.stringify(body), headers);
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${r.body}`);
    assertClientError(r, JSON.stringify(body).slice(0, 80));
    assert.ok(r.body.includes(field), `names ${field}: ${r.body}`);
  }
});

test('malformed JSON, wrong content types and empty bodies are 4xx', async () => {
  const bodies = ['{', '[1,', 'nul', '{"comment": "a",}', '\u0000', '"x"', '{"a":1}{"b":2}', ''];
  for (const path of routes()) {
    for (const b of bodies) assertClientError(await http(t.url, 'POST', path, b, headers), `${path} ${b}`);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded'])
      assertClientError(
        await http(t.url, 'POST', path, 'comment=a', { ...headers, 'content-type': type }),
        `${path} as ${type}`,
      );
  }
});

test('random ids and query strings on the GET routes: 4xx JSON or the list', async () => {
  const rand = prng(19);
  const noise = () =>
    Array.from({ length: Math.floor(rand() * 40) }, () =>
      encodeURIComponent(String.fromCharCode(Math.floor(rand() * 0x2fff))),
    ).join('');
  for (let i = 0; i < 150; i++) {
    const id = await http(t.url, 'GET', `/api/approvals/${noise() || 'x'}`, undefined, headers);
    assertClientError(id, `GET an approval ${i}`);
    const q = ['state', 'experiment', 'limit', 'x'][i % 4] as string;
    const list = await http(t.url, 'GET', `/api/approvals?${q}=${noise()}`, undefined, headers);
    if (list.status === 200) assert.ok(Array.isArray(JSON.parse(list.body)), list.body.slice(0, 200));
    else assertClientError(list, `GET /api/approvals?${q}=…`);
  }
  for (const q of ['limit=0', 'limit=501', 'limit=-1', 'state=PENDING', 'experiment=../x'])
    assertClientError(await http(t.url, 'GET', `/api/approvals?${q}`, undefined, headers), q);
  const health = await t.api('GET', '/api/health');
  assert.equal(health.status, 200, 'the server is still healthy');
});
