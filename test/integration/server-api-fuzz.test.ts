/**
 * Hostile input against a real control plane (port 0, real SQLite store):
 * random and malformed bodies, wrong types, unknown fields, huge uploads
 * (with and without a Content-Length), wrong content types, forged Host and
 * Origin headers, path tricks (`..`, encoded slashes, NULs, bad UTF-8, long
 * paths) and bad query strings. Every answer is a 4xx with the JSON error
 * shape, never a 5xx, a stack trace or a hang, and the server stays healthy.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { assertClientError, http, prng, type RawResponse, randomJson } from '../helpers/http-raw.js';
import { markerExperiment, startTestServer, type TestServer } from '../helpers/serve.js';

let t: TestServer;
let port: string;
before(async () => {
  t = await startTestServer();
  port = new URL(t.url).port;
  // Something to aim at: a stored experiment (never run here).
  const up = await t.api('POST', '/api/experiments', {
    name: 'target',
    format: 'yaml',
    source: markerExperiment('/nonexistent/never-run.marker'),
  });
  assert.equal(up.status, 201, up.text);
});
after(async () => {
  await t?.close();
});

const host = () => ({ host: `127.0.0.1:${port}` });

const POST_ROUTES = [
  '/api/experiments',
  '/api/runs',
  '/api/runs/import',
  '/api/runs/00000000-0000-4000-8000-000000000000/abort',
];

/** The fields the routes read: random bodies use them as keys. */
const API_FIELDS = ['name', 'format', 'source', 'experiment', 'version', 'tags', 'journal'];

test('random JSON bodies on every POST route: 4xx JSON errors, never a 5xx', async () => {
  const rand = prng(17);
  for (let i = 0; i < 300; i++) {
    const path = POST_ROUTES[i % POST_ROUTES.length] as string;
    const body = JSON.stringify(randomJson(rand, API_FIELDS)) ?? 'null';
    const r = await http(t.url, 'POST', path, body, { ...host(), 'content-type': 'application/json' });
    // The abort route takes no body: a random one on an unknown run is a 404, not a crash.
    assertClientError(r, `POST ${path} ${body.slice(0, 120)}`);
  }
});

test('wrong types and unknown fields name the field', async () => {
  const cases: [string, unknown, string][] = [
    ['/api/experiments', { name: 'ok', format: 'xml', source: 'a' }, 'format'],
    ['/api/experiments', { name: 'ok', format: 'json', source: 7 }, 'source'],
    ['/api/experiments', { name: '../etc', format: 'json', source: '{}' }, 'name'],
    ['/api/experiments', { name: 'ok', format: 'json', source: '{}', admin: true }, 'admin'],
    ['/api/runs', { experiment: 'target', version: 'latest' }, 'version'],
    ['/api/runs', { experiment: 'target', tags: 'a,b' }, 'tags'],
    ['/api/runs', { experiment: 'target', priority: 1 }, 'priority'],
    ['/api/runs/import', { journal: [] }, 'journal'],
    ['/api/runs/import', { journal: {}, verdict: 'passed' }, 'verdict'],
  ];
  for (const [path, body, field] of cases) {
    const r = await http(t.url, 'POST', path, JSON.stringify(body), {
      ...host(),
      'content-type': 'application/json',
    });
    assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${r.body}`);
    assertClientError(r, path);
    assert.ok(r.body.includes(field), `${path}: the error names ${field}: ${r.body}`);
  }
});

test('malformed JSON, wrong content types and empty bodies are 4xx', async () => {
  const bodies = ['{', '[1,', 'nul', '{"name": "a",}', '\u0000', '"unterminated', '{"a":1}{"b":2}', ''];
  for (const path of POST_ROUTES.slice(0, 3)) {
    for (const b of bodies) {
      const r = await http(t.url, 'POST', path, b, { ...host(), 'content-type': 'application/json' });
      assertClientError(r, `POST ${path} ${JSON.stringify(b)}`);
    }
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const r = await http(t.url, 'POST', path, 'name=a&format=json', { ...host(), 'content-type': type });
      assertClientError(r, `POST ${path} as ${type}`);
    }
    const none = await http(t.url, 'POST', path, '{"name":"a"}', host());
    assertClientError(none, `POST ${path} without a content type`);
    const bytes = await http(t.url, 'POST', path, Buffer.from([0xff, 0xfe, 0x00, 0x7b]), {
      ...host(),
      'content-type': 'application/json',
    });
    assertClientError(bytes, `POST ${path} invalid UTF-8`);
  }
});

/** A POST sent in 64 KiB chunks without a Content-Length: the limit must count what arrives. */
function chunkedPost(path: string, body: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        headers: { ...host(), 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    // The server may answer and close before the whole body is sent: that is the point.
    req.on('error', reject);
    const buf = Buffer.from(body);
    let at = 0;
    const pump = () => {
      while (at < buf.length) {
        const next = buf.subarray(at, at + 65536);
        at += next.length;
        if (!req.write(next)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

test('huge uploads are 413, with or without a Content-Length', async () => {
  const huge = JSON.stringify({
    name: 'huge',
    format: 'yaml',
    source: `title: x\n#${'x'.repeat(6 * 1024 * 1024)}`,
  });
  const r = await http(t.url, 'POST', '/api/experiments', huge, {
    ...host(),
    'content-type': 'application/json',
  });
  assert.equal(r.status, 413, r.body.slice(0, 200));
  assertClientError(r, 'huge with a length');
  const chunked = await chunkedPost('/api/runs/import', huge);
  assert.equal(chunked.status, 413, chunked.body.slice(0, 200));
  assertClientError(chunked, 'huge, chunked');
});

test('path tricks and bad queries never reach a 5xx', async () => {
  const paths = [
    '/api/experiments/..',
    '/api/experiments/%2e%2e',
    '/api/experiments/a%2Fb',
    '/api/experiments/..%2f..%2fetc%2fpasswd',
    '/api/experiments/%2e%2e%2fversions',
    '/api/runs/../../etc/passwd',
    '/api/runs/%00',
    '/api/runs/%ff%fe',
    '/api/runs/not-a-uuid',
    '/api/runs/00000000-0000-4000-8000-000000000000',
    '/api/runs/00000000-0000-4000-8000-000000000000/report',
    `/api/experiments/${'a'.repeat(5000)}`,
    `/api/runs/${'%2e'.repeat(3000)}`,
    '//api//runs',
    '/api/runs?limit=-1',
    '/api/runs?limit=99999',
    '/api/runs?limit=1e3',
    '/api/runs?from=yesterday',
    '/api/runs?status=running&status=queued',
    '/api/runs?verdict=great',
    '/api/runs?cursor=%00garbage',
    '/api/runs?cursor=eyJ4IjoxfQ',
    '/api/runs?unknown=1',
    '/api/runs?__proto__=1',
    '/api/experiments/target?version=0',
    '/api/experiments/target?version=99999999999',
    '/api/experiments/target?version=1&extra=2',
    '/api/audit?before=abc',
    '/api/audit?limit=0',
    '/api/nothing',
    '/',
    '/api',
    '/api/openapi.json/..',
  ];
  for (const p of paths) {
    const r = await http(t.url, 'GET', p, undefined, host());
    assert.ok(r.status < 500, `GET ${p}: ${r.status} ${r.body.slice(0, 300)}`);
    if (r.status >= 400) assertClientError(r, `GET ${p}`);
  }
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    for (const p of ['/api/experiments', '/api/experiments/target', '/api/runs']) {
      const r = await http(t.url, method, p, '{}', { ...host(), 'content-type': 'application/json' });
      assertClientError(r, `${method} ${p}`);
    }
  }
});

test('a forged Host (DNS rebinding) or a foreign Origin is refused with 403', async () => {
  const rebinding = await http(t.url, 'GET', '/api/experiments', undefined, { host: `evil.example:${port}` });
  assert.equal(rebinding.status, 403);
  assertClientError(rebinding, 'forged host');
  const foreign = await http(t.url, 'POST', '/api/runs', JSON.stringify({ experiment: 'target' }), {
    ...host(),
    origin: 'https://evil.example',
    'content-type': 'application/json',
  });
  assert.equal(foreign.status, 403);
  assertClientError(foreign, 'foreign origin');
  // A sandboxed page (the HTML report is served sandboxed) sends Origin: null.
  const opaque = await http(t.url, 'POST', '/api/runs', JSON.stringify({ experiment: 'target' }), {
    ...host(),
    origin: 'null',
    'content-type': 'application/json',
  });
  assert.equal(opaque.status, 403);
  const runs = await t.api('GET', '/api/runs?experiment=target');
  assert.deepEqual(runs.body.runs, [], 'no run was queued by a foreign page');
});

test('after all of it the server is healthy and answers', async () => {
  const r = await t.api('GET', '/api/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.ok, true);
});
