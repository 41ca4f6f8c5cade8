/** Request serialization and status-line parsing of the load generator's HTTP/1.1 fast path. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { http1Template, parseStatusLine } from '../../src/load/http1.js';

const u = (s: string) => new URL(s);

test('a template serializes once: request line, host, keep-alive, headers, Content-Length and body', () => {
  const t = http1Template(
    u('http://example.test:8080/a/b?c=1&d=2'),
    'POST',
    { 'X-A': '1', Accept: '*/*' },
    Buffer.from('héllo'),
  );
  assert.ok(t);
  assert.equal(t.head, false);
  assert.equal(
    t.bytes.toString('utf8'),
    'POST /a/b?c=1&d=2 HTTP/1.1\r\nhost: example.test:8080\r\nconnection: keep-alive\r\nX-A: 1\r\nAccept: */*\r\ncontent-length: 6\r\n\r\nhéllo',
  );
  const get = http1Template(u('http://example.test/'), 'GET', {}, undefined);
  assert.equal(
    get?.bytes.toString(),
    'GET / HTTP/1.1\r\nhost: example.test\r\nconnection: keep-alive\r\n\r\n',
  );
  assert.equal(http1Template(u('http://x/'), 'HEAD', {}, undefined)?.head, true);
  assert.match(
    http1Template(u('http://x/'), 'PATCH', {}, undefined)?.bytes.toString() ?? '',
    /content-length: 0\r\n/,
  );
  // A caller's Host wins; a matching Content-Length is kept once.
  const own = http1Template(
    u('http://127.0.0.1:1/'),
    'PUT',
    { Host: 'api.test', 'content-length': '2' },
    Buffer.from('ok'),
  );
  assert.equal(
    own?.bytes.toString(),
    'PUT / HTTP/1.1\r\nhost: api.test\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok',
  );
  assert.equal(
    http1Template(u('http://[::1]:9/'), 'GET', {}, undefined)?.bytes.toString().split('\r\n')[1],
    'host: [::1]:9',
  );
});

test('what the fast path leaves to undici', () => {
  assert.equal(http1Template(u('https://x/'), 'GET', {}, undefined), undefined, 'https');
  for (const h of ['Transfer-Encoding', 'Connection', 'Expect', 'Upgrade', 'keep-alive']) {
    assert.equal(http1Template(u('http://x/'), 'GET', { [h]: 'v' }, undefined), undefined, h);
  }
  assert.equal(
    http1Template(u('http://x/'), 'GET', { 'X-A': 'a\r\nX-Injected: 1' }, undefined),
    undefined,
    'CRLF in a value',
  );
  assert.equal(
    http1Template(u('http://x/'), 'GET', { 'bad name': 'v' }, undefined),
    undefined,
    'not a token',
  );
  assert.equal(http1Template(u('http://x/'), 'GET', { 'X-A': '€' }, undefined), undefined, 'not latin-1');
  assert.equal(
    http1Template(u('http://x/'), 'POST', { 'Content-Length': '9' }, Buffer.from('ab')),
    undefined,
    'wrong length',
  );
});

test('status lines', () => {
  assert.equal(parseStatusLine('HTTP/1.1 200 OK'), 200);
  assert.equal(parseStatusLine('HTTP/1.0 404 Not Found'), 404);
  assert.equal(parseStatusLine('HTTP/1.1 204'), 204);
  assert.equal(parseStatusLine('HTTP/1.1 599 Whatever it says'), 599);
  for (const bad of [
    '',
    'HTTP/1.1',
    'HTTP/1.1 20',
    'HTTP/1.1 2000 OK',
    'HTTP/2.0 200 OK',
    'HTTP/1.1 abc',
    'http/1.1 200 OK',
    'HTTP/1.1  200',
    'HTTP/1.1 099 x',
    'ICY 200 OK',
  ]) {
    assert.equal(parseStatusLine(bad), -1, JSON.stringify(bad));
  }
});
