#!/usr/bin/env node
// N simulated fleet agents against a real nats-server of this bench's own (issue #16).
//   npm run build && node bench/fleet-scale.mjs [agents=1000] [--procs 4] [--lease 3000]
// The agents (dist/fleet/agent.js's startAgent, each with its own NATS connection, its own
// ledger home, watchdog off, allowed only marker.create) are spread over K child processes;
// a FleetController in this process measures:
//   1. fan-out: one marker fault to every agent: call -> each agent's `injected` (its onEvent,
//      timestamped in its process) and -> each reply back at the controller;
//   2. fleet halt: haltFleet() -> each agent's verified revert, and -> every record halted and empty;
//   3. controller killed (its NATS connection closed, leases left): -> each agent's revert by
//      lease, and -> every marker file gone, against lease + one heartbeat;
//   4. RSS per agent (child RSS with agents minus before) and NATS traffic (the server's /varz).
// The marker kind takes one path, and agents sharing a process would all claim one file: the
// fan-out is the controller's public inject() (plan, blast radius, then every target at once)
// with arguments made per agent (each its own absolute path).
import { fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const argv = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};

// --- an agent host process ----------------------------------------------------------------------

async function child() {
  const { startAgent } = await import(join(dist, 'fleet/agent.js'));
  const agents = [];
  const send = (m) => process.send?.(m);
  process.on('message', async (m) => {
    if (m.t === 'start') {
      const base = process.memoryUsage();
      let failed = 0;
      const queue = [...m.names];
      // A few at a time: each start reads its ledger, resolves the server and opens watches.
      const worker = async () => {
        for (let name = queue.shift(); name; name = queue.shift()) {
          const home = join(m.dir, 'homes', name);
          mkdirSync(home, { recursive: true });
          try {
            const a = await startAgent({
              connect: { servers: m.url, timeoutMs: 30_000 },
              name,
              home,
              watchdog: false,
              allow: ['marker.create'],
              heartbeatMs: m.heartbeatMs,
              log: (level, text) => {
                // The halt's own warning is expected: only the unexpected ones are shown.
                if ((level === 'error' || level === 'warn') && !text.startsWith('fleet halt by'))
                  send({ t: 'log', name, level, text });
              },
              onCommand: (c) => {
                if (c.op === 'inject') send({ t: 'ev', name, type: 'received', id: c.id, at: Date.now() });
              },
              onEvent: (e) => {
                if (e.fault && ['injected', 'reverted', 'verified', 'failed', 'refused'].includes(e.type)) {
                  send({ t: 'ev', name, type: e.type, id: e.fault.id, at: Date.now() });
                }
              },
            });
            agents.push(a);
          } catch (err) {
            failed++;
            send({ t: 'log', name, level: 'error', text: `start: ${err.message}` });
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      send({
        t: 'started',
        count: agents.length,
        failed,
        baseRss: base.rss,
        baseHeap: base.heapUsed,
        rss: process.memoryUsage().rss,
      });
    } else if (m.t === 'mem') {
      const u = process.memoryUsage();
      send({ t: 'mem', rss: u.rss, heap: u.heapUsed, count: agents.length });
    } else if (m.t === 'stop') {
      await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
      send({ t: 'stopped' });
      process.exit(0);
    }
  });
  send({ t: 'hello' });
}

// --- the controller's side ----------------------------------------------------------------------

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const pct = (xs, p) =>
  xs.length
    ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]
    : NaN;
const stats = (xs) => ({ n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), max: Math.max(...xs) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const n = Number(argv.find((a, i) => /^\d+$/.test(a) && !argv[i - 1]?.startsWith('--')) ?? 1000);
  const procs = flag('--procs', 4);
  const leaseMs = flag('--lease', 3000);
  const heartbeatMs = flag('--heartbeat', 1000);
  const { FleetController } = await import(join(dist, 'fleet/controller.js'));

  const dir = mkdtempSync(join(tmpdir(), 'faultline-fleet-scale-'));
  const markers = join(dir, 'markers');
  mkdirSync(markers);
  const port = await freePort();
  const mport = await freePort();
  const server = spawn(
    'nats-server',
    ['-js', '-p', String(port), '-m', String(mport), '-sd', join(dir, 'js')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let serverLog = '';
  server.stderr.on('data', (d) => {
    serverLog = (serverLog + d).slice(-4000);
  });
  const varz = async () => (await fetch(`http://127.0.0.1:${mport}/varz`)).json();
  const kids = [];
  const cleanup = () => {
    for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL');
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  for (let i = 0; ; i++) {
    try {
      await varz();
      break;
    } catch {
      if (i > 100) throw new Error(`nats-server did not start: ${serverLog}`);
      await sleep(100);
    }
  }
  const url = `nats://127.0.0.1:${port}`;
  const out = { agents: n, procs, leaseMs, heartbeatMs, cores: (await import('node:os')).cpus().length };
  try {
    // The controller first: it creates the buckets and the stream, so the agents only open them.
    let ctl = await FleetController.open({ servers: url }, { commandTimeoutMs: 60_000 });

    // Per-agent event times, by fault id.
    const events = new Map(); // id -> { injected, verified, ... }
    const byName = new Map(); // name -> fault id of the current phase
    const logs = [];
    const names = Array.from({ length: n }, (_, i) => `a${String(i).padStart(5, '0')}`);
    const startedAt = Date.now();
    const starts = [];
    for (let k = 0; k < procs; k++) {
      const c = fork(fileURLToPath(import.meta.url), ['--child'], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      kids.push(c);
      const mine = names.filter((_, i) => i % procs === k);
      c.on('message', (m) => {
        if (m.t === 'ev') {
          const e = events.get(m.id) ?? {};
          e[m.type] ??= m.at;
          events.set(m.id, e);
        } else if (m.t === 'log' && logs.length < 20) logs.push(`${m.name} ${m.level}: ${m.text}`);
      });
      starts.push(
        new Promise((resolve) => {
          const on = (m) => {
            if (m.t === 'hello') c.send({ t: 'start', names: mine, url, dir, heartbeatMs });
            else if (m.t === 'started') {
              c.off('message', on);
              resolve(m);
            }
          };
          c.on('message', on);
        }),
      );
    }
    const started = await Promise.all(starts);
    out.startSec = (Date.now() - startedAt) / 1000;
    out.startFailed = started.reduce((s, m) => s + m.failed, 0);
    const running = started.reduce((s, m) => s + m.count, 0);
    // Alive in the bucket: every agent has registered and re-put its record.
    for (let i = 0; ; i++) {
      const alive = (await ctl.agents()).filter((a) => a.health === 'alive').length;
      if (alive >= running) break;
      if (i > 60) throw new Error(`only ${alive}/${running} agents alive after a minute`);
      await sleep(1000);
    }

    const memOf = async () => {
      const ms = await Promise.all(
        kids.map(
          (c) =>
            new Promise((resolve) => {
              const on = (m) => {
                if (m.t === 'mem') {
                  c.off('message', on);
                  resolve(m);
                }
              };
              c.on('message', on);
              c.send({ t: 'mem' });
            }),
        ),
      );
      return ms;
    };
    // Idle traffic: heartbeats, watches, lease-less (no fault held).
    await sleep(2000);
    let v0 = await varz();
    const idleSec = 10;
    await sleep(idleSec * 1000);
    let v1 = await varz();
    const perAgentSec = (a, b, f) => (b[f] - a[f]) / running / idleSec;
    out.idle = {
      inMsgsPerAgentSec: perAgentSec(v0, v1, 'in_msgs'),
      outMsgsPerAgentSec: perAgentSec(v0, v1, 'out_msgs'),
      inBytesPerAgentSec: perAgentSec(v0, v1, 'in_bytes'),
      outBytesPerAgentSec: perAgentSec(v0, v1, 'out_bytes'),
      serverRssMB: v1.mem / 2 ** 20,
      serverCpu: v1.cpu,
      connections: v1.connections,
    };
    const mem = await memOf();
    out.memory = {
      childRssMB: mem.map((m) => Math.round(m.rss / 2 ** 20)),
      rssPerAgentKB: Math.round(
        mem.reduce((s, m, i) => s + (m.rss - started[i].baseRss), 0) / running / 1024,
      ),
      heapPerAgentKB: Math.round(
        mem.reduce((s, m, i) => s + (m.heap - started[i].baseHeap), 0) / running / 1024,
      ),
    };

    const targets = { selector: {}, mode: 'all' };
    const fanOut = async (label, lease) => {
      const t0 = Date.now();
      const replies = [];
      // When each lease put is acknowledged: the controller's JetStream share of the latency.
      const leased = [];
      const kv = ctl.connection.leases;
      const put = kv.put;
      kv.put = async (...a) => {
        const r = await put.apply(kv, a);
        leased.push(Date.now() - t0);
        return r;
      };
      // How long plan() (listing the fleet, the blast radius) took inside inject().
      let planMs = NaN;
      const plan = ctl.plan;
      ctl.plan = async (...a) => {
        const r = await plan.apply(ctl, a);
        planMs = Date.now() - t0;
        return r;
      };
      // When each agent's reply reached the controller.
      const request = ctl.request;
      ctl.request = async (...a) => {
        const r = await request.apply(ctl, a);
        if (a[1].op === 'inject') replies.push(Date.now() - t0);
        return r;
      };
      // Each agent its own marker path: agents sharing a process would race for one file.
      const results = await ctl.inject('marker.create', (a) => ({ path: join(markers, a.name) }), targets, {
        leaseMs: lease,
        ttlMs: 600_000,
      });
      ctl.request = request;
      ctl.plan = plan;
      for (const f of results) byName.set(f.agent, f.id);
      kv.put = put;
      const active = results.filter((f) => f.state === 'active');
      // The `injected` event is sent before the reply; give IPC a moment to deliver the last ones.
      await sleep(500);
      const applied = active.map((f) => events.get(f.id)?.injected - t0).filter((x) => Number.isFinite(x));
      // Delivery (the controller, NATS and the agent's event loop) apart from the local work after it.
      const received = active.map((f) => events.get(f.id)?.received - t0).filter((x) => Number.isFinite(x));
      const local = active
        .map((f) => events.get(f.id)?.injected - events.get(f.id)?.received)
        .filter((x) => Number.isFinite(x));
      const bad = results.filter((f) => f.state !== 'active');
      return {
        label,
        targets: results.length,
        active: active.length,
        notActive: bad.length ? `${bad.length} (${bad[0].state}: ${bad[0].error})` : 0,
        planMs,
        applied: stats(applied),
        received: stats(received),
        local: stats(local),
        replied: stats(replies),
        leased: stats(leased.slice(0, results.length)),
        totalMs: Date.now() - 500 - t0,
      };
    };

    // A phase that fails (the server overloaded) still leaves the ones before it to print.
    let phase = 'one agent';
    try {
      // 0. one fault on one agent at a time (the rest idle): what one host sees, lease and command
      // through inject()'s per-agent step (plan() over 1,000 records is timed in the fan-out).
      const one = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        const f = await ctl.injectOne(
          names[0],
          'marker.create',
          { path: join(markers, `one-${i}`) },
          leaseMs,
          600_000,
        );
        one.push(performance.now() - t);
        if (f.state !== 'active') throw new Error(`one agent: ${f.state}: ${f.error}`);
        await ctl.revert(f.id);
      }
      out.one = stats(one.map((x) => Math.round(x * 10) / 10));
      phase = 'fan-out';
      // 1. fan-out
      v0 = await varz();
      out.fanOut = await fanOut('fan-out', leaseMs);
      v1 = await varz();
      out.fanOut.msgsPerAgent = (v1.in_msgs - v0.in_msgs + v1.out_msgs - v0.out_msgs) / running;
      out.fanOut.markers = names.filter((x) => existsSync(join(markers, x))).length;
      // Held faults: lease renewals (every lease/3) on top of the heartbeats.
      v0 = await varz();
      await sleep(5000);
      v1 = await varz();
      out.heldMsgsPerAgentSec = (v1.in_msgs - v0.in_msgs + v1.out_msgs - v0.out_msgs) / running / 5;

      // 2. fleet halt
      phase = 'fleet halt';
      const ids = new Map(byName);
      v0 = await varz();
      const th = Date.now();
      const report = await ctl.haltFleet('bench', { timeoutMs: 60_000 });
      const haltMs = Date.now() - th;
      await sleep(500);
      const reverts = [...ids.values()]
        .map((id) => events.get(id)?.verified - th)
        .filter((x) => Number.isFinite(x));
      v1 = await varz();
      out.halt = {
        reverted: report.reverted.length,
        noAnswer: report.noAnswer.length,
        verifiedRevert: stats(reverts),
        allRecordsHaltedMs: haltMs,
        markersLeft: names.filter((x) => existsSync(join(markers, x))).length,
        msgsPerAgent: (v1.in_msgs - v0.in_msgs + v1.out_msgs - v0.out_msgs) / running,
      };
      await ctl.releaseFleet();
      // Every record shows the release before the next inject (a halted agent refuses).
      for (let i = 0; ; i++) {
        const all = await ctl.agents();
        if (all.filter((a) => a.health === 'alive' && !a.halted).length >= running) break;
        if (i > 60) throw new Error('agents still halted a minute after the release');
        await sleep(500);
      }

      // 3. controller killed: its connection closed under it, the leases left to lapse.
      phase = 'controller killed';
      out.killInject = await fanOut('fan-out before kill', leaseMs);
      const killIds = new Map(byName);
      // Let renewals run so the kill lands at a random point of the renewal cycle.
      await sleep(2000 + Math.random() * 1000);
      const tk = Date.now();
      await ctl.connection.nc.close();
      let goneMs;
      for (;;) {
        if (names.every((x) => !existsSync(join(markers, x)))) {
          goneMs = Date.now() - tk;
          break;
        }
        if (Date.now() - tk > 60_000) break;
        await sleep(20);
      }
      await sleep(500);
      const lapses = [...killIds.values()]
        .map((id) => events.get(id)?.verified - tk)
        .filter((x) => Number.isFinite(x));
      out.kill = {
        verifiedRevert: stats(lapses),
        allMarkersGoneMs: goneMs ?? 'not within 60 s',
        target: `lease ${leaseMs} + heartbeat ${heartbeatMs} = ${leaseMs + heartbeatMs} ms`,
      };
      ctl = undefined;
    } catch (err) {
      out.error = `${phase}: ${err.message}`;
      // Its connection would keep reconnecting to the server stopped below, and this process alive.
      await ctl?.connection.nc.close().catch(() => undefined);
    }
    out.agentLogs = logs;
    const vEnd = await varz();
    out.server = { rssMB: Math.round(vEnd.mem / 2 ** 20), slowConsumers: vEnd.slow_consumers };

    await Promise.all(
      kids.map(
        (c) =>
          new Promise((resolve) => {
            const t = setTimeout(() => {
              c.kill('SIGKILL');
              resolve();
            }, 60_000);
            c.on('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.send({ t: 'stop' });
          }),
      ),
    );
  } finally {
    cleanup();
  }
  print(out);
}

function print(o) {
  // A line whose phase did not run is left out.
  const line = (f) => {
    try {
      console.log(f());
    } catch {}
  };
  const row = (name, s) =>
    `${name.padEnd(44)} ${String(s.n).padStart(5)} ${String(s.p50).padStart(7)} ${String(s.p99).padStart(7)} ${String(s.max).padStart(7)}`;
  line(
    () =>
      `\n${o.agents} agents over ${o.procs} processes, ${o.cores} cores, lease ${o.leaseMs} ms, heartbeat ${o.heartbeatMs} ms; started in ${o.startSec.toFixed(1)} s (${o.startFailed} failed)`,
  );
  line(() => `${'ms from the call'.padEnd(44)}     n     p50     p99     max`);
  line(() => row('one agent at a time: inject call -> active reply', o.one));
  line(() => row(`fan-out: applied on the agent (target p99 500)`, o.fanOut.applied));
  line(() => row('fan-out: command received by the agent', o.fanOut.received));
  line(() => row('fan-out: received -> applied (local work)', o.fanOut.local));
  line(() => row('fan-out: its lease put acknowledged', o.fanOut.leased));
  line(() => row('fan-out: reply at the controller', o.fanOut.replied));
  line(() => row(`halt: verified revert (target p99 1000)`, o.halt.verifiedRevert));
  line(() => row(`controller killed: reverted by lease`, o.kill.verifiedRevert));
  line(
    () =>
      `fan-out: plan() inside inject() ${o.fanOut.planMs} ms, ${o.fanOut.active}/${o.fanOut.targets} active, not active ${o.fanOut.notActive}, markers ${o.fanOut.markers}, ${o.fanOut.msgsPerAgent.toFixed(1)} NATS msgs (in+out) per agent`,
  );
  line(
    () =>
      `halt: every record halted and empty after ${o.halt.allRecordsHaltedMs} ms; reverted ${o.halt.reverted}, no answer ${o.halt.noAnswer}, markers left ${o.halt.markersLeft}, ${o.halt.msgsPerAgent.toFixed(1)} msgs per agent`,
  );
  line(
    () =>
      `controller killed: every marker gone after ${o.kill.allMarkersGoneMs} ms (target ${o.kill.target}); second fan-out applied p99 ${o.killInject.applied.p99} ms, active ${o.killInject.active}/${o.killInject.targets}`,
  );
  const i = o.idle;
  line(
    () =>
      `NATS idle per agent per s: ${i.inMsgsPerAgentSec.toFixed(2)} msgs in, ${i.outMsgsPerAgentSec.toFixed(2)} out, ${Math.round(i.inBytesPerAgentSec)} B in, ${Math.round(i.outBytesPerAgentSec)} B out; holding one fault: ${o.heldMsgsPerAgentSec.toFixed(2)} msgs (in+out)`,
  );
  line(
    () =>
      `nats-server: ${Math.round(i.serverRssMB)} MB RSS idle, ${o.server.rssMB} MB at the end, cpu ${i.serverCpu}% idle, ${i.connections} connections, slow consumers ${o.server.slowConsumers}`,
  );
  line(
    () =>
      `memory: ${o.memory.rssPerAgentKB} KB RSS per agent (child RSS minus its RSS before the agents), ${o.memory.heapPerAgentKB} KB heap per agent (likewise); child RSS ${o.memory.childRssMB.join(', ')} MB`,
  );
  if (o.error) console.log(`stopped at ${o.error}`);
  if (o.agentLogs.length)
    line(() => `agent warnings (first ${o.agentLogs.length}):\n  ${o.agentLogs.join('\n  ')}`);
}

// Last: main() uses the helpers declared above.
if (argv[0] === '--child') await child();
else await main();
