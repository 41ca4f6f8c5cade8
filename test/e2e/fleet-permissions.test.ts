/**
 * examples/fleet/nats-server.conf is what docs/fleet-deploy.md tells people to
 * deploy: a test-owned nats-server runs a copy of it (free port, temporary
 * store, passwords from its environment as in production), and the real
 * @nats-io clients through connectFleet show every operation an agent and a
 * controller need is allowed and every one the docs call forbidden is refused
 * by the server (a permissions error to the client, a violation in its log).
 * Then the real agent and the real FleetController run as those users through
 * an inject, a revert and a fleet halt with no violation logged. The shipped
 * systemd unit, Containerfile and DaemonSet are checked for the properties the
 * docs claim (no service manager, container runtime or cluster is used).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { connectFleet, type FleetConnection } from '../../src/fleet/connect.js';
import {
  commandSubject,
  EVENTS_STREAM,
  eventsSubject,
  HALT_KEY,
  leaseKey,
  renewSubject,
} from '../../src/fleet/protocol.js';
import { accepting, freePort, natsServerMissing } from '../helpers/nats.js';
import { until } from '../helpers/until.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples/fleet');
const GUARD_MS = 30_000;
const untilGuard = <T>(what: string, check: () => T | Promise<T>) => until(what, check, GUARD_MS);
const PASSWORDS = {
  FAULTLINE_ADMIN_PASSWORD: 'admin-secret',
  FAULTLINE_CONTROLLER_PASSWORD: 'controller-secret',
  FAULTLINE_AGENT_WEB_1_PASSWORD: 'web-1-secret',
  FAULTLINE_AGENT_WEB_2_PASSWORD: 'web-2-secret',
};
const missing = natsServerMissing();
if (missing) console.log(`# fleet permissions: skipped: ${missing}`);

/** nats-server on the example configuration: only the port, host and store differ. */
interface ConfiguredNats {
  url: string;
  /** The server's log since it started (violations are logged there). */
  log(): string;
  stop(): Promise<void>;
}

async function startConfigured(): Promise<ConfiguredNats> {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-nats-perm-'));
  const port = await freePort();
  const example = await readFile(join(EXAMPLES, 'nats-server.conf'), 'utf8');
  const conf = example
    .replace(/^port: \d+$/m, `port: ${port}\nhost: 127.0.0.1`)
    .replace(/store_dir: "[^"]*"/, `store_dir: "${join(dir, 'store')}"`);
  assert.notEqual(conf, example, 'the example names a port and a store_dir');
  await writeFile(join(dir, 'nats.conf'), conf);
  let log = '';
  const child: ChildProcess = spawn('nats-server', ['-c', join(dir, 'nats.conf')], {
    env: { ...process.env, ...PASSWORDS },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => {
    if (log.length < 2_000_000) log += d.toString();
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await untilGuard('nats-server to listen', async () => {
      if (child.exitCode !== null) throw new Error(`nats-server exited at start: ${log}`);
      return accepting(port);
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `nats://127.0.0.1:${port}`, log: () => log, stop };
}

type User = 'faultline-admin' | 'faultline-controller' | 'agent-web-1' | 'agent-web-2';
const passwordOf: Record<User, string> = {
  'faultline-admin': PASSWORDS.FAULTLINE_ADMIN_PASSWORD,
  'faultline-controller': PASSWORDS.FAULTLINE_CONTROLLER_PASSWORD,
  'agent-web-1': PASSWORDS.FAULTLINE_AGENT_WEB_1_PASSWORD,
  'agent-web-2': PASSWORDS.FAULTLINE_AGENT_WEB_2_PASSWORD,
};

/** The server refused `subject` to this client: the client's error names it and so does the server's log. */
async function refused(nats: ConfiguredNats, user: User, subject: string, attempt: Promise<unknown>) {
  await assert.rejects(attempt, (err: Error) => {
    assert.match(err.message, /permissions violation/i);
    assert.ok(err.message.includes(subject), `${err.message} names ${subject}`);
    return true;
  });
  await untilGuard(`the server to log ${user}'s violation on ${subject}`, () =>
    nats.log().includes(`User "${user}", Subject "${subject}"`),
  );
}

describe('fleet permissions: examples/fleet/nats-server.conf', { skip: missing }, () => {
  let nats: ConfiguredNats;
  let agent: FleetConnection;
  let controller: FleetConnection;
  const open: FleetConnection[] = [];
  const as = async (user: User) => {
    const c = await connectFleet({
      servers: nats.url,
      user,
      pass: passwordOf[user],
      name: user,
      reconnect: false,
    });
    open.push(c);
    return c;
  };

  before(async () => {
    nats = await startConfigured();
  });
  after(async () => {
    for (const c of open) await c.close().catch(() => undefined);
    await nats?.stop();
  });

  test('bootstrap: restricted users cannot create the fleet storage; the admin does it once, then they connect', async () => {
    await assert.rejects(as('agent-web-1'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FAULTLINE_ERR_FLEET');
      assert.match(
        err.message,
        /Permissions Violation for Publish to "\$JS\.API\.STREAM\.CREATE\.KV_faultline_/,
      );
      return true;
    });
    await assert.rejects(as('faultline-controller'), /\$JS\.API\.STREAM\.CREATE\.KV_faultline_/);
    // The admin's connectFleet creates the three buckets and the stream.
    const admin = await as('faultline-admin');
    await admin.close();
    // kvm.create on an existing bucket only reads its info: restricted users may open it now.
    agent = await as('agent-web-1');
    controller = await as('faultline-controller');
    const info = await controller.jsm.streams.info(EVENTS_STREAM);
    assert.deepEqual(info.config.subjects, ['faultline.events.>']);
  });

  test('an agent may put its record, read the halt key, watch its leases and the halt key, answer its commands and publish its events', async () => {
    await agent.agents.put('agent-web-1', '{"n":1}');
    assert.equal((await agent.agents.get('agent-web-1'))?.string(), '{"n":1}');
    assert.equal(await agent.control.get(HALT_KEY), null);

    const seen: string[] = [];
    const leases = await agent.leases.watch({ key: 'agent-web-1.>' });
    const halts = await agent.control.watch({ key: HALT_KEY });
    void (async () => {
      for await (const e of leases) seen.push(`lease ${e.key} ${e.operation}`);
    })();
    void (async () => {
      for await (const e of halts) seen.push(`halt ${e.operation}`);
    })();
    const sub = agent.nc.subscribe(commandSubject('agent-web-1'), {
      callback: (_err, m) => {
        m.respond(`pong ${m.string()}`);
      },
    });
    const renewals: string[] = [];
    const renewSub = agent.nc.subscribe(renewSubject('agent-web-1'), {
      callback: (_err, m) => {
        renewals.push(m.string());
      },
    });
    await agent.nc.flush();
    // Lease renewals: core messages from the controller to the agent's own subject.
    controller.nc.publish(renewSubject('agent-web-1'), '{"controller":"c","faults":["f1"]}');
    await untilGuard('the agent to receive the renewal', () => renewals.length === 1);
    renewSub.unsubscribe();

    // The controller's side of each: its lease, a command, the halt.
    await controller.leases.put(leaseKey('agent-web-1', 'f1'), '{}');
    const reply = await controller.nc.request(commandSubject('agent-web-1'), 'ping', { timeout: GUARD_MS });
    assert.equal(reply.string(), 'pong ping');
    await controller.leases.delete(leaseKey('agent-web-1', 'f1'));
    await controller.control.put(HALT_KEY, '{}');
    await controller.control.delete(HALT_KEY);
    await untilGuard('the agent to see its lease come and go and the halt', () =>
      ['lease agent-web-1.f1 PUT', 'lease agent-web-1.f1 DEL', 'halt PUT', 'halt DEL'].every((s) =>
        seen.includes(s),
      ),
    );
    // Another agent's lease never reaches this agent's watch.
    await controller.leases.put(leaseKey('agent-web-2', 'f2'), '{}');
    await controller.leases.put(leaseKey('agent-web-1', 'f3'), '{}');
    await untilGuard('the next own lease', () => seen.includes('lease agent-web-1.f3 PUT'));
    assert.ok(!seen.some((s) => s.includes('agent-web-2')), seen.join(', '));

    const ack = await agent.js.publish(eventsSubject('agent-web-1'), '{"type":"agent-started"}');
    assert.equal(ack.stream, EVENTS_STREAM);
    leases.stop();
    halts.stop();
    sub.unsubscribe();
  });

  test('an agent may not command others, write leases, the halt key or another record, nor read beyond its own', async () => {
    const u = 'agent-web-1';
    await refused(nats, u, '$KV.faultline_agents.agent-web-2', agent.agents.put('agent-web-2', '{}'));
    await refused(nats, u, '$KV.faultline_agents.agent-web-2', agent.agents.delete('agent-web-2'));
    await refused(nats, u, '$KV.faultline_leases.agent-web-1.x', agent.leases.put('agent-web-1.x', '{}'));
    await refused(nats, u, '$KV.faultline_leases.agent-web-1.f3', agent.leases.delete('agent-web-1.f3'));
    await refused(nats, u, '$KV.faultline_control.halt', agent.control.put(HALT_KEY, '{}'));
    await refused(nats, u, '$KV.faultline_control.halt', agent.control.delete(HALT_KEY));
    await refused(
      nats,
      u,
      'faultline.agent.agent-web-2.cmd',
      agent.nc.request(commandSubject('agent-web-2'), '{"op":"status"}', { timeout: GUARD_MS }),
    );
    await refused(
      nats,
      u,
      'faultline.events.agent-web-2',
      agent.js.publish(eventsSubject('agent-web-2'), '{}', { timeout: GUARD_MS }),
    );
    // Reads: another agent's record and leases, the leases bucket as a whole.
    await refused(
      nats,
      u,
      '$JS.API.DIRECT.GET.KV_faultline_agents.$KV.faultline_agents.agent-web-2',
      agent.agents.get('agent-web-2'),
    );
    await refused(
      nats,
      u,
      '$JS.API.DIRECT.GET.KV_faultline_leases.$KV.faultline_leases.agent-web-1.f3',
      agent.leases.get('agent-web-1.f3'),
    );
    await assert.rejects(agent.leases.watch({ key: 'agent-web-2.>' }), /permissions violation/i);
    await assert.rejects(agent.leases.watch({ key: '>' }), /permissions violation/i);
    await assert.rejects(agent.agents.keys(), /permissions violation/i);
    // The stream and buckets themselves.
    await refused(
      nats,
      u,
      '$JS.API.STREAM.DELETE.KV_faultline_leases',
      agent.jsm.streams.delete('KV_faultline_leases'),
    );
    await refused(nats, u, '$JS.API.STREAM.PURGE.FAULTLINE_EVENTS', agent.jsm.streams.purge(EVENTS_STREAM));
  });

  test('a consumer whose body filters more than its create subject is refused by the server', async () => {
    // The create subject is what the permission checks; the body is what the server would deliver.
    for (const config of [
      { filter_subject: '$KV.faultline_leases.>' },
      { filter_subjects: ['$KV.faultline_leases.>'] },
      {},
    ]) {
      const name = `wide${Math.random().toString(36).slice(2, 8)}`;
      const reply = await agent.nc.request(
        `$JS.API.CONSUMER.CREATE.KV_faultline_leases.${name}.$KV.faultline_leases.agent-web-1.>`,
        JSON.stringify({
          stream_name: 'KV_faultline_leases',
          config: { name, deliver_subject: `_INBOX.${name}`, ack_policy: 'none', ...config },
        }),
        { timeout: GUARD_MS },
      );
      const body = reply.json<{ error?: { description: string } }>();
      assert.match(
        body.error?.description ?? 'created',
        /did not match filtered subject/,
        JSON.stringify(config),
      );
    }
  });

  test('an agent cannot take another agent’s commands, nor reply to anything but a request it received', async () => {
    const web2 = await as('agent-web-2');
    const sub = web2.nc.subscribe(commandSubject('agent-web-1'));
    const closed = await sub.closed;
    assert.ok(closed instanceof Error, 'the subscription was closed with an error');
    assert.match(
      closed.message,
      /permissions violation for subscription to "faultline\.agent\.agent-web-1\.cmd"/i,
    );
    // Nor see, nor forge, another agent's lease renewals.
    const renewSpy = web2.nc.subscribe(renewSubject('agent-web-1'));
    const spyClosed = await renewSpy.closed;
    assert.ok(spyClosed instanceof Error, 'subscribing to its renewals is refused');
    web2.nc.publish(renewSubject('agent-web-1'), '{"controller":"forged","faults":[]}');
    await untilGuard("the server to log web-2's forged renewal", () =>
      nats.log().includes('User "agent-web-2", Subject "faultline.agent.agent-web-1.renew"'),
    );
    // Replies are private: another client's inbox (or all of them) cannot be read.
    for (const subject of ['_INBOX.>', '_INBOX_agent-web-1.>', '_INBOX_faultline-controller.>']) {
      const spy = web2.nc.subscribe(subject);
      const refused = await spy.closed;
      assert.ok(refused instanceof Error, `subscribing to ${subject} is refused`);
    }
    // allow_responses is per received request: a made-up reply subject is refused.
    web2.nc.publish('_INBOX.made-up', 'forged');
    await untilGuard('the forged reply to be refused', () =>
      nats.log().includes('User "agent-web-2", Subject "_INBOX.made-up"'),
    );
    await web2.close();
  });

  test('a controller may command agents, write leases and the halt key, read agents, leases and events', async () => {
    const names: string[] = [];
    for await (const k of await controller.agents.keys()) names.push(k);
    assert.ok(names.includes('agent-web-1'));
    assert.equal((await controller.agents.get('agent-web-1'))?.string(), '{"n":1}');
    await controller.leases.put(leaseKey('agent-web-1', 'f9'), '{"r":1}');
    assert.equal((await controller.leases.get(leaseKey('agent-web-1', 'f9')))?.string(), '{"r":1}');
    await controller.leases.delete(leaseKey('agent-web-1', 'f9'));
    await controller.control.put(HALT_KEY, '{"by":"test"}');
    assert.equal((await controller.control.get(HALT_KEY))?.string(), '{"by":"test"}');
    const watch = await controller.control.watch({ key: HALT_KEY });
    for await (const e of watch) {
      assert.equal(e.operation, 'PUT');
      break;
    }
    await controller.control.delete(HALT_KEY);
    const consumer = await controller.js.consumers.get(EVENTS_STREAM);
    const m = await consumer.next({ expires: GUARD_MS });
    assert.equal(m?.subject, eventsSubject('agent-web-1'));
  });

  test('a controller may not pose as an agent, write records or events, or touch the storage', async () => {
    const u = 'faultline-controller';
    const sub = controller.nc.subscribe(commandSubject('agent-web-1'));
    const closed = await sub.closed;
    assert.ok(closed instanceof Error);
    assert.match(closed.message, /permissions violation for subscription/i);
    await refused(
      nats,
      u,
      'faultline.events.agent-web-1',
      controller.js.publish(eventsSubject('agent-web-1'), '{}'),
    );
    await refused(nats, u, '$KV.faultline_agents.agent-web-1', controller.agents.put('agent-web-1', '{}'));
    await refused(nats, u, '$KV.faultline_agents.agent-web-1', controller.agents.delete('agent-web-1'));
    await refused(nats, u, '$KV.faultline_control.other', controller.control.put('other', '{}'));
    await refused(
      nats,
      u,
      '$JS.API.STREAM.DELETE.KV_faultline_agents',
      controller.jsm.streams.delete('KV_faultline_agents'),
    );
    await refused(
      nats,
      u,
      '$JS.API.STREAM.PURGE.FAULTLINE_EVENTS',
      controller.jsm.streams.purge(EVENTS_STREAM),
    );
  });

  test('the real agent and controller run as these users: inject, revert, halt, with no violation logged', async (t) => {
    let agentModule: typeof import('../../src/fleet/agent.js');
    let controllerModule: typeof import('../../src/fleet/controller.js');
    try {
      agentModule = await import('../../src/fleet/agent.js');
      controllerModule = await import('../../src/fleet/controller.js');
    } catch (err) {
      t.skip(`the fleet agent or controller is not there yet: ${(err as Error).message}`);
      return;
    }
    const logFrom = nats.log().length;
    const work = await mkdtemp(join(tmpdir(), 'faultline-fleet-perm-'));
    const connect = (user: User) => ({ servers: nats.url, user, pass: passwordOf[user] });
    const agents = await Promise.all(
      (['agent-web-1', 'agent-web-2'] as const).map((name) =>
        agentModule.startAgent({
          connect: connect(name),
          name,
          labels: { app: 'web' },
          allow: ['marker.create'],
          home: join(work, `home-${name}`),
          heartbeatMs: 200,
        }),
      ),
    );
    const ctl = await controllerModule.FleetController.open(connect('faultline-controller'), {
      id: 'perm-test',
    });
    try {
      await untilGuard('both agents alive', async () => {
        const alive = (await ctl.agents()).filter((a) => a.health === 'alive').map((a) => a.name);
        return alive.includes('agent-web-1') && alive.includes('agent-web-2');
      });
      const path = join(work, 'flag');
      const [fault] = await ctl.inject(
        'marker.create',
        { path },
        { selector: { matchLabels: { app: 'web' } }, mode: 'fixed', value: 1 },
        { leaseMs: 20_000 },
      );
      assert.equal(fault?.state, 'active', JSON.stringify(fault));
      assert.ok(existsSync(path));
      const reverted = await ctl.revert(fault!.id);
      assert.equal(reverted.state, 'reverted', JSON.stringify(reverted));
      assert.equal(reverted.verified, true);
      assert.equal(existsSync(path), false);

      const halted = await ctl.inject(
        'marker.create',
        { path: join(work, 'halted') },
        { selector: { matchLabels: { app: 'web' } }, mode: 'one' },
        { leaseMs: 20_000 },
      );
      assert.equal(halted[0]?.state, 'active');
      const report = await ctl.haltFleet('permissions test', { timeoutMs: GUARD_MS });
      assert.deepEqual(report.reverted, ['agent-web-1', 'agent-web-2']);
      assert.equal(existsSync(join(work, 'halted')), false);
      assert.equal(await ctl.releaseFleet(), true);
    } finally {
      await ctl.close();
      await Promise.all(agents.map((a) => a.stop()));
      await rm(work, { recursive: true, force: true });
    }
    const violations = nats
      .log()
      .slice(logFrom)
      .split('\n')
      .filter((l) => /violation/i.test(l));
    assert.deepEqual(violations, [], 'the real agent and controller need nothing the configuration refuses');
  });
});

describe('deployment examples', () => {
  test('the DaemonSet parses and runs the agent as the docs say', async () => {
    const docs = parseAllDocuments(await readFile(join(EXAMPLES, 'daemonset.yaml'), 'utf8'));
    for (const d of docs) assert.deepEqual(d.errors, [], 'YAML errors');
    const objects = docs.map((d) => d.toJS()) as Record<string, any>[];
    const ds = objects.find((o) => o.kind === 'DaemonSet');
    assert.ok(ds, 'a DaemonSet');
    assert.equal(ds.apiVersion, 'apps/v1');
    const spec = ds.spec.template.spec;
    assert.equal(spec.hostNetwork, true);
    assert.equal(spec.hostPID, true);
    const agent = spec.containers.find((c: any) => c.name === 'agent');
    assert.ok(agent.securityContext.capabilities.add.includes('NET_ADMIN'));
    const env = Object.fromEntries(agent.env.map((e: any) => [e.name, e]));
    assert.equal(env.NODE_NAME.valueFrom.fieldRef.fieldPath, 'spec.nodeName');
    assert.ok(env.NATS_PASSWORD.valueFrom.secretKeyRef, 'the password comes from a Secret');
    const argv = [...(agent.command ?? []), ...(agent.args ?? [])].join(' ');
    assert.match(argv, /agent/);
    assert.match(argv, /--name/);
    assert.match(argv, /--labels/);
    assert.doesNotMatch(argv, /--nats-password|--nats-token/, 'no secret on the command line');
    assert.equal(ds.spec.selector.matchLabels.app, ds.spec.template.metadata.labels.app);
  });

  test('the systemd unit runs the agent as its own user with its capabilities and no secret on the command line', async () => {
    const unit = await readFile(join(EXAMPLES, 'faultline-agent.service'), 'utf8');
    const line = (key: string) =>
      unit
        .split('\n')
        .filter((l) => l.startsWith(`${key}=`))
        .map((l) => l.slice(key.length + 1));
    assert.deepEqual(line('Restart'), ['always']);
    assert.deepEqual(line('User'), ['faultline']);
    assert.ok(line('EnvironmentFile').length > 0);
    assert.ok(line('Environment').some((v) => v.includes('FAULTLINE_HOME=/var/lib/faultline')));
    assert.match(line('AmbientCapabilities').join(' '), /CAP_NET_ADMIN/);
    const exec = line('ExecStart').join(' ');
    assert.match(exec, /faultline agent/);
    assert.doesNotMatch(exec, /--nats-password|--nats-token/);
  });

  test('the Containerfile builds from node:20-slim, installs the packed tarball and the network tools', async () => {
    const text = await readFile(join(EXAMPLES, 'Containerfile'), 'utf8');
    const instructions = text
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const known =
      /^(FROM|RUN|COPY|ADD|ENV|ARG|USER|WORKDIR|ENTRYPOINT|CMD|LABEL|VOLUME|STOPSIGNAL|HEALTHCHECK)\s/;
    for (const l of instructions) assert.match(l, known);
    assert.match(instructions[0]!, /^FROM node:20-slim/);
    assert.ok(instructions.some((l) => /^RUN .*iproute2.*nftables.*iptables/.test(l)));
    assert.ok(instructions.some((l) => /^RUN .*npm install .*faultline-.*\.tgz/.test(l)));
    assert.ok(instructions.some((l) => /^ENTRYPOINT .*faultline/.test(l)));
  });
});
