#!/usr/bin/env node
// Cut-off to revert (issue #16): how long a fleet agent cut off from NATS keeps its fault.
//   npm run build && sudo node bench/fleet-cutoff.mjs [rounds=20] [--lease 3000]
// One built `faultline agent` (heartbeat 1 s) runs inside a network namespace joined to the root
// one by a veth pair; a nats-server of this bench's own listens in the root namespace; a
// FleetController here injects a marker fault under a lease and keeps renewing it. Each round
// takes the namespace's veth end down and measures cut -> marker file gone (the agent reverting by
// lease on its own), then brings it up and measures link up -> the agent's record re-put (it
// heartbeats again). Prints median / p99 / min / max of both, in ms. Needs root, `ip`, nats-server.
// The agent reverts a lease after the LAST renewal it saw, which came up to lease/3 before the cut:
// cut -> revert is expected between 2/3 of the lease and the lease (plus the agent's check).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { accepting, freePort, until as untilGuarded } from './lib.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const flagAt = argv.indexOf('--lease');
const leaseMs = flagAt >= 0 ? Number(argv[flagAt + 1]) : 3_000;
const positional = flagAt >= 0 ? argv.filter((_, i) => i !== flagAt && i !== flagAt + 1) : argv;
const rounds = Number(positional[0] ?? 20);
const GUARD_MS = 60_000;
const until = (what, check) => untilGuarded(what, check, GUARD_MS);
const SBIN = '/usr/local/sbin:/usr/sbin:/sbin';
const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:${SBIN}` };

if (process.getuid?.() !== 0) {
  console.error('fleet-cutoff needs root (network namespaces)');
  process.exit(2);
}
if (!existsSync(join(root, 'dist/fleet/controller.js'))) {
  console.error('run npm run build first (the bench runs the built agent and controller)');
  process.exit(2);
}

const sh = (args) =>
  execFileSync(args[0], args.slice(1), { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
const trySh = (args) => {
  try {
    return sh(args);
  } catch {
    return undefined;
  }
};

const { FleetController } = await import(join(root, 'dist/fleet/controller.js'));
const { parseSelector } = await import(join(root, 'dist/fleet/select.js'));

const work = mkdtempSync(join(tmpdir(), 'faultline-bench-cutoff-'));
const tag = `${process.pid % 100000}`;
const ns = `fl-bench-${process.pid}`;
const hostIf = `flbr${tag}`;
const nsIf = `flbi${tag}`;
const octet = (process.pid * 5) % 250;
const hostIp = `10.234.${octet}.1`;
const nsIp = `10.234.${octet}.2`;
const marker = join(work, 'marker');
const name = `bench-${tag}`;
let nats;
let agent;
let ctl;

const quantile = (xs, q) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
const summary = (xs) =>
  `median ${Math.round(quantile(xs, 0.5))}  p99 ${Math.round(quantile(xs, 0.99))}  min ${Math.round(Math.min(...xs))}  max ${Math.round(Math.max(...xs))}`;

try {
  const port = await freePort();
  nats = spawn('nats-server', ['-js', '-a', '0.0.0.0', '-p', String(port), '-sd', join(work, 'nats')], {
    stdio: 'ignore',
  });
  await until('nats-server to listen', () => accepting(port));

  sh(['ip', 'netns', 'add', ns]);
  sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns]);
  sh(['ip', 'addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
  sh(['ip', 'link', 'set', hostIf, 'up']);
  sh(['ip', '-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf]);
  sh(['ip', '-n', ns, 'link', 'set', nsIf, 'up']);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);

  agent = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      join(root, 'bin/faultline.js'),
      'agent',
      '--nats',
      `nats://${hostIp}:${port}`,
      '--name',
      name,
      '--labels',
      'bench=cutoff',
      '--heartbeat',
      '1s',
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...env, FAULTLINE_HOME: join(work, 'home'), FAULTLINE_WATCHDOG: '0', NO_COLOR: '1' },
    },
  );
  let output = '';
  const collect = (d) => {
    if (output.length < 100_000) output += d.toString();
  };
  agent.stdout.on('data', collect);
  agent.stderr.on('data', collect);
  await until('the agent to register', () => {
    if (agent.exitCode !== null) throw new Error(`the agent exited: ${output}`);
    return /registered/.test(output);
  });

  ctl = await FleetController.open({ servers: `nats://127.0.0.1:${port}` });
  const revision = async () => {
    const e = await ctl.connection.agents.get(name);
    return e?.operation === 'PUT' ? e.revision : 0;
  };
  const cutoff = [];
  const rejoin = [];
  for (let r = 0; r < rounds; r++) {
    const [fault] = await ctl.inject(
      'marker.create',
      { path: marker },
      { selector: parseSelector('bench=cutoff'), mode: 'all' },
      { leaseMs },
    );
    if (fault?.state !== 'active') throw new Error(`round ${r}: inject ${JSON.stringify(fault)}`);
    // Let a renewal or two through, as a fault that has lived a while.
    await sleep(leaseMs / 2);
    sh(['ip', '-n', ns, 'link', 'set', nsIf, 'down']);
    const cutAt = performance.now();
    await until('the marker to go', () => !existsSync(marker));
    cutoff.push(performance.now() - cutAt);
    const before = await revision();
    sh(['ip', '-n', ns, 'link', 'set', nsIf, 'up']);
    const upAt = performance.now();
    await until('the agent to heartbeat again', async () => (await revision()) > before);
    rejoin.push(performance.now() - upAt);
    // Already reverted on the agent by lease: this drops the controller's renewals and the lease.
    await ctl.revert(fault.id);
    process.stderr.write(
      `round ${r + 1}/${rounds}: cut -> revert ${Math.round(cutoff.at(-1))} ms, link up -> heartbeat ${Math.round(rejoin.at(-1))} ms\n`,
    );
  }
  console.log(`fleet cut-off, ${rounds} rounds, lease ${leaseMs} ms, heartbeat 1000 ms`);
  console.log(`  cut -> marker reverted (ms):     ${summary(cutoff)}`);
  console.log(`  link up -> record re-put (ms):   ${summary(rejoin)}`);
} finally {
  await ctl?.close().catch(() => undefined);
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    const exited = new Promise((r) => agent.once('exit', r));
    agent.kill('SIGTERM');
    const t = setTimeout(() => agent.kill('SIGKILL'), GUARD_MS);
    await exited;
    clearTimeout(t);
  }
  if (nats && nats.exitCode === null) {
    const exited = new Promise((r) => nats.once('exit', r));
    nats.kill('SIGTERM');
    await exited;
  }
  trySh(['ip', 'link', 'del', hostIf]);
  trySh(['ip', 'netns', 'del', ns]);
  rmSync(work, { recursive: true, force: true });
}
