#!/usr/bin/env node
// The live view (issue #17): (a) latency from an engine event to the browser: a real Chromium page with
// an EventSource on /api/runs/{id}/live compares each envelope's `at` (stamped by the server as the
// engine emits) with its own Date.now() on receipt (one machine, one clock), p50/p99 over every event of
// a run (load seconds and five safeguards checked ten times a second: ~50 events/s); (b) 500 concurrent
// viewers (raw Node HTTP SSE clients in a child process, so they do not share the server's event loop)
// on a run with `load:`: the run's own figures with and without them, side by side (the load's achieved
// throughput and latency p99 as the run measured them, the server's event-loop delay p99), as ratios;
// (c) the server's RSS at idle and under the 500 viewers. The load's target is a separate process.
// The viewers' cost has two parts, measured apart: connecting (500 requests at once) and the steady
// fan-out. So (b) is two runs with viewers: `during` (they connect 3 s into the run: the phases before,
// while and after they connect, each with its event-loop delay p99 and the worst and median of the
// load's per-second p99s) and `before` (they connect while the run is queued behind another run, which is
// then aborted: the whole run is steady fan-out).
// Usage: node bench/server-live.mjs [seconds=20] [viewers=500] [rate=400] [--no-browser] [--only=during|before]
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
  const t0 = Date.now();
  let open = 0;
  let ended = 0;
  let events = 0;
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const req = request(`${base}/api/runs/${id}/live`, { agent: false }, (res) => {
      if (res.statusCode !== 200) failed++;
      open++;
      if (open === n) process.send?.({ connected: open, ms: Date.now() - t0 });
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

  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
  const SECONDS = Number(positional[0] ?? 20);
  const VIEWERS = Number(positional[1] ?? 500);
  const RATE = Number(positional[2] ?? 400);
  const BROWSER = !flags.includes('--no-browser');
  const only = flags.find((f) => f.startsWith('--only='))?.slice('--only='.length);
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-live-'));
  const home = join(dir, 'home');
  // A bench that fails or is interrupted half-way leaves nothing behind either.
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

  // The load's target, in a process of its own.
  const target = spawn(
    process.execPath,
    [
      '-e',
      "const s=require('http').createServer((q,r)=>r.end('ok'));s.listen(0,'127.0.0.1',()=>console.log(s.address().port))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  process.on('exit', () => target.kill());
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

  await api('POST', '/api/experiments', {
    name: 'bench-blocker',
    format: 'json',
    source: JSON.stringify({
      title: 'holds the run loop',
      description: 'waits until aborted',
      method: [
        {
          type: 'action',
          name: 'wait',
          provider: {
            type: 'faultline',
            module: 'faultline.marker',
            func: 'create',
            arguments: { path: join(dir, 'blocker'), duration: 600 },
          },
          pauses: { after: 600 },
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
  const waitStarted = async (id) => {
    for (;;) {
      const r = await api('GET', `/api/runs/${id}`);
      if (r.status !== 'queued') return r;
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  /** The load's seconds as the live view kept them (an ended run's snapshot, kept 60 s). */
  const loadSeconds = async (id) => {
    const text = await (await fetch(`${server.url}/api/runs/${id}/live`)).text();
    const m = /event: snapshot\nid: \d+\ndata: (.*)\n/.exec(text);
    return m ? JSON.parse(m[1]).load : [];
  };
  const sorted = (xs) => xs.slice().sort((x, y) => x - y);
  const pctOf = (xs, p) => {
    const s = sorted(xs);
    return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  };

  /**
   * Event-loop delay per phase of a run: `mark(name)` ends the phase under way and starts `name`.
   * Each phase has its own histogram and its wall-clock span (to pick the load's seconds in it).
   */
  const phases = () => {
    const list = [];
    let current;
    const mark = (name) => {
      if (current) {
        current.loop.disable();
        current.to = Date.now();
      }
      if (name === undefined) return;
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      current = { name, loop, from: Date.now(), to: undefined };
      list.push(current);
    };
    return { list, mark };
  };

  /** One run; what the run measured and what the server's process went through meanwhile, per phase. */
  const measuredRun = async ({ before, during } = {}) => {
    const ph = phases();
    let rssMax = 0;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 200);
    let extra;
    // Held queued behind a run that waits (one run at a time) while the viewers connect; its abort lets it start.
    const blocker = before ? await api('POST', '/api/runs', { experiment: 'bench-blocker' }) : undefined;
    if (blocker) await waitStarted(blocker.id);
    const run = await api('POST', '/api/runs', { experiment: 'bench-live' });
    if (before) {
      ph.mark('connect (queued)');
      extra = await before(run.id);
      ph.mark(undefined);
      await api('POST', `/api/runs/${blocker.id}/abort`, {});
      await waitEnded(blocker.id);
    }
    await waitStarted(run.id);
    ph.mark(before ? 'steady' : 'run');
    if (during) extra = await during(run.id, ph.mark);
    const ended = await waitEnded(run.id);
    ph.mark(undefined);
    clearInterval(sampler);
    const load = ended.journal.faultline.load;
    const seconds = await loadSeconds(run.id);
    return {
      id: run.id,
      verdict: ended.verdict,
      throughput: load.throughput,
      p99: load.latency.p99,
      phases: ph.list.map((p) => {
        // A second belongs to the phase it ended in.
        const s = seconds.filter((x) => x.at > p.from && x.at <= p.to + 500).map((x) => x.p99);
        return {
          name: p.name,
          ms: p.to - p.from,
          loopP99: p.loop.percentile(99) / 1e6,
          loopMax: p.loop.max / 1e6,
          loadP99Max: s.length ? Math.max(...s) : Number.NaN,
          loadP99Median: pctOf(s, 50),
          seconds: s.length,
        };
      }),
      rssMax,
      connectedMs: extra?.connected?.ms,
      extra: await extra?.done,
    };
  };

  const spawnViewers = async (id) => {
    const child = spawn(process.execPath, [SELF, '--viewers', server.url, id, String(VIEWERS)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const done = new Promise((resolve) =>
      child.on('message', (m) => {
        if (m.ended !== undefined) resolve(m);
      }),
    );
    const connected = await new Promise((resolve) => child.once('message', resolve));
    return { done, connected };
  };

  // ------------------------------------------------------------ (a) event to browser
  let lat = [];
  let a;
  if (BROWSER) {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    const page = await browser.newPage();
    await page.goto(`${server.url}/api/health`);
    a = await measuredRun({
      during: async (id) => {
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
      },
    });
    lat = sorted(a.extra);
    await browser.close();
  }

  // ------------------------------------------------------------ (b), (c) with and without viewers
  await new Promise((r) => setTimeout(r, 2000));
  global.gc?.();
  const idleRss = process.memoryUsage().rss;
  const without = await measuredRun();
  const withDuring =
    only === 'before'
      ? undefined
      : await measuredRun({
          during: async (id, mark) => {
            await new Promise((r) => setTimeout(r, 3000));
            mark('connect');
            const v = await spawnViewers(id);
            mark('steady');
            return v;
          },
        });
  const withBefore =
    only === 'during'
      ? undefined
      : await measuredRun({
          before: async (id) => {
            const v = await spawnViewers(id);
            return v;
          },
        });

  await server.close();
  await store.close();
  target.kill();
  rmSync(dir, { recursive: true, force: true });

  const mb = (b) => `${(b / 1024 / 1024).toFixed(0)} MB`;
  const ratio = (x, y) => (x / y).toFixed(2);
  const f1 = (x) => (Number.isNaN(x) ? '-' : x.toFixed(1));
  if (a)
    console.log(
      `(a) engine event -> Chromium EventSource: ${lat.length} events, p50 ${pctOf(lat, 50)} ms, p99 ${pctOf(lat, 99)} ms, max ${lat.at(-1)} ms (run ${a.verdict})`,
    );
  console.log(`(b) run of ${SECONDS} s, load ${RATE} req/s, 5 safeguards at 10/s, ${VIEWERS} viewers:`);
  const line = (label, r) => {
    console.log(
      `    ${label}: throughput ${r.throughput} req/s, latency p99 ${r.p99} ms (run ${r.verdict})${
        r.extra
          ? `; viewers: ${r.extra.ended} ended, ${r.extra.failed} failed, ${r.extra.events} events received`
          : ''
      }`,
    );
    for (const p of r.phases)
      console.log(
        `      ${p.name.padEnd(17)} ${String((p.ms / 1000).toFixed(1)).padStart(5)} s: event-loop delay p99 ${f1(p.loopP99)} ms (max ${f1(p.loopMax)}), load p99 per second: worst ${f1(p.loadP99Max)} ms, median ${f1(p.loadP99Median)} ms (${p.seconds} s)`,
      );
    if (r.extra) console.log(`      all ${VIEWERS} connected in ${r.connectedMs} ms`);
  };
  line('without viewers      ', without);
  for (const [label, r] of [
    ['viewers during the run', withDuring],
    ['viewers before it     ', withBefore],
  ]) {
    if (!r) continue;
    line(label, r);
    console.log(
      `      ratios with/without: throughput ${ratio(r.throughput, without.throughput)}, latency p99 ${ratio(r.p99, without.p99)}, event-loop delay p99 (steady) ${ratio(r.phases.at(-1).loopP99, without.phases[0].loopP99)}`,
    );
  }
  console.log(
    `(c) server RSS: idle ${mb(idleRss)}, peak during the run without viewers ${mb(without.rssMax)}, with ${VIEWERS} viewers ${mb(Math.max(withDuring?.rssMax ?? 0, withBefore?.rssMax ?? 0))}`,
  );
}
