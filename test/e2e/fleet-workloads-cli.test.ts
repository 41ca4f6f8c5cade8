/**
 * Workloads through the built CLI, on the host's own namespace (no root needed): one
 * `faultline agent --workloads FILE` hosting two workloads that are real processes found by their
 * pidfiles; `faultline fleet` lists them; `faultline inject --on ... --namespaces` picks workloads
 * (dry run first), and a kill reaches the chosen workload's process only; bad workload flags exit 2
 * naming the flag.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cli, runCli, startCli } from '../helpers/cli.js';
import { natsServerMissing, startNats, type TestNats } from '../helpers/nats.js';
import { until } from '../helpers/until.js';

const missing = natsServerMissing();
const STACK = /\n\s+at .+:\d+:\d+/;

describe('workloads through the CLI: agent --workloads, fleet, inject --namespaces', {
  skip: missing || false,
}, () => {
  let nats: TestNats;
  let dir: string;
  let agent: Cli;
  const procs: Record<string, ChildProcess> = {};
  const env = () => ({ FAULTLINE_HOME: join(dir, 'controller-home') });
  const natsArgs = () => ['--nats', nats.url];
  const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

  before(async () => {
    nats = await startNats();
    dir = await mkdtemp(join(tmpdir(), 'faultline-workloads-cli-'));
    const workloads: string[] = [];
    for (const name of ['api', 'db']) {
      const child = spawn('sleep', ['600'], { stdio: 'ignore' });
      procs[name] = child;
      await writeFile(join(dir, `${name}.pid`), `${child.pid}\n`);
      workloads.push(
        `  - name: ${name}\n    namespace: demo\n    labels: {app: ${name}}\n    processes: {pidfile: ${join(dir, `${name}.pid`)}}`,
      );
    }
    await writeFile(join(dir, 'workloads.yaml'), `workloads:\n${workloads.join('\n')}\n`);
    agent = startCli(
      [
        'agent',
        ...natsArgs(),
        '--name',
        'wl-host',
        '--workloads',
        join(dir, 'workloads.yaml'),
        '--heartbeat',
        '1s',
      ],
      { cwd: dir, env: { FAULTLINE_HOME: join(dir, 'agent-home') } },
    );
    await agent.waitFor(/registered/, 60_000);
  });

  after(async () => {
    for (const c of Object.values(procs)) if (alive(c)) c.kill('SIGKILL');
    if (agent && alive(agent.child)) agent.child.kill('SIGTERM');
    const r = await agent?.done;
    await nats?.close();
    await rm(dir, { recursive: true, force: true });
    if (r) assert.equal(r.code, 0, r.stderr);
  });

  test('faultline fleet lists the workloads the agent hosts', async () => {
    const r = await runCli(['fleet', ...natsArgs()], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /WORKLOADS/);
    assert.match(r.stdout, /demo\/api\{app=api\}/);
    assert.match(r.stdout, /demo\/db\{app=db\}/);
  });

  test('inject --dry-run with --namespaces lists the workload that would be hit, and kills nothing', async () => {
    const r = await runCli(
      [
        'inject',
        'process.kill',
        '--on',
        'app=api',
        '--namespaces',
        'demo',
        '--mode',
        'all',
        '--dry-run',
        ...natsArgs(),
      ],
      { env: env() },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 matching workload/);
    assert.match(r.stdout, /\* demo\/api on wl-host/);
    assert.doesNotMatch(r.stdout, /demo\/db/);
    assert.ok(alive(procs.api!) && alive(procs.db!));
  });

  test('inject process.kill on the api workload kills its process and only it', async () => {
    const r = await runCli(
      [
        'inject',
        'process.kill',
        'signal=SIGKILL',
        '--on',
        'app=api',
        '--namespaces',
        'demo',
        '--mode',
        'all',
        ...natsArgs(),
      ],
      { env: env() },
    );
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    await until('the api process exits', () => !alive(procs.api!), 60_000);
    assert.equal(procs.api!.signalCode, 'SIGKILL');
    assert.ok(alive(procs.db!), 'the db workload is untouched');
  });

  test('a selector matching no workload, and a bad namespace, exit with a message naming what was asked', async () => {
    const none = await runCli(
      [
        'inject',
        'process.kill',
        '--on',
        'app=nothing',
        '--namespaces',
        'demo',
        '--mode',
        'all',
        ...natsArgs(),
      ],
      { env: env() },
    );
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no workload matches/);
    assert.match(none.stderr, /demo/);
    assert.doesNotMatch(none.stderr, STACK);
    const bad = await runCli(
      [
        'inject',
        'process.kill',
        '--on',
        'app=api',
        '--namespaces',
        'Not_A_Namespace',
        '--mode',
        'all',
        ...natsArgs(),
      ],
      { env: env() },
    );
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--namespaces/);
    assert.doesNotMatch(bad.stderr, STACK);
    const stray = await runCli(['inject', 'process.kill', '--namespaces', 'demo', ...natsArgs()], {
      env: env(),
    });
    assert.equal(stray.code, 2, stray.stderr);
    assert.match(stray.stderr, /--namespaces: only with --on/);
  });
});
