/**
 * `faultline agent`: runs this host's fleet agent until SIGINT or SIGTERM,
 * then reverts its faults and stops. It only dials out to NATS. The agent
 * itself is imported when the command runs, so other commands stay fast.
 *
 * Exit status: 0 after a clean stop, 1 when NATS cannot be reached at start,
 * 2 for invalid flags.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { parseDuration } from '../core/duration.js';
import { FaultlineError } from '../core/errors.js';
import { NAME_PATTERN } from '../fleet/constants.js';
import { type NatsFlags, natsConnectOptions, withNatsOptions } from './nats-options.js';
import type { Output } from './output.js';
import { waitForSignal } from './wait-signal.js';

interface AgentFlags extends NatsFlags {
  name?: string;
  labels?: string;
  allow?: string;
  heartbeat?: string;
  maxFaults?: string;
  settings?: string;
  workloads?: string;
}

const usage = (message: string) => new FaultlineError('FAULTLINE_ERR_USAGE', message);

const LABEL_VALUE = /^[A-Za-z0-9_.-]{0,63}$/;

/** `k=v,k2=v2` as a label map; FAULTLINE_ERR_USAGE naming --labels and the bad pair. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === undefined) return labels;
  for (const pair of text.split(',')) {
    const trimmed = pair.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const key = eq < 0 ? '' : trimmed.slice(0, eq);
    const value = eq < 0 ? '' : trimmed.slice(eq + 1);
    if (eq < 0 || !NAME_PATTERN.test(key) || !LABEL_VALUE.test(value)) {
      throw usage(
        `--labels: expected key=value pairs separated by commas (keys: 1-64 letters, digits, - or _; values: up to 63 letters, digits, -, _ or .), got '${trimmed}'`,
      );
    }
    if (Object.hasOwn(labels, key)) throw usage(`--labels: '${key}' is given twice`);
    labels[key] = value;
  }
  return labels;
}

/** The agent's name: --name, else this host's name up to its first dot. */
export function agentName(given: string | undefined, host = hostname()): string {
  const name = given ?? host.split('.')[0] ?? '';
  if (!NAME_PATTERN.test(name)) {
    throw usage(
      given === undefined
        ? `--name: this host's name '${host}' is not a valid agent name (1-64 letters, digits, - or _): pass --name`
        : `--name: expected 1-64 letters, digits, - or _ (an agent name becomes a NATS subject), got '${given}'`,
    );
  }
  return name;
}

function parseHeartbeat(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 10 || ms > 3_600_000) {
    throw usage(`--heartbeat: expected a duration from 10ms to 1h such as '1s' or '500ms', got '${text}'`);
  }
  return Math.round(ms);
}

function parseMaxFaults(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 100_000) {
    throw usage(`--max-faults: expected a whole number from 1 to 100000, got '${text}'`);
  }
  return Number(text);
}

/** Runs the agent until SIGINT or SIGTERM; reverts every fault it holds on the way out. */
export async function agentCommand(flags: AgentFlags, out: Output): Promise<number> {
  const name = agentName(flags.name);
  const labels = parseLabels(flags.labels);
  const heartbeatMs = parseHeartbeat(flags.heartbeat);
  const maxFaults = parseMaxFaults(flags.maxFaults);
  const { allowedKinds, startAgent } = await import('../fleet/agent.js');
  // Read and checked before connecting: a mistake in it is exit 2 naming the field, not a running agent.
  const workloads = flags.workloads
    ? await (await import('../fleet/workloads.js')).loadWorkloads(flags.workloads).catch((err: unknown) => {
        throw err instanceof FaultlineError
          ? new FaultlineError(err.code, `--workloads: ${err.message}`, {
              issues: [...err.issues],
              cause: err,
            })
          : err;
      })
    : undefined;
  const allow = flags.allow
    ?.split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  // Checked before connecting: a typo is exit 2 with the known kinds, not a running agent.
  if (allow !== undefined) {
    if (allow.length === 0) throw usage('--allow: expected fault kinds separated by commas');
    await allowedKinds(allow, '--allow');
  }
  // This host's own limits, from its settings file, as every local command reads it.
  const { loadSettings, settingsBlastRadius } = await import('../experiment/settings.js');
  const { faultlineHome } = await import('../faults/home.js');
  const blastRadius = settingsBlastRadius(await loadSettings(flags.settings, faultlineHome()));
  const stop = waitForSignal((signal) =>
    // A second signal while reverting: the ledger keeps what is left, and the next start reverts it.
    out.warn(`second ${signal}: exiting now; faults not yet reverted are reverted at the agent's next start`),
  );
  try {
    const agent = await startAgent({
      connect: natsConnectOptions(flags, `faultline-agent-${name}`),
      name,
      labels,
      ...(allow ? { allow } : {}),
      ...(heartbeatMs ? { heartbeatMs } : {}),
      ...(maxFaults ? { maxFaults } : {}),
      ...(blastRadius.length ? { blastRadius } : {}),
      ...(workloads ? { workloads } : {}),
      log: (level, message) => out[level](message),
    });
    const record = agent.record();
    out.summary(
      `faultline agent ${name}: registered (labels ${
        Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || 'none'
      }; ${record.kinds.length} kind(s); heartbeat ${record.heartbeatMs} ms; ${
        blastRadius.length ? blastRadius.map((p) => p.source).join(' and ') : 'no blast radius of its own'
      }${workloads ? `; ${workloads.length} workload(s)` : ''})`,
    );
    const signal = await stop.promise;
    out.info(`received ${signal}: reverting this agent's faults and stopping`);
    await agent.stop();
  } finally {
    stop.dispose();
  }
  return 0;
}

export function registerAgentCommands(program: Command, out: () => Output): void {
  withNatsOptions(
    program
      .command('agent')
      .description(
        "run this host's fleet agent until SIGINT/SIGTERM: it registers in NATS, applies the faults controllers send, and reverts each when its lease lapses (docs/fleet.md)",
      ),
  )
    .option('--name <name>', "the agent's name (letters, digits, - or _; default this host's name)")
    .option('--labels <k=v,...>', 'labels controllers select agents by, e.g. app=payments,zone=a')
    .option(
      '--allow <kind,...>',
      'the fault kinds it accepts, e.g. network.latency,process.pause (default all)',
    )
    .option('--heartbeat <duration>', "how often it re-puts its record: '1s', '500ms' (default 1s)")
    .option('--max-faults <n>', 'faults it holds at once; more are refused (default 32)')
    .option(
      '--settings <file>',
      "settings file whose blast_radius limits what this host's faults may touch (default $FAULTLINE_HOME/settings.yaml when present)",
    )
    .option(
      '--workloads <file>',
      'YAML or JSON file of the workloads this host runs (names, namespaces, labels, processes, netns): what targets on workloads select (docs/fleet.md#workloads)',
    )
    .action(async (opts: AgentFlags) => {
      process.exitCode = await agentCommand(opts, out());
    });
}
