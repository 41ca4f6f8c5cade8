/** The RESP2 client: parsing every reply type (errors, nulls, nested arrays, partial input) and the socket behaviour. */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { parseClientList } from '../../src/faults/redis/conn.js';
import {
  encodeCommand,
  parseReply,
  RespClient,
  RespConnectionError,
  RespError,
} from '../../src/faults/redis/resp.js';

const b = (s: string) => Buffer.from(s, 'utf8');

test('simple strings, integers, bulk strings and nulls', () => {
  assert.deepEqual(parseReply(b('+OK\r\n')), { value: 'OK', next: 5 });
  assert.deepEqual(parseReply(b(':-42\r\n')), { value: -42, next: 6 });
  assert.deepEqual(parseReply(b('$4\r\nhé!\r\n')), { value: 'hé!', next: 10 });
  assert.deepEqual(parseReply(b('$0\r\n\r\n')), { value: '', next: 6 });
  assert.deepEqual(parseReply(b('$-1\r\n')), { value: null, next: 5 });
  assert.deepEqual(parseReply(b('*-1\r\n')), { value: null, next: 5 });
  const raw = parseReply(b('$2\r\n\r\n\r\n'), 0, true);
  assert.ok(Buffer.isBuffer(raw?.value));
  assert.equal(String(raw?.value), '\r\n', 'a bulk string may contain CRLF');
});

test('error replies carry their prefix, also inside arrays', () => {
  const e = parseReply(b('-WRONGTYPE Operation against a key\r\n'))?.value;
  assert.ok(e instanceof RespError);
  assert.equal(e.prefix, 'WRONGTYPE');
  assert.equal(e.message, 'WRONGTYPE Operation against a key');
  const arr = parseReply(b('*2\r\n+OK\r\n-ERR bad\r\n'))?.value as unknown[];
  assert.equal(arr[0], 'OK');
  assert.ok(arr[1] instanceof RespError);
});

test('nested arrays and mixed types', () => {
  const text = '*3\r\n*2\r\n:1\r\n$1\r\na\r\n*0\r\n*1\r\n*1\r\n$-1\r\n';
  assert.deepEqual(parseReply(b(text)), { value: [[1, 'a'], [], [[null]]], next: text.length });
});

test('partial input waits for more bytes, at every cut', () => {
  const text = '*2\r\n$5\r\nhello\r\n*1\r\n:7\r\n+next\r\n';
  const end = text.indexOf('+next');
  for (let cut = 0; cut < end; cut++)
    assert.equal(parseReply(b(text.slice(0, cut))), undefined, `cut ${cut}`);
  assert.deepEqual(parseReply(b(text)), { value: ['hello', [7]], next: end });
  assert.deepEqual(parseReply(b(text), end), { value: 'next', next: text.length });
});

test('protocol errors throw', () => {
  assert.throws(() => parseReply(b('?x\r\n')), /unexpected reply type/);
  assert.throws(() => parseReply(b(':12a\r\n')), /invalid integer/);
  assert.throws(() => parseReply(b('$3\r\nabcde\r\n')), /CRLF/);
  assert.throws(() => parseReply(b(`${'*1\r\n'.repeat(100)}:1\r\n`)), /nested too deeply/);
});

test('commands are encoded as arrays of bulk strings', () => {
  assert.equal(
    encodeCommand(['SET', 'k', 'é', 5]).toString(),
    '*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\né\r\n$1\r\n5\r\n',
  );
});

test('CLIENT LIST lines are parsed into fields', () => {
  const list = parseClientList(
    'id=3 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 name= cmd=client|list\nid=7 addr=127.0.0.1:5001 name=faultline-ab cmd=eval\n',
  );
  assert.deepEqual(
    list.map((c) => [c.id, c.name, c.cmd]),
    [
      ['3', '', 'client|list'],
      ['7', 'faultline-ab', 'eval'],
    ],
  );
});

/** A fake server: answers each command line with the next canned reply, split in small chunks. */
async function fakeServer(replies: string[], onConnect?: (s: Socket) => void) {
  const server = createServer((sock) => {
    onConnect?.(sock);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      // One reply per complete command (commands start with '*').
      let n = (buf.match(/\*\d+\r\n/g) ?? []).length;
      buf = '';
      while (n-- > 0) {
        const r = replies.shift();
        if (r === undefined) continue;
        for (let i = 0; i < r.length; i += 3) sock.write(r.slice(i, i + 3));
      }
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((res) => server.close(() => res())) };
}

test('the client pipelines, resolves replies in order, rejects error replies and stays usable', async () => {
  const srv = await fakeServer(['+PONG\r\n', '*2\r\n$1\r\na\r\n*1\r\n:2\r\n', '-ERR nope\r\n', ':5\r\n']);
  const c = await RespClient.connect({ host: '127.0.0.1', port: srv.port });
  try {
    const [arr, err, n] = await Promise.allSettled([
      c.command(['LRANGE', 'x']),
      c.command(['BAD']),
      c.command(['INCR', 'x']),
    ]);
    assert.deepEqual(arr, { status: 'fulfilled', value: ['a', [2]] });
    assert.equal(err.status, 'rejected');
    assert.ok((err as PromiseRejectedResult).reason instanceof RespError);
    assert.deepEqual(n, { status: 'fulfilled', value: 5 });
  } finally {
    c.destroy();
    await srv.close();
  }
});

test('a reply that does not come in time closes the connection; so does the server closing it', async () => {
  const sockets: Socket[] = [];
  const srv = await fakeServer(['+PONG\r\n'], (s) => sockets.push(s));
  const c = await RespClient.connect({ host: '127.0.0.1', port: srv.port });
  let closedWith: Error | undefined;
  c.onClose((e) => {
    closedWith = e;
  });
  await assert.rejects(c.command(['BLPOP', 'x', '0'], { timeoutMs: 100 }), RespConnectionError);
  assert.equal(c.closed, true);
  assert.ok(closedWith);
  await assert.rejects(c.command(['PING']), RespConnectionError);

  const srv2 = await fakeServer(['+PONG\r\n'], (s) => sockets.push(s));
  const c2 = await RespClient.connect({ host: '127.0.0.1', port: srv2.port });
  const pending = c2.command(['GET', 'x']);
  sockets.at(-1)!.destroy();
  await assert.rejects(pending, RespConnectionError);
  await srv.close();
  await srv2.close();
});

test('connecting to nothing fails with a RespConnectionError naming the address', async () => {
  const srv = await fakeServer([]);
  const { port } = srv;
  await srv.close();
  await assert.rejects(RespClient.connect({ host: '127.0.0.1', port }), (err: Error) => {
    assert.ok(err instanceof RespConnectionError);
    assert.match(err.message, new RegExp(`127.0.0.1:${port}`));
    return true;
  });
});
