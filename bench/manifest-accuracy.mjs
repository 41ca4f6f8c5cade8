#!/usr/bin/env node
// Accuracy of faults converted from Chaos Mesh manifests (issue #19), side by side with the same
// fault written natively, both run through the built CLI on a fleet and measured by real traffic.
//   npm run build && sudo node bench/manifest-accuracy.mjs [probes=4000]
// Two fleet hosts (the target and a non-target), each a network namespace joined to the root one by a veth pair, each with a
// built `faultline agent` inside (labels app=<service>; a workloads file with one labelled workload
// when the agent takes --workloads) and the network peer fixture (TCP echo, TCP blast, UDP echo).
// Every case is two runs of `faultline run FILE --nats URL`: a NetworkChaos manifest (selector
// app=checkout-service) and a Faultline experiment with the native kind and `targets:` on the
// agent's label. While the run holds the fault the bench measures from the root namespace:
//   - loss 25%: datagrams lost one way into the namespace, one way out of it, and UDP echoes (round trip);
//   - partition: share of TCP connects blocked to the target, and to a non-target (must be 0);
//   - bandwidth 1mbit: TCP goodput out of the namespace;
//   - delay 500ms jitter 100ms: mean and spread of UDP echo round trips, only where sch_netem exists.
// A side that cannot run (a translator or the agent's --workloads not there yet, a kernel without
// sch_netem) prints why instead of figures. After each run nothing of Faultline's may be left in
// any namespace. Needs root, ip, nft, tc, nats-server.
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { accepting, freePort, goodput, until as untilGuarded } from './lib.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/faultline.js');
const probes = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 4000);
const GUARD_MS = 90_000;
const until = (what, check, guard = GUARD_MS) => untilGuarded(what, check, guard, 20);
const HOLD_S = 8;
const SBIN = '/usr/local/sbin:/usr/sbin:/sbin';
const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:${SBIN}` };

const sh = (args) =>
  execFileSync(args[0], args.slice(1), { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
const trySh = (args) => {
  try {
    return sh(args);
  } catch {
    return undefined;
  }
};

if (process.getuid?.() !== 0) {
  console.log('SKIP: needs root (network namespaces, nft, tc)');
  process.exit(0);
}
if (!trySh(['nats-server', '--version'])) {
  console.log('SKIP: nats-server is not installed (Debian: apt-get install nats-server)');
  process.exit(0);
}
if (!existsSync(join(root, 'dist/cli/main.js'))) {
  console.error('run npm run build first (the bench runs the built CLI and agents)');
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'faultline-bench-manifests-'));
const agentTakesWorkloads = /--workloads/.test(
  execFileSync(process.execPath, [bin, 'agent', '--help'], { encoding: 'utf8' }),
);
const hosts = [];
let nats;
let natsPort;

// A one-way datagram counter: `recv <addr>` prints `ready <port>` and, when stdin closes, `got <n>`;
// `send <addr> <port> <n>` sends n numbered datagrams paced 20 per millisecond.
const ONEWAY = `
import { createSocket } from 'node:dgram';
const [mode, addr, port, n] = process.argv.slice(1);
const s = createSocket('udp4');
if (mode === 'recv') {
  const seen = new Set();
  s.on('message', (m) => seen.add(m.readUInt32BE(0)));
  s.bind(0, addr, () => process.stdout.write('ready ' + s.address().port + '\\n'));
  process.stdin.resume();
  process.stdin.on('end', () => { process.stdout.write('got ' + seen.size + '\\n'); process.exit(0); });
} else {
  s.bind(0, () => {
    (async () => {
      for (let i = 0; i < Number(n); i++) {
        const b = Buffer.alloc(16); b.writeUInt32BE(i, 0); s.send(b, Number(port), addr);
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1));
      }
      setTimeout(() => process.exit(0), 300);
    })();
  });
}`;

function inNs(h, args, stdio = ['ignore', 'pipe', 'inherit']) {
  return spawn('ip', ['netns', 'exec', h.ns, ...args], { stdio, env });
}

function lines(child) {
  let buf = '';
  const waiters = [];
  child.stdout.on('data', (d) => {
    buf += d.toString();
    for (const w of [...waiters]) {
      const m = w.re.exec(buf);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  return (re) =>
    new Promise((resolve, reject) => {
      const m = re.exec(buf);
      if (m) return resolve(m);
      waiters.push({ re, resolve });
      child.once('exit', (c) => reject(new Error(`exited ${c} before ${re}`)));
    });
}

function createHost(label, service, n) {
  const octet = (process.pid * 3 + n) % 250;
  const tag = `${process.pid % 100000}${n}`;
  const h = {
    label,
    service,
    name: `bench-${label}`,
    ns: `fl-bm-${label}-${process.pid}`,
    hostIf: `fbmr${tag}`,
    nsIf: `fbmi${tag}`,
    hostIp: `10.238.${octet}.1`,
    nsIp: `10.238.${octet}.2`,
    home: join(work, `home-${label}`),
    output: '',
  };
  hosts.push(h);
  sh(['ip', 'netns', 'add', h.ns]);
  sh(['ip', 'link', 'add', h.hostIf, 'type', 'veth', 'peer', 'name', h.nsIf, 'netns', h.ns]);
  sh(['ip', 'addr', 'add', `${h.hostIp}/30`, 'dev', h.hostIf]);
  sh(['ip', 'link', 'set', h.hostIf, 'up']);
  sh(['ip', '-n', h.ns, 'addr', 'add', `${h.nsIp}/30`, 'dev', h.nsIf]);
  sh(['ip', '-n', h.ns, 'link', 'set', h.nsIf, 'up']);
  sh(['ip', '-n', h.ns, 'link', 'set', 'lo', 'up']);
  return h;
}

async function startHost(h) {
  h.peer = inNs(
    h,
    [process.execPath, join(root, 'test/fixtures/network/peer.mjs'), h.nsIp],
    ['pipe', 'pipe', 'inherit'],
  );
  const [, e, b, u] = (await lines(h.peer)(/ready (\d+) (\d+) (\d+)/)).map(Number);
  Object.assign(h, { tcpEcho: e, tcpBlast: b, udpEcho: u });
  const args = [
    process.execPath,
    bin,
    'agent',
    '--nats',
    `nats://${h.hostIp}:${natsPort}`,
    '--name',
    h.name,
    '--labels',
    `app=${h.service},host=${h.label}`,
    '--heartbeat',
    '1s',
  ];
  if (agentTakesWorkloads) {
    const file = join(work, `workloads-${h.label}.yaml`);
    writeFileSync(
      file,
      [
        'workloads:',
        `  - name: ${h.service}`,
        '    namespace: default',
        `    labels: {app: ${h.service}}`,
        `    processes: {pidfile: ${join(work, `peer-${h.label}.pid`)}}`,
        `    addresses: [${h.nsIp}]`,
        `    ports: [${h.tcpEcho}]`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(work, `peer-${h.label}.pid`), `${h.peer.pid}\n`);
    args.push('--workloads', file);
  }
  h.agent = spawn('ip', ['netns', 'exec', h.ns, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...env, FAULTLINE_HOME: h.home, FAULTLINE_WATCHDOG: '0', NO_COLOR: '1' },
  });
  const onData = (d) => {
    if (h.output.length < 50_000) h.output += d.toString();
  };
  h.agent.stdout.on('data', onData);
  h.agent.stderr.on('data', onData);
  await until(`agent ${h.name} to register`, () => {
    if (h.agent.exitCode !== null) throw new Error(`agent ${h.name} exited: ${h.output}`);
    return /registered/.test(h.output);
  });
}

/** Faultline's nft tables and non-default root qdiscs in a host's namespace. */
function faultsIn(h) {
  const tables = (trySh(['ip', 'netns', 'exec', h.ns, 'nft', 'list', 'tables']) ?? '')
    .split('\n')
    .filter((l) => l.includes('faultline_'));
  const qdiscs = JSON.parse(trySh(['ip', 'netns', 'exec', h.ns, 'tc', '-j', 'qdisc', 'show']) || '[]').filter(
    (q) => q.root && !['noqueue', 'noop', 'pfifo_fast', 'fq_codel', 'mq'].includes(q.kind),
  );
  return [...tables, ...qdiscs.map((q) => `${q.kind} on ${q.dev}`)];
}

// --- measurements, from the root namespace -------------------------------------------------

async function lossInto(h, n) {
  const recv = inNs(
    h,
    [process.execPath, '--input-type=module', '-e', ONEWAY, 'recv', h.nsIp],
    ['pipe', 'pipe', 'inherit'],
  );
  const next = lines(recv);
  const port = Number((await next(/ready (\d+)/))[1]);
  const s = createSocket('udp4');
  await new Promise((r) => s.bind(0, h.hostIp, r));
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(i, 0);
    s.send(b, port, h.nsIp);
    if (i % 20 === 19) await sleep(1);
  }
  await sleep(300);
  s.close();
  recv.stdin.end();
  return 1 - Number((await next(/got (\d+)/))[1]) / n;
}

async function lossOutOf(h, n) {
  const s = createSocket('udp4');
  const seen = new Set();
  s.on('message', (m) => seen.add(m.readUInt32BE(0)));
  await new Promise((r) => s.bind(0, h.hostIp, r));
  const send = inNs(h, [
    process.execPath,
    '--input-type=module',
    '-e',
    ONEWAY,
    'send',
    h.hostIp,
    String(s.address().port),
    String(n),
  ]);
  await new Promise((r) => send.once('exit', r));
  await sleep(200);
  s.close();
  return 1 - seen.size / n;
}

/** UDP echoes: the share lost and the round trips (ms) of those that came back. */
async function echoes(h, n, spacingMs = 0) {
  const s = createSocket('udp4');
  const sent = new Map();
  const rtts = [];
  s.on('message', (m) => {
    const t0 = sent.get(m.readUInt32BE(0));
    if (t0 !== undefined) rtts.push(performance.now() - t0);
  });
  await new Promise((r) => s.bind(0, h.hostIp, r));
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(i, 0);
    sent.set(i, performance.now());
    s.send(b, h.udpEcho, h.nsIp);
    if (spacingMs) await sleep(spacingMs);
    else if (i % 20 === 19) await sleep(1);
  }
  await sleep(spacingMs ? 1500 : 500);
  s.close();
  return { lost: 1 - rtts.length / n, rtts };
}

function connectOnce(h, timeoutMs = 500) {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: h.nsIp, port: h.tcpEcho, localAddress: h.hostIp });
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
const goodputMbit = async (h, seconds = 3) =>
  ((await goodput({ host: h.nsIp, port: h.tcpBlast, localAddress: h.hostIp }, seconds)) * 8) / 1e6;

async function blockedShare(h, n = 200) {
  const r = await Promise.all(Array.from({ length: n }, () => connectOnce(h)));
  return r.filter((x) => x !== 'ok').length / n;
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stdev = (xs) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
};

// --- the runs -----------------------------------------------------------------------------

function nativeExperiment(title, func, args) {
  return JSON.stringify(
    {
      title,
      description: 'native side of bench/manifest-accuracy.mjs',
      method: [
        {
          type: 'action',
          name: `native-${func}`,
          provider: {
            type: 'faultline',
            module: 'faultline.network',
            func,
            arguments: { ...args, duration: HOLD_S + 30 },
          },
          targets: { selector: { matchLabels: { app: 'checkout-service' } }, mode: 'all' },
          pauses: { after: HOLD_S },
        },
      ],
    },
    null,
    2,
  );
}

function networkChaos(name, spec) {
  return [
    'apiVersion: chaos-mesh.org/v1alpha1',
    'kind: NetworkChaos',
    `metadata: {name: ${name}, namespace: default}`,
    'spec:',
    '  mode: all',
    '  selector: {namespaces: [default], labelSelectors: {app: checkout-service}}',
    `  duration: ${HOLD_S}s`,
    ...spec.map((l) => `  ${l}`),
    '',
  ].join('\n');
}

/**
 * Runs FILE on the fleet; once a fault of Faultline's is in the target's namespace, `measure()`;
 * then waits for the run to end. Resolves {figures} or {skipped: why}.
 */
async function runAndMeasure(label, file, target, measure) {
  const journal = `${file}.journal.json`;
  let out = '';
  const run = spawn(
    process.execPath,
    [bin, 'run', file, '--nats', `nats://127.0.0.1:${natsPort}`, '--journal-path', journal],
    {
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...env, FAULTLINE_HOME: join(work, 'home-controller'), NO_COLOR: '1' },
    },
  );
  run.stdout.on('data', (d) => (out += d));
  run.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => run.once('exit', (code) => r(code)));
  let code;
  const placed = await Promise.race([
    until(`${label}: the fault in ${target.ns}`, () => faultsIn(target).length > 0).then(() => true),
    exited.then((c) => {
      code = c;
      return false;
    }),
  ]);
  let figures;
  if (placed) {
    figures = await measure();
    // The fault must still be there at the end of the measurement, or the figures mix both states.
    if (faultsIn(target).length === 0) figures = { invalid: 'the fault ended before the measurement did' };
    code = await exited;
  }
  const left = hosts.flatMap((h) => faultsIn(h).map((f) => `${h.name}: ${f}`));
  if (left.length > 0) throw new Error(`${label}: left behind after the run: ${left.join(', ')}`);
  if (!placed) {
    const why = out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^(warn|info)/i.test(l))
      .slice(0, 2)
      .join(' / ');
    return { skipped: `run exited ${code} before any fault was in place: ${why.slice(0, 300)}` };
  }
  let workloads = [];
  try {
    const j = JSON.parse(readFileSync(journal, 'utf8'));
    workloads = [...JSON.stringify(j).matchAll(/"workload":"([^"]+)"/g)].map((m) => m[1]);
  } catch {
    // no journal: reported as exit code only
  }
  return { figures, code, workloads: [...new Set(workloads)] };
}

function netemSkipReason() {
  const ns = `fl-bm-netem-${process.pid}`;
  try {
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
    return undefined;
  } catch (err) {
    const why = String(err.stderr ?? err.message)
      .trim()
      .split('\n')[0];
    return `this kernel has no sch_netem (tc: ${why})`;
  } finally {
    trySh(['ip', 'netns', 'del', ns]);
  }
}

const pct = (x) => `${(x * 100).toFixed(2)}%`;
const rows = [];
function row(caseName, side, result, describe) {
  if (result.skipped) rows.push([caseName, side, `not measured: ${result.skipped}`]);
  else if (result.figures?.invalid) rows.push([caseName, side, `invalid: ${result.figures.invalid}`]);
  else
    rows.push([
      caseName,
      side,
      `${describe(result.figures)}; exit ${result.code}${result.workloads.length ? `; workloads hit: ${result.workloads.join(', ')}` : ''}`,
    ]);
  console.log(`${caseName} | ${side} | ${rows.at(-1)[2]}`);
}

try {
  natsPort = await freePort();
  nats = spawn('nats-server', ['-js', '-a', '0.0.0.0', '-p', String(natsPort), '-sd', join(work, 'nats')], {
    stdio: 'ignore',
  });
  await until('nats-server to listen', () => accepting(natsPort));
  const checkout = createHost('checkout', 'checkout-service', 0);
  const other = createHost('other', 'other-service', 1);
  for (const h of hosts) await startHost(h);
  console.log(
    `manifest accuracy: ${probes} probes per direction; agents ${agentTakesWorkloads ? 'with' : 'WITHOUT'} --workloads; ${
      (await import('node:os')).cpus().length
    } cores; node ${process.version}`,
  );
  const baseline = { in: await lossInto(checkout, 1000), out: await lossOutOf(checkout, 1000) };
  console.log(`baseline loss (no fault): into ${pct(baseline.in)}, out of ${pct(baseline.out)}`);

  // Loss 25%: Chaos Mesh's loss acts on the pod's outgoing packets (netem on its interface).
  const lossFigures = async () => ({
    into: await lossInto(checkout, probes),
    out: await lossOutOf(checkout, probes),
    echo: (await echoes(checkout, probes)).lost,
  });
  const describeLoss = (f) => `into ${pct(f.into)}, out of ${pct(f.out)}, echo round trip ${pct(f.echo)}`;
  const files = {
    lossNative: nativeExperiment('loss 25% native', 'loss', { percent: 25, direction: 'egress' }),
    lossManifest: networkChaos('checkout-loss', ['action: loss', 'loss: {loss: "25"}']),
    partNative: nativeExperiment('partition native', 'partition', { direction: 'both' }),
    partManifest: networkChaos('checkout-partition', [
      'action: partition',
      // Chaos Mesh takes externalTargets with direction `to` only.
      'direction: to',
      `externalTargets: ["${checkout.hostIp}"]`,
    ]),
    bwNative: nativeExperiment('bandwidth native', 'bandwidth', { rate: '1mbit', interface: checkout.nsIf }),
    bwManifest: networkChaos('checkout-bandwidth', [
      'action: bandwidth',
      'bandwidth: {rate: 1mbit, limit: 20971520, buffer: 10000}',
    ]),
    delayNative: nativeExperiment('delay native', 'latency', {
      delay: 500,
      jitter: 100,
      interface: checkout.nsIf,
    }),
    delayManifest: networkChaos('checkout-delay', [
      'action: delay',
      "delay: {latency: '500ms', jitter: '100ms', correlation: '100'}",
    ]),
  };
  const path = (k, ext) => {
    const p = join(work, `${k}.${ext}`);
    writeFileSync(p, files[k]);
    return p;
  };
  row(
    'loss 25%',
    'native',
    await runAndMeasure('loss native', path('lossNative', 'json'), checkout, lossFigures),
    describeLoss,
  );
  row(
    'loss 25%',
    'Chaos Mesh',
    await runAndMeasure('loss manifest', path('lossManifest', 'yaml'), checkout, lossFigures),
    describeLoss,
  );

  const partFigures = async () => ({
    target: await blockedShare(checkout),
    other: await blockedShare(other),
  });
  const describePart = (f) =>
    `${pct(f.target)} of 200 connects to the target blocked, ${pct(f.other)} to a non-target`;
  row(
    'partition',
    'native',
    await runAndMeasure('partition native', path('partNative', 'json'), checkout, partFigures),
    describePart,
  );
  row(
    'partition',
    'Chaos Mesh',
    await runAndMeasure('partition manifest', path('partManifest', 'yaml'), checkout, partFigures),
    describePart,
  );

  const bwFigures = async () => ({ mbit: await goodputMbit(checkout) });
  const describeBw = (f) =>
    `${f.mbit.toFixed(3)} Mbit/s TCP goodput out (${((f.mbit - 1) * 100).toFixed(1)}% off 1 Mbit/s)`;
  row(
    'bandwidth 1mbit',
    'native',
    await runAndMeasure('bandwidth native', path('bwNative', 'json'), checkout, bwFigures),
    describeBw,
  );
  row(
    'bandwidth 1mbit',
    'Chaos Mesh',
    await runAndMeasure('bandwidth manifest', path('bwManifest', 'yaml'), checkout, bwFigures),
    describeBw,
  );

  const netem = netemSkipReason();
  if (netem) {
    rows.push(['delay 500ms ± 100ms', 'both', `skipped: ${netem}`]);
    console.log(`delay 500ms ± 100ms | both | skipped: ${netem}`);
  } else {
    const delayFigures = async () => {
      const { rtts, lost } = await echoes(checkout, 200, 5);
      return { mean: mean(rtts), sd: stdev(rtts), lost };
    };
    const describeDelay = (f) =>
      `echo round trip mean ${f.mean.toFixed(1)} ms, spread (sd) ${f.sd.toFixed(1)} ms over 200 echoes (${pct(f.lost)} lost)`;
    row(
      'delay 500ms ± 100ms',
      'native',
      await runAndMeasure('delay native', path('delayNative', 'json'), checkout, delayFigures),
      describeDelay,
    );
    row(
      'delay 500ms ± 100ms',
      'Chaos Mesh',
      await runAndMeasure('delay manifest', path('delayManifest', 'yaml'), checkout, delayFigures),
      describeDelay,
    );
  }

  console.log('\n| fault | written as | measured |\n| --- | --- | --- |');
  for (const [c, s, m] of rows) console.log(`| ${c} | ${s} | ${m} |`);
} finally {
  for (const h of hosts) {
    if (h.agent && h.agent.exitCode === null) {
      const done = new Promise((r) => h.agent.once('exit', r));
      h.agent.kill('SIGTERM');
      const t = setTimeout(() => h.agent.kill('SIGKILL'), 30_000);
      await done;
      clearTimeout(t);
    }
    h.peer?.kill('SIGKILL');
    trySh(['ip', 'link', 'del', h.hostIf]);
    trySh(['ip', 'netns', 'del', h.ns]);
  }
  nats?.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
