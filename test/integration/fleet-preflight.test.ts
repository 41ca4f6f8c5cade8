/**
 * Issue #19: a `targets:` selection that matches nothing refuses the run before
 * it starts (exit 2, naming `method[i].targets` and what the fleet has), as
 * local fault actions' targets are checked before the run, rather than
 * failing at its injection after the hypothesis and earlier actions ran. A real
 * nats-server of the test's own and two real agents in this process, one
 * hosting a workload whose process is a real `sleep`: each refused run leaves
 * no file its hypothesis or first action would have made, sends no command to
 * any agent, and leaves no fault in any ledger. A selection that matches runs,
 * and a fleet that cannot be asked is left to the injection (a dry run passes).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import type { Experiment } from '../../src/core/schema.js';
import { WorkloadSchema } from '../../src/core/workload.js';
import { type Agent, startAgent } from '../../src/fleet/agent.js';
import { FleetController } from '../../src/fleet/controller.js';
import type { AgentCommand } from '../../src/fleet/protocol.js';
import { runFromSource } from '../../src/lib/run-source.js';
import { tempHome } from '../helpers/home.js';
import { freePort, natsServerMissing, startNats, type TestNats } from '../helpers/nats.js';

const missing = natsServerMissing();

type Home = Awaited<ReturnType<typeof tempHome>>;

describe('fleet targets are planned before the run (preflight)', { skip: missing }, () => {
  let nats: TestNats;
  let work: string;
  let home: Home;
  let sleeper: ChildProcess;
  const agents: Agent[] = [];
  const agentHomes: Home[] = [];
  const commands: AgentCommand[] = [];

  before(async () => {
    nats = await startNats();
    work = await mkdtemp(join(tmpdir(), 'faultline-fleet-preflight-'));
    home = await tempHome();
    sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
    const pidfile = join(work, 'web.pid');
    await writeFile(pidfile, String(sleeper.pid));
    const web = WorkloadSchema.parse({
      name: 'web',
      namespace: 'shop',
      labels: { app: 'web' },
      processes: { pidfile },
    });
    for (const [name, role, workloads] of [
      ['host-1', 'web', [web]],
      ['host-2', 'db', []],
    ] as const) {
      const h = await tempHome();
      agentHomes.push(h);
      agents.push(
        await startAgent({
          connect: { servers: nats.url },
          name,
          labels: { role },
          home: h.home,
          heartbeatMs: 1_000,
          watchdog: false,
          workloads,
          onCommand: (c) => commands.push(c),
        }),
      );
    }
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await nats?.close();
    sleeper?.kill('SIGCONT');
    sleeper?.kill('SIGKILL');
    assert.deepEqual(await home.activeFaults(), [], 'no local fault left behind');
    for (const h of agentHomes) assert.deepEqual(await h.activeFaults(), [], 'no fault left on an agent');
    await home.cleanup();
    for (const h of agentHomes) await h.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(() => {
    commands.length = 0;
  });

  const env = () => ({ ...process.env, FAULTLINE_HOME: home.home });

  /**
   * A hypothesis that leaves a file, a local marker fault, then the fleet action: a run
   * refused before it starts makes neither file.
   */
  const experiment = (
    name: string,
    fleetAction: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ): { exp: Experiment; files: string[] } => {
    const hypothesis = join(work, `${name}.hypothesis`);
    const marker = join(work, `${name}.marker`);
    const exp = {
      title: name,
      description: 'a fleet action after the hypothesis and a local fault',
      'steady-state-hypothesis': {
        title: 'the hypothesis leaves a file',
        probes: [
          {
            type: 'probe',
            name: 'touch',
            provider: { type: 'process', path: 'touch', arguments: [hypothesis] },
            tolerance: 0,
          },
        ],
      },
      method: [
        {
          type: 'action',
          name: 'local-marker',
          provider: {
            type: 'faultline',
            module: 'faultline.marker',
            func: 'create',
            arguments: { path: marker },
          },
        },
        { type: 'action', name: 'on-the-fleet', ...fleetAction },
      ],
      ...extra,
    } as unknown as Experiment;
    return { exp, files: [hypothesis, marker] };
  };

  const pause = (targets: Record<string, unknown>) => ({
    provider: {
      type: 'faultline',
      module: 'faultline.process',
      func: 'pause',
      arguments: { duration: 30 },
    },
    targets: { selector: {}, ...targets },
  });

  /** Runs it expecting a refusal before the run: the error, and nothing done anywhere. */
  async function refused(
    exp: Experiment,
    files: string[],
    options: Parameters<typeof runFromSource>[1] = {},
  ): Promise<FaultlineError> {
    let caught: unknown;
    await runFromSource(exp, { env: env(), fleet: { servers: nats.url }, ...options }).then(
      (r) => assert.fail(`the run was not refused: exit ${r.exitCode}`),
      (err: unknown) => {
        caught = err;
      },
    );
    assert.ok(caught instanceof FaultlineError, String(caught));
    for (const f of files) assert.ok(!existsSync(f), `${f}: nothing ran`);
    assert.deepEqual(commands, [], 'no command reached an agent');
    return caught as FaultlineError;
  }

  test('workloads: a selector that matches no workload refuses the run (exit 2) naming method[1].targets and what the fleet hosts', async () => {
    const { exp, files } = experiment(
      'no-workload',
      pause({ namespaces: ['nowhere'], selector: { matchLabels: { app: 'ghost' } }, mode: 'one' }),
    );
    const err = await refused(exp, files);
    assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
    assert.equal(err.exitCode, 2);
    assert.match(
      err.message,
      /^action 'on-the-fleet', the run was refused before anything was injected: method\[1\]\.targets: no workload matches namespaces \[nowhere\], labels 'app=ghost'/,
    );
    assert.match(err.message, /shop: web\{app=web\}/, 'what the fleet hosts');
    assert.deepEqual(
      err.issues.map((i) => i.path),
      ['method[1].targets'],
    );
  });

  test('agents: a selector that matches no alive agent refuses the run, listing the alive agents and their labels', async () => {
    const { exp, files } = experiment('no-agent', {
      provider: {
        type: 'faultline',
        module: 'faultline.marker',
        func: 'create',
        arguments: { path: join(work, 'ghost.marker') },
      },
      targets: { selector: { matchLabels: { role: 'ghost' } }, mode: 'all' },
    });
    const err = await refused(exp, files);
    assert.equal(err.exitCode, 2);
    assert.match(
      err.message,
      /method\[1\]\.targets: no alive agent matches 'role=ghost' \(the alive agents: host-1\{role=web\} host-2\{role=db\}/,
    );
  });

  test('rollbacks and peers are planned too: rollbacks[0].targets, method[1].targets.peers', async () => {
    const withRollback = experiment('rollback', pause({ names: ['shop/web'], mode: 'all' }), {
      rollbacks: [
        {
          type: 'action',
          name: 'undo-on-the-fleet',
          ...pause({ namespaces: ['nowhere'], mode: 'all' }),
        },
      ],
    });
    const rb = await refused(withRollback.exp, withRollback.files);
    assert.equal(rb.exitCode, 2);
    assert.match(rb.message, /action 'undo-on-the-fleet', .*: rollbacks\[0\]\.targets: no workload matches/);

    const peers = experiment('peers', {
      provider: {
        type: 'faultline',
        module: 'faultline.network',
        func: 'partition',
        arguments: { duration: 5 },
      },
      targets: { selector: {}, names: ['shop/web'], mode: 'all', peers: { namespaces: ['elsewhere'] } },
    });
    const p = await refused(peers.exp, peers.files);
    assert.equal(p.exitCode, 2);
    assert.match(p.message, /method\[1\]\.targets\.peers: no workload matches namespaces \[elsewhere\]/);
  });

  test('a blast radius the workloads break refuses the run with its own code (policy, exit 2), naming the action', async () => {
    const { exp, files } = experiment('blocked', pause({ names: ['shop/web'], mode: 'all' }), {
      blast_radius: { blocked_namespaces: ['shop'] },
    });
    const err = await refused(exp, files);
    assert.equal(err.code, 'FAULTLINE_ERR_POLICY');
    assert.equal(err.exitCode, 2);
    assert.match(err.message, /^action 'on-the-fleet' \(method\[1\]\.targets\): blast radius: block/);
    assert.match(err.message, /the run was refused before anything was injected$/);
  });

  test('a dry run is refused the same way (the local preflight runs in every --dry mode too)', async () => {
    const { exp, files } = experiment('dry', pause({ namespaces: ['nowhere'], mode: 'all' }));
    const err = await refused(exp, files, { dry: 'actions' });
    assert.equal(err.exitCode, 2);
    assert.match(err.message, /method\[1\]\.targets: no workload matches namespaces \[nowhere\]/);
  });

  test('a selection that matches runs: the workload is paused during the method and resumed after', async () => {
    const { exp, files } = experiment('matches', pause({ names: ['shop/web'], mode: 'all' }));
    const state = join(work, 'state.txt');
    (exp.method as unknown[]).push({
      type: 'probe',
      name: 'paused',
      provider: { type: 'process', path: 'cp', arguments: [`/proc/${sleeper.pid}/status`, state] },
    });
    const logs: string[] = [];
    const { journal, exitCode } = await runFromSource(exp, {
      env: env(),
      fleet: { servers: nats.url },
      onEvent: (e) => {
        if (e.type === 'log') logs.push(e.message);
      },
    });
    assert.equal(
      exitCode,
      0,
      JSON.stringify(journal.run.map((r) => [r.activity.name, r.status, r.exception])),
    );
    assert.ok(existsSync(files[0]!), 'the hypothesis ran');
    assert.deepEqual(
      journal.run.map((r) => [r.activity.name, r.status]),
      [
        ['local-marker', 'succeeded'],
        ['on-the-fleet', 'succeeded'],
        ['paused', 'succeeded'],
      ],
    );
    assert.match(await readFile(state, 'utf8'), /^State:\s+T/m, 'the workload was paused during the method');
    assert.doesNotMatch(await readFile(`/proc/${sleeper.pid}/status`, 'utf8'), /^State:\s+T/m, 'resumed');
    assert.ok(
      logs.some((l) => /preflight: 'on-the-fleet' picks 1 of 1 matching: shop\/web/.test(l)),
      logs.join('\n'),
    );
    const fleet = journal.faultline.fleet as { workload?: string; state: string; verified?: boolean }[];
    assert.deepEqual(
      fleet.map((f) => [f.workload, f.state, f.verified]),
      [['shop/web', 'reverted', true]],
    );
  });

  test('a mode that may pick nothing is not a selector that matches nothing: not refused (a dry run passes)', async () => {
    const { exp } = experiment(
      'rounds-down',
      pause({ names: ['shop/web'], mode: 'random-max-percent', value: 30 }),
    );
    const { exitCode } = await runFromSource(exp, {
      env: env(),
      fleet: { servers: nats.url },
      dry: 'actions',
    });
    assert.equal(exitCode, 0);
    assert.deepEqual(commands, []);
  });

  test('a fleet that cannot be reached is left to the injection: a dry run goes on, with a warning', async () => {
    const closed = await freePort();
    const { exp } = experiment('unreachable', pause({ names: ['shop/web'], mode: 'all' }));
    const warnings: string[] = [];
    const { exitCode } = await runFromSource(exp, {
      env: env(),
      fleet: { servers: `nats://127.0.0.1:${closed}`, timeoutMs: 2_000, reconnect: false },
      dry: 'actions',
      onEvent: (e) => {
        if (e.type === 'log' && e.level === 'warn') warnings.push(e.message);
      },
    });
    assert.equal(exitCode, 0, warnings.join('\n'));
    assert.ok(
      warnings.some((w) =>
        /preflight: the fleet could not be asked about 'on-the-fleet' \(cannot connect to NATS/.test(w),
      ),
      warnings.join('\n'),
    );
  });
  test('a fleet halt in force refuses the run before it starts, as a local halt does', async () => {
    const c = await FleetController.open({ servers: nats.url });
    try {
      await c.haltFleet('preflight test', { timeoutMs: 10_000 });
      const { exp, files } = experiment('halted', pause({ names: ['shop/web'], mode: 'all' }));
      const err = await refused(exp, files);
      assert.equal(err.code, 'FAULTLINE_ERR_HALTED');
      assert.match(
        err.message,
        /^action 'on-the-fleet' \(method\[1\]\.targets\): the fleet is halted .*preflight test/,
      );
    } finally {
      await c.releaseFleet();
      await c.close();
    }
  });
});
