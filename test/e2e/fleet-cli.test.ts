/**
 * End to end through the built CLI: two `faultline agent` processes (each
 * with its own home and working directory: its "host") on a test nats-server,
 * `faultline fleet`, `faultline inject --on` (dry run, held for a duration,
 * and killed with SIGKILL: the agents revert by lease), `faultline halt --fleet`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLI_HANG_MS, runCli, startCli } from '../helpers/cli.js';
import { type CliFleet, type CliHost, startCliFleet } from '../helpers/cli-fleet.js';
import { natsServerMissing } from '../helpers/nats.js';
import { until } from '../helpers/until.js';

const missing = natsServerMissing();
const STACK = /\n\s+at .+:\d+:\d+/;

describe('faultline fleet, inject --on, halt --fleet (built CLI)', { skip: missing || false }, () => {
  let fleet: CliFleet;
  let hosts: CliHost[] = [];
  const env = () => fleet.env();
  const nats_ = () => fleet.natsArgs();
  const markers = () => fleet.marked();

  before(async () => {
    fleet = await startCliFleet([
      ['e2e-web-1', 'role=web,zone=a'],
      ['e2e-web-2', 'role=web,zone=b'],
    ]);
    hosts = fleet.hosts;
  });

  after(async () => {
    await fleet?.close();
  });

  test('faultline fleet lists both agents (--json and the table)', async () => {
    const json = await runCli(['fleet', '--json', ...nats_()], { env: env() });
    assert.equal(json.code, 0, json.stderr);
    const agents = JSON.parse(json.stdout) as {
      name: string;
      labels: object;
      health: string;
      faults: string[];
    }[];
    assert.deepEqual(
      agents.map((a) => [a.name, a.labels, a.health, a.faults]),
      [
        ['e2e-web-1', { role: 'web', zone: 'a' }, 'alive', []],
        ['e2e-web-2', { role: 'web', zone: 'b' }, 'alive', []],
      ],
    );
    const table = await runCli(['fleet', ...nats_()], { env: env() });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /NAME\s+LABELS\s+HEALTH\s+HEARTBEAT\s+VERSION\s+FAULTS/);
    assert.match(table.stdout, /e2e-web-1\s+role=web,zone=a\s+alive\s+\S+ ago\s+\S+\s+0/);
  });

  test('bad --on, --mode, --value exit 2 naming the flag, without a stack', async () => {
    const cases: [string[], RegExp][] = [
      [['--on', 'role=web,', '--mode', 'all'], /--on: selector "role=web,": an empty requirement/],
      [['--on', 'role=web', '--mode', 'most'], /--mode: expected one of one, all, fixed/],
      [
        ['--on', 'role=web', '--mode', 'fixed-percent', '--value', '150'],
        /--value: expected a whole percentage/,
      ],
      [['--on', 'role=web'], /--mode: required with --on/],
      [['--mode', 'all'], /--mode: only with --on/],
    ];
    for (const [flags, re] of cases) {
      const r = await runCli(
        ['inject', 'marker.create', 'path=fleet-marker', ...flags, '--duration', '5s', ...nats_()],
        {
          env: env(),
        },
      );
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, STACK);
    }
    assert.deepEqual(markers(), []);
  });

  test('--dry-run lists the agents that would be hit and injects nothing', async () => {
    const r = await runCli(
      [
        'inject',
        'marker.create',
        'path=fleet-marker',
        '--on',
        'zone in (b)',
        '--mode',
        'all',
        '--dry-run',
        ...nats_(),
      ],
      { env: env() },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 matching alive agent/);
    assert.match(r.stdout, /\* e2e-web-2/);
    assert.doesNotMatch(r.stdout, /e2e-web-1/);
    assert.deepEqual(markers(), []);
  });

  test('inject --on role=web --mode all: a marker on each agent for the duration, then reverted and verified', async () => {
    const inject = startCli(
      [
        'inject',
        'marker.create',
        'path=fleet-marker',
        '--on',
        'role=web',
        '--mode',
        'all',
        '--duration',
        '3s',
        ...nats_(),
      ],
      { env: env() },
    );
    await inject.waitFor(/e2e-web-2: injected/, 60_000);
    assert.deepEqual(markers().sort(), ['e2e-web-1', 'e2e-web-2']);
    const r = await inject.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /e2e-web-1: reverted and verified/);
    assert.match(r.stderr, /2 of 2 agent\(s\) injected, 2 reverted and verified/);
    assert.deepEqual(markers(), []);
  });

  test('kill -9 of faultline inject: every agent reverts by lease', async () => {
    const inject = startCli(
      [
        'inject',
        'marker.create',
        'path=fleet-marker',
        '--on',
        'role=web',
        '--mode',
        'all',
        '--lease',
        '1500ms',
        '--duration',
        '10m',
        ...nats_(),
      ],
      { env: env() },
    );
    await inject.waitFor(/e2e-web-1: injected/, 60_000);
    await inject.waitFor(/e2e-web-2: injected/, 60_000);
    assert.deepEqual(markers().sort(), ['e2e-web-1', 'e2e-web-2']);
    inject.child.kill('SIGKILL');
    const r = await inject.done;
    assert.equal(r.signal, 'SIGKILL');
    await until('both agents reverted by lease', () => markers().length === 0);
    for (const h of hosts) await h.agent.waitFor(/lease lapsed/);
  });

  test('halt --fleet: the holder ends, every agent reverts and refuses; --release accepts again', async () => {
    const inject = startCli(
      [
        'inject',
        'marker.create',
        'path=fleet-marker',
        '--on',
        'role=web',
        '--mode',
        'all',
        '--until-halt',
        ...nats_(),
      ],
      { env: env(), hangMs: CLI_HANG_MS },
    );
    await inject.waitFor(/e2e-web-1: injected/, 60_000);
    await inject.waitFor(/e2e-web-2: injected/, 60_000);

    const halt = await runCli(['halt', '--fleet', '--reason', 'e2e', ...nats_()], { env: env() });
    assert.equal(halt.code, 0, halt.stderr);
    assert.match(halt.stderr, /fleet HALT: 2 agent\(s\) reverted everything/);
    assert.deepEqual(markers(), []);
    const held = await inject.done;
    assert.match(held.stderr, /fleet halt by .*: e2e/);
    assert.doesNotMatch(held.stderr, STACK);

    const fleet = JSON.parse((await runCli(['fleet', '--json', ...nats_()], { env: env() })).stdout) as {
      health: string;
    }[];
    assert.deepEqual(
      fleet.map((a) => a.health),
      ['halted', 'halted'],
    );
    const refused = await runCli(
      [
        'inject',
        'marker.create',
        'path=fleet-marker',
        '--on',
        'role=web',
        '--mode',
        'all',
        '--duration',
        '2s',
        ...nats_(),
      ],
      { env: env() },
    );
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /the fleet is halted .*e2e.*halt --fleet --release/);
    assert.deepEqual(markers(), []);

    const release = await runCli(['halt', '--fleet', '--release', ...nats_()], { env: env() });
    assert.equal(release.code, 0, release.stderr);
    assert.match(release.stderr, /fleet halt released/);
    await until('the agents show the release', async () => {
      const list = JSON.parse((await runCli(['fleet', '--json', ...nats_()], { env: env() })).stdout) as {
        health: string;
      }[];
      return list.every((a) => a.health === 'alive');
    });
    const again = await runCli(
      [
        'inject',
        'marker.create',
        'path=fleet-marker',
        '--on',
        'role=web',
        '--mode',
        'one',
        '--duration',
        '1s',
        ...nats_(),
      ],
      { env: env() },
    );
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /1 of 1 agent\(s\) injected, 1 reverted and verified/);
  });
});
