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
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { FleetController } from '../../src/fleet/controller.js';
import { AgentRecordSchema } from '../../src/fleet/protocol.js';
import { parseSelector } from '../../src/fleet/select.js';
import {
  alive,
  createHost,
  destroyHost,
  fleetSkipReason,
  GUARD_MS,
  type Host,
  ledgerFaults,
  startAgentIn,
  stopAgent,
  trySh,
} from '../helpers/fleet-hosts.js';
import { startNats, type TestNats } from '../helpers/nats.js';
import { sh } from '../helpers/netns.js';
import { until } from '../helpers/until.js';

const untilGuard = <T>(what: string, check: () => T | Promise<T>) => until(what, check, GUARD_MS);
const LEASE_MS = 3_000;

test('an agent cut off from NATS in its namespace reverts within its lease; the other keeps its fault; it re-registers when the link is back', async (t) => {
  const skip = fleetSkipReason();
  if (skip) {
    t.skip(skip);
    return;
  }
  const work = await mkdtemp(join(tmpdir(), 'faultline-fleet-netns-'));
  const hosts: Host[] = [];
  let nats: TestNats | undefined;
  let ctl: FleetController | undefined;
  let failed = true;
  try {
    // Every address: the agents reach it on the root side of their veth, the controller on loopback.
    nats = await startNats({ host: '0.0.0.0' });
    for (const label of ['a', 'b']) {
      const home = await mkdtemp(join(work, `home-${label}-`));
      // Not 10.231.x (test/helpers/netns.ts) nor 10.234.x (fleet-netns-faults): they may run at once.
      hosts.push(createHost(label, { prefix: '10.233', work, home }));
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
    failed = false;
  } finally {
    await ctl?.close().catch(() => undefined);
    for (const h of hosts) await stopAgent(h);
    await nats?.close();
    for (const h of hosts) destroyHost(h);
    if (failed) await rm(work, { recursive: true, force: true });
  }

  try {
    for (const h of hosts) {
      assert.equal(existsSync(h.marker), false, `${h.name}'s marker is gone`);
      assert.equal(alive(h.child?.pid), false, `${h.name}'s process is gone`);
      assert.deepEqual(await ledgerFaults(h.home), [], `${h.name}'s ledger holds no fault`);
      assert.equal(trySh(['ip', 'link', 'show', h.hostIf]), undefined, `veth ${h.hostIf} is gone`);
    }
    const namespaces = sh(['ip', 'netns', 'list']);
    for (const h of hosts) assert.ok(!namespaces.includes(h.ns), `namespace ${h.ns} is gone`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
