#!/usr/bin/env node
// The live view (issue #17): (a) latency from an engine event to the browser: a real Chromium page with
// an EventSource on /api/runs/{id}/live compares each envelope's `at` (stamped by the server as the
// engine emits) with its own Date.now() on receipt (one machine, one clock), p50/p99 over every event of
// a run (load seconds and five safeguards checked ten times a second: ~50 events/s); (b) 500 concurrent
// viewers (raw Node HTTP SSE clients in a child process, so they do not share the server's event loop)
// on a run with `load:`: the run's own figures with and without them, side by side (the load's achieved
// throughput and latency p99 as the run measured them, the server's event-loop delay p99), as ratios;
// (c) the server's RSS at idle and under the 500 viewers. The load's target is a separate process.
// Usage: node bench/server-live.mjs [seconds=20] [viewers=500] [rate=400]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------- the viewers' process
if (process.argv[2] === '--viewers') {
  const [base, id, n] = [process.argv[3], process.argv[4], Number(process.argv[5])];
  let open = 0;
  let ended = 0;
  let events = 0;
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const req = request(`${base}/api/runs/${id}/live`, { agent: false }, (res) => {
      if (res.statusCode !== 200) failed++;
      open++;
      if (open === n) process.send?.({ connected: open });
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        for (let j = chunk.indexOf('event: live'); j >= 0; j = chunk.indexOf('event: live', j + 1)) events++;
      });
      res.on('end', () => {
        ended++;
        if (ended === n) {
          process.send?.({ ended, events, failed });
          process.exit(0);
        }
      });
    });
    req.on('error', () => {
      failed++;
      ended++;
    });
    req.end();
  }
} else {
  await main();
}

async function main() {
  const { register } = await import('tsx/esm/api');
  register();
  const { openStore } = await import('../src/server/db/index.ts');
  const { startServer } = await import('../src/server/server.ts');
  const { chromium } = await import('playwright-core');

  const SECONDS = Number(process.argv[2] ?? 20);
  const VIEWERS = Number(process.argv[3] ?? 500);
  const RATE = Number(process.argv[4] ?? 400);
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-live-'));
  const home = join(dir, 'home');

  // The load's target, in a process of its own.
  const target = spawn(
    process.execPath,
    [
      '-e',
      "const s=require('http').createServer((q,r)=>r.end('ok'));s.listen(0,'127.0.0.1',()=>console.log(s.address().port))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const targetPort = await new Promise((resolve) =>
    target.stdout.once('data', (d) => resolve(Number(String(d)))),
  );

  const store = await openStore({ home, database: join(dir, 'faultline.db') });
  const server = await startServer({ store, home, port: 0, pollMs: 100 });
  const api = async (method, path, body) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    return res.json();
  };
  const guard = (i) => ({
    type: 'probe',
    name: `errors-${i}`,
    frequency: 0.1,
    tolerance: { type: 'range', range: [0, 0.5] },
    provider: { type: 'faultline', module: 'faultline.load', func: 'error_rate', arguments: { window: 1 } },
  });
  await api('POST', '/api/experiments', {
    name: 'bench-live',
    format: 'json',
    source: JSON.stringify({
      title: 'live view benchmark',
      description: 'load and safeguards for a while',
      load: { rate: RATE, requests: [{ url: `http://127.0.0.1:${targetPort}/` }] },
      safeguards: [0, 1, 2, 3, 4].map(guard),
      method: [
        {
          type: 'action',
          name: 'marker',
          provider: {
            type: 'faultline',
            module: 'faultline.marker',
            func: 'create',
            arguments: { path: join(dir, 'marker'), duration: 600 },
          },
          pauses: { after: SECONDS },
        },
      ],
    }),
  });

  const waitEnded = async (id) => {
    for (;;) {
      const r = await api('GET', `/api/runs/${id}`);
      if (r.status === 'finished' || r.status === 'interrupted') return r;
      await new Promise((res) => setTimeout(res, 200));
    }
  };

  /** One run; what the run measured and what the server's process went through meanwhile. */
  const measuredRun = async (during) => {
    const run = await api('POST', '/api/runs', { experiment: 'bench-live' });
    const extra = await during?.(run.id);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    let rssMax = 0;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 200);
    const ended = await waitEnded(run.id);
    loop.disable();
    clearInterval(sampler);
    const load = ended.journal.faultline.load;
    return {
      id: run.id,
      verdict: ended.verdict,
      throughput: load.throughput,
      p99: load.latency.p99,
      loopP99: loop.percentile(99) / 1e6,
      rssMax,
      extra: await extra?.done,
    };
  };

  // ------------------------------------------------------------ (a) event to browser
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const page = await browser.newPage();
  await page.goto(`${server.url}/api/health`);
  const a = await measuredRun(async (id) => {
    await page.evaluate((url) => {
      globalThis.latencies = [];
      globalThis.liveDone = new Promise((resolve) => {
        const es = new EventSource(url);
        es.addEventListener('live', (m) => globalThis.latencies.push(Date.now() - JSON.parse(m.data).at));
        es.addEventListener('end', () => {
          es.close();
          resolve();
        });
      });
    }, `/api/runs/${id}/live`);
    return { done: page.evaluate(() => globalThis.liveDone.then(() => globalThis.latencies)) };
  });
  const lat = a.extra.slice().sort((x, y) => x - y);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
  await browser.close();

  // ------------------------------------------------------------ (b), (c) with and without 500 viewers
  await new Promise((r) => setTimeout(r, 2000));
  global.gc?.();
  const idleRss = process.memoryUsage().rss;
  const without = await measuredRun();
  const withViewers = await measuredRun(async (id) => {
    const child = spawn(process.execPath, [SELF, '--viewers', server.url, id, String(VIEWERS)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const messages = [];
    const done = new Promise((resolve) =>
      child.on('message', (m) => {
        messages.push(m);
        if (m.ended !== undefined) resolve(m);
      }),
    );
    await new Promise((resolve) => child.once('message', resolve));
    return { done };
  });

  await server.close();
  await store.close();
  target.kill();
  rmSync(dir, { recursive: true, force: true });

  const mb = (b) => `${(b / 1024 / 1024).toFixed(0)} MB`;
  const ratio = (x, y) => (x / y).toFixed(3);
  console.log(
    `(a) engine event -> Chromium EventSource: ${lat.length} events, p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${lat.at(-1)} ms (run ${a.verdict})`,
  );
  console.log(`(b) run of ${SECONDS} s, load ${RATE} req/s, 5 safeguards at 10/s:`);
  console.log(
    `    without viewers:   throughput ${without.throughput} req/s, latency p99 ${without.p99} ms, server event-loop delay p99 ${without.loopP99.toFixed(1)} ms (run ${without.verdict})`,
  );
  console.log(
    `    with ${VIEWERS} viewers: throughput ${withViewers.throughput} req/s, latency p99 ${withViewers.p99} ms, server event-loop delay p99 ${withViewers.loopP99.toFixed(1)} ms (run ${withViewers.verdict}; viewers: ${withViewers.extra.ended} ended, ${withViewers.extra.failed} failed, ${withViewers.extra.events} events received)`,
  );
  console.log(
    `    ratios with/without: throughput ${ratio(withViewers.throughput, without.throughput)}, latency p99 ${ratio(withViewers.p99, without.p99)}, event-loop delay p99 ${ratio(withViewers.loopP99, without.loopP99)}`,
  );
  console.log(
    `(c) server RSS: idle ${mb(idleRss)}, peak during the run without viewers ${mb(without.rssMax)}, with ${VIEWERS} viewers ${mb(withViewers.rssMax)}`,
  );
}
