/**
 * Workloads on the fleet, for real (issue #19): two hosts (namespaces with a
 * built `faultline agent --workloads FILE` each) hosting labelled workloads,
 * each its own namespace with a real HTTP service and a pidfile
 * (test/helpers/workload-hosts.ts). A controller selects workloads by
 * namespaces and labels across both hosts (modes one, all, fixed-percent), a
 * selector matching nothing is refused naming it, a process kill kills that
 * workload's process and only it, a partition with `peers` blocks real HTTP
 * between two workloads and not to a third, and a loss fault in a workload's
 * namespace is measured by UDP probes. Every fault is reverted and nothing is
 * left in any namespace. netem kinds cannot run on this kernel (no sch_netem):
 * they skip with the reason. Needs root, ip, nft, nats-server and a built CLI.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultlineError } from '../../src/core/errors.js';
import { FleetController } from '../../src/fleet/controller.js';
import { alive, GUARD_MS, ledgerFaults } from '../helpers/fleet-hosts.js';
import { faultlineLeftovers } from '../helpers/netns.js';
import { until } from '../helpers/until.js';
import {
  health,
  type RunningWorkload,
  reaches,
  startWorkloadFleet,
  type WorkloadFleet,
  workloadFleetSkipReason,
} from '../helpers/workload-hosts.js';

const LEASE_MS = 3_000;

async function withWorkloadFleet(
  fn: (f: WorkloadFleet, ctl: FleetController) => Promise<void>,
): Promise<void> {
  const fleet = await startWorkloadFleet({
    hosts: [
      {
        label: 'a',
        workloads: [
          { name: 'api', namespace: 'payment', labels: { app: 'api', tier: 'backend' } },
          { name: 'front', namespace: 'shop', labels: { app: 'front' } },
        ],
      },
      {
        label: 'b',
        workloads: [
          { name: 'api2', namespace: 'payment', labels: { app: 'api', tier: 'backend' } },
          { name: 'db', namespace: 'payment', labels: { app: 'db' } },
        ],
      },
    ],
  });
  let ctl: FleetController | undefined;
  const leftovers: string[] = [];
  try {
    ctl = await FleetController.open({ servers: `nats://127.0.0.1:${fleet.nats.port}` });
    // Both agents registered with their workloads.
    await until(
      'both agents list their workloads',
      async () => (await ctl!.agents()).filter((a) => (a.workloads?.length ?? 0) === 2).length === 2,
      GUARD_MS,
    );
    await fn(fleet, ctl);
    await ctl.close();
    ctl = undefined;
  } finally {
    await ctl?.close().catch(() => undefined);
    for (const w of Object.values(fleet.workloads)) {
      leftovers.push(...faultlineLeftovers(w.netns).map((l) => `${w.ref}: ${l}`));
    }
    for (const h of fleet.hosts) leftovers.push(...faultlineLeftovers(h.ns).map((l) => `${h.ns}: ${l}`));
    const ledgers = await Promise.all(fleet.hosts.map((h) => ledgerFaults(h.home)));
    await fleet.close();
    assert.deepEqual(leftovers, [], 'no Faultline table left in any namespace');
    assert.deepEqual(ledgers.flat(), [], 'no ledger entry left');
  }
}

const w = (f: WorkloadFleet, ref: string): RunningWorkload => {
  const x = f.workloads[ref];
  assert.ok(x, ref);
  return x;
};

test('workloads: selection across hosts, a process kill, a partition with peers, loss; all reverted', async (t) => {
  const skip = workloadFleetSkipReason();
  if (skip) {
    t.skip(skip);
    return;
  }
  await withWorkloadFleet(async (f, ctl) => {
    const api = w(f, 'payment/api');
    const api2 = w(f, 'payment/api2');
    const front = w(f, 'shop/front');
    const db = w(f, 'payment/db');
    for (const x of [api, api2, front, db]) assert.equal(await health(x), 200, `${x.ref} answers`);

    await t.test('namespaces + labels pick the right workloads on both hosts; modes', async () => {
      const targets = {
        on: 'workloads' as const,
        namespaces: ['payment'],
        selector: { matchLabels: { app: 'api' } },
        mode: 'all' as const,
      };
      const all = await ctl.plan('network.loss', { percent: 10 }, targets);
      assert.deepEqual(
        all.workloads?.picked.map((h) => `${h.agent.name}:${h.workload.namespace}/${h.workload.name}`).sort(),
        ['host-a:payment/api', 'host-b:payment/api2'],
      );
      const one = await ctl.plan('network.loss', { percent: 10 }, { ...targets, mode: 'one' });
      assert.equal(one.workloads?.picked.length, 1);
      const pct = await ctl.plan(
        'network.loss',
        { percent: 10 },
        { on: 'workloads', namespaces: ['payment'], selector: {}, mode: 'fixed-percent', value: 67 },
      );
      assert.equal(pct.workloads?.candidates.length, 3, 'three workloads in payment');
      assert.equal(pct.workloads?.picked.length, 2, '67% of 3, rounded down');
    });

    await t.test('a selector that matches nothing is refused naming it and what the fleet has', async () => {
      await assert.rejects(
        ctl.inject(
          'process.kill',
          {},
          {
            on: 'workloads',
            namespaces: ['payment'],
            selector: { matchLabels: { app: 'nope' } },
            mode: 'all',
          },
        ),
        (err: unknown) => {
          assert.ok(err instanceof FaultlineError);
          assert.equal(err.code, 'FAULTLINE_ERR_FLEET');
          assert.match(err.message, /no workload matches namespaces \[payment\], labels 'app=nope'/);
          assert.match(err.message, /payment: .*api\{app=api,tier=backend\}/);
          assert.match(err.message, /shop: front\{app=front\}/);
          return true;
        },
      );
    });

    await t.test(
      'a process kill on a workload kills its process, only it; the outcome names it',
      async () => {
        const faults = await ctl.inject(
          'process.kill',
          { signal: 'SIGKILL' },
          { on: 'workloads', names: ['payment/db'], selector: {}, mode: 'all' },
          { leaseMs: LEASE_MS },
        );
        assert.equal(faults.length, 1, JSON.stringify(faults));
        const [fault] = faults;
        assert.equal(fault?.state, 'active', JSON.stringify(fault));
        assert.equal(fault?.workload, 'payment/db');
        assert.equal(fault?.agent, 'host-b');
        await until('the db process is gone', () => !alive(db.pid), GUARD_MS);
        for (const x of [api, api2, front]) assert.ok(alive(x.pid), `${x.ref} still runs`);
        const [reverted] = await ctl.revertAll();
        assert.equal(reverted?.workload, 'payment/db');
      },
    );

    await t.test('a fault on a workload whose process is gone fails, naming the workload', async () => {
      const faults = await ctl.inject(
        'process.pause',
        {},
        { on: 'workloads', names: ['payment/db'], selector: {}, mode: 'all' },
        { leaseMs: LEASE_MS },
      );
      // db's process is dead: its pidfile names a pid that is gone, so the fault fails on the agent.
      assert.equal(faults[0]?.state === 'active', false, JSON.stringify(faults));
      assert.equal(faults[0]?.workload, 'payment/db');
    });

    await t.test(
      'a partition between api and api2 (peers) blocks HTTP between them, not to front',
      async () => {
        assert.equal(await reaches(api, api2), true, 'api reaches api2 before');
        assert.equal(await reaches(api, front), true, 'api reaches front before');
        const faults = await ctl.inject(
          'network.partition',
          {},
          {
            on: 'workloads',
            names: ['payment/api'],
            selector: {},
            mode: 'all',
            peers: { names: ['payment/api2'] },
          },
          { leaseMs: LEASE_MS },
        );
        assert.equal(faults.length, 2, `one fault per direction: ${JSON.stringify(faults)}`);
        for (const x of faults) {
          assert.equal(x.state, 'active', JSON.stringify(x));
          assert.equal(x.workload, 'payment/api');
        }
        assert.equal(await reaches(api, api2), false, 'api cannot reach api2');
        assert.equal(await reaches(api2, api), false, 'api2 cannot reach api');
        assert.equal(await reaches(api, front), true, 'api still reaches front');
        assert.equal(await reaches(front, api), true, 'front still reaches api');
        assert.equal(await health(api), 200, 'the root namespace still reaches api');
        const reverted = await ctl.revertAll();
        assert.ok(
          reverted.every((x) => x.state === 'reverted' && x.verified),
          JSON.stringify(reverted),
        );
        assert.deepEqual(faultlineLeftovers(api.netns), []);
        assert.equal(await reaches(api, api2), true, 'api reaches api2 again');
      },
    );

    await t.test('network loss in a workload namespace, measured by UDP probes', async () => {
      const faults = await ctl.inject(
        'network.loss',
        { percent: 50, direction: 'ingress' },
        { on: 'workloads', names: ['shop/front'], selector: {}, mode: 'all' },
        { leaseMs: LEASE_MS },
      );
      assert.equal(faults[0]?.state, 'active', JSON.stringify(faults));
      assert.equal(faults[0]?.workload, 'shop/front');
      const lost = await udpLoss(front, 400);
      // 400 probes: a binomial's standard deviation of 2.5%; a wide band for a loaded machine.
      assert.ok(lost > 0.3 && lost < 0.8, `about half the probes lost, got ${lost}`);
      const other = await udpLoss(api, 200);
      assert.ok(other < 0.1, `probes to api are not dropped, got ${other}`);
      await ctl.revertAll();
      assert.deepEqual(faultlineLeftovers(front.netns), []);
    });

    await t.test('netem kinds on a workload', async (tt) => {
      tt.skip(
        'network.latency needs the kernel module sch_netem, which this machine lacks (nftables faults run)',
      );
    });
  });
});

/** The share of `n` numbered UDP probes from the root namespace to the workload's echo that got no reply. */
async function udpLoss(x: RunningWorkload, n: number): Promise<number> {
  const sock = createSocket('udp4');
  const seen = new Set<number>();
  let last = performance.now();
  sock.on('message', (m) => {
    seen.add(m.readUInt32BE(0));
    last = performance.now();
  });
  await new Promise<void>((r) => sock.bind(0, r));
  try {
    for (let i = 0; i < n; i++) {
      const b = Buffer.alloc(16);
      b.writeUInt32BE(i, 0);
      sock.send(b, x.port!, x.address);
      if (i % 20 === 19) await sleep(1);
    }
    last = performance.now();
    while (seen.size < n && performance.now() - last < 500) await sleep(20);
  } finally {
    sock.close();
  }
  return 1 - seen.size / n;
}
