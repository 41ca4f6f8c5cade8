/**
 * Fleet hosts made of network namespaces (issue #16): one built `faultline
 * agent` per namespace, a nats-server of the test's own in the root namespace,
 * the test as controller (FleetController). Cutting one host's link to NATS
 * inside its namespace must make its agent revert by lease on its own while the
 * other host keeps its fault; the link back, it registers again. Waits are on
 * events and outcomes (the marker file, KV revisions); timeouts are hang guards.
 * Needs root, `ip` and nats-server (skips with the reason otherwise), and a
 * built CLI (npm run build).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { FleetController } from '../../src/fleet/controller.js';
import { AgentRecordSchema } from '../../src/fleet/protocol.js';
import { parseSelector } from '../../src/fleet/select.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { natsServerMissing, startNats, type TestNats } from '../helpers/nats.js';
import { networkSkipReason, sh } from '../helpers/netns.js';
import { until } from '../helpers/until.js';

const GUARD_MS = 60_000;
const untilGuard = <T>(what: string, check: () => T | Promise<T>) => until(what, check, GUARD_MS);
const LEASE_MS = 3_000;
const SBIN = '/usr/local/sbin:/usr/sbin:/sbin';

function trySh(argv: string[]): string | undefined {
  try {
    return sh(argv);
  } catch {
    return undefined;
  }
}

interface Host {
  name: string;
  label: string;
  ns: string;
  /** veth end in the root namespace (and its address, where the agent reaches NATS). */
  hostIf: string;
  hostIp: string;
  /** veth end inside the namespace: the one the test takes down to cut the host off. */
  nsIf: string;
  home: string;
  marker: string;
  child?: ChildProcess;
  output: string;
}

/** A namespace joined to the root one by a veth pair with its own /30; removed by destroyHost. */
function createHost(label: string, index: number, work: string, home: string): Host {
  const tag = `${process.pid % 100000}${label}`;
  // Not 10.231.x (test/helpers/netns.ts): the two may run at once.
  const octet = (process.pid * 3) % 250;
  const base = index * 4;
  const h: Host = {
    name: `host-${label}`,
    label,
    ns: `fl-host-${label}-${process.pid}`,
    hostIf: `flr${tag}`,
    hostIp: `10.233.${octet}.${base + 1}`,
    nsIf: `fli${tag}`,
    home,
    marker: join(work, `marker-${label}`),
    output: '',
  };
  const nsIp = `10.233.${octet}.${base + 2}`;
  try {
    sh(['ip', 'netns', 'add', h.ns]);
    sh(['ip', 'link', 'add', h.hostIf, 'type', 'veth', 'peer', 'name', h.nsIf, 'netns', h.ns]);
    sh(['ip', 'addr', 'add', `${h.hostIp}/30`, 'dev', h.hostIf]);
    sh(['ip', 'link', 'set', h.hostIf, 'up']);
    sh(['ip', '-n', h.ns, 'addr', 'add', `${nsIp}/30`, 'dev', h.nsIf]);
    sh(['ip', '-n', h.ns, 'link', 'set', h.nsIf, 'up']);
    sh(['ip', '-n', h.ns, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    destroyHost(h);
    throw err;
  }
  return h;
}

function destroyHost(h: Host): void {
  trySh(['ip', 'link', 'del', h.hostIf]);
  trySh(['ip', 'netns', 'del', h.ns]);
}

/** `ip netns exec` execs the command: the child's pid is the agent's own. */
function startAgentIn(h: Host, nats: TestNats): Promise<void> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      h.ns,
      process.execPath,
      BIN,
      'agent',
      '--nats',
      `nats://${h.hostIp}:${nats.port}`,
      '--name',
      h.name,
      '--labels',
      `host=${h.label}`,
      '--heartbeat',
      '1s',
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PATH: `${process.env.PATH ?? ''}:${SBIN}`,
        FAULTLINE_HOME: h.home,
        FAULTLINE_WATCHDOG: '0',
        NO_COLOR: '1',
      },
    },
  );
  h.child = child;
  return new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      if (h.output.length < 50_000) h.output += d.toString();
      if (/registered/.test(h.output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) =>
      reject(new Error(`agent ${h.name} exited with ${code ?? signal}: ${h.output}`)),
    );
    setTimeout(() => reject(new Error(`agent ${h.name} did not register: ${h.output}`)), GUARD_MS).unref();
  });
}

async function stopAgent(h: Host): Promise<number | null> {
  const c = h.child;
  if (!c) return null;
  if (c.exitCode !== null || c.signalCode !== null) return c.exitCode;
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), GUARD_MS);
  const code = await exited;
  clearTimeout(t);
  return code;
}

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const ledgerFaults = async (home: string) => {
  try {
    return (await readdir(join(home, 'ledger'))).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
};

test('an agent cut off from NATS in its namespace reverts within its lease; the other keeps its fault; it re-registers when the link is back', async (t) => {
  const skip = networkSkipReason(['ip']) || natsServerMissing();
  if (skip) {
    t.skip(skip);
    return;
  }
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) {
    t.skip('the built CLI is missing (run npm run build)');
    return;
  }
  const work = await mkdtemp(join(tmpdir(), 'faultline-fleet-netns-'));
  const hosts: Host[] = [];
  let nats: TestNats | undefined;
  let ctl: FleetController | undefined;
  try {
    // Every address: the agents reach it on the root side of their veth, the controller on loopback.
    nats = await startNats({ host: '0.0.0.0' });
    for (const [i, label] of ['a', 'b'].entries()) {
      const home = await mkdtemp(join(work, `home-${label}-`));
      hosts.push(createHost(label, i, work, home));
    }
    const [a, b] = hosts as [Host, Host];
    await Promise.all(hosts.map((h) => startAgentIn(h, nats!)));

    ctl = await FleetController.open({ servers: `nats://127.0.0.1:${nats.port}` });
    const injectOn = async (h: Host) => {
      const [fault, ...more] = await ctl!.inject(
        'marker.create',
        { path: h.marker },
        { selector: parseSelector(`host=${h.label}`), mode: 'all' },
        { leaseMs: LEASE_MS },
      );
      assert.equal(more.length, 0, `one target for host=${h.label}`);
      assert.equal(fault?.agent, h.name);
      assert.equal(fault?.state, 'active', JSON.stringify(fault));
      return fault!.id;
    };
    await injectOn(a);
    const idB = await injectOn(b);
    assert.ok(existsSync(a.marker) && existsSync(b.marker), 'both markers created');

    const record = async (h: Host) => {
      const e = await ctl!.connection.agents.get(h.name);
      return e?.operation === 'PUT'
        ? { record: AgentRecordSchema.parse(e.json()), revision: e.revision }
        : null;
    };

    // Cut host-a off inside its own namespace: its agent sees no renewal any more.
    sh(['ip', '-n', a.ns, 'link', 'set', a.nsIf, 'down']);
    const cutAt = performance.now();
    await untilGuard('host-a to remove its marker', () => !existsSync(a.marker));
    const revertMs = performance.now() - cutAt;
    t.diagnostic(`host-a reverted ${Math.round(revertMs)} ms after the cut (lease ${LEASE_MS} ms)`);

    // The controller still renews host-b's lease: its fault stays.
    assert.ok(existsSync(b.marker), "host-b's marker stays while its lease is renewed");
    const bNow = await record(b);
    assert.ok(bNow?.record.faults.includes(idB), "host-b's record still lists its fault");

    // host-a has been unable to put for a while: a newer revision can only come after the link is back.
    const cutRevision = (await record(a))?.revision ?? 0;
    sh(['ip', '-n', a.ns, 'link', 'set', a.nsIf, 'up']);
    const back = await untilGuard('host-a to heartbeat again', async () => {
      const r = await record(a);
      return r && r.revision > cutRevision ? r : undefined;
    });
    assert.equal(back.record.stoppedAt, undefined);
    const again = await untilGuard('a second heartbeat of host-a', async () => {
      const r = await record(a);
      return r && r.revision > back.revision ? r : undefined;
    });
    assert.deepEqual(again.record.faults, [], 'host-a holds no fault after reconnecting');
    assert.equal(existsSync(a.marker), false, 'host-a did not re-apply its fault');
    assert.ok(existsSync(b.marker), "host-b's marker survived host-a's cut and return");

    const reverted = await ctl.revert(idB);
    assert.ok(['reverted', 'verified'].includes(reverted.state), JSON.stringify(reverted));
    await untilGuard("host-b's marker to go", () => !existsSync(b.marker));

    // What it still holds for host-a (reverted on the agent by lease already) is let go here.
    await ctl.close();
    ctl = undefined;
    for (const h of hosts) assert.equal(await stopAgent(h), 0, `${h.name} exits 0 on SIGTERM: ${h.output}`);
  } finally {
    await ctl?.close().catch(() => undefined);
    for (const h of hosts) await stopAgent(h);
    await nats?.close();
    for (const h of hosts) destroyHost(h);
  }

  for (const h of hosts) {
    assert.equal(existsSync(h.marker), false, `${h.name}'s marker is gone`);
    assert.equal(alive(h.child?.pid), false, `${h.name}'s process is gone`);
    assert.deepEqual(await ledgerFaults(h.home), [], `${h.name}'s ledger holds no fault`);
    assert.equal(trySh(['ip', 'link', 'show', h.hostIf]), undefined, `veth ${h.hostIf} is gone`);
  }
  const namespaces = sh(['ip', 'netns', 'list']);
  for (const h of hosts) assert.ok(!namespaces.includes(h.ns), `namespace ${h.ns} is gone`);
  await rm(work, { recursive: true, force: true });
});
