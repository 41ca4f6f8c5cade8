/**
 * `faultline status --fleet` through the built CLI: two `faultline agent`
 * processes (each with its own home and working directory: its "host") on a
 * test nats-server, faults placed by `faultline inject --on` in a child. The
 * fault shows on the right agent with its kind, target and holder (JSON and
 * table), its last renewal as the agent saw it (younger than the lease key,
 * which is put once), and is gone once reverted; a holder killed with SIGKILL
 * leaves its lease key behind as an orphan whose reason says the agent no
 * longer holds the fault; an agent paused with SIGSTOP shows lost while
 * holding its fault; a fleet halt shows. Plain `status` is
 * unchanged, NATS flags without --fleet exit 2, an unreachable NATS is one line.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type FleetStatus, LOST_AGENT_NOTE } from '../../src/fleet/status.js';
import { type Cli, runCli, startCli } from '../helpers/cli.js';
import { type CliFleet, startCliFleet } from '../helpers/cli-fleet.js';
import { freePort, natsServerMissing } from '../helpers/nats.js';
import { until } from '../helpers/until.js';

const missing = natsServerMissing();
const STACK = /\n\s+at .+:\d+:\d+/;

describe('faultline status --fleet (built CLI)', { skip: missing || false }, () => {
  let fleet: CliFleet;
  const env = () => fleet.env();
  const nats_ = () => fleet.natsArgs();
  const markers = () => fleet.marked();
  const host = (name: string) => fleet.host(name);

  async function status(): Promise<FleetStatus> {
    const r = await runCli(['status', '--fleet', '--json', ...nats_()], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as FleetStatus;
  }

  async function table(): Promise<string> {
    const r = await runCli(['status', '--fleet', ...nats_()], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, STACK);
    return r.stdout;
  }

  /** `faultline inject --on zone=<zone>` held in a child until it is signalled. */
  function holdOn(zone: string, extra: string[] = []): Cli {
    return startCli(
      [
        'inject',
        'marker.create',
        'path=fleet-marker',
        '--on',
        `zone=${zone}`,
        '--mode',
        'all',
        '--duration',
        '10m',
        ...extra,
        ...nats_(),
      ],
      { env: env() },
    );
  }

  before(async () => {
    fleet = await startCliFleet([
      ['e2e-st-1', 'role=web,zone=a'],
      ['e2e-st-2', 'role=web,zone=b'],
    ]);
  });

  after(async () => {
    await fleet?.close();
  });

  test('NATS flags without --fleet exit 2 naming the flag; plain status is this host ledger as before', async () => {
    for (const [flags, re] of [
      [['--nats', 'nats://127.0.0.1:4222'], /--nats: only with --fleet/],
      [['--nats-creds', 'x.creds'], /--nats-creds: only with --fleet/],
      [['--json', '--nats-tls-key', 'k.pem'], /--nats-tls-key: only with --fleet/],
    ] as const) {
      const r = await runCli(['status', ...flags], { env: env() });
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, STACK);
      assert.equal(r.stdout, '');
    }
    const plain = await runCli(['status', '--json'], { env: env() });
    assert.equal(plain.code, 0, plain.stderr);
    assert.deepEqual(Object.keys(JSON.parse(plain.stdout)).sort(), [
      'corrupt',
      'faults',
      'forgotten',
      'halt',
      'proxy_servers',
    ]);
    const text = await runCli(['status'], { env: env() });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr, /no active faults/);
  });

  test('an unreachable NATS URL: one line naming it, exit 1, no stack', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const r = await runCli(['status', '--fleet', '--nats', url], { env: env() });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`ERROR\\] cannot connect to NATS at ${url.replace(/\./g, '\\.')}`));
  });

  test('a fault placed by inject --on shows on its agent (JSON and table), and is gone after its revert', async () => {
    const before = await status();
    assert.deepEqual([before.halt, before.agents, before.faults], [null, 2, []]);

    const inject = holdOn('a');
    try {
      await inject.waitFor(/e2e-st-1: injected/, 60_000);
      const holder = `faultline-${hostname()}-${inject.child.pid}`;
      await until('the fault in e2e-st-1 record, with its last renewal', async () => {
        const s = await status();
        return s.faults.length === 1 && s.faults[0]!.lease && s.faults[0]!.renewedAgoMs !== undefined;
      });
      // The key is put once: once it is older than the lease, only the renewals (core messages,
      // seen by the agent) can keep the row's last renewal younger than the lease.
      const s = await until('a lease key older than the lease, renewed since', async () => {
        const s = await status();
        const f = s.faults[0];
        return f?.lease && f.lease.putAgoMs > 3000 && f.renewedAgoMs! <= 3000 && f.notes.length === 0
          ? s
          : undefined;
      });
      const f = s.faults[0]!;
      assert.equal(f.agent, 'e2e-st-1');
      assert.equal(f.health, 'alive');
      assert.equal(f.kind, 'marker.create');
      assert.equal(f.target, join(host('e2e-st-1').dir, 'fleet-marker'));
      assert.equal(f.controller, holder);
      assert.equal(f.lease?.holder, holder);
      assert.equal(f.leaseMs, 3000);
      assert.ok(f.renewedAgoMs! >= 0, JSON.stringify(f));
      assert.ok(Date.parse(f.lease!.putAt) <= Date.parse(s.at), JSON.stringify(f));
      assert.match(f.id, /^[0-9a-f]{8}-[0-9a-f-]{27}$/);
      assert.ok(f.expiresAt && f.ttlLeftMs !== undefined && f.ttlLeftMs > 0, JSON.stringify(f));
      assert.deepEqual(f.notes, []);
      assert.deepEqual(s.orphanLeases, []);
      assert.deepEqual(s.lostAgents, []);

      const text = await table();
      assert.match(text, /^fleet: no halt in force$/m);
      assert.match(
        text,
        /^AGENT\s+HEALTH\s+ID\s+KIND\s+TARGET\s+HOLDER\s+AGE\s+LEASE\s+LEASE RENEWED\s+TTL LEFT$/m,
      );
      const row = new RegExp(
        `^e2e-st-1\\s+alive\\s+${f.id.slice(0, 8)}\\s+marker\\.create\\s+\\S+fleet-marker\\s+${holder}\\s+\\S+\\s+3\\.0s\\s+\\S+ ago\\s+\\S+$`,
        'm',
      );
      assert.match(text, row);
      assert.doesNotMatch(text, /e2e-st-2/);
    } finally {
      inject.child.kill('SIGINT');
    }
    const r = await inject.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /e2e-st-1: reverted and verified/);
    const after_ = await until('the fault gone from the status', async () => {
      const s = await status();
      return s.faults.length === 0 ? s : undefined;
    });
    assert.deepEqual(after_.orphanLeases, [], 'its lease was deleted at the revert');
    assert.match(await table(), /^no fault on any of the 2 agent\(s\)$/m);
    assert.deepEqual(markers(), []);
  });

  test('a holder killed with SIGKILL: its agent reverts by lease, and the key it left is an orphan the agent no longer holds', async () => {
    const inject = holdOn('b', ['--lease', '1500ms']);
    await inject.waitFor(/e2e-st-2: injected/, 60_000);
    const holder = `faultline-${hostname()}-${inject.child.pid}`;
    inject.child.kill('SIGKILL');
    assert.equal((await inject.done).signal, 'SIGKILL');
    await until('e2e-st-2 reverted by lease', () => markers().length === 0);
    const s = await until('the fault gone from the record, its lease key left', async () => {
      const s = await status();
      const o = s.orphanLeases.find((l) => l.agent === 'e2e-st-2');
      return s.faults.length === 0 && o ? s : undefined;
    });
    const orphan = s.orphanLeases.find((l) => l.agent === 'e2e-st-2')!;
    assert.equal(orphan.lease.holder, holder);
    assert.equal(orphan.lease.ttlMs, 1500);
    assert.equal(orphan.health, 'alive');
    assert.match(orphan.reason, /record does not list this fault/);
    assert.match(orphan.reason, /the agent no longer holds it \(it reverted it on its own: lease lapse/);
    assert.match(orphan.reason, /its controller did not delete the key \(it died/);
    assert.match(
      await table(),
      new RegExp(
        `^orphan lease e2e-st-2\\.${orphan.faultId} \\(held by ${holder}, put \\S+ ago\\): its agent's record does not list`,
        'm',
      ),
    );
  });

  test('an agent paused while it holds a fault shows lost, with what reverts its faults', async () => {
    const agent = host('e2e-st-1').agent.child;
    const inject = holdOn('a');
    try {
      await inject.waitFor(/e2e-st-1: injected/, 60_000);
      await until('its record lists the fault', async () => (await status()).faults.length === 1);
      agent.kill('SIGSTOP');
      const s = await until('e2e-st-1 lost', async () => {
        const s = await status();
        return s.lostAgents.length === 1 ? s : undefined;
      });
      assert.deepEqual(
        s.faults.map((f) => [f.agent, f.health, f.kind]),
        [['e2e-st-1', 'lost', 'marker.create']],
      );
      // Its last renewal is counted from its last record: no fresher word from the agent exists.
      assert.ok(s.faults[0]!.renewedAgoMs! >= s.lostAgents[0]!.ageMs, JSON.stringify(s));
      // Whether its controller still renews is unknowable from here: the lost note, not a stale one.
      assert.deepEqual(s.faults[0]!.notes, [LOST_AGENT_NOTE]);
      assert.equal(s.lostAgents[0]!.agent, 'e2e-st-1');
      assert.deepEqual(s.lostAgents[0]!.faults, [s.faults[0]!.id]);
      assert.match(s.lostAgents[0]!.note, /lost while holding 1 fault\(s\).*revert on their own/);
      const text = await table();
      assert.match(text, /^e2e-st-1\s+lost\s+/m);
      assert.match(text, /^agent e2e-st-1 \(last seen .*\) lost while holding 1 fault/m);
    } finally {
      agent.kill('SIGCONT');
      inject.child.kill('SIGINT');
    }
    const r = await inject.done;
    assert.equal(r.code, 0, r.stderr);
    await until('e2e-st-1 alive with no fault', async () => {
      const s = await status();
      return s.faults.length === 0 && s.lostAgents.length === 0;
    });
    assert.deepEqual(markers(), []);
  });

  test('a fleet halt shows in JSON and the table; released, it is gone', async () => {
    const halt = await runCli(['halt', '--fleet', '--reason', 'e2e-status', ...nats_()], { env: env() });
    assert.equal(halt.code, 0, halt.stderr);
    try {
      const s = await status();
      assert.equal(s.halt?.reason, 'e2e-status');
      assert.match(s.halt?.by ?? '', /^faultline-/);
      assert.match(await table(), /^fleet HALTED since \S+ by faultline-\S+: e2e-status /m);
    } finally {
      const release = await runCli(['halt', '--fleet', '--release', ...nats_()], { env: env() });
      assert.equal(release.code, 0, release.stderr);
    }
    assert.equal((await status()).halt, null);
  });
});
