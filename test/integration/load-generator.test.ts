/** The load generator against real HTTP servers on port 0 (timing tolerances sized for a busy 2-core CI box). */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { LoadGenerator, runLoad } from '../../src/load/index.js';
import { startServer, type TestServer } from '../helpers/server.js';

test('a constant arrival rate: 200 req/s for 2 s sends every request, never faster than asked', async () => {
  const s = await startServer((_req, res) => res.end('ok'));
  try {
    const sum = await runLoad({ rate: 200, durationMs: 2000, requests: [{ url: `${s.url}/` }] });
    assert.equal(sum.sent, 400);
    assert.equal(sum.totals.dropped, 0);
    // Every request of the schedule went out, none ahead of its time. How close the rate comes
    // to 200/s is the CPU's business (174 seen with both cores loaded: the schedule's end fired
    // late); idle it is within 1% (bench/load-generator.mjs, docs/benchmarks.md).
    assert.ok(sum.achieved_rate <= 200 * 1.05, `achieved ${sum.achieved_rate}`);
    assert.ok(sum.achieved_rate > 100, `achieved ${sum.achieved_rate}: the 2 s schedule took over 4 s`);
    assert.equal(sum.totals.status['2xx'], 400);
    assert.equal(sum.totals.successes, 400);
    assert.equal(s.requests.length, 400);
    const counted = sum.series.reduce((n, sec) => n + sec.requests, 0);
    assert.equal(counted, 400);
    // Every request in exactly one second of the series (above); as many seconds as the schedule
    // and its last answers took, which a loaded machine stretches (5 seen).
    assert.ok(sum.series.length >= 2, `${sum.series.length} seconds`);
    assert.ok(
      sum.latency.p50 > 0 && sum.latency.p50 <= sum.latency.p99 && sum.latency.p99 <= sum.latency.max,
    );
  } finally {
    await s.close();
  }
});

test('templates: method, headers, body and weights; status classes counted apart', async () => {
  const s = await startServer((req, res) => {
    const status = Number(req.url?.slice(1)) || 200;
    res.writeHead(status, status === 302 ? { location: '/' } : {});
    res.end();
  });
  try {
    const sum = await runLoad({
      rate: 200,
      durationMs: 1000,
      requests: [
        { url: `${s.url}/200`, weight: 4 },
        { url: `${s.url}/302` },
        { url: `${s.url}/404` },
        { url: `${s.url}/503`, method: 'post', headers: { 'x-test': 'yes' }, body: '{"a":1}' },
      ],
    });
    const st = sum.totals.status;
    assert.equal(st['2xx'] + st['3xx'] + st['4xx'] + st['5xx'], 200);
    for (const k of ['2xx', '3xx', '4xx', '5xx'] as const) assert.ok(st[k] > 0, `${k}: ${st[k]}`);
    assert.ok(st['2xx'] > st['4xx'], 'weight 4 gets more traffic');
    assert.equal(sum.totals.successes, st['2xx'] + st['3xx']);
    const post = s.requests.find((r) => r.url === '/503');
    assert.equal(post?.method, 'POST');
    assert.equal(post?.headers['x-test'], 'yes');
    assert.equal(post?.body, '{"a":1}');
  } finally {
    await s.close();
  }
});

test('latency runs from the intended send time: a stalled event loop shows in p99', async () => {
  const s = await startServer((_req, res) => res.end('ok'));
  try {
    // The server is always fast; the generator's own process stalls 300 ms once.
    setTimeout(() => {
      const until = Date.now() + 300;
      while (Date.now() < until) {}
    }, 500).unref();
    // Slots for every request scheduled: on a loaded machine the scheduler's own stalls add to the
    // 300 ms one, and overdue requests beyond the cap would be dropped (as documented), not sent late.
    const sum = await runLoad({ rate: 100, durationMs: 2000, concurrency: 200, requests: [{ url: s.url }] });
    assert.equal(sum.sent, 200, 'requests due during the stall are sent late, not skipped');
    assert.ok(sum.latency.p99 >= 200, `p99 ${sum.latency.p99} ms`);
    assert.ok(sum.latency.max >= 250, `max ${sum.latency.max} ms`);
    assert.ok(sum.send_jitter.max >= 250, `jitter max ${sum.send_jitter.max} ms`);
  } finally {
    await s.close();
  }
});

test('a server that stalls 300 ms once shows in p99 even at low concurrency', async () => {
  let stallUntil = 0;
  const held: ServerResponse[] = [];
  const s = await startServer((_req, res) => {
    if (Date.now() < stallUntil) held.push(res);
    else res.end('ok');
  });
  setTimeout(() => {
    stallUntil = Date.now() + 300;
    setTimeout(() => {
      for (const r of held.splice(0)) r.end('late');
    }, 300);
  }, 500).unref();
  try {
    const sum = await runLoad({ rate: 50, durationMs: 2000, concurrency: 4, requests: [{ url: s.url }] });
    assert.ok(sum.latency.p99 >= 200, `p99 ${sum.latency.p99} ms`);
    assert.ok(sum.totals.dropped > 0, 'requests due while 4 were stalled are dropped, not delayed');
    assert.equal(sum.scheduled, 100);
  } finally {
    await s.close();
  }
});

test('timeouts: a server that never answers', async () => {
  const s = await startServer(() => {});
  try {
    const t0 = Date.now();
    const sum = await runLoad({ rate: 50, durationMs: 500, timeoutMs: 150, requests: [{ url: s.url }] });
    assert.equal(sum.totals.timeouts, 25);
    assert.equal(sum.totals.successes, 0);
    assert.equal(sum.latency.max, 0, 'no response, no latency sample');
    assert.ok(Date.now() - t0 < 3000, 'in-flight requests end at their timeout');
  } finally {
    await s.close();
  }
});

test('connection errors against a closed port', async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  const sum = await runLoad({
    rate: 50,
    durationMs: 400,
    timeoutMs: 1000,
    requests: [{ url: `http://127.0.0.1:${port}/` }],
  });
  assert.equal(sum.totals.connection_errors, 20);
  assert.equal(sum.errors.ECONNREFUSED, 20);
  assert.equal(sum.totals.successes, 0);
});

/**
 * A server that answers each request `ms` after it arrives and remembers the
 * most requests it held open at once: the concurrency tests share it.
 */
async function slowServer(ms: number): Promise<TestServer & { maxOpen(): number }> {
  let open = 0;
  let maxOpen = 0;
  const s = await startServer((_req, res) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    setTimeout(() => {
      open--;
      res.end('ok');
    }, ms);
  });
  return Object.assign(s, { maxOpen: () => maxOpen });
}

test('the concurrency cap: requests due beyond it are dropped and counted, never queued', async () => {
  const s = await slowServer(200);
  try {
    const sum = await runLoad({ rate: 100, durationMs: 1000, concurrency: 5, requests: [{ url: s.url }] });
    assert.ok(s.maxOpen() <= 5, `${s.maxOpen()} requests open at once`);
    assert.equal(sum.scheduled, 100);
    assert.ok(sum.totals.dropped >= 60, `dropped ${sum.totals.dropped}`);
    assert.equal(sum.sent + sum.totals.dropped, 100);
    assert.equal(sum.totals.requests, sum.sent);
  } finally {
    await s.close();
  }
});

test("overflow 'queue': requests due at the cap wait for a slot, their wait counted in latency; past the timeout, timeouts", async () => {
  const s = await slowServer(50);
  try {
    // 5 slots of 50 ms each serve 100 req/s: 200 req/s for 0.5 s queues half of them.
    const sum = await runLoad({
      rate: 200,
      durationMs: 500,
      concurrency: 5,
      overflow: 'queue',
      requests: [{ url: s.url }],
    });
    assert.ok(s.maxOpen() <= 5, `${s.maxOpen()} requests open at once`);
    assert.equal(sum.scheduled, 100);
    assert.equal(sum.totals.dropped, 0);
    assert.equal(sum.totals.successes, 100, 'every request was sent once a slot freed');
    // The last request waited about 500 ms behind the others: it shows, from its intended time.
    assert.ok(sum.latency.max >= 400, `max latency ${sum.latency.max} ms`);

    // A queue the slots cannot serve within the timeout: the overdue ones are timeouts, never sent.
    const slow = await runLoad({
      rate: 200,
      durationMs: 500,
      concurrency: 1,
      overflow: 'queue',
      timeoutMs: 200,
      requests: [{ url: s.url }],
    });
    assert.equal(slow.scheduled, 100);
    assert.ok(slow.totals.timeouts > 50, `timeouts ${slow.totals.timeouts}`);
    assert.equal(slow.totals.dropped, 0);
    assert.equal(slow.totals.requests, slow.scheduled);
  } finally {
    await s.close();
  }
});

test('an AbortSignal stops the load at once; metrics() reads a window while it runs', async () => {
  const s = await startServer((_req, res) => res.end('ok'));
  try {
    const controller = new AbortController();
    const gen = new LoadGenerator(
      { rate: 200, durationMs: 30_000, requests: [{ url: s.url }] },
      { signal: controller.signal },
    );
    const done = gen.start();
    await new Promise((r) => setTimeout(r, 600));
    const m = gen.metrics(1000);
    assert.ok(m.requests > 60 && m.requests <= 130, `${m.requests} requests in the window`);
    assert.equal(m.success_ratio, 1);
    assert.equal(m.error_rate, 0);
    assert.ok(m.throughput > 80, `throughput ${m.throughput}`);
    const t0 = Date.now();
    controller.abort();
    const sum = await done;
    assert.ok(Date.now() - t0 < 1000);
    assert.ok(sum.sent < 200, `sent ${sum.sent}`);
    assert.ok(sum.duration_ms < 2000);
  } finally {
    await s.close();
  }
});

test('invalid options are refused with the field named', () => {
  assert.throws(() => new LoadGenerator({ rate: 0, requests: [{ url: 'http://x/' }] }), /rate/);
  assert.throws(() => new LoadGenerator({ rate: 1, requests: [{ url: 'ftp://x/' }] }), /http\(s\) URL/);
  assert.throws(() => new LoadGenerator({ rate: 1, requests: [] }), /at least one/);
});

test('onSecond reports each second as it closes', async () => {
  const s = await startServer((_req, res) => res.end('ok'));
  try {
    const seen: number[] = [];
    const sum = await runLoad(
      { rate: 100, durationMs: 2500, requests: [{ url: s.url }] },
      { onSecond: (sec) => seen.push(sec.second) },
    );
    assert.deepEqual(seen, [0, 1]);
    assert.equal(sum.series.length, 3, 'the last partial second is in the summary');
  } finally {
    await s.close();
  }
});

test('requests due under 2 ms apart: the waker thread keeps the schedule (and the spin fallback too)', async () => {
  const s = await startServer((_req, res) => res.end('ok'));
  try {
    for (const spin of [false, true]) {
      const sum = await runLoad(
        { rate: 2000, durationMs: 1000, concurrency: 200, requests: [{ url: s.url }] },
        { spin },
      );
      assert.equal(sum.scheduled, 2000, `spin ${spin}`);
      assert.equal(sum.totals.successes + sum.totals.dropped, 2000);
      // Drops are the server's share of the CPU (it runs in this process), not the schedule's:
      // on a loaded machine most requests can find the 200 slots busy (258 answered seen). What a quiet machine
      // reaches (2,000 req/s, jitter p99 under 0.1 ms) is bench/load-generator.mjs's figure.
      assert.ok(sum.totals.successes > 0, `spin ${spin}: ${sum.totals.successes} succeeded`);
      assert.equal(sum.sent, sum.totals.successes, `spin ${spin}: every request sent was answered`);
      // Kept, not drifting: the median request went out within the 1 s run (a schedule that
      // drifted would send it after the run's end). How close to its time depends on the CPU this
      // process gets (10 to 505 ms seen with the cores loaded; under 0.1 ms idle,
      // bench/load-generator.mjs and docs/benchmarks.md).
      assert.ok(sum.send_jitter.p50 < 1000, `spin ${spin}: jitter p50 ${sum.send_jitter.p50} ms`);
    }
  } finally {
    await s.close();
  }
});

test('requests due closer together than a spin: sent in batches, every one accounted for', async () => {
  const s = await startServer((_req, res) => res.end('ok'));
  try {
    const sum = await runLoad({
      rate: 10_000,
      durationMs: 1000,
      concurrency: 1000,
      requests: [{ url: s.url }],
    });
    assert.equal(sum.scheduled, 10_000);
    assert.equal(sum.sent + sum.totals.dropped, 10_000);
    assert.equal(sum.totals.successes, sum.sent);
    // How many go out before the 1,000 slots fill depends on the CPU this process gets (4,890
    // on a loaded machine, all of them on a quiet one): at least several batches' worth.
    assert.ok(sum.sent >= 1_000, `sent ${sum.sent}`);
    // A request waits for its batch (up to 1 ms): its lateness is recorded, not hidden.
    // How late is the benchmark's business (bench/load-generator.mjs), not a test's.
    assert.ok(sum.send_jitter.p50 > 0, 'requests wait for their batch');
  } finally {
    await s.close();
  }
});
