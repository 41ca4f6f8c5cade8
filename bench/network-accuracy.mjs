#!/usr/bin/env node
// Accuracy of the network faults, measured by real traffic between the root
// namespace and a namespace made here (veth pair), and `faultline halt` with
// 20 active network faults. Needs root, nft, tc, ip; run `npm run build` first.
// Loss is measured per direction at 50% (each packet judged once per direction:
// an echo loses 50% with ingress or egress, 75% with both; traffic the
// namespace sends itself over lo loses 50% one way whatever the direction).
// Usage: node bench/network-accuracy.mjs [lossProbes=10000] [--loss-only]
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FaultSession, Ledger } from '../dist/faults/index.js';
import { bandwidthKind, dnsKind, lossKind, partitionKind } from '../dist/faults/network/index.js';
import { goodput } from './lib.mjs';

const probes = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 10_000);
const lossOnly = process.argv.includes('--loss-only');
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/faultline.js');
const PATH = `${process.env.PATH}:/usr/local/sbin:/usr/sbin:/sbin`;
const sh = (argv) =>
  execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, PATH } });
const trySh = (argv) => {
  try {
    return sh(argv);
  } catch {
    return '';
  }
};

if (process.getuid?.() !== 0) {
  console.log('SKIP: needs root (network namespaces, nft, tc)');
  process.exit(0);
}

const ns = `flb-${process.pid}`;
const hostIf = `fbh${process.pid % 100000}`;
const nsIf = `fbn${process.pid % 100000}`;
const octet = 100 + (process.pid % 100);
const hostIp = `10.232.${octet}.1`;
const nsIp = `10.232.${octet}.2`;
const home = mkdtempSync(join(tmpdir(), 'faultline-bench-net-'));
const env = { ...process.env, FAULTLINE_HOME: home, PATH };
let peer;

function setup() {
  sh(['ip', 'netns', 'add', ns]);
  sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns]);
  sh(['ip', 'addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
  sh(['ip', 'link', 'set', hostIf, 'up']);
  sh(['ip', '-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf]);
  sh(['ip', '-n', ns, 'link', 'set', nsIf, 'up']);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
}

function teardown() {
  peer?.kill('SIGKILL');
  trySh(['ip', 'link', 'del', hostIf]);
  trySh(['ip', 'netns', 'del', ns]);
  rmSync(home, { recursive: true, force: true });
}

async function startPeer() {
  peer = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, join(root, 'test/fixtures/network/peer.mjs'), nsIp],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env,
    },
  );
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: peer.stdout }).on('line', (l) => l.startsWith('ready ') && resolve(l));
    peer.once('exit', (c) => reject(new Error(`peer exited ${c}`)));
  });
  const [, tcpEcho, tcpBlast, udpEcho] = line.split(' ').map(Number);
  return { tcpEcho, tcpBlast, udpEcho };
}

function connectOnce(port, timeoutMs = 300) {
  return new Promise((resolve) => {
    const s = connect({ host: nsIp, port });
    const done = (r) => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    s.once('connect', () => done('ok'));
    s.once('error', (e) => done(e.code));
  });
}

async function udpLoss(port, n) {
  const sock = createSocket('udp4');
  const seen = new Set();
  sock.on('message', (m) => seen.add(m.readUInt32BE(0)));
  await new Promise((r) => sock.bind(0, hostIp, r));
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(i, 0);
    sock.send(b, port, nsIp);
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1));
  }
  await new Promise((r) => setTimeout(r, 500));
  sock.close();
  return 1 - seen.size / n;
}

const measureRate = (port, seconds) => goodput({ host: nsIp, port }, seconds);

function leftovers() {
  const tables = trySh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables'])
    .split('\n')
    .filter((l) => l.includes('faultline_')).length;
  const qdiscs = JSON.parse(
    trySh(['ip', 'netns', 'exec', ns, 'tc', '-j', 'qdisc', 'show', 'dev', nsIf]) || '[]',
  );
  return tables + qdiscs.filter((q) => q.root && q.handle !== '0:').length;
}

const fmt = (x, d = 1) => x.toFixed(d);
try {
  setup();
  const ports = await startPeer();
  const session = new FaultSession({ runId: `bench-${process.pid}`, ledger: new Ledger({ home }) });

  // Loss: 25% of the probes entering the namespace, over `probes` UDP echoes.
  const baseline = await udpLoss(ports.udpEcho, 1000);
  let h = await session.inject(
    lossKind,
    { namespace: ns, interface: nsIf, direction: 'ingress', percent: 25 },
    { ttlMs: 120_000 },
  );
  const lost = await udpLoss(ports.udpEcho, probes);
  await h.revert();
  console.log(
    `loss 25%: measured ${fmt(lost * 100, 2)}% over ${probes} UDP probes (baseline ${fmt(baseline * 100, 2)}%)`,
  );
  console.log(`RESULT loss_25pct_measured_pct=${fmt(lost * 100, 2)} target=25+/-3`);

  // Loss 50% per direction: an echo through the veth pair, and one-way traffic over lo inside the namespace.
  const loLoss = (n) => {
    const out = sh([
      'ip',
      'netns',
      'exec',
      ns,
      process.execPath,
      join(root, 'test/fixtures/network/udp-self.mjs'),
      String(n),
      'oneway',
    ]);
    return Number(/^lost (\S+)/.exec(out)?.[1]);
  };
  for (const [what, direction, measure, expected] of [
    ['echo', 'ingress', () => udpLoss(ports.udpEcho, probes), 50],
    ['echo', 'egress', () => udpLoss(ports.udpEcho, probes), 50],
    ['echo (round trip)', 'both', () => udpLoss(ports.udpEcho, probes), 75],
    ['lo one way', 'both', () => loLoss(probes), 50],
  ]) {
    h = await session.inject(lossKind, { namespace: ns, direction, percent: 50 }, { ttlMs: 120_000 });
    const measured = (await measure()) * 100;
    await h.revert();
    console.log(
      `loss 50% ${direction}, ${what}: measured ${fmt(measured, 2)}% over ${probes} UDP datagrams (expected ${expected}%)`,
    );
    console.log(
      `RESULT loss_50pct_${direction}_${what.split(' ')[0]}_pct=${fmt(measured, 2)} target=${expected}+/-3`,
    );
  }
  // --loss-only: a short re-measure of the loss rows.
  if (!lossOnly) {
    // Bandwidth: 1 Mbit/s shaped (tbf) on the namespace's egress, a bulk TCP transfer out of it.
    h = await session.inject(
      bandwidthKind,
      { namespace: ns, interface: nsIf, rate: '1mbit' },
      { ttlMs: 120_000 },
    );
    const shaped = ((await measureRate(ports.tcpBlast, 5)) * 8) / 1e6;
    await h.revert();
    h = await session.inject(
      bandwidthKind,
      { namespace: ns, interface: nsIf, rate: '1mbit', mode: 'police' },
      { ttlMs: 120_000 },
    );
    const policed = ((await measureRate(ports.tcpBlast, 5)) * 8) / 1e6;
    await h.revert();
    console.log(
      `bandwidth 1mbit: shaped (tbf) ${fmt(shaped, 3)} Mbit/s (${fmt((shaped - 1) * 100)}%), policed (nft limit) ${fmt(policed, 3)} Mbit/s, TCP goodput over 5 s`,
    );
    console.log(`RESULT bandwidth_1mbit_shaped_mbit=${fmt(shaped, 3)} target=1+/-5%`);

    // Partition: share of 200 connects blocked, then the time to revert (and verify) and to connect again.
    h = await session.inject(partitionKind, { namespace: ns, interface: nsIf }, { ttlMs: 120_000 });
    const results = await Promise.all(Array.from({ length: 200 }, () => connectOnce(ports.tcpEcho)));
    const blocked = results.filter((r) => r !== 'ok').length / results.length;
    const t0 = performance.now();
    await h.revert();
    const revertMs = performance.now() - t0;
    while ((await connectOnce(ports.tcpEcho, 50)) !== 'ok');
    const flowingMs = performance.now() - t0;
    console.log(
      `partition: ${fmt(blocked * 100)}% of 200 connects blocked; revert + verify ${fmt(revertMs)} ms, traffic flows again after ${fmt(flowingMs)} ms`,
    );
    console.log(
      `RESULT partition_blocked_pct=${fmt(blocked * 100)} partition_revert_ms=${fmt(revertMs)} target<100`,
    );

    // Halt: 20 active network faults (18 partitions/losses on distinct ports, dns, bandwidth), `faultline halt`.
    const trials = [];
    for (let trial = 0; trial < 5; trial++) {
      const s = new FaultSession({ runId: `bench-halt-${trial}`, ledger: new Ledger({ home }) });
      for (let i = 0; i < 18; i++) {
        const scope = { namespace: ns, port: 20_000 + i, protocol: 'tcp' };
        await (i % 2 ? s.inject(lossKind, { ...scope, percent: 10 }) : s.inject(partitionKind, scope));
      }
      await s.inject(dnsKind, { namespace: ns });
      await s.inject(bandwidthKind, { namespace: ns, interface: nsIf, rate: '100mbit' });
      if (leftovers() !== 20) throw new Error(`expected 20 faults in place, found ${leftovers()}`);
      // The halt command exits once every fault is reverted and verified; polling the
      // kernel meanwhile would compete for the CPU with it, so the check comes after.
      const start = performance.now();
      const halt = spawn(process.execPath, [bin, 'halt'], { cwd: root, env });
      const [code, haltMs] = await new Promise((r) =>
        halt.on('exit', (c) => r([c, performance.now() - start])),
      );
      if (code !== 0) throw new Error(`faultline halt exited with ${code}`);
      if (leftovers() !== 0) throw new Error('faultline halt left faults behind');
      const allGone = haltMs;
      trials.push({ allGone, haltMs });
      await s.revertAll();
      await new Promise((r) =>
        spawn(process.execPath, [bin, 'halt', '--release'], { cwd: root, env }).on('exit', r),
      );
    }
    const worst = Math.max(...trials.map((t) => t.allGone));
    console.log(
      `halt with 20 active network faults: \`faultline halt\` launched -> exited with all reverted and verified: ${trials.map((t) => fmt(t.allGone, 0)).join(', ')} ms`,
    );
    console.log(`RESULT halt_20_network_faults_max_ms=${fmt(worst, 0)} target<=500`);
    await session.revertAll();
    if (leftovers() !== 0) throw new Error('faults left behind');
  }
  await session.revertAll();
} finally {
  teardown();
}
