/**
 * The live view against a real server (port 0, SQLite) running a real experiment: `load:` traffic
 * against a local HTTP server, a marker-file fault, a safeguard checked five times a second, and a
 * probe that prints a secret. An SSE client (raw HTTP, parsed here) sees the snapshot, the phases,
 * activities with their tolerance results, the fault injected then reverted, load seconds, safeguard
 * checks, the run-end and `end`; the secret never. Then: resume with Last-Event-ID, a finished run
 * the server never ran, a viewer that never reads (the run ends all the same), `/api/live`, 404,
 * 409 for a run of another server, and fuzzed ids and Last-Event-ID headers (4xx JSON, no crash).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { faultStatus } from '../../src/faults/recovery.js';
import { applyLiveEvent, type LiveEnvelope, type LiveState } from '../../src/server/live-state.js';
import { assertClientError, http, prng } from '../helpers/http-raw.js';
import { runEnded, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

interface Frame {
  event: string;
  id?: string;
  data: any;
}

interface LiveClient {
  status: number;
  headers: IncomingMessage['headers'];
  frames: Frame[];
  /** The raw text received (to look for what must never be in it). */
  text(): string;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

/** A server-sent events client over plain HTTP: frames parsed as they arrive. */
function openLive(
  base: string,
  path: string,
  headers: Record<string, string> = {},
  opts: { neverRead?: boolean } = {},
): Promise<LiveClient> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { headers: { accept: 'text/event-stream', ...headers }, agent: false },
      (res) => {
        const frames: Frame[] = [];
        let raw = '';
        let buffer = '';
        const ended = new Promise<void>((done) => {
          res.on('end', done);
          res.on('close', done);
        });
        if (opts.neverRead) {
          // Not a byte taken off the socket: the server's writes pile up in its buffers.
          res.pause();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            frames: [],
            text: () => '',
            ended,
            close: () => req.destroy(),
          });
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          raw += chunk;
          buffer += chunk;
          for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            if (block.startsWith(':')) continue;
            const f: Frame = { event: 'message', data: undefined };
            for (const line of block.split('\n')) {
              const at = line.indexOf(': ');
              const k = line.slice(0, at);
              const v = line.slice(at + 2);
              if (k === 'event') f.event = v;
              else if (k === 'id') f.id = v;
              else if (k === 'data') f.data = JSON.parse(v);
            }
            frames.push(f);
          }
        });
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          frames,
          text: () => raw,
          ended,
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const liveEvents = (frames: Frame[]) =>
  frames.filter((f) => f.event === 'live').map((f) => (f.data as LiveEnvelope).event);

describe('the live view (server-sent events)', () => {
  let t: TestServer;
  let target: Server;
  let targetUrl: string;
  const secret = `live-secret-${randomBytes(8).toString('hex')}`;
  const clients: LiveClient[] = [];
  let runId = '';
  let watched: LiveClient;
  let server: LiveClient;

  before(async () => {
    // The run's probe reads it from the environment the server runs with (this process's).
    process.env.FAULTLINE_LIVE_TEST_TOKEN = secret;
    target = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;
    t = await startTestServer();
  });
  after(async () => {
    // Closing the server with /api/live still open must not wait for it: the server ends the stream.
    await t?.close();
    if (server) await server.ended;
    for (const c of clients) c.close();
    await new Promise<void>((r) => target?.close(() => r()));
    delete process.env.FAULTLINE_LIVE_TEST_TOKEN;
  });

  const track = (c: LiveClient) => {
    clients.push(c);
    return c;
  };

  const experiment = (marker: string, pause: number) =>
    JSON.stringify({
      title: 'watched live',
      description: 'load, a marker fault, a safeguard, a probe that prints a secret',
      secrets: { app: { token: { type: 'env', key: 'FAULTLINE_LIVE_TEST_TOKEN' } } },
      load: { rate: 40, requests: [{ url: targetUrl }] },
      safeguards: [
        {
          type: 'probe',
          name: 'errors-stay-low',
          frequency: 0.2,
          tolerance: { type: 'range', range: [0, 0.5] },
          provider: {
            type: 'faultline',
            module: 'faultline.load',
            func: 'error_rate',
            arguments: { window: 1 },
          },
        },
      ],
      'steady-state-hypothesis': {
        title: 'the secret is printed and node exits 0',
        probes: [
          {
            type: 'probe',
            name: 'prints-token',
            tolerance: 0,
            provider: {
              type: 'process',
              path: process.execPath,
              arguments: ['-e', 'console.log(process.argv[1])', '${token}'],
            },
          },
        ],
      },
      method: [
        {
          type: 'action',
          name: 'create-marker',
          provider: {
            type: 'faultline',
            module: 'faultline.marker',
            func: 'create',
            arguments: { path: marker, duration: 600 },
          },
          pauses: { after: pause },
        },
      ],
    });

  test('a run watched from its queueing: every kind of event, in order, to its end; the secret never', async () => {
    const marker = join(t.dir, 'live.marker');
    const up = await t.api('POST', '/api/experiments', {
      name: 'watched',
      format: 'json',
      source: experiment(marker, 3),
    });
    assert.equal(up.status, 201, up.text);
    server = track(await openLive(t.url, '/api/live'));
    assert.equal(server.status, 200);
    await until('the first server event', () => server.frames.length > 0);
    assert.equal(server.frames[0]?.event, 'halt');
    assert.equal(server.frames[0]?.data.halted, false);

    const queued = await t.api('POST', '/api/runs', { experiment: 'watched' });
    assert.equal(queued.status, 202, queued.text);
    runId = queued.body.id;
    watched = track(await openLive(t.url, `/api/runs/${runId}/live`));
    // A viewer that never reads a byte: the run must not wait for it.
    const stuck = track(await openLive(t.url, `/api/runs/${runId}/live`, {}, { neverRead: true }));
    assert.equal(stuck.status, 200);
    assert.equal(watched.status, 200);
    assert.match(String(watched.headers['content-type']), /^text\/event-stream/);

    await until('the marker fault to be active', () => existsSync(marker), 60_000);
    await watched.ended;
    const ran = await runEnded(t.store, runId);
    assert.equal(ran.verdict, 'passed', JSON.stringify(ran));

    const { frames } = watched;
    assert.equal(frames[0]?.event, 'snapshot');
    assert.equal(frames.at(-1)?.event, 'end');
    assert.equal(frames.at(-1)?.data.id, runId);
    assert.equal(frames.at(-1)?.data.verdict, 'passed');
    // Every envelope once, in order, ids as seqs.
    const seqs = frames.filter((f) => f.event === 'live').map((f) => (f.data as LiveEnvelope).seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => seqs[0]! + i),
    );
    assert.ok(frames.filter((f) => f.event === 'live').every((f) => f.id === String(f.data.seq)));

    const events = liveEvents(frames);
    const phases = events.filter((e) => e.type === 'phase').map((e) => (e as { phase: string }).phase);
    for (const p of ['before-hypothesis', 'method', 'after-hypothesis', 'revert'])
      assert.ok(phases.includes(p), `phase ${p} in ${phases.join(', ')}`);
    const probeEnds = events.filter((e) => e.type === 'activity-end' && e.name === 'prints-token');
    assert.equal(probeEnds.length, 2);
    for (const e of probeEnds) {
      assert.ok(e.type === 'activity-end');
      assert.equal(e.tolerance, 0);
      assert.equal(e.toleranceMet, true);
      assert.match(e.output ?? '', /\*\*\*/);
    }
    assert.ok(events.some((e) => e.type === 'activity-start' && e.name === 'create-marker'));
    const faults = events.filter((e) => e.type === 'fault');
    assert.deepEqual(
      faults.map((e) => e.type === 'fault' && e.action),
      ['injected', 'reverted'],
    );
    const fault = faults[0]?.type === 'fault' ? faults[0].fault : undefined;
    assert.equal(fault?.kind, 'marker-file');
    assert.equal(fault?.target, marker);
    const load = events.filter((e) => e.type === 'load');
    assert.ok(load.length >= 1, 'at least one load second');
    assert.ok(load.some((e) => e.type === 'load' && e.sample.throughput > 0));
    const guards = events.filter((e) => e.type === 'safeguard');
    assert.ok(guards.length >= 2, `safeguard checks: ${guards.length}`);
    for (const g of guards) {
      assert.ok(g.type === 'safeguard');
      assert.equal(g.name, 'errors-stay-low');
      assert.equal(g.met, true);
      assert.deepEqual(g.tolerance, { type: 'range', range: [0, 0.5] });
      assert.equal(typeof g.value, 'string');
    }
    const end = events.at(-1);
    assert.deepEqual(end, { type: 'run-end', status: 'finished', verdict: 'passed' });
    assert.ok(!watched.text().includes(secret), 'the secret reached the live stream');

    // The browser's reducer over the stream: the run as the store has it.
    let state = frames[0]?.data as LiveState;
    for (const f of frames) if (f.event === 'live') state = applyLiveEvent(state, f.data as LiveEnvelope);
    assert.equal(state.status, 'finished');
    assert.equal(state.verdict, 'passed');
    assert.deepEqual(
      state.faults.map((f) => f.state),
      ['reverted'],
    );
    assert.equal(state.safeguards[0]?.checks, guards.length);
    assert.deepEqual(state.current, []);

    // /api/live saw it queued, running and ended.
    await until('the end on /api/live', () =>
      server.frames.some((f) => f.event === 'run' && f.data.id === runId && f.data.status === 'finished'),
    );
    const statuses = server.frames
      .filter((f) => f.event === 'run' && f.data.id === runId)
      .map((f) => f.data.status);
    assert.deepEqual(statuses, ['queued', 'running', 'finished']);
  });

  test('resume: Last-Event-ID gets only what came after, then the end; without it, the whole state and the end', async () => {
    assert.ok(runId, 'needs the watched run');
    const all = watched.frames.filter((f) => f.event === 'live');
    const middle = all[Math.floor(all.length / 2)]!.data.seq as number;
    const resumed = track(
      await openLive(t.url, `/api/runs/${runId}/live`, { 'last-event-id': String(middle) }),
    );
    await resumed.ended;
    assert.equal(resumed.frames[0]?.event, 'live');
    assert.equal(resumed.frames[0]?.data.seq, middle + 1);
    assert.equal(resumed.frames.at(-1)?.event, 'end');
    assert.equal(resumed.frames.filter((f) => f.event === 'live').length, all.at(-1)!.data.seq - middle);

    const fresh = track(await openLive(t.url, `/api/runs/${runId}/live`));
    await fresh.ended;
    assert.deepEqual(
      fresh.frames.map((f) => f.event),
      ['snapshot', 'end'],
    );
    assert.equal(fresh.frames[0]?.data.status, 'finished');
    assert.equal(fresh.frames[0]?.data.faults[0]?.state, 'reverted');
  });

  test('a finished run this server never ran (a pushed journal): its snapshot from the store and end at once', async () => {
    assert.ok(runId, 'needs the watched run');
    const stored = await t.api('GET', `/api/runs/${runId}`);
    const pushed = await t.api('POST', '/api/runs/import', { journal: stored.body.journal });
    assert.equal(pushed.status, 201, pushed.text);
    const c = track(await openLive(t.url, `/api/runs/${pushed.body.id}/live`));
    await c.ended;
    assert.deepEqual(
      c.frames.map((f) => f.event),
      ['snapshot', 'end'],
    );
    assert.equal(c.frames[0]?.data.runId, pushed.body.id);
    assert.equal(c.frames[0]?.data.status, 'finished');
    assert.equal(c.frames[0]?.data.verdict, 'passed');
    assert.equal(c.frames[1]?.data.id, pushed.body.id);
  });

  test("a run runs in a worker thread of the server's process, with the server's environment, and is watched from there", async () => {
    // The run's thread keeps its timers and sockets off the server's event loop; it is still the
    // server's process (the ledger and the home are its), and the server's environment is the run's.
    const probe = join(t.dir, 'thread-probe.mjs');
    writeFileSync(
      probe,
      "import { isMainThread } from 'node:worker_threads';\nexport function where({ value }) { return { isMainThread, pid: process.pid, value }; }\n",
    );
    process.env.FAULTLINE_LIVE_THREAD_TEST = 'from-the-server-env';
    try {
      const up = await t.api('POST', '/api/experiments', {
        name: 'threaded',
        format: 'json',
        source: JSON.stringify({
          title: 'where does it run',
          description: 'a node probe says which thread and process it is in',
          configuration: { value: { type: 'env', key: 'FAULTLINE_LIVE_THREAD_TEST' } },
          method: [
            {
              type: 'probe',
              name: 'where',
              provider: { type: 'node', module: probe, func: 'where', arguments: { value: '${value}' } },
            },
          ],
        }),
      });
      assert.equal(up.status, 201, up.text);
      const queued = await t.api('POST', '/api/runs', { experiment: 'threaded' });
      assert.equal(queued.status, 202, queued.text);
      const c = track(await openLive(t.url, `/api/runs/${queued.body.id}/live`));
      await c.ended;
      const ran = await runEnded(t.store, queued.body.id);
      assert.equal(ran.verdict, 'passed', JSON.stringify(ran));
      const output = ran.journal.run[0]?.output;
      assert.deepEqual(output, { isMainThread: false, pid: process.pid, value: 'from-the-server-env' });
      // Its events crossed to the server's thread: the viewer saw the probe end with that output.
      const ended = liveEvents(c.frames).find((e) => e.type === 'activity-end' && e.name === 'where');
      assert.ok(ended?.type === 'activity-end');
      assert.deepEqual(JSON.parse(ended.output ?? 'null'), output);
      assert.equal(c.frames.at(-1)?.event, 'end');
    } finally {
      delete process.env.FAULTLINE_LIVE_THREAD_TEST;
    }
  });

  test('a run refused at its start comes back from its thread as refused, with the reason', async () => {
    // Uploads are validated, so a refusal at run time comes from what the run reads as it starts: the
    // home's settings file, invalid here for the length of this test (runs are one at a time).
    const settings = join(t.home.home, 'settings.yaml');
    writeFileSync(settings, 'safeguards: not-a-list\n');
    try {
      const up = await t.api('POST', '/api/experiments', {
        name: 'refused-in-thread',
        format: 'json',
        source: JSON.stringify({
          title: 'refused by the settings',
          description: 'never starts',
          method: [
            {
              type: 'probe',
              name: 'echo',
              provider: { type: 'process', path: process.execPath, arguments: ['-e', ''] },
            },
          ],
        }),
      });
      assert.equal(up.status, 201, up.text);
      const queued = await t.api('POST', '/api/runs', { experiment: 'refused-in-thread' });
      assert.equal(queued.status, 202, queued.text);
      const ran = await runEnded(t.store, queued.body.id);
      assert.equal(ran.verdict, 'refused', JSON.stringify(ran));
      assert.match(ran.reason ?? '', /safeguards/);
      assert.doesNotMatch(ran.reason ?? '', /internal error/);
    } finally {
      rmSync(settings, { force: true });
    }
  });

  test('a run whose thread dies mid-run: its faults are reverted by the server, and the run says so', async () => {
    // process.exit() in a worker thread ends the thread alone: the server's process, which owns the
    // run's ledger entries, lives on, so no orphan recovery would ever take them.
    const marker = join(t.dir, 'thread-death.marker');
    const module = join(t.dir, 'exit-thread.mjs');
    writeFileSync(module, 'export function exitNow() { process.exit(7); }\n');
    const up = await t.api('POST', '/api/experiments', {
      name: 'thread-death',
      format: 'json',
      source: JSON.stringify({
        title: 'the run thread exits while a fault is held',
        description: 'a marker fault, then an action that ends the thread',
        method: [
          {
            type: 'action',
            name: 'create-marker',
            provider: {
              type: 'faultline',
              module: 'faultline.marker',
              func: 'create',
              arguments: { path: marker, duration: 600 },
            },
          },
          { type: 'action', name: 'exit-thread', provider: { type: 'node', module, func: 'exitNow' } },
        ],
      }),
    });
    assert.equal(up.status, 201, up.text);
    const queued = await t.api('POST', '/api/runs', { experiment: 'thread-death' });
    assert.equal(queued.status, 202, queued.text);
    const ran = await runEnded(t.store, queued.body.id);
    assert.equal(ran.verdict, 'failed', JSON.stringify(ran));
    assert.match(ran.reason ?? '', /thread exited/);
    assert.match(ran.reason ?? '', /1 fault\(s\) left in the ledger were reverted/);
    assert.equal(existsSync(marker), false, 'the marker fault was reverted');
    const status = await faultStatus({ home: t.home.home });
    assert.deepEqual(status.faults, [], 'the ledger is empty');
  });

  test('no such run: 404 JSON; malformed ids and Last-Event-ID headers: 4xx JSON, and the server goes on', async () => {
    const missing = await http(t.url, 'GET', '/api/runs/00000000-0000-4000-8000-000000000000/live');
    assertClientError(missing, 'no such run');
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body).error.code, 'not_found');

    const rand = prng(17);
    const ids = ['x', '1', '..%2F..%2Fhalt', '%00', 'a'.repeat(5000), '00000000-0000-4000-8000-00000000000g'];
    for (let i = 0; i < 20; i++)
      ids.push(
        encodeURIComponent(
          Array.from({ length: 1 + Math.floor(rand() * 60) }, () =>
            String.fromCharCode(32 + Math.floor(rand() * 95)),
          ).join(''),
        ),
      );
    for (const id of ids)
      assertClientError(await http(t.url, 'GET', `/api/runs/${id}/live`), `id ${id.slice(0, 40)}`);

    const headers = ['abc', '-1', '1e3', '1.5', ' 7x', '9'.repeat(40), '0x10', 'NaN', 'Infinity'];
    for (let i = 0; i < 20; i++)
      headers.push(
        Array.from({ length: 1 + Math.floor(rand() * 30) }, () =>
          String.fromCharCode(33 + Math.floor(rand() * 94)),
        ).join(''),
      );
    for (const h of headers) {
      if (/^\d{1,15}$/.test(h)) continue;
      const r = await http(t.url, 'GET', `/api/runs/${runId}/live`, undefined, { 'last-event-id': h });
      assertClientError(r, `Last-Event-ID ${h}`);
      assert.match(JSON.parse(r.body).error.message, /last-event-id/i);
    }
    const health = await t.api('GET', '/api/health');
    assert.equal(health.status, 200);
  });

  test('the routes are in the OpenAPI document as event streams', async () => {
    const doc = await t.api('GET', '/api/openapi.json');
    for (const path of ['/api/runs/{id}/live', '/api/live']) {
      const get = doc.body.paths[path]?.get;
      assert.ok(get, path);
      assert.ok(get.responses['200'].content['text/event-stream'], path);
    }
  });

  test('a run running on another server: 409 not_here', async () => {
    // Hold this server's loop off the queue while "another server" claims the run.
    await t.store.raiseHalt({ by: 'test', reason: 'keep the queue for another server' });
    try {
      const queued = await t.api('POST', '/api/experiments', {
        name: 'elsewhere',
        format: 'json',
        source: experiment(join(t.dir, 'elsewhere.marker'), 0),
      });
      assert.ok(queued.status === 201 || queued.status === 200, queued.text);
      const created = await t.store.createRun({
        experiment: 'elsewhere',
        experimentVersion: 1,
        title: 'elsewhere',
        tags: [],
        origin: 'server',
        requestedBy: 'test',
      });
      const claimed = await t.store.claimQueuedRun('server-somewhere-else');
      assert.equal(claimed?.id, created.id);
      const r = await http(t.url, 'GET', `/api/runs/${created.id}/live`);
      assertClientError(r, 'a run of another server');
      assert.equal(r.status, 409);
      assert.equal(JSON.parse(r.body).error.code, 'not_here');
      await t.store.updateRun(created.id, {
        status: 'interrupted',
        verdict: 'interrupted',
        reason: 'test over',
      });
    } finally {
      await t.store.releaseHalt();
    }
  });
});
