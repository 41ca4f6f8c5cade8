/**
 * The live view's hub in memory: what a viewer's stream carries (snapshot, envelopes, end), resume
 * from Last-Event-ID (and a snapshot when it is too old), a viewer that stops reading dropped without
 * holding anything up, ended runs kept a while then forgotten, the server-wide stream, and the
 * projection of engine events (outputs cut, nothing added).
 */
import assert from 'node:assert/strict';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ActivityRun } from '../../src/core/journal.js';
import type { Activity } from '../../src/core/schema.js';
import { LiveHub, liveText, type ResponseViewer, toLiveEvent, type Viewer } from '../../src/server/live.js';
import { applyLiveEvent, LIVE_OUTPUT_CHARS, type LiveState } from '../../src/server/live-state.js';
import type { Run } from '../../src/server/store.js';
import { until } from '../helpers/until.js';

const RUN = '01a24eb3-6609-7000-ad0b-15202cc24b55';

const run = (over: Partial<Run> = {}): Run => ({
  id: RUN,
  title: 'a run',
  tags: [],
  origin: 'server',
  status: 'finished',
  verdict: 'passed',
  requestedAt: '2026-01-01T00:00:00Z',
  requestedBy: 'local',
  ...over,
});

interface Frame {
  event: string;
  id?: string;
  data: unknown;
}

/** Reads a viewer's stream as SSE frames until it closes (or `count` frames came). */
async function frames(viewer: Viewer, count = Number.POSITIVE_INFINITY): Promise<Frame[]> {
  const reader = viewer.stream.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const out: Frame[] = [];
  const parse = () => {
    for (let i = text.indexOf('\n\n'); i >= 0; i = text.indexOf('\n\n')) {
      const block = text.slice(0, i);
      text = text.slice(i + 2);
      if (block.startsWith(':')) continue;
      const f: Frame = { event: 'message', data: undefined };
      for (const line of block.split('\n')) {
        const [k, ...v] = line.split(': ');
        if (k === 'event') f.event = v.join(': ');
        else if (k === 'id') f.id = v.join(': ');
        else if (k === 'data') f.data = JSON.parse(v.join(': '));
      }
      out.push(f);
    }
  };
  while (out.length < count) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    parse();
  }
  reader.releaseLock();
  return out;
}

test('a viewer gets a snapshot, every event as an envelope with its seq, then the run-end and end', async () => {
  const hub = new LiveHub({ now: () => 42 });
  hub.begin(RUN, 'a run');
  hub.publish(RUN, { type: 'phase', phase: 'method' });
  const viewer = hub.viewer();
  assert.ok(hub.attach(RUN, viewer));
  hub.publish(RUN, { type: 'log', level: 'info', message: 'hello' });
  hub.end(run());
  const got = await frames(viewer);
  assert.deepEqual(
    got.map((f) => `${f.event}:${f.id ?? ''}`),
    ['snapshot:1', 'live:2', 'live:3', 'end:'],
  );
  const snapshot = got[0]?.data as LiveState;
  assert.equal(snapshot.phase, 'method');
  assert.deepEqual(got[1]?.data, { seq: 2, at: 42, event: { type: 'log', level: 'info', message: 'hello' } });
  assert.deepEqual(got[2]?.data, {
    seq: 3,
    at: 42,
    event: { type: 'run-end', status: 'finished', verdict: 'passed' },
  });
  assert.equal((got[3]?.data as Run | undefined)?.verdict, 'passed');
  // The browser's reducer over snapshot + envelopes gives the server's state.
  let s = snapshot;
  for (const f of got.slice(1, 3)) s = applyLiveEvent(s, f.data as never);
  assert.deepEqual(s, hub.state(RUN));
  assert.equal(hub.viewers, 0);
  hub.close();
});

test('resume: after Last-Event-ID only what came later; too old or from the future: a snapshot', async () => {
  const hub = new LiveHub({ ring: 5 });
  hub.begin(RUN, 'a run');
  for (let i = 0; i < 8; i++) hub.publish(RUN, { type: 'log', level: 'info', message: `m${i}` });
  // Ring holds seq 4..8: resuming after 3 misses nothing.
  const resumed = hub.viewer();
  hub.attach(RUN, resumed, 3);
  const r = await frames(resumed, 5);
  assert.deepEqual(
    r.map((f) => `${f.event}:${f.id}`),
    ['live:4', 'live:5', 'live:6', 'live:7', 'live:8'],
  );
  // Up to date: nothing until the next event.
  const current = hub.viewer();
  hub.attach(RUN, current, 8);
  hub.publish(RUN, { type: 'phase', phase: 'revert' });
  assert.deepEqual(
    (await frames(current, 1)).map((f) => `${f.event}:${f.id}`),
    ['live:9'],
  );
  for (const last of [2, 0, 10, 999]) {
    const v = hub.viewer();
    hub.attach(RUN, v, last);
    const [first] = await frames(v, 1);
    assert.equal(first?.event, 'snapshot', `Last-Event-ID ${last}`);
    assert.equal((first?.data as LiveState | undefined)?.seq, 9);
  }
  hub.close();
});

test('a viewer that stops reading is dropped once its unsent bytes pass the bound; the others and the run go on', async () => {
  const hub = new LiveHub({ maxBufferedBytes: 4096 });
  hub.begin(RUN, 'a run');
  const stuck = hub.viewer();
  const reading = hub.viewer();
  hub.attach(RUN, stuck);
  hub.attach(RUN, reading);
  const seen = frames(reading, 201);
  for (let i = 0; i < 200; i++) {
    // publish never waits for a viewer: it returns the envelope at once.
    assert.ok(hub.publish(RUN, { type: 'log', level: 'info', message: 'x'.repeat(100) }));
    // Engine events come in turns of the event loop: the reading viewer reads between them.
    await sleep(0);
  }
  assert.ok(stuck.closed);
  assert.match(stuck.dropped ?? '', /more than 4096 bytes unsent/);
  assert.equal(reading.dropped, undefined);
  assert.equal((await seen).length, 201);
  assert.equal(hub.viewers, 1);
  // The dropped viewer's stream errors: its connection is cut, the browser reconnects.
  await assert.rejects(stuck.stream.getReader().read());
  hub.close();
});

test('a dropped viewer with a cut (a socket) is cut instead, once', async () => {
  const hub = new LiveHub({ maxBufferedBytes: 1000 });
  hub.begin(RUN, 'a run');
  let cuts = 0;
  const v = hub.viewer(() => cuts++);
  hub.attach(RUN, v);
  for (let i = 0; i < 50; i++) hub.publish(RUN, { type: 'log', level: 'info', message: 'x'.repeat(100) });
  await until('the viewer cut', () => cuts > 0, 10_000);
  hub.publish(RUN, { type: 'log', level: 'info', message: 'more' });
  await sleep(20);
  assert.equal(cuts, 1);
  assert.ok(v.closed);
  assert.equal(hub.viewers, 0);
  hub.close();
});

test('a viewer that goes away (its stream cancelled) is forgotten', async () => {
  const hub = new LiveHub();
  hub.begin(RUN, 'a run');
  const v = hub.viewer();
  hub.attach(RUN, v);
  const server = hub.viewer();
  hub.attachServer(server, { type: 'halt', halt: { halted: false } });
  assert.equal(hub.viewers, 2);
  await v.stream.cancel();
  await server.stream.cancel();
  assert.equal(hub.viewers, 0);
  hub.publish(RUN, { type: 'phase', phase: 'method' });
  hub.close();
});

test('an ended run is kept a while (a late viewer gets snapshot and end), then forgotten', async () => {
  const hub = new LiveHub({ keepEndedMs: 50 });
  hub.begin(RUN, 'a run');
  hub.publish(RUN, { type: 'phase', phase: 'method' });
  hub.end(run({ status: 'interrupted', verdict: 'interrupted', reason: 'aborted' }));
  // Nothing more is taken for an ended run.
  assert.equal(hub.publish(RUN, { type: 'phase', phase: 'revert' }), undefined);
  const late = hub.viewer();
  assert.ok(hub.attach(RUN, late));
  const got = await frames(late);
  assert.deepEqual(
    got.map((f) => f.event),
    ['snapshot', 'end'],
  );
  assert.equal((got[0]?.data as LiveState | undefined)?.status, 'interrupted');
  assert.equal((got[0]?.data as LiveState | undefined)?.reason, 'aborted');
  await until('the ended run forgotten', () => hub.state(RUN) === undefined, 10_000);
  assert.equal(hub.attach(RUN, hub.viewer()), false);
});

test('a run ended without ever starting (refused) still gives waiting viewers its end', async () => {
  const hub = new LiveHub();
  const v = hub.viewer();
  hub.wait(run({ status: 'queued', verdict: undefined }), v, async () => 'wait');
  hub.end(run({ verdict: 'refused', reason: 'experiment m version 3 is not stored' }));
  const got = await frames(v);
  assert.deepEqual(
    got.map((f) => `${f.event}:${f.id ?? ''}`),
    ['snapshot:0', 'live:1', 'end:'],
  );
  assert.equal((got[0]?.data as LiveState | undefined)?.status, 'queued');
  hub.close();
});

test('a waiting viewer moves to the run when it begins, and the heartbeat settles one that ended elsewhere', async () => {
  const hub = new LiveHub({ heartbeatMs: 20 });
  const starts = hub.viewer();
  hub.wait(run({ status: 'queued' }), starts, async () => 'wait');
  hub.begin(RUN, 'a run');
  hub.publish(RUN, { type: 'run-start', title: 'a run' });
  const got = await frames(starts, 2);
  assert.deepEqual(
    got.map((f) => `${f.event}:${f.id}`),
    ['snapshot:0', 'live:1'],
  );

  const other = '11111111-6609-7000-ad0b-15202cc24b55';
  const elsewhere = hub.viewer();
  let ended = false;
  hub.wait(run({ id: other, status: 'queued' }), elsewhere, async () =>
    ended ? run({ id: other }) : 'wait',
  );
  await sleep(60);
  // Still queued at each heartbeat: still waiting.
  assert.equal(elsewhere.closed, false);
  ended = true;
  // The hub's heartbeat does not hold the process open (a server's socket does): this test must.
  const keepAlive = setInterval(() => {}, 1000);
  const rest = await frames(elsewhere).finally(() => clearInterval(keepAlive));
  assert.deepEqual(
    rest.map((f) => f.event),
    ['snapshot', 'end'],
  );
  hub.close();
});

test('frames are batched more as viewers grow, never past maxFlushMs, and always before a newcomer or the end', async () => {
  const hub = new LiveHub({ maxFlushMs: 30 });
  hub.begin(RUN, 'a run');
  const viewers = Array.from({ length: 400 }, () => hub.viewer());
  for (const v of viewers) hub.attach(RUN, v);
  const reads = viewers.map((v) => frames(v));
  hub.publish(RUN, { type: 'phase', phase: 'method' });
  hub.publish(RUN, { type: 'phase', phase: 'revert' });
  // A newcomer gets the pending frames' effect in its snapshot, and the others get them now.
  const late = hub.viewer();
  hub.attach(RUN, late);
  hub.end(run());
  const got = await Promise.all(reads);
  for (const g of got)
    assert.deepEqual(
      g.map((f) => `${f.event}:${f.id ?? ''}`),
      ['snapshot:0', 'live:1', 'live:2', 'live:3', 'end:'],
    );
  assert.deepEqual(
    (await frames(late)).map((f) => `${f.event}:${f.id ?? ''}`),
    ['snapshot:2', 'live:3', 'end:'],
  );
});

test('a batch to many viewers goes out a slice per event-loop turn; what follows it waits, so each viewer keeps the order', async () => {
  const hub = new LiveHub({ maxFlushMs: 60_000 });
  hub.begin(RUN, 'a run');
  const viewers = Array.from({ length: 300 }, () => hub.viewer());
  for (const v of viewers) hub.attach(RUN, v);
  hub.publish(RUN, { type: 'phase', phase: 'method' });
  const before = viewers.map((v) => v.buffered);
  // A newcomer makes the pending batch go out now: not in one go, the loop turns between slices.
  hub.attach(RUN, hub.viewer());
  assert.deepEqual(
    viewers.map((v) => v.buffered),
    before,
    'nothing written before the loop turns',
  );
  await new Promise((r) => setImmediate(r));
  const written = viewers.filter((v, i) => v.buffered > (before[i] as number)).length;
  assert.ok(
    written > 0 && written < viewers.length,
    `${written} of ${viewers.length} written after one turn`,
  );
  // The end comes while the batch is half written: the rest goes first, then the end, for every viewer.
  hub.publish(RUN, { type: 'phase', phase: 'revert' });
  hub.end(run());
  const got = await Promise.all(viewers.map((v) => frames(v)));
  for (const g of got)
    assert.deepEqual(
      g.map((f) => `${f.event}:${f.id ?? ''}`),
      ['snapshot:0', 'live:1', 'live:2', 'live:3', 'end:'],
    );
});

test('a viewer written straight to a Node response (real sockets): one that stops reading is cut at the bound, one that reads gets everything', async () => {
  const hub = new LiveHub({ maxBufferedBytes: 256 * 1024, maxFlushMs: 0 });
  hub.begin(RUN, 'a run');
  const attached: ResponseViewer[] = [];
  const responses: ServerResponse[] = [];
  const server = createServer((_req, res) => {
    responses.push(res);
    const v = hub.responseViewer(res);
    v.open();
    hub.attach(RUN, v);
    attached.push(v);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const open = (read: boolean) =>
    new Promise<{ text: () => string; closed: Promise<void>; destroy: () => void }>((resolve, reject) => {
      const req = request(url, { agent: false }, (res) => {
        let text = '';
        const closed = new Promise<void>((done) => res.on('close', () => done()));
        if (read) res.on('data', (d: Buffer) => (text += d.toString()));
        else res.pause();
        resolve({ text: () => text, closed, destroy: () => req.destroy() });
      });
      req.on('error', reject);
      req.end();
    });
  const stuck = await open(false);
  const reader = await open(true);
  try {
    assert.equal(attached.length, 2);
    const big = 'x'.repeat(1500);
    // Far more than the bound and the sockets' buffers: the stuck one must be cut, the run goes on.
    for (let i = 0; i < 20_000 && !attached[0]?.closed; i++) {
      hub.publish(RUN, { type: 'log', level: 'info', message: big });
      // Turns of the loop, so the reading viewer keeps up while the stuck one piles up.
      if (i % 20 === 0) await sleep(1);
    }
    await until('the stuck viewer cut', () => attached[0]?.dropped !== undefined);
    // Its socket is destroyed on the server's side (the client, not reading, cannot see it yet).
    assert.equal(responses[0]?.destroyed, true);
    assert.equal(responses[0]?.socket?.destroyed ?? true, true);
    assert.match(attached[0]?.dropped ?? '', /not reading/);
    assert.equal(attached[1]?.dropped, undefined, 'the reading viewer kept up');
    hub.end(run());
    await reader.closed;
    const seqs = [...reader.text().matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i),
      'the snapshot (0), then every envelope once, in order',
    );
    assert.ok(reader.text().endsWith(`event: end\ndata: ${JSON.stringify(run())}\n\n`));
    assert.match(reader.text(), /^event: snapshot\n/);
  } finally {
    stuck.destroy();
    reader.destroy();
    hub.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('broadcast reaches every server-wide viewer after its first event; close ends every stream', async () => {
  const hub = new LiveHub();
  const a = hub.viewer();
  const b = hub.viewer();
  hub.attachServer(a, { type: 'halt', halt: { halted: false } });
  hub.attachServer(b, { type: 'halt', halt: { halted: true, since: 's', by: 'ann', reason: 'r' } });
  hub.broadcast({ type: 'run', run: run({ status: 'running' }) });
  hub.broadcast({ type: 'halt', halt: { halted: true, since: 's', by: 'ann', reason: 'r' } });
  hub.begin(RUN, 'a run');
  const v = hub.viewer();
  hub.attach(RUN, v);
  hub.close();
  const fa = await frames(a);
  assert.deepEqual(
    fa.map((f) => f.event),
    ['halt', 'run', 'halt'],
  );
  assert.deepEqual(fa[0]?.data, { halted: false });
  assert.equal((fa[1]?.data as Run | undefined)?.status, 'running');
  assert.equal((await frames(b))[0]?.event, 'halt');
  assert.deepEqual(
    (await frames(v)).map((f) => f.event),
    ['snapshot'],
  );
  assert.equal(hub.viewers, 0);
});

test('toLiveEvent: outputs as JSON text cut to LIVE_OUTPUT_CHARS, tolerances of judged probes, nothing more', () => {
  const activity: Activity = {
    type: 'probe',
    name: 'body',
    tolerance: 200,
    provider: { type: 'http', url: 'http://x/?token=***' },
  };
  const big: ActivityRun = {
    activity,
    output: { body: 'y'.repeat(100_000) },
    status: 'succeeded',
    start: '',
    end: '',
    duration: 1,
    tolerance_met: false,
  };
  const e = toLiveEvent({ type: 'activity-end', phase: 'before-hypothesis', run: big, reason: 'too big' });
  assert.ok(e && e.type === 'activity-end');
  assert.equal(e.output?.length, LIVE_OUTPUT_CHARS);
  assert.ok(e.output?.startsWith('{"body":"yyy'));
  assert.equal(e.tolerance, 200);
  assert.equal(e.toleranceMet, false);
  assert.equal(e.error, 'too big');
  // The provider (arguments, URLs) never goes to the browser: only the name and the kind.
  assert.doesNotMatch(JSON.stringify(e), /token|http:/);
  const start = toLiveEvent({ type: 'activity-start', phase: 'method', activity, background: true });
  assert.deepEqual(start, {
    type: 'activity-start',
    phase: 'method',
    name: 'body',
    activity: 'probe',
    background: true,
  });
  // An action's end has no tolerance; a failed one its last exception line.
  const failed = toLiveEvent({
    type: 'activity-end',
    phase: 'method',
    run: {
      ...big,
      activity: { ...activity, type: 'action' },
      tolerance_met: undefined,
      status: 'failed',
      output: undefined,
      exception: ['Traceback\n', 'ActivityFailed: boom\n'],
    },
  });
  assert.deepEqual(failed, {
    type: 'activity-end',
    phase: 'method',
    name: 'body',
    status: 'failed',
    error: 'ActivityFailed: boom',
  });
  assert.deepEqual(
    toLiveEvent({ type: 'load', requests: 10, throughput: 10, error_rate: 0.1, p50: 1.5, p99: 9 }, () => 7),
    { type: 'load', sample: { at: 7, throughput: 10, errorRate: 0.1, p50: 1.5, p99: 9 } },
  );
  assert.deepEqual(
    toLiveEvent({
      type: 'safeguard',
      name: 'g',
      met: false,
      output: { rate: 0.5 },
      tolerance: [0, 0.1],
      reason: 'r',
    }),
    { type: 'safeguard', name: 'g', met: false, value: '{"rate":0.5}', tolerance: [0, 0.1], reason: 'r' },
  );
  assert.deepEqual(toLiveEvent({ type: 'notice', level: 'warn', message: 'w' }), {
    type: 'log',
    level: 'warn',
    message: 'w',
  });
  assert.equal(toLiveEvent({ type: 'report', format: 'html', path: '/x' }), undefined);
});

test('liveText: strings, bigints, circular values and huge strings stay bounded JSON text', () => {
  assert.equal(liveText('a"b'), '"a\\"b"');
  assert.equal(liveText(10n), '"10"');
  assert.equal(liveText(undefined), 'undefined');
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  assert.equal(liveText(circular), '[object Object]');
  assert.equal(liveText('z'.repeat(10_000_000)).length, LIVE_OUTPUT_CHARS);
});
