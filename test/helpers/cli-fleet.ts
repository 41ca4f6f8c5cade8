/**
 * A small fleet for end-to-end tests through the built CLI: a test
 * nats-server and one `faultline agent` process per host, each host with its
 * own working directory and home, plus a controller's directory for the
 * commands the test runs. `close()` stops the agents (SIGCONT first: a paused
 * agent would never see its SIGTERM), checks each exited 0 and left no
 * marker, and removes everything.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cli, startCli } from './cli.js';
import { startNats, type TestNats } from './nats.js';

export interface CliHost {
  name: string;
  dir: string;
  env: NodeJS.ProcessEnv;
  agent: Cli;
}

export interface CliFleet {
  nats: TestNats;
  hosts: CliHost[];
  host(name: string): CliHost;
  /** The controller's environment (its own FAULTLINE_HOME). */
  env(): NodeJS.ProcessEnv;
  /** `--nats <url>` for a command. */
  natsArgs(): string[];
  /** Hosts whose working directory holds a file named `marker`. */
  marked(marker?: string): string[];
  close(): Promise<void>;
}

/** Starts the server and one agent per `[name, labels]`, and waits until each has registered. */
export async function startCliFleet(
  specs: readonly (readonly [name: string, labels: string])[],
): Promise<CliFleet> {
  const nats = await startNats();
  const controllerDir = await mkdtemp(join(tmpdir(), 'faultline-controller-'));
  const hosts: CliHost[] = [];
  const natsArgs = () => ['--nats', nats.url];
  const fleet: CliFleet = {
    nats,
    hosts,
    host: (name) => hosts.find((h) => h.name === name)!,
    env: () => ({ FAULTLINE_HOME: join(controllerDir, 'home') }),
    natsArgs,
    marked: (marker = 'fleet-marker') =>
      hosts.filter((h) => existsSync(join(h.dir, marker))).map((h) => h.name),
    async close() {
      for (const h of hosts) {
        h.agent.child.kill('SIGCONT');
        if (h.agent.child.exitCode === null && h.agent.child.signalCode === null)
          h.agent.child.kill('SIGTERM');
      }
      try {
        const results = await Promise.all(hosts.map((h) => h.agent.done));
        for (const [i, r] of results.entries())
          assert.equal(r.code, 0, `agent ${hosts[i]!.name}: ${r.stderr}`);
        assert.deepEqual(fleet.marked(), [], 'no marker left behind');
      } finally {
        await Promise.all(hosts.map((h) => rm(h.dir, { recursive: true, force: true })));
        await rm(controllerDir, { recursive: true, force: true });
        await nats.close();
      }
    },
  };
  for (const [name, labels] of specs) {
    const dir = await mkdtemp(join(tmpdir(), `faultline-host-${name}-`));
    const env = { FAULTLINE_HOME: join(dir, 'home') };
    const agent = startCli(
      ['agent', ...natsArgs(), '--name', name, '--labels', labels, '--heartbeat', '1s'],
      {
        cwd: dir,
        env,
      },
    );
    hosts.push({ name, dir, env, agent });
  }
  await Promise.all(hosts.map((h) => h.agent.waitFor(/registered/, 60_000)));
  return fleet;
}
