/** HTTP request framing and the http_abort / http_delay toxics, in memory (a fake link on a virtual clock). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestFramer } from '../../src/proxy/http/request-framer.js';
import type { Clock, ToxicLink } from '../../src/proxy/toxic.js';
import { httpAbort } from '../../src/proxy/toxics/http-abort.js';
import { httpDelay } from '../../src/proxy/toxics/http-delay.js';

function virtualClock() {
  let now = 0;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 1;
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const t = { at: now + ms, fn, id: next++ };
      timers.push(t);
      return t.id;
    },
    clearTimeout: (id) => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const t = timers[0];
      if (!t || t.at > until) break;
      timers.shift();
      now = t.at;
      t.fn();
    }
    now = until;
  };
  return { clock, advance };
}

function fakeLink(clock: Clock, randoms: number[] = []) {
  const pushed: { data: string; at: number; time: number }[] = [];
  const events: string[] = [];
  const link: ToxicLink = {
    direction: 'upstream',
    connection: { id: 1, proxy: 'p', shared: new Map() },
    clock,
    highWaterMark: 1 << 20,
    random: () => randoms.shift() ?? 0,
    push: (chunk, at) => pushed.push({ data: chunk.toString('latin1'), at, time: clock.now() }),
    end: () => events.push('end'),
    close: () => events.push('close'),
    reset: () => events.push('reset'),
    pause: () => events.push('pause'),
    resume: () => events.push('resume'),
  };
  return { link, pushed, events };
}

const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const POST = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const CHUNKED =
  'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n';

describe('RequestFramer', () => {
  test('attributes bytes to requests across arbitrary chunk boundaries', () => {
    const stream = GET('/a') + POST('/b', 'payload') + CHUNKED + GET('/d');
    for (const size of [1, 2, 3, 7, 13, 64, stream.length]) {
      const framer = new RequestFramer();
      const perRequest = new Map<string, string>();
      const completed: string[] = [];
      for (let i = 0; i < stream.length; i += size) {
        for (const seg of framer.push(Buffer.from(stream.slice(i, i + size), 'latin1'))) {
          assert.ok(seg.request, `size ${size}: every byte belongs to a request`);
          const key = seg.request.path;
          perRequest.set(key, (perRequest.get(key) ?? '') + seg.data.toString('latin1'));
          if (seg.last) completed.push(key);
        }
      }
      assert.deepEqual(completed, ['/a', '/b', '/c', '/d'], `size ${size}`);
      assert.equal(perRequest.get('/b'), POST('/b', 'payload'));
      assert.equal(perRequest.get('/c'), CHUNKED);
    }
  });

  test('non-HTTP traffic and upgrades pass through unattributed, nothing lost', () => {
    const framer = new RequestFramer();
    const segs = framer.push(Buffer.from('\x16\x03\x01 binary tls hello'));
    assert.equal(framer.passthrough, true);
    assert.equal(segs.map((s) => s.data.toString('latin1')).join(''), '\x16\x03\x01 binary tls hello');
    const up = new RequestFramer();
    const raw = `${GET('/ws', 'Upgrade: websocket\r\nConnection: Upgrade\r\n')}frames`;
    assert.equal(
      up
        .push(Buffer.from(raw))
        .map((s) => s.data.toString())
        .join(''),
      raw,
    );
    assert.equal(up.passthrough, true);
  });

  test('malformed chunked encoding switches to pass-through without losing bytes', () => {
    const framer = new RequestFramer();
    const raw = 'POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nmore';
    assert.equal(
      framer
        .push(Buffer.from(raw))
        .map((s) => s.data.toString())
        .join(''),
      raw,
    );
    assert.equal(framer.passthrough, true);
  });
});

describe('http_abort', () => {
  const attrs = (over: Record<string, unknown> = {}) =>
    httpAbort.attributes.parse({ status: 503, body: 'nope', ...over });

  test('answers matching requests itself and forwards the others on the same connection', () => {
    const { clock } = virtualClock();
    const { link, pushed, events } = fakeLink(clock, [0.1, 0.9]);
    const toxic = httpAbort.create(attrs({ percentage: 50 }), link);
    const written: string[] = [];
    (toxic as unknown as { attachPeer(p: unknown): void }).attachPeer({
      write: (b: Buffer) => written.push(b.toString()),
      end: () => {},
    });
    toxic.write(Buffer.from(POST('/pay', 'card=1') + GET('/pay')), 0);
    assert.equal(written.length, 1, 'the first request (roll 0.1 < 0.5) was answered');
    assert.match(written[0]!, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(written[0]!, /Content-Length: 4\r\n/);
    assert.match(written[0]!, /Connection: keep-alive/);
    assert.ok(written[0]!.endsWith('\r\n\r\nnope'));
    assert.equal(
      pushed.map((p) => p.data).join(''),
      GET('/pay'),
      'the second (roll 0.9) went to the upstream',
    );
    assert.deepEqual(events, []);
  });

  test('matches method, path and header; Connection: close closes after answering', () => {
    const { clock } = virtualClock();
    const { link, pushed, events } = fakeLink(clock);
    const toxic = httpAbort.create(
      attrs({ method: 'post', path_prefix: '/api', header_name: 'X-User', header_value: '^beta' }),
      link,
    );
    const written: string[] = [];
    (toxic as unknown as { attachPeer(p: unknown): void }).attachPeer({
      write: (b: Buffer) => written.push(b.toString()),
      end: () => {},
    });
    toxic.write(Buffer.from(GET('/api/x', 'X-User: beta-1\r\n')), 0);
    toxic.write(Buffer.from(`POST /other HTTP/1.1\r\nX-User: beta\r\nContent-Length: 0\r\n\r\n`), 0);
    toxic.write(Buffer.from(`POST /api/x HTTP/1.1\r\nX-User: alpha\r\nContent-Length: 0\r\n\r\n`), 0);
    assert.equal(written.length, 0);
    assert.equal(pushed.length, 3);
    toxic.write(
      Buffer.from(`POST /api/x HTTP/1.1\r\nX-User: beta-7\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`),
      0,
    );
    assert.equal(written.length, 1);
    assert.match(written[0]!, /Connection: close/);
    assert.deepEqual(events, ['close']);
  });

  test('attributes are validated with messages naming them', () => {
    assert.throws(() => httpAbort.attributes.parse({ status: 700 }), /at most 599/);
    assert.throws(() => httpAbort.attributes.parse({ percentage: 140 }), /between 0 and 100/);
    assert.throws(() => httpAbort.attributes.parse({ path_regex: '(' }), /regular expression/);
    assert.deepEqual(Object.keys(httpAbort.attributes.parse({})).sort(), [
      'body',
      'content_type',
      'header_name',
      'header_value',
      'headers',
      'method',
      'path_prefix',
      'path_regex',
      'percentage',
      'status',
    ]);
  });
});

describe('http_delay', () => {
  test('holds affected requests, keeps order, and lets unaffected ones through at once', () => {
    const { clock, advance } = virtualClock();
    const { link, pushed } = fakeLink(clock, [0.2, 0.5, 0.9, 0.5]);
    const toxic = httpDelay.create(httpDelay.attributes.parse({ delay: 100, percentage: 50 }), link);
    toxic.write(Buffer.from(GET('/slow')), 0);
    assert.equal(pushed.length, 0, 'held');
    advance(99);
    assert.equal(pushed.length, 0);
    advance(1);
    assert.equal(pushed.length, 1);
    assert.equal(pushed[0]!.time, 100);
    toxic.write(Buffer.from(GET('/fast')), clock.now());
    assert.equal(pushed.length, 2, 'roll 0.9 >= 0.5: not delayed');
  });
});
