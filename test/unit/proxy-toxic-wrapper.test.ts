/**
 * The per-link toxic wrapper (link.ts): what every toxic gets for free. Pure:
 * the link runs on stand-in sockets, no network and no waiting.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { BusyPoller } from '../../src/proxy/busy-poll.js';
import { ToxicEntry } from '../../src/proxy/entry.js';
import { Link, type LinkOwner } from '../../src/proxy/link.js';
import { toxicKinds } from '../../src/proxy/toxics/index.js';

class FakeSocket {
  written: string[] = [];
  ended = false;
  paused = false;
  destroyed = false;
  writableLength = 0;
  write(chunk: Buffer, cb?: () => void): boolean {
    this.written.push(chunk.toString());
    cb?.();
    return true;
  }
  end(): void {
    this.ended = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

function setup() {
  const src = new FakeSocket();
  const dst = new FakeSocket();
  const events: string[] = [];
  const owner: LinkOwner = {
    id: 1,
    proxy: 'p',
    shared: new Map(),
    close: () => events.push('close'),
    reset: () => events.push('reset'),
    opposite: () => link,
  };
  const bytes = { received: 0, sent: 0 };
  const link = new Link(owner, 'downstream', bytes, new BusyPoller(0));
  link.setSource(src as unknown as Socket);
  link.dst = dst as unknown as Socket;
  return { link, src, dst, bytes, events };
}

const entry = (type: string, attributes: Record<string, unknown> = {}, toxicity = 1) => {
  const kind = toxicKinds.get(type)!;
  return new ToxicEntry(
    kind,
    `${type}_downstream`,
    'downstream',
    'downstream',
    toxicity,
    kind.attributes.parse(attributes),
  );
};

const send = (link: Link, s: string) => link.onData(Buffer.from(s));

describe('toxic wrapper', () => {
  test('no toxic: chunks go straight through and are counted both ways', () => {
    const { link, dst, bytes } = setup();
    send(link, 'abc');
    assert.deepEqual(dst.written, ['abc']);
    assert.deepEqual(bytes, { received: 3, sent: 3 });
    assert.equal(link.head, null);
  });

  test('removing a toxic hands on what it holds, in order, and releases its pause', () => {
    const { link, src, dst } = setup();
    const latency = entry('latency', { latency: 60_000 });
    link.attach(latency);
    send(link, 'one');
    send(link, 'two');
    assert.deepEqual(dst.written, []);
    link.detach(latency);
    assert.deepEqual(dst.written, ['one', 'two']);
    assert.equal(src.paused, false);
    assert.equal(link.head, null);
    send(link, 'three');
    assert.deepEqual(dst.written, ['one', 'two', 'three']);
  });

  test('an end-of-stream held by a removed toxic is forwarded by the wrapper', () => {
    const { link, dst } = setup();
    const slowClose = entry('slow_close', { delay: 60_000 });
    link.attach(slowClose);
    send(link, 'bye');
    link.onSourceEnd();
    assert.equal(dst.ended, false);
    link.detach(slowClose);
    assert.equal(dst.ended, true);
  });

  test('a toxic added after the end went through does not end again', () => {
    const { link, dst } = setup();
    link.onSourceEnd();
    assert.equal(dst.ended, true);
    const stage = link.attach(entry('noop'));
    assert.equal(stage.endIn, true);
    assert.equal(stage.endOut, true);
  });

  test('toxicity 0 keeps the link on the fast path; raising it re-rolls on the live link', () => {
    const { link, dst } = setup();
    const latency = entry('latency', { latency: 60_000 }, 0);
    link.attach(latency);
    assert.equal(link.head, null);
    send(link, 'a');
    assert.deepEqual(dst.written, ['a']);
    latency.toxicity = 1;
    link.update(latency, true);
    assert.notEqual(link.head, null);
    send(link, 'b');
    assert.deepEqual(dst.written, ['a']);
    assert.equal(latency.applied, 1);
    latency.toxicity = 0;
    link.update(latency, true);
    assert.deepEqual(dst.written, ['a', 'b'], 're-rolled off: held data released');
  });

  test('an attribute update does not re-roll', () => {
    const { link } = setup();
    const noop = entry('noop', {}, 0.5);
    const rolls: boolean[] = [];
    for (let i = 0; i < 50; i++) link.attach(noop);
    rolls.push(...link.stages.map((s) => s.toxic !== null));
    for (let i = 0; i < 5; i++) link.update(noop, false);
    assert.deepEqual(
      link.stages.map((s) => s.toxic !== null),
      rolls,
    );
  });

  test('toxics run in insertion order; a close() downstream of held data waits for it', () => {
    const { link, dst, events } = setup();
    link.attach(entry('limit_data', { bytes: 4 }));
    const latency = entry('latency', { latency: 60_000 });
    link.attach(latency);
    send(link, 'abcdef');
    assert.deepEqual(events, [], 'the cut data is still held by the latency toxic');
    link.detach(latency);
    assert.deepEqual(dst.written, ['abcd']);
    assert.equal(dst.ended, true);
    assert.deepEqual(events, ['close']);
  });

  test('dispose stops every toxic and drops data', () => {
    const { link, dst } = setup();
    link.attach(entry('latency', { latency: 60_000 }));
    send(link, 'x');
    link.dispose();
    send(link, 'y');
    assert.deepEqual(dst.written, []);
  });
});
