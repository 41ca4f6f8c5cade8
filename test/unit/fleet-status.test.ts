/**
 * `faultline status --fleet` without NATS: the join of agents' records and
 * lease keys (rows, the last renewal each agent saw brought to now, the stale
 * note, missing leases, orphan leases, lost agents, older agents that list ids
 * only, stable order) and the text it prints (control characters from the
 * wire escaped, columns aligned on what is shown).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fleetStatusLines } from '../../src/cli/fleet-status.js';
import type { FleetAgent } from '../../src/fleet/controller.js';
import type { ActiveFault } from '../../src/fleet/protocol.js';
import {
  FleetStatusSchema,
  joinFleetStatus,
  type LeaseEntry,
  LOST_AGENT_NOTE,
  NO_LEASE_NOTE,
} from '../../src/fleet/status.js';

const NOW = Date.parse('2025-01-01T12:00:00.000Z');
const iso = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();
const ID = (n: number) => `0000000${n}-1111-4222-8333-444444444444`;

function agent(name: string, active: ActiveFault[], over: Partial<FleetAgent> = {}): FleetAgent {
  return {
    name,
    labels: {},
    version: '0.1.0',
    host: { hostname: name, platform: 'linux', arch: 'x64', pid: 1 },
    kinds: ['marker.create'],
    startedAt: iso(-600_000),
    heartbeatAt: iso(-500),
    heartbeatMs: 1000,
    faults: active.map((f) => f.id),
    active,
    halted: false,
    health: 'alive',
    seenAt: iso(-500),
    ageMs: 500,
    ...over,
  };
}

function fault(id: string, over: Partial<ActiveFault> = {}): ActiveFault {
  return {
    id,
    kind: 'marker.create',
    target: '/tmp/m',
    controller: 'ctl-a',
    injectedAt: iso(-10_000),
    leaseMs: 3000,
    expiresAt: iso(590_000),
    renewedAgoMs: 300,
    ...over,
  };
}

/** A lease key as the controller puts it: once, when it places the fault (renewals never re-put it). */
const lease = (agentName: string, id: string, putAgo = 10_000, holder = 'ctl-a'): LeaseEntry => ({
  key: `${agentName}.${id}`,
  lease: { controller: holder, faultId: id, ttlMs: 3000, renewals: 0 },
  putAt: iso(-putAgo),
});

const row = (s: ReturnType<typeof joinFleetStatus>, agentName: string) =>
  s.faults.find((f) => f.agent === agentName)!;

describe('joinFleetStatus', () => {
  test('a fault with its lease: one row with what the record and the lease say', () => {
    const s = joinFleetStatus({
      agents: [agent('web-1', [fault(ID(1))])],
      leases: [lease('web-1', ID(1))],
      now: NOW,
    });
    assert.equal(FleetStatusSchema.safeParse(s).success, true);
    assert.equal(s.halt, null);
    assert.equal(s.agents, 1);
    assert.deepEqual(s.faults, [
      {
        agent: 'web-1',
        health: 'alive',
        id: ID(1),
        kind: 'marker.create',
        target: '/tmp/m',
        controller: 'ctl-a',
        injectedAt: iso(-10_000),
        ageMs: 10_000,
        leaseMs: 3000,
        expiresAt: iso(590_000),
        ttlLeftMs: 590_000,
        // The agent's 300 ms, plus its record's 500 ms of age.
        renewedAgoMs: 800,
        lease: { holder: 'ctl-a', ttlMs: 3000, renewals: 0, putAt: iso(-10_000), putAgoMs: 10_000 },
        notes: [],
      },
    ]);
    assert.deepEqual(s.orphanLeases, []);
    assert.deepEqual(s.lostAgents, []);
  });

  test('a fault without a lease says it reverts by lease', () => {
    const s = joinFleetStatus({ agents: [agent('web-1', [fault(ID(1))])], leases: [], now: NOW });
    assert.equal(s.faults[0]!.lease, undefined);
    assert.deepEqual(s.faults[0]!.notes, [NO_LEASE_NOTE]);
  });

  test("a row's last renewal is the agent's value plus its record's age; past the lease, a stale note says why", () => {
    const s = joinFleetStatus({
      agents: [
        // The agent itself has seen none for longer than the lease: its controller stopped.
        agent('web-1', [fault(ID(1), { renewedAgoMs: 3400 })]),
        // Fresh when it reported, but its record is old: the controller stopped, or the agent stalled.
        agent('web-2', [fault(ID(2), { renewedAgoMs: 800 })], { ageMs: 2500, seenAt: iso(-2500) }),
        // A record "from the future" (clock skew): the agent's own value, not less.
        agent('web-3', [fault(ID(3), { renewedAgoMs: 300 })], { ageMs: -2000, seenAt: iso(2000) }),
        // Renewed a moment ago though its key was put ten minutes ago: not stale.
        agent('web-4', [fault(ID(4), { renewedAgoMs: 100 })]),
      ],
      leases: [
        lease('web-1', ID(1)),
        lease('web-2', ID(2)),
        lease('web-3', ID(3)),
        lease('web-4', ID(4), 600_000),
      ],
      now: NOW,
    });
    assert.deepEqual(
      s.faults.map((f) => [f.agent, f.renewedAgoMs]),
      [
        ['web-1', 3900],
        ['web-2', 3300],
        ['web-3', 300],
        ['web-4', 600],
      ],
    );
    assert.deepEqual(row(s, 'web-1').notes, [
      'its agent has seen no renewal for 3900 ms, more than its 3000 ms lease: its controller stopped renewing it; the agent reverts it once it judges the lease lapsed',
    ]);
    assert.deepEqual(row(s, 'web-2').notes, [
      'its agent has seen no renewal for 3300 ms by its last record (put 2500 ms ago), more than its 3000 ms lease: its controller stopped renewing it, or the agent is stalled and has not reported since; the agent reverts it once it judges the lease lapsed',
    ]);
    assert.deepEqual(row(s, 'web-3').notes, []);
    assert.deepEqual(row(s, 'web-4').notes, [], "the key's put time says nothing about renewals");
    assert.equal(row(s, 'web-4').lease?.putAgoMs, 600_000);
  });

  test('no stale note without a lease key, for a lost agent, or from an agent that does not say', () => {
    const s = joinFleetStatus({
      agents: [
        agent('web-1', [fault(ID(1), { renewedAgoMs: 9000 })]),
        agent('db-1', [fault(ID(2), { renewedAgoMs: 100 })], { health: 'lost', ageMs: 60_000 }),
        agent('web-2', [fault(ID(3), { renewedAgoMs: undefined })]),
      ],
      leases: [lease('db-1', ID(2)), lease('web-2', ID(3))],
      now: NOW,
    });
    assert.deepEqual(row(s, 'web-1').notes, [NO_LEASE_NOTE]);
    assert.equal(row(s, 'db-1').renewedAgoMs, 60_100);
    assert.deepEqual(row(s, 'db-1').notes, [LOST_AGENT_NOTE]);
    assert.equal('renewedAgoMs' in row(s, 'web-2'), false);
    assert.deepEqual(row(s, 'web-2').notes, []);
  });

  test('a lease put by another controller than the one that placed the fault is noted', () => {
    const s = joinFleetStatus({
      agents: [agent('web-1', [fault(ID(1))])],
      leases: [lease('web-1', ID(1), 10_000, 'ctl-b')],
      now: NOW,
    });
    assert.deepEqual(s.faults[0]!.notes, [
      'the agent says ctl-a placed it, but its lease was put by ctl-b, whose renewals the agent ignores',
    ]);
  });

  test('orphan leases: no record, a record without the fault, a stopped agent, a bad key; never judged by age', () => {
    const s = joinFleetStatus({
      agents: [agent('web-1', []), agent('web-2', [], { health: 'stopped', stoppedAt: iso(-60_000) })],
      leases: [
        lease('web-1', ID(2), 400),
        lease('gone', ID(3)),
        lease('web-2', ID(4), 120_000),
        { key: 'nodot', putAt: iso(-100) },
      ],
      now: NOW,
    });
    assert.deepEqual(s.faults, []);
    const by = new Map(s.orphanLeases.map((o) => [o.key, o]));
    assert.deepEqual(
      s.orphanLeases.map((o) => [o.agent, o.faultId, o.health]),
      [
        ['gone', ID(3), undefined],
        ['nodot', '', undefined],
        ['web-1', ID(2), 'alive'],
        ['web-2', ID(4), 'stopped'],
      ],
    );
    const kept =
      /its controller did not delete the key \(it died or was partitioned, or still believes it holds the fault\); the bucket drops such keys after a day$/;
    const inFlight = by.get(`web-1.${ID(2)}`)!;
    assert.match(inFlight.reason, /record does not list this fault: an inject in flight/);
    assert.match(
      inFlight.reason,
      /or the agent no longer holds it \(it reverted it on its own: lease lapse, halt, ttl, restart\)/,
    );
    assert.match(inFlight.reason, kept);
    assert.equal(inFlight.lease.holder, 'ctl-a');
    assert.equal(inFlight.lease.putAgoMs, 400);
    assert.match(by.get(`gone.${ID(3)}`)!.reason, /^no agent named gone has a record/);
    assert.match(by.get(`gone.${ID(3)}`)!.reason, kept);
    assert.match(by.get(`web-2.${ID(4)}`)!.reason, /^its agent has stopped .*no longer holds it/);
    assert.match(by.get(`web-2.${ID(4)}`)!.reason, kept);
    // A key put two minutes ago is no more stale than one put now: renewals never re-put it.
    for (const o of s.orphanLeases) assert.doesNotMatch(o.reason, /renew|stale/, o.key);
    assert.match(by.get('nodot')!.reason, /not a lease key/);
    assert.equal(by.get('nodot')!.lease.holder, undefined);
  });

  test('a lost agent holding faults: its rows say so, and it is listed with what reverts them', () => {
    const s = joinFleetStatus({
      agents: [
        agent('db-1', [fault(ID(5)), fault(ID(6), { kind: 'process.pause', target: 'pid 42' })], {
          health: 'lost',
          ageMs: 120_000,
          seenAt: iso(-120_000),
        }),
        agent('db-2', [], { health: 'lost' }),
      ],
      leases: [lease('db-1', ID(5))],
      now: NOW,
    });
    assert.deepEqual(
      s.faults.map((f) => [f.id, f.health, f.notes]),
      [
        [ID(5), 'lost', [LOST_AGENT_NOTE]],
        [ID(6), 'lost', [NO_LEASE_NOTE, LOST_AGENT_NOTE]],
      ],
    );
    assert.equal(s.lostAgents.length, 1, 'a lost agent holding nothing is not listed');
    assert.deepEqual(s.lostAgents[0]!.faults, [ID(5), ID(6)]);
    assert.match(s.lostAgents[0]!.note, /lost while holding 2 fault\(s\).*revert on their own/);
  });

  test('an older agent (fault ids only): the lease supplies the holder and the lease length', () => {
    const old = agent('old-1', []);
    delete old.active;
    old.faults = [ID(7), ID(8)];
    const s = joinFleetStatus({ agents: [old], leases: [lease('old-1', ID(7))], now: NOW });
    assert.deepEqual(
      s.faults.map((f) => [f.id, f.kind, f.controller, f.leaseMs, f.lease?.holder]),
      [
        [ID(7), undefined, 'ctl-a', 3000, 'ctl-a'],
        [ID(8), undefined, undefined, undefined, undefined],
      ],
    );
    assert.match(s.faults[0]!.notes[0]!, /lists fault ids only/);
    assert.deepEqual(s.orphanLeases, []);
  });

  test('rows sort by agent, then injection time, then id, whatever order the buckets gave', () => {
    const agents = [
      agent('web-2', [fault(ID(3), { injectedAt: iso(-1000) })]),
      agent('web-1', [
        fault(ID(2), { injectedAt: iso(-5000) }),
        fault(ID(1), { injectedAt: iso(-5000) }),
        fault(ID(4), { injectedAt: iso(-9000) }),
      ]),
    ];
    const order = (list: FleetAgent[]) =>
      joinFleetStatus({ agents: list, leases: [], now: NOW }).faults.map((f) => `${f.agent} ${f.id[7]}`);
    const expected = ['web-1 4', 'web-1 1', 'web-1 2', 'web-2 3'];
    assert.deepEqual(order(agents), expected);
    assert.deepEqual(order([...agents].reverse()), expected);
  });

  test('the halt in force is passed through', () => {
    const halt = { since: iso(-1000), by: 'ops', reason: 'checkout errors' };
    const s = joinFleetStatus({ agents: [], leases: [], halt, now: NOW });
    assert.deepEqual(s.halt, halt);
  });
});

describe('fleetStatusLines', () => {
  test('the table: a fault with its holder, lease, last renewal and ttl; the halt; notes, orphan and lost lines', () => {
    const s = joinFleetStatus({
      agents: [
        agent('web-1', [fault(ID(1))]),
        agent('web-2', [fault(ID(2), { renewedAgoMs: undefined }), fault(ID(3), { renewedAgoMs: 3400 })]),
        agent('db-1', [fault(ID(5))], { health: 'lost', ageMs: 120_000 }),
      ],
      leases: [
        lease('web-1', ID(1)),
        lease('web-2', ID(2)),
        lease('web-2', ID(3)),
        lease('web-9', ID(9), 400),
      ],
      halt: { since: iso(-1000), by: 'ops', reason: 'e2e' },
      now: NOW,
    });
    const lines = fleetStatusLines(s);
    assert.match(lines[0]!, /^fleet HALTED since \S+ by ops: e2e/);
    assert.match(
      lines[1]!,
      /^AGENT\s+HEALTH\s+ID\s+KIND\s+TARGET\s+HOLDER\s+AGE\s+LEASE\s+LEASE RENEWED\s+TTL LEFT$/,
    );
    assert.match(
      lines[2]!,
      /^db-1\s+lost\s+00000005\s+marker\.create\s+\/tmp\/m\s+ctl-a\s+10\.0s\s+3\.0s\s+none: reverting by lease\s+9m$/,
    );
    assert.match(
      lines[3]!,
      /^web-1\s+alive\s+00000001\s+marker\.create\s+\/tmp\/m\s+ctl-a\s+10\.0s\s+3\.0s\s+0\.8s ago\s+9m$/,
    );
    // An agent whose record does not say when it saw a renewal: '-', not the key's put time.
    assert.match(lines[4]!, /^web-2\s+alive\s+00000002\s+.*\s+3\.0s\s+-\s+9m$/);
    assert.match(lines[5]!, /^web-2\s+alive\s+00000003\s+.*\s+3\.0s\s+3\.9s ago\s+9m$/);
    const rest = lines.slice(6).join('\n');
    assert.match(
      rest,
      /^web-2 00000003: its agent has seen no renewal for 3900 ms, more than its 3000 ms lease/m,
    );
    assert.match(
      rest,
      /orphan lease web-9\.\S+ \(held by ctl-a, put 0\.4s ago\): no agent named web-9 has a record/,
    );
    assert.match(rest, /agent db-1 \(last seen 2m ago\) lost while holding 1 fault/);
    // The LEASE RENEWED column and the lost line say these already.
    assert.doesNotMatch(rest, /reverting by lease|its agent is lost/);
  });

  test('control characters from the wire are escaped, and the columns line up on what is shown', () => {
    const s = joinFleetStatus({
      agents: [
        agent('web-1', [
          fault(ID(1), { kind: 'evil\x1b]0;pwned\x07', target: 'x\u202ey', controller: 'c\x9bd' }),
        ]),
        agent('web-2', [fault(ID(2))]),
      ],
      leases: [],
      now: NOW,
    });
    const text = fleetStatusLines(s).join('\n');
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    assert.match(text, /evil\\x1b\]0;pwned\\x07/);
    assert.match(text, /x\\u202ey/);
    const [header, row1, row2] = fleetStatusLines(s).slice(1);
    const age = header!.search(/ AGE /) + 1;
    assert.equal(row1!.indexOf(' 10.0s') + 1, age);
    assert.equal(row2!.indexOf(' 10.0s') + 1, age);
  });

  test('no fault: says how many agents were read, or that none registered', () => {
    assert.deepEqual(fleetStatusLines(joinFleetStatus({ agents: [agent('a', [])], leases: [], now: NOW })), [
      'fleet: no halt in force',
      'no fault on any of the 1 agent(s)',
    ]);
    assert.match(
      fleetStatusLines(joinFleetStatus({ agents: [], leases: [], now: NOW }))[1]!,
      /no agent has registered/,
    );
  });
});
