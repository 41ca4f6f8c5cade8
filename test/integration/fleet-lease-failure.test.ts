/**
 * The controller sends a fault's command together with its lease put rather
 * than after the put's acknowledgement. When the put fails and the agent
 * applied the fault anyway, the controller must take the fault back at once
 * (not leave it to lapse) and say why. A real nats-server refuses the put:
 * its controller user may not publish to the leases bucket.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Agent, startAgent } from '../../src/fleet/agent.js';
import { FleetController } from '../../src/fleet/controller.js';
import { parseSelector } from '../../src/fleet/select.js';
import { accepting, freePort, natsServerMissing } from '../helpers/nats.js';
import { until } from '../helpers/until.js';

const missing = natsServerMissing();
if (missing) console.log(`# fleet lease failure: skipped: ${missing}`);

let dir: string;
let server: ChildProcess | undefined;
let url: string;
let agent: Agent | undefined;
let ctl: FleetController | undefined;

before(async () => {
  if (missing) return;
  dir = await mkdtemp(join(tmpdir(), 'faultline-lease-fail-'));
  const port = await freePort();
  // `admin` creates the buckets; `ctl` may do all a controller does except put a lease.
  await writeFile(
    join(dir, 'nats.conf'),
    `port: ${port}
host: 127.0.0.1
jetstream { store_dir: "${join(dir, 'store')}" }
authorization {
  users: [
    { user: admin, password: admin }
    { user: ctl, password: ctl, permissions: { publish: { allow: [">"], deny: ["$KV.faultline_leases.>"] } } }
  ]
}
`,
  );
  let log = '';
  server = spawn('nats-server', ['-c', join(dir, 'nats.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  server.stderr!.on('data', (d: Buffer) => {
    if (log.length < 100_000) log += d.toString();
  });
  await until('nats-server to listen', async () => {
    if (server!.exitCode !== null) throw new Error(`nats-server exited: ${log}`);
    return accepting(port);
  });
  url = `nats://127.0.0.1:${port}`;
  agent = await startAgent({
    connect: { servers: url, user: 'admin', pass: 'admin' },
    name: 'lone',
    labels: { role: 'lone' },
    home: join(dir, 'home'),
    allow: ['marker.create'],
    watchdog: false,
  });
  ctl = await FleetController.open(
    { servers: url, user: 'ctl', pass: 'ctl' },
    { id: 'no-lease-controller', commandTimeoutMs: 20_000 },
  );
});

after(async () => {
  await ctl?.close().catch(() => undefined);
  await agent?.stop();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a fault whose lease cannot be put is reverted at once, verified, with the reason', {
  skip: missing || false,
}, async () => {
  const marker = join(dir, 'marker');
  const [f] = await ctl!.inject(
    'marker.create',
    { path: marker },
    { selector: parseSelector('role=lone'), mode: 'all' },
    { leaseMs: 60_000 },
  );
  assert.ok(f);
  assert.equal(f.state, 'reverted', JSON.stringify(f));
  assert.equal(f.verified, true, JSON.stringify(f));
  assert.match(f.error ?? '', /lease could not be put .*reverted at once/);
  assert.equal(existsSync(marker), false);
  assert.deepEqual(ctl!.faults(), []);
  // The agent holds nothing, though the 60 s lease would have kept it far longer.
  assert.deepEqual(agent!.record().faults, []);
  await until('the agent record shows nothing held', async () =>
    (await ctl!.agents()).every((a) => a.faults.length === 0),
  );
});
