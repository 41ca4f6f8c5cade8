/**
 * `faultline serve --nats URL` with the built CLI and a built `faultline
 * agent` on a nats-server of the test's own: an uploaded experiment whose
 * fault action has a `targets:` block runs its fault on the agent; the
 * emergency stop (POST /api/halt) with the fault active halts the fleet (the
 * agent reverts it: its marker is gone, its record shows halted with no
 * fault) and says so; DELETE /api/halt releases the fleet too. Skipped, with
 * the reason printed, only where nats-server is not installed. The NATS flags'
 * usage errors need no nats-server.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Cli, cliSuite, runCli, startCli } from '../helpers/cli.js';
import { type CliFleet, startCliFleet } from '../helpers/cli-fleet.js';
import { natsServerMissing } from '../helpers/nats.js';
import { until } from '../helpers/until.js';

const suite = cliSuite('faultline-serve-fleet-');
const missing = natsServerMissing();
if (missing) console.log(`# skipping the fleet part: ${missing}`);
const STACK = /\bat .+\.js:\d+/;

/** The server under test, whose output a failed call shows. */
let server: Cli | undefined;

async function api(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    // A hang guard, never a timing assertion: a request the server never answers fails with its log.
    signal: AbortSignal.timeout(180_000),
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  }).catch((err: Error) => {
    throw new Error(`${method} ${path}: ${err.message}; the server said:\n${server?.stderr() ?? ''}`);
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as any };
}

describe('serve --nats: flags', () => {
  test('NATS flags without --nats, and an empty or malformed --nats, exit 2 naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--nats-user', 'ops'], /--nats-user: only with --nats/],
      [['--nats-creds', '/tmp/x.creds'], /--nats-creds: only with --nats/],
      [['--nats', ''], /--nats: expected one or more NATS URLs/],
      [['--nats', 'nats://a b'], /--nats: 'nats:\/\/a b' is not a NATS URL/],
    ];
    for (const [flags, expected] of cases) {
      const r = await runCli(['serve', '--port', '0', ...flags], { env: suite.env });
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stderr, STACK);
    }
  });
});

describe('serve --nats: runs on the fleet, the emergency stop halts it', { skip: missing || false }, () => {
  let fleet: CliFleet;
  let url = '';
  before(async () => {
    fleet = await startCliFleet([['serve-web-1', 'role=web']]);
    server = startCli(
      ['serve', '--port', '0', '--database', join(suite.work, 'faultline.db'), ...fleet.natsArgs()],
      { env: suite.env, cwd: suite.work },
    );
    await server.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/, 60_000);
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stderr() + server.stdout())?.[1] ?? '';
    await server.waitFor(/fleet: connected to NATS/, 60_000);
  });
  after(async () => {
    try {
      if (server && server.child.exitCode === null && server.child.signalCode === null) {
        // Lift whatever halt the test left, then stop the server as Ctrl-C does.
        if (url) await api(url, 'DELETE', '/api/halt').catch(() => undefined);
        server.child.kill('SIGTERM');
        const stopped = await Promise.race([server.done, sleep(120_000).then(() => undefined)]);
        if (!stopped) {
          server.child.kill('SIGKILL');
          await server.done;
          assert.fail(`serve did not stop within 120 s of SIGTERM:\n${server.stderr()}`);
        }
        assert.equal(stopped.code, 0, stopped.stderr);
      }
    } finally {
      await fleet?.close();
    }
  });

  const agentRecord = async () => {
    const r = await runCli(['fleet', '--json', ...fleet.natsArgs()], { env: fleet.env() });
    assert.equal(r.code, 0, r.stderr);
    const agents = JSON.parse(r.stdout) as { name: string; health: string; faults: string[] }[];
    return agents.find((a) => a.name === 'serve-web-1');
  };

  test('a targets: fault runs on the agent; POST /api/halt reverts it there and halts the fleet', async () => {
    const host = fleet.host('serve-web-1');
    const marker = join(host.dir, 'serve-fleet.marker');
    const source = [
      'title: a marker on the web agents, from the server',
      'description: the fault runs on the agents the selector picks',
      'method:',
      '  - type: action',
      '    name: mark-web',
      '    provider:',
      '      type: faultline',
      '      module: faultline.marker',
      '      func: create',
      `      arguments: { path: ${JSON.stringify(marker)} }`,
      '    targets: { selector: { matchLabels: { role: web } }, mode: all }',
      '    pauses: { after: 600 }',
      '',
    ].join('\n');
    const up = await api(url, 'POST', '/api/experiments', { name: 'fleet-mark', format: 'yaml', source });
    assert.equal(up.status, 201, up.text);
    const queued = await api(url, 'POST', '/api/runs', { experiment: 'fleet-mark' });
    assert.equal(queued.status, 202, queued.text);
    await until(
      'the marker on the agent’s host',
      () => fleet.marked('serve-fleet.marker').length === 1,
      90_000,
    );
    await until(
      'the agent to list the fault',
      async () => ((await agentRecord())?.faults.length ?? 0) > 0,
      60_000,
    );

    const halted = await api(url, 'POST', '/api/halt', { reason: 'the fleet must stop now' });
    assert.equal(halted.status, 200, halted.text);
    assert.deepEqual(halted.body.runsInterrupted, [queued.body.id]);
    assert.deepEqual(halted.body.fleet, { verified: ['serve-web-1'], unconfirmed: [] }, halted.text);
    assert.deepEqual(fleet.marked('serve-fleet.marker'), [], 'the agent reverted its fault');
    const record = await agentRecord();
    assert.equal(record?.health, 'halted');
    assert.deepEqual(record?.faults, []);
    const run = await until(
      'the run to end',
      async () => {
        const r = await api(url, 'GET', `/api/runs/${queued.body.id}`);
        return r.body.status === 'interrupted' || r.body.status === 'finished' ? r.body : undefined;
      },
      90_000,
    );
    assert.equal(run.status, 'interrupted');
    assert.match(run.reason, /emergency stop by local: the fleet must stop now/);
    const refused = await api(url, 'POST', '/api/runs', { experiment: 'fleet-mark' });
    assert.equal(refused.status, 409, refused.text);

    const released = await api(url, 'DELETE', '/api/halt');
    assert.equal(released.status, 200, released.text);
    await until(
      'the agent to accept faults again',
      async () => (await agentRecord())?.health === 'alive',
      60_000,
    );
    const audit = await api(url, 'GET', '/api/audit?limit=20');
    const entry = audit.body.find((e: { action: string }) => e.action === 'halt');
    assert.deepEqual(entry?.detail.fleet, { verified: 1, unconfirmed: [] });
    assert.equal(audit.body.find((e: { action: string }) => e.action === 'halt.release')?.detail.fleet, true);
  });

  test('a fleet halted by `faultline halt --fleet` stays halted when the API releases its own', async () => {
    const cliHalt = await runCli(['halt', '--fleet', '--reason', 'on-call stop', ...fleet.natsArgs()], {
      env: fleet.env(),
    });
    assert.equal(cliHalt.code, 0, cliHalt.stderr);
    const raised = await api(url, 'POST', '/api/halt', { reason: 'the dashboard too' });
    assert.equal(raised.status, 200, raised.text);
    assert.deepEqual(raised.body.fleet, { verified: ['serve-web-1'], unconfirmed: [] }, raised.text);
    const released = await api(url, 'DELETE', '/api/halt');
    assert.equal(released.status, 200, released.text);
    const entry = (await api(url, 'GET', '/api/audit?limit=5')).body.find(
      (e: { action: string }) => e.action === 'halt.release',
    );
    assert.match(entry?.detail.fleetLeft ?? '', /raised by faultline-\S+ since .* stays/);
    assert.equal((await agentRecord())?.health, 'halted', "the on-call's fleet halt stays");
    const cliRelease = await runCli(['halt', '--fleet', '--release', ...fleet.natsArgs()], {
      env: fleet.env(),
    });
    assert.equal(cliRelease.code, 0, cliRelease.stderr);
    await until(
      'the agent to accept faults again',
      async () => (await agentRecord())?.health === 'alive',
      60_000,
    );
  });
});
