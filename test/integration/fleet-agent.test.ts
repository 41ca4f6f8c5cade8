/**
 * `faultline agent` against a real nats-server of the test's own (JetStream,
 * temporary store), the controller's side played by the test with the wire
 * contract alone (lease puts and deletes, the halt key, requests on the
 * command subject), and the harmless marker-file fault. Waits are on events
 * and outcomes; the timeouts are only hang guards.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DeliverPolicy } from '@nats-io/jetstream';
import { type Agent, type AgentOptions, startAgent } from '../../src/fleet/agent.js';
import { connectFleet, type FleetConnection } from '../../src/fleet/connect.js';
import { FleetController } from '../../src/fleet/controller.js';
import {
  type AgentRecord,
  AgentRecordSchema,
  type AgentReply,
  AgentReplySchema,
  commandSubject,
  EVENTS_STREAM,
  type FleetEvent,
  FleetEventSchema,
  HALT_KEY,
  leaseKey,
  renewSubject,
} from '../../src/fleet/protocol.js';
import { tempHome } from '../helpers/home.js';
import { natsServerMissing, startNats, type TestNats } from '../helpers/nats.js';
import { until } from '../helpers/until.js';

const missing = natsServerMissing();
const GUARD_MS = 30_000;
const untilGuard = <T>(what: string, check: () => T | Promise<T>) => until(what, check, GUARD_MS);
/** Long enough never to lapse on a loaded machine while the test means it to live. */
const LIVE_LEASE_MS = 20_000;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Fixture {
  nats: TestNats;
  ctl: FleetConnection;
  work: string;
  home: string;
  events: FleetEvent[];
  agents: Agent[];
  children: ChildProcess[];
  agent(o?: Partial<AgentOptions>): Promise<Agent>;
  inject(
    agent: string,
    args: Record<string, unknown>,
    o?: { id?: string; kind?: string; leaseMs?: number; ttlMs?: number; lease?: boolean },
  ): Promise<{ id: string; reply: AgentReply }>;
  request(agent: string, command: unknown): Promise<AgentReply>;
  /** Re-puts the lease every leaseMs/3, as a controller does, until the returned stop is called. */
  renew(agent: string, id: string, leaseMs: number): () => void;
  record(
    agent: string,
  ): Promise<{ record: AgentRecord; revision: number; raw: Record<string, unknown> } | null>;
  event(pred: (e: FleetEvent) => boolean, what: string): Promise<FleetEvent>;
  marker(name: string): string;
  close(): Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const nats = await startNats();
  const h = await tempHome();
  const work = await mkdtemp(join(tmpdir(), 'faultline-fleet-agent-'));
  const ctl = await connectFleet({ servers: nats.url, name: 'test-controller' });
  const events: FleetEvent[] = [];
  // Read from the stream itself (an ordered consumer), not from the subject: events must be stored.
  const consumer = await ctl.js.consumers.get(EVENTS_STREAM, { deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume();
  void (async () => {
    for await (const m of messages) events.push(FleetEventSchema.parse(m.json()));
  })().catch(() => undefined);
  const renewals = new Set<NodeJS.Timeout>();
  let n = 0;
  const f: Fixture = {
    nats,
    ctl,
    work,
    home: h.home,
    events,
    agents: [],
    children: [],
    async agent(o = {}) {
      const agent = await startAgent({
        connect: { servers: nats.url },
        name: `agent-${++n}`,
        home: h.home,
        heartbeatMs: 200,
        labels: { app: 'test' },
        ...o,
      });
      f.agents.push(agent);
      return agent;
    },
    async request(agent, command) {
      const msg = await ctl.nc.request(commandSubject(agent), JSON.stringify(command), { timeout: GUARD_MS });
      return AgentReplySchema.parse(msg.json());
    },
    async inject(agent, args, o = {}) {
      const id = o.id ?? randomUUID();
      const leaseMs = o.leaseMs ?? LIVE_LEASE_MS;
      if (o.lease !== false) {
        await ctl.leases.put(
          leaseKey(agent, id),
          JSON.stringify({ controller: 'test', faultId: id, ttlMs: leaseMs, renewals: 0 }),
        );
      }
      const reply = await f.request(agent, {
        op: 'inject',
        id,
        controller: 'test',
        kind: o.kind ?? 'marker.create',
        arguments: args,
        ttlMs: o.ttlMs ?? 120_000,
        leaseMs,
      });
      return { id, reply };
    },
    renew(agent, id, leaseMs) {
      let count = 0;
      const t = setInterval(() => {
        void ctl.leases
          .put(
            leaseKey(agent, id),
            JSON.stringify({ controller: 'test', faultId: id, ttlMs: leaseMs, renewals: ++count }),
          )
          .catch(() => undefined);
      }, leaseMs / 3);
      renewals.add(t);
      return () => {
        clearInterval(t);
        renewals.delete(t);
      };
    },
    async record(agent) {
      const e = await ctl.agents.get(agent);
      if (e?.operation !== 'PUT') return null;
      const raw = e.json<Record<string, unknown>>();
      return { record: AgentRecordSchema.parse(raw), revision: e.revision, raw };
    },
    event(pred, what) {
      return untilGuard(`event: ${what}`, () => events.find(pred));
    },
    marker: (name) => join(work, name),
    async close() {
      for (const t of renewals) clearInterval(t);
      await Promise.allSettled(f.agents.map((a) => a.stop()));
      for (const c of f.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      messages.stop();
      await ctl.close().catch(() => undefined);
      await nats.close();
      assert.deepEqual(await h.activeFaults(), [], 'no fault left in the ledger');
      await h.cleanup();
      await rm(work, { recursive: true, force: true });
    },
  };
  return f;
}

/** Runs `body` with a fixture, closed on every path. */
function withFleet(body: (f: Fixture) => Promise<void>) {
  return async (t: { skip(reason: string): void }) => {
    if (missing) {
      t.skip(missing);
      return;
    }
    const f = await fixture();
    try {
      await body(f);
    } finally {
      await f.close();
    }
  };
}

const of = (id: string, type: FleetEvent['type']) => (e: FleetEvent) => e.fault?.id === id && e.type === type;

describe('faultline agent', () => {
  test(
    'registers its name, labels, kinds and host, and re-puts its record every heartbeat',
    withFleet(async (f) => {
      const agent = await f.agent({ labels: { app: 'payments', zone: 'a' } });
      const first = await untilGuard('the record', () => f.record(agent.name));
      assert.equal(first.record.name, agent.name);
      assert.deepEqual(first.record.labels, { app: 'payments', zone: 'a' });
      assert.ok(first.record.kinds.includes('marker.create'));
      assert.equal(first.record.host.pid, process.pid);
      assert.equal(first.record.halted, false);
      assert.deepEqual(first.record.faults, []);
      await untilGuard(
        'a heartbeat',
        async () => ((await f.record(agent.name))?.revision ?? 0) > first.revision,
      );
      await f.event((e) => e.agent === agent.name && e.type === 'agent-started', 'agent-started');
      const status = await f.request(agent.name, { op: 'status' });
      assert.ok(status.ok && status.agent?.name === agent.name);
    }),
  );

  test(
    'an inject applies the fault, replies with it, reports it on the stream and in the record; deleting the lease reverts it',
    withFleet(async (f) => {
      const agent = await f.agent();
      const path = f.marker('flag');
      const { id, reply } = await f.inject(agent.name, { path });
      assert.ok(reply.ok, JSON.stringify(reply));
      assert.equal(reply.fault?.state, 'active');
      assert.equal(reply.fault?.id, id);
      assert.equal(reply.fault?.kind, 'marker.create');
      assert.ok(existsSync(path));
      await f.event(of(id, 'injected'), 'injected');
      await untilGuard('the record to list it', async () =>
        (await f.record(agent.name))?.record.faults.includes(id),
      );

      await f.ctl.leases.delete(leaseKey(agent.name, id));
      const reverted = await f.event(of(id, 'reverted'), 'reverted');
      assert.match(reverted.fault?.reason ?? '', /lease was deleted/);
      await f.event(of(id, 'verified'), 'verified');
      assert.equal(existsSync(path), false);
      await untilGuard(
        'the record to drop it',
        async () => (await f.record(agent.name))?.record.faults.length === 0,
      );
    }),
  );

  test(
    'a lease nobody renews lapses: the fault is reverted and the event says why',
    withFleet(async (f) => {
      const agent = await f.agent();
      const path = f.marker('lapse');
      const { id, reply } = await f.inject(agent.name, { path }, { leaseMs: 1_000 });
      assert.ok(reply.ok);
      const reverted = await f.event(of(id, 'reverted'), 'reverted');
      assert.match(
        reverted.fault?.reason ?? '',
        /lease lapsed: no renewal seen for 1000 ms \(its controller stopped renewing it\)/,
      );
      assert.equal(existsSync(path), false);
    }),
  );

  test(
    "renewals over the agent's renew subject keep a fault past its lease; only its holder's count",
    withFleet(async (f) => {
      const agent = await f.agent();
      const path = f.marker('core-renewed');
      const leaseMs = 3_000;
      const { id, reply } = await f.inject(agent.name, { path }, { leaseMs });
      assert.ok(reply.ok, JSON.stringify(reply));
      const publish = (controller: string) =>
        f.ctl.nc.publish(renewSubject(agent.name), JSON.stringify({ controller, faults: [id] }));
      // A tenth of the lease apart: a loaded machine delays them, not by ten times.
      let sent = 0;
      const holder = setInterval(() => {
        publish('test');
        sent++;
      }, leaseMs / 10);
      try {
        await untilGuard('renewals spanning well over a lease', () => sent >= 15);
        assert.ok(existsSync(path), 'kept while its holder renews it');
        assert.equal(f.events.filter(of(id, 'reverted')).length, 0);
        const seen = await untilGuard('the record to show a recent renewal', async () => {
          const active = (await f.record(agent.name))?.record.active?.find((a) => a.id === id);
          return active?.renewedAgoMs !== undefined && active.renewedAgoMs < leaseMs ? active : undefined;
        });
        assert.equal(seen.controller, 'test');
      } finally {
        clearInterval(holder);
      }
      // Someone else naming it keeps nothing alive: it lapses as if nobody renewed it.
      const intruder = setInterval(() => publish('someone-else'), leaseMs / 10);
      try {
        const reverted = await f.event(of(id, 'reverted'), 'reverted once its holder stopped');
        assert.match(reverted.fault?.reason ?? '', /lease lapsed/);
        assert.equal(existsSync(path), false);
      } finally {
        clearInterval(intruder);
      }
      // Garbage on the subject is ignored, and the agent still answers.
      f.ctl.nc.publish(renewSubject(agent.name), 'not json');
      f.ctl.nc.publish(renewSubject(agent.name), JSON.stringify({ controller: 1, faults: 'x' }));
      const status = await f.request(agent.name, { op: 'status' });
      assert.ok(status.ok);
    }),
  );

  test(
    'a renewed lease keeps the fault; the fault ttl ends it anyway',
    withFleet(async (f) => {
      const agent = await f.agent();
      const path = f.marker('ttl');
      const { id, reply } = await f.inject(agent.name, { path }, { leaseMs: 2_000, ttlMs: 5_000 });
      assert.ok(reply.ok);
      const stop = f.renew(agent.name, id, 2_000);
      try {
        const reverted = await f.event(of(id, 'reverted'), 'reverted');
        assert.equal(reverted.fault?.reason, 'its ttl ended');
        assert.equal(existsSync(path), false);
      } finally {
        stop();
      }
    }),
  );

  test(
    'a fleet halt asked while NATS is down gets through once it is back (the halt key put is retried)',
    withFleet(async (f) => {
      const agent = await f.agent();
      const path = f.marker('halt-retry');
      const { reply } = await f.inject(agent.name, { path });
      assert.ok(reply.ok, JSON.stringify(reply));
      const ctl = await FleetController.open({ servers: f.nats.url }, { id: 'halting-controller' });
      try {
        await f.nats.stop();
        let settled = false;
        const halting = ctl.haltFleet('drill during an outage', { timeoutMs: 60_000 }).finally(() => {
          settled = true;
        });
        // The first attempts fail while the server is away; nothing is halted yet.
        await new Promise((r) => setTimeout(r, 1_000));
        assert.equal(settled, false, 'still retrying while NATS is down');
        await f.nats.start();
        const report = await halting;
        assert.equal(report.halt.by, 'halting-controller');
        // Its record may look lost after the outage (no heartbeat for a while), so the report need
        // not wait for it; the agent halts all the same.
        await untilGuard('the agent to revert and show itself halted', async () => {
          const r = await f.record(agent.name);
          return !existsSync(path) && r?.record.halted === true && r.record.faults.length === 0;
        });
      } finally {
        await ctl.releaseFleet().catch(() => undefined);
        await ctl.close();
      }
    }),
  );

  test(
    'NATS gone longer than the lease: the fault reverts; when NATS is back the agent registers again and reports it',
    withFleet(async (f) => {
      const logs: string[] = [];
      const agent = await f.agent({ log: (_l, m) => logs.push(m) });
      const path = f.marker('cut');
      const { id, reply } = await f.inject(agent.name, { path }, { leaseMs: 1_500 });
      assert.ok(reply.ok);
      const stopRenewing = f.renew(agent.name, id, 1_500);
      await f.nats.stop();
      try {
        await untilGuard('the marker to be reverted', () => !existsSync(path));
      } finally {
        stopRenewing();
        await f.nats.start();
      }
      const before = Date.now();
      await untilGuard('a new heartbeat', async () => {
        const r = await f.record(agent.name).catch(() => null);
        return r && Date.parse(r.record.heartbeatAt) > before - 1_000 && r.record.faults.length === 0;
      });
      const reverted = await f.event(of(id, 'reverted'), 'reverted (published after the reconnect)');
      assert.match(reverted.fault?.reason ?? '', /lost its NATS connection/);
      assert.ok(logs.some((l) => /lost NATS/.test(l)));
      assert.ok(logs.some((l) => /reconnected to NATS/.test(l)));

      // Its watches work again: a new fault, and a delete of its lease reverts it.
      const again = f.marker('after');
      const second = await f.inject(agent.name, { path: again });
      assert.ok(second.reply.ok, JSON.stringify(second.reply));
      assert.ok(existsSync(again));
      await f.ctl.leases.delete(leaseKey(agent.name, second.id));
      await f.event(of(second.id, 'reverted'), 'reverted after the restart');
      assert.equal(existsSync(again), false);
    }),
  );

  test(
    'fleet halt: reverts everything, refuses new faults, shows halted; released: accepts faults again',
    withFleet(async (f) => {
      const agent = await f.agent();
      const path = f.marker('halted');
      const { id, reply } = await f.inject(agent.name, { path });
      assert.ok(reply.ok);
      await f.ctl.control.put(
        HALT_KEY,
        JSON.stringify({ since: new Date().toISOString(), by: 'test', reason: 'drill' }),
      );
      const reverted = await f.event(of(id, 'reverted'), 'reverted by the halt');
      assert.match(reverted.fault?.reason ?? '', /fleet halt by test .*: drill/);
      assert.equal(existsSync(path), false);
      await untilGuard(
        'the record to say halted',
        async () => (await f.record(agent.name))?.record.halted === true,
      );

      const refused = await f.inject(agent.name, { path: f.marker('refused') });
      assert.equal(refused.reply.ok, false);
      assert.ok(!refused.reply.ok && refused.reply.code === 'FAULTLINE_ERR_HALTED');
      assert.equal(existsSync(f.marker('refused')), false);

      await f.ctl.control.delete(HALT_KEY);
      await untilGuard(
        'the record to say not halted',
        async () => (await f.record(agent.name))?.record.halted === false,
      );
      const accepted = await f.inject(agent.name, { path: f.marker('released') });
      assert.ok(accepted.reply.ok, JSON.stringify(accepted.reply));
      assert.ok(existsSync(f.marker('released')));
    }),
  );

  test(
    "the agent's own blast radius refuses what its host forbids, and counts what it already holds",
    withFleet(async (f) => {
      const agent = await f.agent({
        blastRadius: [
          {
            source: "the host's settings file's blast_radius",
            policy: { max_targets: 1, block: [{ name: '*/protected-*' }] },
          },
        ],
      });
      const blocked = await f.inject(agent.name, { path: f.marker('protected-db') });
      assert.ok(!blocked.reply.ok, JSON.stringify(blocked.reply));
      assert.equal(blocked.reply.code, 'FAULTLINE_ERR_POLICY');
      assert.match(blocked.reply.error, /the host's settings file's blast_radius/);
      assert.equal(existsSync(f.marker('protected-db')), false);
      const refusedEvent = await f.event(
        (e) => e.type === 'refused' && e.fault?.id === blocked.id,
        'the refusal on the stream',
      );
      assert.equal(refusedEvent.fault?.state, 'refused');

      const first = await f.inject(agent.name, { path: f.marker('allowed-1') });
      assert.ok(first.reply.ok, JSON.stringify(first.reply));
      const second = await f.inject(agent.name, { path: f.marker('allowed-2') });
      assert.ok(
        !second.reply.ok && second.reply.code === 'FAULTLINE_ERR_POLICY',
        JSON.stringify(second.reply),
      );
      assert.equal(existsSync(f.marker('allowed-2')), false);
      assert.deepEqual(agent.record().faults, [first.id]);
    }),
  );

  test(
    'a fleet halt set before the agent starts: it starts halted',
    withFleet(async (f) => {
      await f.ctl.control.put(HALT_KEY, JSON.stringify({ since: new Date().toISOString(), by: 'test' }));
      const agent = await f.agent();
      const first = await untilGuard('the record', () => f.record(agent.name));
      assert.equal(first.record.halted, true);
      const refused = await f.inject(agent.name, { path: f.marker('early') });
      assert.ok(!refused.reply.ok && refused.reply.code === 'FAULTLINE_ERR_HALTED');
    }),
  );

  test(
    'a duplicated inject is applied once and answered as the first; a late inject after its revert is answered with the revert, never applied',
    withFleet(async (f) => {
      const agent = await f.agent();
      const path = f.marker('dup');
      const id = randomUUID();
      const [a, b] = await Promise.all([
        f.inject(agent.name, { path }, { id }),
        f.inject(agent.name, { path }, { id }),
      ]);
      assert.ok(a.reply.ok, JSON.stringify(a.reply));
      assert.deepEqual(b.reply, a.reply);
      const c = await f.inject(agent.name, { path }, { id });
      assert.deepEqual(c.reply, a.reply);
      await f.event(of(id, 'injected'), 'injected');

      const reverted = await f.request(agent.name, { op: 'revert', id });
      assert.ok(reverted.ok && reverted.fault?.state === 'reverted' && reverted.fault.verified === true);
      assert.equal(existsSync(path), false);
      const late = await f.inject(agent.name, { path }, { id });
      assert.deepEqual(late.reply, reverted, 'how it ended, not a second fault');
      // So does a second revert.
      assert.deepEqual(await f.request(agent.name, { op: 'revert', id }), reverted);
      assert.equal(existsSync(path), false);
      assert.equal(f.events.filter(of(id, 'injected')).length, 1);

      // A revert that arrives before its inject: the inject, arriving late, is not applied.
      const early = randomUUID();
      const r = await f.request(agent.name, { op: 'revert', id: early });
      assert.ok(r.ok && r.fault?.state === 'reverted');
      const lateInject = await f.inject(agent.name, { path: f.marker('early') }, { id: early });
      assert.ok(lateInject.reply.ok && lateInject.reply.fault?.state === 'reverted');
      assert.equal(existsSync(f.marker('early')), false);

      // An inject whose lease the controller already deleted is refused.
      const gone = randomUUID();
      await f.ctl.leases.put(
        leaseKey(agent.name, gone),
        JSON.stringify({ controller: 'test', faultId: gone, ttlMs: 5000, renewals: 0 }),
      );
      await f.ctl.leases.delete(leaseKey(agent.name, gone));
      await untilGuard('the agent to see the delete', async () => {
        const s = await f.request(agent.name, { op: 'status' });
        return s.ok;
      });
      // The watch delivers the delete asynchronously; the reply is either refused or reverted, never active.
      const deleted = await f.inject(agent.name, { path: f.marker('gone') }, { id: gone, lease: false });
      if (deleted.reply.ok) assert.equal(deleted.reply.fault?.state, 'reverted');
      else assert.match(deleted.reply.error, /^lease: /);
      assert.equal(existsSync(f.marker('gone')), false);
    }),
  );

  test(
    'a controller and the agent racing a revert: one revert, reported once',
    withFleet(async (f) => {
      const agent = await f.agent();
      const path = f.marker('race');
      const { id, reply } = await f.inject(agent.name, { path }, { leaseMs: 1_000 });
      assert.ok(reply.ok);
      // The revert command, the lease's delete and (soon) its lapse, all at once.
      const [r] = await Promise.all([
        f.request(agent.name, { op: 'revert', id }),
        f.ctl.leases.delete(leaseKey(agent.name, id)),
      ]);
      assert.ok(r.ok && r.fault?.state === 'reverted' && r.fault.verified === true, JSON.stringify(r));
      assert.equal(existsSync(path), false);
      // Events of one agent are published in order: once a later fault's event is in, so is any second revert.
      const later = await f.inject(agent.name, { path: f.marker('later') });
      assert.ok(later.reply.ok);
      await f.event(of(later.id, 'injected'), 'the later fault');
      assert.equal(f.events.filter(of(id, 'reverted')).length, 1);
      assert.equal(f.events.filter(of(id, 'verified')).length, 1);
    }),
  );

  test(
    'a kind outside --allow, an unknown kind, invalid arguments and the agent limit are refused naming the field',
    withFleet(async (f) => {
      const agent = await f.agent({ allow: ['marker-file'], maxFaults: 1 });
      const first = await untilGuard('the record', () => f.record(agent.name));
      assert.deepEqual(first.record.kinds, ['marker.create']);

      const kill = await f.inject(agent.name, { name: 'x' }, { kind: 'process.kill' });
      assert.ok(!kill.reply.ok);
      assert.equal(kill.reply.code, 'FAULTLINE_ERR_POLICY');
      assert.match(
        kill.reply.error,
        /^kind: 'process\.kill' is not allowed on agent agent-1 \(its --allow: marker\.create\)/,
      );
      await f.event(of(kill.id, 'refused'), 'refused');

      const unknown = await f.inject(agent.name, {}, { kind: 'rm -rf /' });
      assert.ok(!unknown.reply.ok && unknown.reply.code === 'FAULTLINE_ERR_VALIDATION');
      assert.match(unknown.reply.error, /^kind: unknown fault kind/);

      const bad = await f.inject(agent.name, { path: 42 });
      assert.ok(!bad.reply.ok && bad.reply.code === 'FAULTLINE_ERR_VALIDATION');
      assert.match(bad.reply.error, /^arguments\.path: expected a file path/);
      const extra = await f.inject(agent.name, { path: f.marker('x'), command: 'touch /tmp/pwned' });
      assert.ok(!extra.reply.ok && extra.reply.code === 'FAULTLINE_ERR_VALIDATION');
      assert.match(extra.reply.error, /^arguments: .*command/);
      assert.equal(existsSync(f.marker('x')), false);

      const notACommand = await f.request(agent.name, { op: 'exec', cmd: 'id' });
      assert.ok(!notACommand.ok && notACommand.code === 'FAULTLINE_ERR_VALIDATION');

      const one = await f.inject(agent.name, { path: f.marker('one') });
      assert.ok(one.reply.ok);
      const two = await f.inject(agent.name, { path: f.marker('two') });
      assert.ok(!two.reply.ok && two.reply.code === 'FAULTLINE_ERR_POLICY');
      assert.match(two.reply.error, /--max-faults 1/);
      assert.equal(existsSync(f.marker('two')), false);
    }),
  );

  test(
    'stop() reverts its faults, says so on the stream and marks its record stopped',
    withFleet(async (f) => {
      const agent = await f.agent();
      const path = f.marker('stop');
      const { id, reply } = await f.inject(agent.name, { path });
      assert.ok(reply.ok);
      await agent.stop();
      await agent.done;
      assert.equal(existsSync(path), false);
      const reverted = await f.event(of(id, 'reverted'), 'reverted');
      assert.equal(reverted.fault?.reason, 'the agent is stopping');
      await f.event((e) => e.agent === agent.name && e.type === 'agent-stopped', 'agent-stopped');
      const last = await f.record(agent.name);
      assert.equal(typeof last?.raw.stoppedAt, 'string');
      assert.deepEqual(last?.record.faults, []);
    }),
  );

  test(
    'an agent killed with SIGKILL holding a fault reverts it at its next start, before it registers',
    withFleet(async (f) => {
      const name = 'killed';
      const path = f.marker('orphan');
      const first = childAgent(f, name);
      await first.ready;
      const { id, reply } = await f.inject(name, { path });
      assert.ok(reply.ok, JSON.stringify(reply));
      assert.ok(existsSync(path));
      const exited = new Promise((r) => first.child.once('exit', r));
      first.child.kill('SIGKILL');
      await exited;
      assert.ok(existsSync(path), 'its watchdog is off: the fault is still in place');

      const second = childAgent(f, name);
      const pid = second.child.pid!;
      await untilGuard('the new registration', async () => (await f.record(name))?.record.host.pid === pid);
      assert.equal(existsSync(path), false, 'reverted before it registered');
      // Under the controller's own id for the fault, so the controller's journal can match it.
      await f.event(
        (e) =>
          e.agent === name &&
          e.type === 'reverted' &&
          e.fault?.id === id &&
          /previous run/.test(e.fault?.reason ?? ''),
        'reverted at start, under the controller id',
      );
      const gone = new Promise((r) => second.child.once('exit', r));
      second.child.kill('SIGTERM');
      await gone;
      assert.equal(second.child.exitCode, 0, second.stderr());
    }),
  );
});

describe('faultline agent (the command)', () => {
  test(
    'bad flags are refused before connecting, naming the flag and the bad value (exit 2)',
    withFleet(async (f) => {
      const labels = await runCli(f, ['agent', '--nats', f.nats.url, '--name', 'x', '--labels', 'app=a,oops'])
        .done;
      assert.equal(labels.code, 2, labels.stderr);
      assert.match(labels.stderr, /--labels: expected key=value pairs .*got 'oops'/);
      const allow = await runCli(f, [
        'agent',
        '--nats',
        f.nats.url,
        '--name',
        'x',
        '--allow',
        'marker.create,nope',
      ]).done;
      assert.equal(allow.code, 2, allow.stderr);
      assert.match(allow.stderr, /--allow: unknown fault kind 'nope' \(known: .*marker\.create/);
      const name = await runCli(f, ['agent', '--nats', f.nats.url, '--name', 'a.b']).done;
      assert.equal(name.code, 2, name.stderr);
      assert.match(name.stderr, /--name: expected 1-64 letters/);
      const hb = await runCli(f, ['agent', '--nats', f.nats.url, '--name', 'x', '--heartbeat', 'soon']).done;
      assert.equal(hb.code, 2, hb.stderr);
      assert.match(hb.stderr, /--heartbeat: expected a duration/);
      const settings = await runCli(f, [
        'agent',
        '--nats',
        f.nats.url,
        '--name',
        'x',
        '--settings',
        join(f.work, 'no-such-settings.yaml'),
      ]).done;
      assert.equal(settings.code, 2, settings.stderr);
      assert.match(settings.stderr, /--settings: cannot read .*no-such-settings\.yaml/);
      assert.doesNotMatch(settings.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(await f.record('x'), null, 'nothing registered');
    }),
  );

  test(
    'runs until SIGTERM with its flags (its settings file limiting it), then reverts its faults and exits 0',
    withFleet(async (f) => {
      const settingsFile = join(f.work, 'settings.yaml');
      await writeFile(settingsFile, "blast_radius:\n  block: [{name: '*/forbidden'}]\n");
      const cli = runCli(f, [
        'agent',
        '--nats',
        f.nats.url,
        '--name',
        'cli-1',
        '--labels',
        'app=cli,zone=b',
        '--allow',
        'marker.create',
        '--heartbeat',
        '200ms',
        '--max-faults',
        '2',
        '--settings',
        settingsFile,
      ]);
      await cli.ready(/registered .*the settings file's blast_radius/);
      const r = await untilGuard('the record', () => f.record('cli-1'));
      assert.deepEqual(r.record.labels, { app: 'cli', zone: 'b' });
      assert.deepEqual(r.record.kinds, ['marker.create']);
      assert.equal(r.record.heartbeatMs, 200);
      const path = f.marker('cli');
      const { reply } = await f.inject('cli-1', { path });
      assert.ok(reply.ok, JSON.stringify(reply));
      assert.ok(existsSync(path));
      const forbidden = await f.inject('cli-1', { path: f.marker('forbidden') });
      assert.ok(
        !forbidden.reply.ok && forbidden.reply.code === 'FAULTLINE_ERR_POLICY',
        JSON.stringify(forbidden.reply),
      );
      assert.equal(existsSync(f.marker('forbidden')), false);
      cli.child.kill('SIGTERM');
      const done = await cli.done;
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stderr, /received SIGTERM/);
      assert.equal(existsSync(path), false);
    }),
  );
});

/** A tiny program with only `faultline agent` (main.ts gains it separately), as a child process. */
function runCli(f: Fixture, args: string[]) {
  const src = (p: string) => JSON.stringify(join(ROOT, p));
  const script = `
    const { Command } = await import('commander');
    const { registerAgentCommands } = await import(${src('src/cli/agent.ts')});
    const { createOutput } = await import(${src('src/cli/output.ts')});
    const { FaultlineError } = await import(${src('src/core/errors.ts')});
    const out = createOutput();
    const program = new Command().exitOverride();
    registerAgentCommands(program, () => out);
    try {
      await program.parseAsync(process.argv.slice(1), { from: 'user' });
    } catch (err) {
      if (err instanceof FaultlineError) { out.error(err.message); process.exitCode = err.exitCode; }
      else process.exitCode = 2;
    }
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, FAULTLINE_HOME: f.home, FAULTLINE_WATCHDOG: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  f.children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  child.stdout!.resume();
  const done = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`the agent did not exit: ${err}`)), GUARD_MS);
    child.once('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, stderr: err });
    });
  });
  return { child, done, ready: (re: RegExp) => until(`stderr ${re}`, () => re.test(err)) };
}

/** An agent in a process of its own, its session's watchdog off (so only the restart can revert). */
function childAgent(f: Fixture, name: string) {
  const script = `
    const { startAgent } = await import(${JSON.stringify(join(ROOT, 'src/fleet/agent.ts'))});
    const agent = await startAgent({
      connect: { servers: ${JSON.stringify(f.nats.url)} },
      name: ${JSON.stringify(name)},
      home: ${JSON.stringify(f.home)},
      heartbeatMs: 200,
      watchdog: false,
      log: (level, message) => process.stderr.write(level + ' ' + message + '\\n'),
    });
    process.stdout.write('ready\\n');
    process.on('SIGTERM', () => agent.stop().then(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  f.children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`agent exited (${code}) before it was ready: ${err}`)));
  });
  return { child, ready, stderr: () => err };
}
