/**
 * An experiment whose fault action has a `targets:` block runs that fault on
 * the fleet's agents (a real nats-server of the test's own, real agents in
 * this process): the agents the selector picks hold it under the run's lease
 * while the method runs, the run's revert phase takes it off, and the journal
 * records each agent's outcome. A `targets:` block on anything but a fault
 * action, or with no fleet to send it to, is refused before the run.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Experiment } from '../../src/core/schema.js';
import { type Agent, startAgent } from '../../src/fleet/agent.js';
import { runFromSource } from '../../src/lib/run-source.js';
import { tempHome } from '../helpers/home.js';
import { natsServerMissing, startNats, type TestNats } from '../helpers/nats.js';

const missing = natsServerMissing();

describe('experiments on the fleet (targets:)', { skip: missing }, () => {
  let nats: TestNats;
  let work: string;
  let home: Awaited<ReturnType<typeof tempHome>>;
  const agents: Agent[] = [];
  const homes: string[] = [];

  before(async () => {
    nats = await startNats();
    work = await mkdtemp(join(tmpdir(), 'faultline-fleet-run-'));
    home = await tempHome();
    for (const [name, role] of [
      ['web-1', 'web'],
      ['db-1', 'db'],
    ] as const) {
      const agentHome = await mkdtemp(join(tmpdir(), `faultline-agent-${name}-`));
      homes.push(agentHome);
      agents.push(
        await startAgent({
          connect: { servers: nats.url },
          name,
          labels: { role },
          home: agentHome,
          heartbeatMs: 1_000,
          watchdog: false,
        }),
      );
    }
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await nats.close();
    assert.deepEqual(await home.activeFaults(), [], 'no local fault left behind');
    await home.cleanup();
    for (const h of [...homes, work]) await rm(h, { recursive: true, force: true });
  });

  const experiment = (marker: string, extra: Record<string, unknown> = {}) =>
    ({
      title: 'a marker on the web agents',
      description: 'the fault runs on the agents the selector picks',
      method: [
        {
          type: 'action',
          name: 'mark-web',
          provider: {
            type: 'faultline',
            module: 'faultline.marker',
            func: 'create',
            arguments: { path: marker },
          },
          targets: { selector: { matchLabels: { role: 'web' } }, mode: 'all' },
          ...extra,
        },
        {
          type: 'probe',
          name: 'marker-there',
          provider: { type: 'process', path: 'test', arguments: ['-f', marker] },
        },
      ],
    }) as unknown as Experiment;

  test('the picked agents hold the fault during the method; the revert phase takes it off; the journal has each outcome', async () => {
    const marker = join(work, 'web.marker');
    const { journal, exitCode } = await runFromSource(experiment(marker), {
      env: { ...process.env, FAULTLINE_HOME: home.home },
      fleet: { servers: nats.url },
    });
    assert.equal(
      exitCode,
      0,
      JSON.stringify(journal.run.map((r) => [r.activity.name, r.status, r.exception])),
    );
    const [mark, probe] = journal.run;
    assert.equal(mark?.status, 'succeeded');
    const placed = (mark!.output as { agents: { agent: string; state: string }[] }).agents;
    assert.deepEqual(
      placed.map((a) => [a.agent, a.state]),
      [['web-1', 'active']],
      'only the web agent was picked',
    );
    assert.equal((probe!.output as { status: number }).status, 0, 'the marker existed while the method ran');
    assert.ok(!existsSync(marker), 'the revert phase took it off');
    const fleet = journal.faultline.fleet as { agent: string; state: string; verified?: boolean }[];
    assert.equal(fleet.length, 1);
    assert.equal(fleet[0]?.agent, 'web-1');
    assert.equal(fleet[0]?.state, 'reverted');
    assert.equal(fleet[0]?.verified, true);
  });

  test('the blast radius is checked against the agents before anything is sent', async () => {
    const marker = join(work, 'blocked.marker');
    const exp = experiment(marker) as unknown as Record<string, unknown>;
    exp.blast_radius = { block: [{ labels: { role: 'web' } }] };
    // Refused by the run's preflight, before the hypothesis, as a local fault action beyond it is.
    await assert.rejects(
      runFromSource(exp as unknown as Experiment, {
        env: { ...process.env, FAULTLINE_HOME: home.home },
        fleet: { servers: nats.url },
      }),
      (err: Error & { code?: string }) =>
        err.code === 'FAULTLINE_ERR_POLICY' &&
        /^action 'mark-web' \(method\[0\]\.targets\): blast radius: block/.test(err.message),
    );
    assert.ok(!existsSync(marker), 'nothing was injected');
  });

  test('targets on an activity that is not a fault action, or with no fleet, are refused before the run', async () => {
    const notAFault = {
      title: 't',
      description: 'd',
      method: [
        {
          type: 'probe',
          name: 'shell',
          provider: { type: 'process', path: 'true' },
          targets: { selector: { matchLabels: { role: 'web' } }, mode: 'all' },
        },
      ],
    } as unknown as Experiment;
    await assert.rejects(
      runFromSource(notAFault, {
        env: { ...process.env, FAULTLINE_HOME: home.home },
        fleet: { servers: nats.url },
      }),
      (err: Error & { code?: string }) =>
        err.code === 'FAULTLINE_ERR_VALIDATION' &&
        /method\[0\]\.targets: 'shell' is not a fault action/.test(err.message),
    );
  });

  test('a targets block with a bad mode is a validation error naming the field', async () => {
    const bad = experiment(join(work, 'x.marker'), {
      targets: { selector: { matchLabels: { role: 'web' } }, mode: 'most' },
    });
    await assert.rejects(
      runFromSource(bad, {
        env: { ...process.env, FAULTLINE_HOME: home.home },
        fleet: { servers: nats.url },
      }),
      (err: Error & { code?: string; issues?: { path: string }[] }) =>
        err.code === 'FAULTLINE_ERR_VALIDATION' &&
        (err.issues ?? []).some((i) => i.path === 'method[0].targets.mode'),
    );
  });
});
