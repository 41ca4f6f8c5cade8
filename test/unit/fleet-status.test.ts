/**
 * `faultline status --fleet` without NATS: the join of agents' records and
 * leases (rows, missing leases, orphan leases, lost agents, older agents that
 * list ids only, stable order) and the text it prints (control characters
 * from the wire escaped, columns aligned on what is shown).
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
    ...over,
  };
}

const lease = (agentName: string, id: string, renewedAgo = 400, holder = 'ctl-a'): LeaseEntry => ({
  key: `${agentName}.${id}`,
  lease: { controller: holder, faultId: id, ttlMs: 3000, renewals: 7 },
  renewedAt: iso(-renewedAgo),
});

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
        lease: { holder: 'ctl-a', ttlMs: 3000, renewals: 7, renewedAt: iso(-400), renewedAgoMs: 400 },
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

  test('a lease not renewed for longer than itself, and a holder other than the placer, are noted', () => {
    const s = joinFleetStatus({
      agents: [agent('web-1', [fault(ID(1))])],
      leases: [lease('web-1', ID(1), 9_000, 'ctl-b')],
      now: NOW,
    });
    const notes = s.faults[0]!.notes.join('\n');
    assert.match(notes, /last renewed 9000 ms ago .*more than its 3000 ms: its controller has stopped/);
    assert.match(notes, /the agent says ctl-a placed it, but ctl-b renews its lease/);
  });

  test('orphan leases: no record, a record without the fault, a stopped agent, a stale lease, a bad key', () => {
    const s = joinFleetStatus({
      agents: [agent('web-1', []), agent('web-2', [], { health: 'stopped', stoppedAt: iso(-60_000) })],
      leases: [
        lease('web-1', ID(2)),
        lease('gone', ID(3)),
        lease('web-2', ID(4), 120_000),
        { key: 'nodot', renewedAt: iso(-100) },
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
    assert.match(
      by.get(`web-1.${ID(2)}`)!.reason,
      /record does not list this fault: an inject still in flight/,
    );
    assert.equal(by.get(`web-1.${ID(2)}`)!.lease.holder, 'ctl-a');
    assert.match(by.get(`gone.${ID(3)}`)!.reason, /no agent named gone has a record/);
    assert.match(
      by.get(`web-2.${ID(4)}`)!.reason,
      /stopped.*not renewed for 120000 ms .*stopped renewing it/,
    );
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
  test('the table: a fault with its holder, lease and ttl; the halt; orphan and lost lines', () => {
    const s = joinFleetStatus({
      agents: [
        agent('web-1', [fault(ID(1))]),
        agent('db-1', [fault(ID(5))], { health: 'lost', ageMs: 120_000 }),
      ],
      leases: [lease('web-1', ID(1)), lease('web-9', ID(9))],
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
      /^web-1\s+alive\s+00000001\s+marker\.create\s+\/tmp\/m\s+ctl-a\s+10\.0s\s+3\.0s\s+0\.4s ago\s+9m$/,
    );
    const rest = lines.slice(4).join('\n');
    assert.match(
      rest,
      /orphan lease web-9\.\S+ \(held by ctl-a, renewed 0\.4s ago\): no agent named web-9 has a record/,
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
