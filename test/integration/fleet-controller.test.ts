/**
 * The fleet controller against a real nats-server and real agents (startAgent),
 * each agent a process of its own with its own FAULTLINE_HOME and working
 * directory (its "host"): the marker fault's relative path lands in each
 * agent's own directory, as it would on separate hosts.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FaultlineError } from '../../src/core/errors.js';
import { FleetController } from '../../src/fleet/controller.js';
import { parseSelector, targetCount } from '../../src/fleet/select.js';
import { natsServerMissing, startNats, type TestNats } from '../helpers/nats.js';
import { until } from '../helpers/until.js';

const AGENT_MODULE = fileURLToPath(new URL('../../src/fleet/agent.ts', import.meta.url));
// tsx by URL: the agents run in their own directories, where a bare `tsx` does not resolve.
const TSX = import.meta.resolve('tsx');
const MARKER = 'marker.create';
// Generous on a loaded machine: an agent is lost after 3 heartbeats without a record.
const HEARTBEAT_MS = 1_000;
const LEASE_MS = 3_000;
const missing = natsServerMissing();

interface TestAgent {
  name: string;
  dir: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

const SCRIPT = `
const { startAgent } = await import(${JSON.stringify(AGENT_MODULE)});
const o = JSON.parse(process.env.F2_AGENT);
const agent = await startAgent({
  connect: { servers: o.url },
  name: o.name,
  labels: o.labels,
  allow: o.allow,
  home: process.env.FAULTLINE_HOME,
  heartbeatMs: o.heartbeatMs,
  // The test stops every agent cleanly and removes its home: no watchdog to outlive it.
  watchdog: false,
  log: (level, message) => process.stderr.write(level + ' ' + message + '\\n'),
});
process.stdout.write('ready\\n');
const stop = () => agent.stop().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
`;

async function startTestAgent(
  url: string,
  name: string,
  labels: Record<string, string>,
  allow?: string[],
): Promise<TestAgent> {
  const dir = await mkdtemp(join(tmpdir(), `faultline-host-${name}-`));
  const child = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', SCRIPT], {
    cwd: dir,
    env: {
      ...process.env,
      FAULTLINE_HOME: join(dir, 'home'),
      F2_AGENT: JSON.stringify({ url, name, labels, allow, heartbeatMs: HEARTBEAT_MS }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const agent: TestAgent = {
    name,
    dir,
    child,
    log: '',
    exited: new Promise((r) => child.once('exit', () => r())),
  };
  child.stderr!.on('data', (d: Buffer) => {
    if (agent.log.length < 50_000) agent.log += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`agent ${name} did not start: ${agent.log}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`agent ${name} exited (${code}) at start: ${agent.log}`));
    });
  });
  return agent;
}

async function stopTestAgent(a: TestAgent): Promise<void> {
  if (a.child.exitCode === null && a.child.signalCode === null) {
    a.child.kill('SIGTERM');
    const t = setTimeout(() => a.child.kill('SIGKILL'), 20_000);
    await a.exited;
    clearTimeout(t);
  }
  await rm(a.dir, { recursive: true, force: true });
}

describe('fleet controller with real agents', { skip: missing || false }, () => {
  let nats: TestNats;
  let agents: TestAgent[] = [];
  let ctl: FleetController;
  const byName = (n: string) => agents.find((a) => a.name === n)!;
  const marker = (a: TestAgent) => join(a.dir, 'fleet-marker');
  const markedAgents = () =>
    agents
      .filter((a) => existsSync(marker(a)))
      .map((a) => a.name)
      .sort();
  const leaseKeys = async () => {
    // A Set: keys() lists a key again when it is renewed while it lists.
    const keys = new Set<string>();
    for await (const k of await ctl.connection.leases.keys()) keys.add(k);
    return [...keys];
  };
  const web = parseSelector('role=web');
  const args = { path: 'fleet-marker' };

  before(async () => {
    nats = await startNats();
    const specs: [string, Record<string, string>, string[]?][] = [
      ['web-a', { role: 'web', zone: 'a' }],
      ['web-b', { role: 'web', zone: 'b' }],
      ['web-c', { role: 'web', zone: 'c' }],
      ['db-a', { role: 'db', zone: 'a' }],
      ['locked', { role: 'locked' }, ['network.latency']],
    ];
    agents = await Promise.all(specs.map(([n, l, allow]) => startTestAgent(nats.url, n, l, allow)));
    ctl = await FleetController.open(
      { servers: nats.url },
      { id: 'test-controller', commandTimeoutMs: 20_000 },
    );
    await until('every agent registered', async () => (await ctl.agents()).length === specs.length);
  });

  after(async () => {
    await ctl?.close();
    await Promise.all(agents.map(stopTestAgent));
    await nats?.close();
  });

  test('agents() lists every agent with its labels, kinds and health', async () => {
    const list = await ctl.agents();
    assert.deepEqual(
      list.map((a) => a.name),
      ['db-a', 'locked', 'web-a', 'web-b', 'web-c'],
    );
    for (const a of list) assert.equal(a.health, 'alive', `${a.name}: ${a.health} (age ${a.ageMs} ms)`);
    assert.deepEqual(list.find((a) => a.name === 'web-b')!.labels, { role: 'web', zone: 'b' });
    assert.deepEqual(list.find((a) => a.name === 'locked')!.kinds, ['network.latency']);
    assert.ok(list.find((a) => a.name === 'web-a')!.kinds.includes(MARKER));
  });

  const modes: [
    string,
    { mode: 'one' | 'all' | 'fixed' | 'fixed-percent' | 'random-max-percent'; value?: number },
    number,
  ][] = [
    ['all', { mode: 'all' }, 3],
    ['one', { mode: 'one' }, 1],
    ['fixed 2', { mode: 'fixed', value: 2 }, 2],
    ['fixed-percent 34 (of 3: rounded down to 1)', { mode: 'fixed-percent', value: 34 }, 1],
    ['random-max-percent 100 (draw 0.99: 99% of 3 -> 2)', { mode: 'random-max-percent', value: 100 }, 2],
  ];
  for (const [name, m, expected] of modes) {
    test(`mode ${name} hits ${expected} agent(s); revert removes every marker`, async () => {
      assert.equal(
        targetCount(3, m.mode, m.value, () => 0.99),
        expected,
      );
      const placed = await ctl.inject(
        MARKER,
        args,
        { selector: web, ...m },
        { leaseMs: LEASE_MS, random: () => 0.99 },
      );
      assert.equal(placed.length, expected, JSON.stringify(placed));
      for (const f of placed) assert.equal(f.state, 'active', JSON.stringify(f));
      const hit = placed.map((f) => f.agent).sort();
      for (const n of hit) assert.match(n, /^web-/);
      assert.deepEqual(markedAgents(), hit);
      assert.equal((await leaseKeys()).length, expected);
      const reverted = await ctl.revertAll();
      for (const f of reverted) {
        assert.equal(f.state, 'reverted', JSON.stringify(f));
        assert.equal(f.verified, true);
        assert.equal(f.kind, MARKER);
      }
      assert.deepEqual(markedAgents(), []);
      assert.deepEqual(await leaseKeys(), []);
    });
  }

  test('arguments made per agent reach each agent; its record shows what it holds and for whom', async () => {
    const own = (name: string) => join(byName(name).dir, `own-${name}`);
    const placed = await ctl.inject(
      MARKER,
      (a) => ({ path: own(a.name) }),
      { selector: web, mode: 'all' },
      {
        leaseMs: LEASE_MS,
      },
    );
    assert.equal(placed.length, 3, JSON.stringify(placed));
    for (const f of placed) {
      assert.equal(f.state, 'active', JSON.stringify(f));
      assert.ok(existsSync(own(f.agent)), `${f.agent} has its own marker`);
    }
    await until('each record lists its fault with kind, target and holder', async () => {
      const list = await ctl.agents();
      return placed.every((f) => {
        const held = list.find((a) => a.name === f.agent)?.active ?? [];
        return held.some(
          (h) =>
            h.id === f.id && h.kind === MARKER && h.controller === 'test-controller' && h.target === f.target,
        );
      });
    });
    await ctl.revertAll();
    for (const f of placed) assert.equal(existsSync(own(f.agent)), false);
    await until('the records hold nothing again', async () =>
      (await ctl.agents()).every((a) => (a.active ?? []).length === 0),
    );
  });

  test('blast radius refusals come before anything is sent', async () => {
    const refusals: [string, object, object][] = [
      ['max_targets', { max_targets: 2 }, { mode: 'all' }],
      ['max_percentage', { max_percentage: 50 }, { mode: 'fixed', value: 2 }],
      ['block', { block: [{ labels: { zone: 'b' } }] }, { mode: 'all' }],
      ['allow', { allow: [{ labels: { role: 'db' } }] }, { mode: 'all' }],
    ];
    for (const [rule, blastRadius, m] of refusals) {
      await assert.rejects(
        ctl.inject(
          MARKER,
          args,
          { selector: web, ...(m as { mode: 'all' }) },
          { blastRadius, leaseMs: LEASE_MS },
        ),
        (err: unknown) => {
          assert.ok(err instanceof FaultlineError);
          assert.equal(err.code, 'FAULTLINE_ERR_POLICY');
          assert.match(err.message, new RegExp(`blast radius: ${rule}`));
          return true;
        },
      );
    }
    assert.deepEqual(await leaseKeys(), [], 'no lease was put');
    assert.deepEqual(markedAgents(), [], 'no fault anywhere');
    for (const a of await ctl.agents()) assert.deepEqual(a.faults, [], a.name);
    assert.deepEqual(ctl.faults(), []);
  });

  test('dry run (plan) lists the agents that would be hit and sends nothing', async () => {
    const plan = await ctl.plan(MARKER, args, { selector: parseSelector('zone in (a,b)'), mode: 'all' });
    assert.deepEqual(plan.candidates.map((a) => a.name).sort(), ['db-a', 'web-a', 'web-b']);
    assert.deepEqual(plan.targets.map((a) => a.name).sort(), ['db-a', 'web-a', 'web-b']);
    assert.deepEqual(plan.notOffering, []);
    const locked = await ctl.plan(MARKER, args, { selector: parseSelector('role=locked'), mode: 'all' });
    assert.deepEqual(locked.notOffering, ['locked']);
    assert.deepEqual(await leaseKeys(), []);
    assert.deepEqual(markedAgents(), []);
  });

  test('an agent refusing a kind outside its allow list shows refused, and its lease is gone', async () => {
    const [f] = await ctl.inject(
      MARKER,
      args,
      { selector: parseSelector('role=locked'), mode: 'all' },
      { leaseMs: LEASE_MS },
    );
    assert.equal(f!.state, 'refused', JSON.stringify(f));
    assert.equal(f!.agent, 'locked');
    assert.match(f!.error!, /not allowed on agent locked/);
    assert.deepEqual(await leaseKeys(), []);
    assert.equal(existsSync(marker(byName('locked'))), false);
  });

  test('no alive agent matching is an error naming the selector', async () => {
    await assert.rejects(
      ctl.inject(MARKER, args, { selector: parseSelector('role=nothing'), mode: 'all' }),
      /no alive agent matches 'role=nothing'/,
    );
  });

  test('a controller that dies (connection closed, leases left) has every fault reverted by lease', async () => {
    const doomed = await FleetController.open({ servers: nats.url }, { id: 'doomed' });
    const placed = await doomed
      .inject(MARKER, args, { selector: web, mode: 'all' }, { leaseMs: LEASE_MS })
      .catch(async (err) => {
        await doomed.close();
        throw err;
      });
    assert.deepEqual(
      placed.map((f) => f.state),
      ['active', 'active', 'active'],
      JSON.stringify(placed),
    );
    assert.deepEqual(markedAgents(), ['web-a', 'web-b', 'web-c']);
    // As a kill -9 would: no revert, no lease deleted, renewals stop.
    await doomed.connection.nc.close();
    assert.equal((await leaseKeys()).length, 3, 'the leases are still there');
    await until('every agent reverted by lease', () => markedAgents().length === 0);
    await until('every record shows no fault', async () =>
      (await ctl.agents()).every((a) => a.faults.length === 0),
    );
    // The dead controller's leases stay in the bucket (max_age drops them); clean them for the next tests.
    for (const k of await leaseKeys()) await ctl.connection.leases.delete(k);
  });

  test('fleet halt: every agent reverts, new injects are refused; release: accepted again', async () => {
    const placed = await ctl.inject(
      MARKER,
      args,
      { selector: parseSelector('zone=a'), mode: 'all' },
      { leaseMs: LEASE_MS },
    );
    assert.deepEqual(placed.map((f) => f.state).sort(), ['active', 'active'], JSON.stringify(placed));
    assert.deepEqual(markedAgents(), ['db-a', 'web-a']);

    const report = await ctl.haltFleet('integration test', { timeoutMs: 30_000 });
    assert.deepEqual(report.noAnswer, []);
    assert.deepEqual(report.reverted, ['db-a', 'locked', 'web-a', 'web-b', 'web-c']);
    assert.equal(report.halt.reason, 'integration test');
    assert.deepEqual(markedAgents(), []);
    assert.deepEqual(ctl.faults(), []);
    for (const a of await ctl.agents()) assert.equal(a.health, 'halted', a.name);

    await assert.rejects(
      ctl.inject(MARKER, args, { selector: web, mode: 'all' }, { leaseMs: LEASE_MS }),
      (err: unknown) => err instanceof FaultlineError && err.code === 'FAULTLINE_ERR_HALTED',
    );
    assert.equal((await ctl.plan(MARKER, args, { selector: web, mode: 'all' })).halt?.by, 'test-controller');
    assert.deepEqual(markedAgents(), []);

    assert.equal(await ctl.releaseFleet(), true);
    assert.equal(await ctl.releaseFleet(), false);
    await until('the agents show the release', async () =>
      (await ctl.agents()).every((a) => a.health === 'alive'),
    );
    const again = await ctl.inject(MARKER, args, { selector: web, mode: 'one' }, { leaseMs: LEASE_MS });
    assert.equal(again[0]!.state, 'active', JSON.stringify(again[0]));
    const [r] = await ctl.revertAll();
    assert.equal(r!.verified, true);
    assert.deepEqual(markedAgents(), []);
  });

  test('a fault its agent already reverted on its own: revert() reads the verified outcome from the events stream', async () => {
    const [f] = await ctl.inject(
      MARKER,
      args,
      { selector: parseSelector('zone=c'), mode: 'all' },
      { leaseMs: LEASE_MS },
    );
    assert.equal(f!.state, 'active', JSON.stringify(f));
    // The lease gone behind the controller's back (as a halt or a lapse would end it on the agent).
    await ctl.connection.leases.delete(`${f!.agent}.${f!.id}`);
    await until('the agent reverted it', () => markedAgents().length === 0);
    await until('its record shows no fault', async () =>
      (await ctl.agents()).every((a) => a.faults.length === 0),
    );
    const r = await ctl.revert(f!.id);
    assert.equal(r.state, 'reverted', JSON.stringify(r));
    assert.equal(r.verified, true, JSON.stringify(r));
    assert.match(r.reason ?? '', /lease/);
  });

  test('fleet halt names an agent that does not answer (paused), which reverts once it runs again', async () => {
    const frozen = await startTestAgent(nats.url, 'frozen', { role: 'frozen' });
    agents.push(frozen);
    try {
      await until('frozen registered', async () => (await ctl.agents()).some((a) => a.name === 'frozen'));
      const [f] = await ctl.inject(
        MARKER,
        args,
        { selector: parseSelector('role=frozen'), mode: 'all' },
        { leaseMs: LEASE_MS },
      );
      assert.equal(f!.state, 'active', JSON.stringify(f));
      // Its record lists the fault from its next heartbeat: the report names it from that record.
      await until('the record lists the fault', async () =>
        (await ctl.agents()).some((a) => a.name === 'frozen' && a.faults.includes(f!.id)),
      );
      frozen.child.kill('SIGSTOP');
      const report = await ctl.haltFleet('frozen agent', { timeoutMs: 3_000 });
      assert.deepEqual(
        report.noAnswer.map((a) => [a.name, a.halted, a.faults]),
        [['frozen', false, [f!.id]]],
      );
      assert.ok(report.reverted.includes('web-a'));
      assert.equal(existsSync(marker(frozen)), true, 'still in place while the agent is paused');
      frozen.child.kill('SIGCONT');
      await until('the paused agent reverted once running', () => !existsSync(marker(frozen)));
    } finally {
      frozen.child.kill('SIGCONT');
      await ctl.releaseFleet();
      agents = agents.filter((a) => a !== frozen);
      await stopTestAgent(frozen);
    }
    await until('the agents show the release', async () =>
      (await ctl.agents()).filter((a) => a.name !== 'frozen').every((a) => a.health === 'alive'),
    );
  });

  test('close() reverts what the controller holds', async () => {
    const other = await FleetController.open({ servers: nats.url }, { id: 'closing' });
    let outcomes: Awaited<ReturnType<FleetController['close']>>;
    try {
      const placed = await other.inject(
        MARKER,
        args,
        { selector: web, mode: 'fixed', value: 2 },
        { leaseMs: LEASE_MS },
      );
      assert.equal(markedAgents().length, 2, JSON.stringify(placed));
    } finally {
      outcomes = await other.close();
    }
    assert.equal(outcomes.length, 2);
    for (const f of outcomes) assert.equal(f.verified, true, JSON.stringify(f));
    assert.deepEqual(markedAgents(), []);
    assert.deepEqual(await leaseKeys(), []);
  });
});
