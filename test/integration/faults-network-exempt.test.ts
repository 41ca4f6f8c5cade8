/**
 * Exempt peers for real (issue #16: a fault an agent applies never cuts the
 * agent's own NATS connection). Two namespaces the test creates, joined by a
 * veth pair: `agent` (where the faults go, as on an agent's host) and
 * `server`, whose echo server listens on two ports. Port A plays NATS and is
 * exempt; port B is any other service. Real traffic from inside `agent`
 * shows port A untouched and port B faulted, and nothing is left behind.
 * Needs root, nft, iptables, tc and ip.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, afterEach, before, describe, test } from 'node:test';
import { FaultSession, Ledger } from '../../src/faults/index.js';
import { netemSupported, tcRootSupported } from '../../src/faults/network/exec.js';
import { setNetworkExemptions } from '../../src/faults/network/exempt.js';
import { bandwidthKind, latencyKind, lossKind, partitionKind } from '../../src/faults/network/index.js';
import { assertNothingLeftBehind } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';
import { faultlineLeftovers, networkSkipReason, sh } from '../helpers/netns.js';

const skip = networkSkipReason();
const PATH = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;

const id = process.pid % 100000;
const agentNs = `flx-${process.pid}-agent`;
const serverNs = `flx-${process.pid}-server`;
const agentIf = `fxa${id}`;
const serverIf = `fxs${id}`;
const octet = (process.pid * 11) % 250;
const agentIp = `10.232.${octet}.1`;
const serverIp = `10.232.${octet}.2`;

// An echo server on two ports of the given address: prints `ready <portA> <portB>`.
const SERVER = `
const net = require('node:net');
const listen = () => new Promise((r) => {
  const s = net.createServer((c) => { c.on('error', () => {}); c.pipe(c); });
  s.listen(0, process.argv[1], () => r(s.address().port));
});
Promise.all([listen(), listen()]).then(([a, b]) => process.stdout.write('ready ' + a + ' ' + b + '\\n'));
process.stdin.resume();
process.stdin.on('close', () => process.exit(0));
`;

// Run inside the agent namespace: host port mode n.
//   connect: n connect attempts (each 'ok', 'timeout' or an error code), 500 ms each;
//   rtt: one connection, n one-byte echo round trips, their times in ms;
//   bulk: one connection, n KiB sent and echoed back, the time in ms.
const CLIENT = `
const net = require('node:net');
const [host, port, mode, n] = [process.argv[1], Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
const out = (v) => { process.stdout.write(JSON.stringify(v) + '\\n'); process.exit(0); };
const open = (ms) => new Promise((resolve) => {
  const s = net.connect({ host, port });
  const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, ms);
  s.once('connect', () => { clearTimeout(t); resolve(s); });
  s.once('error', (e) => { clearTimeout(t); resolve(e.code); });
});
(async () => {
  if (mode === 'connect') {
    const r = [];
    for (let i = 0; i < n; i++) {
      const s = await open(500);
      r.push(typeof s === 'string' ? s : 'ok');
      if (typeof s !== 'string') s.destroy();
    }
    return out(r);
  }
  const s = await open(5000);
  if (typeof s === 'string') return out({ error: s });
  if (mode === 'rtt') {
    const r = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      s.write('x');
      await new Promise((res) => s.once('data', res));
      r.push(performance.now() - t0);
    }
    s.destroy();
    return out(r);
  }
  const total = n * 1024;
  let got = 0;
  const t0 = performance.now();
  s.on('data', (d) => { got += d.length; if (got >= total) { s.destroy(); out(performance.now() - t0); } });
  s.write(Buffer.alloc(total, 0x61));
})();
`;

let home: Awaited<ReturnType<typeof tempHome>>;
let server: ChildProcess | undefined;
let portA = 0;
let portB = 0;

function inAgent(args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', agentNs, process.execPath, '-e', CLIENT, serverIp, ...args],
      { env: { ...process.env, PATH }, timeout: 60_000 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout.trim()))),
    );
  });
}

const connects = async (port: number, n = 5) => {
  const counts: Record<string, number> = {};
  for (const r of (await inAgent([String(port), 'connect', String(n)])) as string[])
    counts[r] = (counts[r] ?? 0) + 1;
  return counts;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rttMs = async (port: number, n = 5) =>
  median((await inAgent([String(port), 'rtt', String(n)])) as number[]);
const bulkMs = async (port: number, kib: number) =>
  (await inAgent([String(port), 'bulk', String(kib)])) as number;

/** The agent namespace holds nothing of Faultline's: no table, chain, non-default root qdisc or tc filter. */
function assertClean(): void {
  assert.deepEqual(faultlineLeftovers(agentNs), [], 'left behind in the agent namespace');
  const filters = sh(['ip', 'netns', 'exec', agentNs, 'tc', 'filter', 'show', 'dev', agentIf]).trim();
  assert.equal(filters, '', 'no tc filter left');
  assert.doesNotMatch(sh(['ip', 'netns', 'exec', agentNs, 'nft', 'list', 'tables']), /faultline_/);
}

function session(): FaultSession {
  return new FaultSession({ runId: 'exempt-run', ledger: new Ledger({ home: home.home }) });
}

async function withSession(fn: (s: FaultSession) => Promise<void>): Promise<void> {
  const s = session();
  try {
    await fn(s);
  } finally {
    const records = await s.revertAll();
    assert.deepEqual(
      records.filter((r) => !r.verified),
      [],
      'every fault reverted and verified',
    );
  }
}

function trySh(argv: string[]): void {
  try {
    sh(argv);
  } catch {
    // already gone
  }
}

before(async () => {
  if (skip) return;
  home = await tempHome();
  try {
    sh(['ip', 'netns', 'add', agentNs]);
    sh(['ip', 'netns', 'add', serverNs]);
    sh([
      'ip',
      '-n',
      agentNs,
      'link',
      'add',
      agentIf,
      'type',
      'veth',
      'peer',
      'name',
      serverIf,
      'netns',
      serverNs,
    ]);
    sh(['ip', '-n', agentNs, 'addr', 'add', `${agentIp}/30`, 'dev', agentIf]);
    sh(['ip', '-n', serverNs, 'addr', 'add', `${serverIp}/30`, 'dev', serverIf]);
    for (const [ns, dev] of [
      [agentNs, agentIf],
      [serverNs, serverIf],
      [agentNs, 'lo'],
      [serverNs, 'lo'],
    ] as const)
      sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    const child = spawn('ip', ['netns', 'exec', serverNs, process.execPath, '-e', SERVER, serverIp], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, PATH },
    });
    server = child;
    const ready = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (l) => l.startsWith('ready ') && resolve(l));
      child.once('exit', (code) => reject(new Error(`echo server exited with ${code}`)));
    });
    [portA, portB] = ready.split(' ').slice(1).map(Number) as [number, number];
  } catch (err) {
    trySh(['ip', 'netns', 'del', agentNs]);
    trySh(['ip', 'netns', 'del', serverNs]);
    throw err;
  }
});

afterEach(() => setNetworkExemptions([]));

after(async () => {
  if (skip) return;
  try {
    assertClean();
    await assertNothingLeftBehind(home.home);
  } finally {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGKILL');
      await exited;
    }
    trySh(['ip', 'netns', 'del', agentNs]);
    trySh(['ip', 'netns', 'del', serverNs]);
    await home.cleanup();
  }
});

describe('exempt peers: the control plane survives the faults', { concurrency: false }, () => {
  test('loss 100% (nftables) in the agent namespace: the exempt port A still connects, port B is cut; revert leaves nothing', async (t) => {
    if (skip) return t.skip(skip);
    assert.deepEqual(await connects(portA), { ok: 5 });
    assert.deepEqual(await connects(portB), { ok: 5 });
    setNetworkExemptions([{ address: serverIp, port: portA, protocol: 'tcp' }]);
    await withSession(async (s) => {
      const h = await s.inject(lossKind, { namespace: agentNs, percent: 100 }, { ttlMs: 60_000 });
      const table = sh(['ip', 'netns', 'exec', agentNs, 'nft', 'list', 'ruleset']);
      assert.match(
        table,
        new RegExp(`ip daddr ${serverIp.replaceAll('.', '\\.')} tcp dport ${portA} accept`),
      );
      assert.deepEqual(await connects(portA), { ok: 5 }, 'the exempt peer is reachable');
      assert.deepEqual(await connects(portB), { timeout: 5 }, 'everything else is lost');
      // The record holds the exemptions: clearing the list changes nothing for this fault's revert.
      setNetworkExemptions([]);
      assert.equal((await h.revert()).verified, true);
    });
    assertClean();
    assert.deepEqual(await connects(portB), { ok: 5 });
  });

  test('partition (iptables backend): RETURN rules for the exempt peer first in the chain; port A connects, port B does not', async (t) => {
    if (skip) return t.skip(skip);
    setNetworkExemptions([{ address: serverIp, port: portA }]);
    await withSession(async (s) => {
      const h = await s.inject(
        partitionKind,
        { namespace: agentNs, interface: agentIf, backend: 'iptables' },
        { ttlMs: 60_000 },
      );
      const rules = sh(['ip', 'netns', 'exec', agentNs, 'iptables', '-S']);
      assert.match(
        rules,
        new RegExp(`-A FAULTLINE-[0-9a-f]{8} -d ${serverIp}/32 -p tcp -m tcp --dport ${portA} -j RETURN`),
      );
      assert.deepEqual(await connects(portA), { ok: 5 });
      assert.deepEqual(await connects(portB), { timeout: 5 });
      assert.equal((await h.revert()).verified, true);
    });
    assertClean();
    assert.deepEqual(await connects(portB), { ok: 5 });
  });

  test('bandwidth 1mbit (tbf under a prio/htb root): port B is shaped, the exempt port A is not; revert removes qdiscs and filters', async (t) => {
    if (skip) return t.skip(skip);
    const root = await tcRootSupported();
    if (root === undefined) return t.skip('the kernel has neither sch_prio nor sch_htb');
    setNetworkExemptions([{ address: serverIp, port: portA, protocol: 'tcp' }]);
    await withSession(async (s) => {
      const h = await s.inject(
        bandwidthKind,
        { namespace: agentNs, interface: agentIf, rate: '1mbit' },
        { ttlMs: 60_000 },
      );
      const qdiscs = JSON.parse(
        sh(['ip', 'netns', 'exec', agentNs, 'tc', '-j', 'qdisc', 'show', 'dev', agentIf]),
      ) as {
        kind: string;
        root?: boolean;
      }[];
      assert.equal(qdiscs.find((q) => q.root)?.kind, root);
      assert.ok(
        qdiscs.some((q) => q.kind === 'tbf' && !q.root),
        'the tbf hangs under the root',
      );
      assert.match(sh(['ip', 'netns', 'exec', agentNs, 'tc', 'filter', 'show', 'dev', agentIf]), /flowid/);
      // 128 KiB at 1 Mbit/s take about 1 s shaped; unshaped a few ms. Medians of three, compared to each other.
      const shaped: number[] = [];
      const free: number[] = [];
      for (let i = 0; i < 3; i++) {
        shaped.push(await bulkMs(portB, 128));
        free.push(await bulkMs(portA, 128));
      }
      assert.ok(
        median(shaped) >= 3 * median(free) && median(shaped) - median(free) >= 400,
        `shaped ${median(shaped).toFixed(0)} ms, exempt ${median(free).toFixed(0)} ms`,
      );
      assert.equal((await h.revert()).verified, true);
    });
    assertClean();
  });

  test('latency 300 ms (netem under a prio/htb root): port B round trips take 300 ms more than port A', async (t) => {
    if (skip) return t.skip(skip);
    if (!(await netemSupported())) return t.skip('this kernel has no netem qdisc (sch_netem)');
    if ((await tcRootSupported()) === undefined) return t.skip('the kernel has neither sch_prio nor sch_htb');
    setNetworkExemptions([{ address: serverIp, port: portA, protocol: 'tcp' }]);
    await withSession(async (s) => {
      const h = await s.inject(
        latencyKind,
        { namespace: agentNs, interface: agentIf, delay: 300 },
        { ttlMs: 60_000 },
      );
      const b = await rttMs(portB);
      const a = await rttMs(portA);
      assert.ok(b - a >= 200, `port B ${b.toFixed(0)} ms, exempt port A ${a.toFixed(0)} ms`);
      assert.equal((await h.revert()).verified, true);
    });
    assertClean();
  });

  test('with no exemptions, a tc fault is a single root tbf as before, and shapes port A too', async (t) => {
    if (skip) return t.skip(skip);
    await withSession(async (s) => {
      const h = await s.inject(
        bandwidthKind,
        { namespace: agentNs, interface: agentIf, rate: '1mbit' },
        { ttlMs: 60_000 },
      );
      const qdiscs = JSON.parse(
        sh(['ip', 'netns', 'exec', agentNs, 'tc', '-j', 'qdisc', 'show', 'dev', agentIf]),
      ) as {
        kind: string;
      }[];
      assert.deepEqual(
        qdiscs.map((q) => q.kind),
        ['tbf'],
      );
      assert.equal(sh(['ip', 'netns', 'exec', agentNs, 'tc', 'filter', 'show', 'dev', agentIf]).trim(), '');
      assert.ok((await bulkMs(portA, 128)) >= 500, 'port A is shaped like everything else');
      assert.equal((await h.revert()).verified, true);
    });
    assertClean();
  });
});
