/**
 * Hostile bodies against the blackouts API on a real control plane: random JSON (with the fields the
 * routes read, and near-valid windows with one field broken), wrong types, unknown fields, malformed
 * JSON. Every answer is a 4xx with the JSON error shape naming the field, never a 5xx or a hang, and
 * nothing invalid is stored.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClientError, http, prng, randomJson } from '../helpers/http-raw.js';
import { startTestServer, type TestServer } from '../helpers/serve.js';

let t: TestServer;
before(async () => {
  t = await startTestServer();
  const ok = await t.api('POST', '/api/blackouts', {
    name: 'existing',
    weekly: [{ start: '01:00', end: '02:00' }],
  });
  assert.equal(ok.status, 201, ok.text);
});
after(async () => {
  await t?.close();
});

const FIELDS = ['name', 'timezone', 'dates', 'weekly', 'reason', 'from', 'to', 'days', 'start', 'end'];
const send = (method: string, path: string, body: string) =>
  http(t.url, method, path, body, { host: new URL(t.url).host, 'content-type': 'application/json' });

/** A valid window with one field replaced by something random. */
function nearValid(rand: () => number): unknown {
  const valid: Record<string, unknown> = {
    name: `w${Math.floor(rand() * 1e6)}`,
    timezone: 'Europe/Paris',
    dates: [{ from: '2027-01-01', to: '2027-01-02T10:30' }],
    weekly: [{ days: ['sat'], start: '22:00', end: '06:00' }],
    reason: 'why',
  };
  const broken = [
    ['timezone', 'Europe/Nowhere'],
    ['dates', [{ from: '2027-13-01', to: '2027-01-02' }]],
    ['dates', [{ from: '2027-01-02', to: '2027-01-01' }]],
    ['dates', [{ from: '2027-01-01T25:00', to: '2027-01-02' }]],
    ['weekly', [{ days: ['someday'], start: '01:00', end: '02:00' }]],
    ['weekly', [{ start: '01:00', end: '01:00' }]],
    ['weekly', [{ start: '1:00', end: '02:00' }]],
    ['weekly', 'weekends'],
    ['reason', 'a\u0000b'],
    ['reason', 'x'.repeat(501)],
    ['name', '../x'],
    ['name', ''],
    ['dates', Array.from({ length: 1001 }, () => ({ from: '2027-01-01', to: '2027-01-02' }))],
    ['extra', true],
  ] as const;
  const [key, value] = broken[Math.floor(rand() * broken.length)]!;
  return { ...valid, [key]: value };
}

test('random and near-valid bodies on POST and PUT: 4xx JSON errors, never a 5xx', async () => {
  const rand = prng(18);
  for (let i = 0; i < 300; i++) {
    const body = JSON.stringify(i % 2 === 0 ? randomJson(rand, FIELDS) : nearValid(rand)) ?? 'null';
    const [method, path] = i % 3 === 0 ? ['PUT', '/api/blackouts/existing'] : ['POST', '/api/blackouts'];
    const r = await send(method, path, body);
    // A random body can be valid by chance only for PUT of a near-valid window: none here is.
    assertClientError(r, `${method} ${path} ${body.slice(0, 160)}`);
  }
  const names = (await t.api('GET', '/api/blackouts')).body.windows.map((w: { name: string }) => w.name);
  assert.deepEqual(names, ['existing'], 'nothing invalid was stored');
});

test('each mistake is a 400 naming its field', async () => {
  const cases: [unknown, string][] = [
    [{ name: 'a' }, 'dates'],
    [{ name: 'a', weekly: [{ start: '01:00', end: '02:00' }], timezone: 'Mars/Olympus' }, 'timezone'],
    [{ name: 'a', dates: [{ from: '2027-02-30', to: '2027-03-01' }] }, 'dates[0].from'],
    [{ name: 'a', dates: [{ from: '2027-03-02', to: '2027-03-01' }] }, 'dates[0].to'],
    [{ name: 'a', weekly: [{ start: '01:00', end: '01:00' }] }, 'weekly[0].end'],
    [{ name: 'a', weekly: [{ start: '01:00', end: '02:00' }], color: 'red' }, 'color'],
    [{ name: 'a b', weekly: [{ start: '01:00', end: '02:00' }] }, 'name'],
  ];
  for (const [body, field] of cases) {
    const r = await send('POST', '/api/blackouts', JSON.stringify(body));
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
    assertClientError(r, JSON.stringify(body));
    assert.ok(r.body.includes(field), `the error names ${field}: ${r.body}`);
  }
  const named = await send(
    'PUT',
    '/api/blackouts/existing',
    JSON.stringify({ name: 'other', weekly: [{ start: '01:00', end: '02:00' }] }),
  );
  assert.equal(named.status, 400, named.body);
  assert.ok(named.body.includes('name'));
  const badPath = await send(
    'PUT',
    '/api/blackouts/..%2Fx',
    JSON.stringify({ weekly: [{ start: '01:00', end: '02:00' }] }),
  );
  assertClientError(badPath, 'a bad name in the path');
});

test('malformed JSON and empty bodies are 4xx', async () => {
  for (const body of ['{', '[1,', 'nul', '{"name": "a",}', '\u0000', '']) {
    for (const [method, path] of [
      ['POST', '/api/blackouts'],
      ['PUT', '/api/blackouts/existing'],
    ] as const) {
      assertClientError(await send(method, path, body), `${method} ${JSON.stringify(body)}`);
    }
  }
  assert.equal((await t.api('GET', '/api/health')).status, 200);
});
