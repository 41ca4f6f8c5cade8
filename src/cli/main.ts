/**
 * The `faultline` command: a thin shell over the library. Every command maps
 * a FaultlineError to one clear line and its exit code (2 for invalid input),
 * and never prints a stack trace for a user mistake.
 */
import { Command, CommanderError, Option } from 'commander';
import { parseDuration } from '../core/duration.js';
import { FaultlineError } from '../core/errors.js';
import { DRY_MODES, HYPOTHESIS_STRATEGIES, ROLLBACK_STRATEGIES } from '../core/schema.js';
import { faultlineHome } from '../faults/home.js';
import { recoverOrphans } from '../lib/faults.js';
import { VERSION } from '../version.js';
import { registerAgentCommands } from './agent.js';
import { errorLines } from './error-lines.js';
import { registerFleetCommands } from './fleet.js';
import { registerGameDayCommands } from './gameday.js';
import { NATS_DETAIL_FLAGS, natsFlagName, withNatsOptions } from './nats-options.js';
import { createOutput, type Output } from './output.js';
import { registerProxyCommands } from './proxy.js';
import { registerServeCommands } from './serve-commands.js';

export interface GlobalOptions {
  verbose?: boolean;
  quiet?: boolean;
  logFormat?: 'text' | 'json';
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function buildProgram(out: () => Output): Command {
  const program = new Command('faultline')
    .description('Chaos engineering: run experiments, inject faults, measure, revert.')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--verbose', 'print debug details')
    .option('-q, --quiet', 'print only errors and the final summary')
    .addOption(
      new Option('--log-format <format>', 'log line format').choices(['text', 'json']).default('text'),
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();

  withNatsOptions(program.command('run'))
    .description(
      "run an experiment (JSON, YAML, or a TypeScript/JavaScript module, or another tool's manifest: Chaos Mesh, Litmus, AWS FIS, Istio, Chaos Monkey) and write its journal",
    )
    .argument('<source>', 'experiment or manifest file path, or http(s) URL')
    .option('--journal-path <path>', 'where to write the journal', './journal.json')
    .addOption(new Option('--dry <mode>', 'do not execute some activities').choices([...DRY_MODES]))
    .option('--no-validation', 'skip validation before running')
    .option('--no-verify-tls', 'do not verify TLS certificates when fetching the experiment')
    .option(
      '--no-native',
      'run Python activities and controls Faultline implements natively (chaostoxi, chaosprometheus, chaosaddons) in Python instead',
    )
    .addOption(
      new Option('--hypothesis-strategy <strategy>', 'when to check the steady state').choices(
        HYPOTHESIS_STRATEGIES.filter((s) => s !== 'skip'),
      ),
    )
    .addOption(
      new Option('--rollback-strategy <strategy>', 'when to play rollbacks').choices([
        ...ROLLBACK_STRATEGIES,
      ]),
    )
    .option(
      '--hypothesis-frequency <seconds>',
      'seconds between steady-state checks during the method',
      parseSeconds,
    )
    .option(
      '--fail-fast',
      'stop the method and revert its faults as soon as misses during the method exceed the tolerance',
    )
    .option(
      '--max-misses <n>',
      'checks during the method that may miss the steady state and the run still pass (default 0)',
      parseMaxMisses,
    )
    .option(
      '--max-miss-ratio <r>',
      'share of the checks during the method that may miss the steady state, 0..1 (default 0)',
      parseMaxMissRatio,
    )
    .option('-y, --yes', 'approve an experiment tagged for production without asking')
    .option(
      '--max-duration <duration>',
      'interrupt the run (and revert every fault) after this long, e.g. 10m',
      parseMaxDuration,
    )
    .option('--var <key[:type]=value>', 'override a configuration value (repeatable)', collect, [])
    .option(
      '--var-file <path>',
      'configuration and secrets from a JSON/YAML file or a KEY=VALUE env file (repeatable)',
      collect,
      [],
    )
    .option('--settings <path>', 'settings file with global controls (default $FAULTLINE_HOME/settings.yaml)')
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics of the run at http://127.0.0.1:<port>/metrics (0: any free port)',
    )
    .option(
      '--metrics-host <host>',
      'address for --metrics-port (default 127.0.0.1; others need FAULTLINE_METRICS_TOKEN)',
    )
    .option(
      '--metrics-allowed-host <name>',
      'a name scrapers use to reach --metrics-port besides localhost and IP addresses (.example.com: that name and its subdomains); needed without a token when they connect by another name. Requests whose Host is not allowed get 403 (DNS-rebinding protection). Repeatable; env FAULTLINE_METRICS_ALLOWED_HOSTS (comma-separated)',
      collect,
      [],
    )
    .option(
      '--metrics-linger <d>',
      'keep serving the final metrics this long after the run (for the last scrape)',
    )
    .option(
      '--notify <url>',
      'POST a Slack-compatible JSON message when the run starts and ends (repeatable)',
      collect,
      [],
    )
    .option(
      '--report <format=path>',
      'also write a report after the journal: html=report.html, junit=junit.xml, markdown=..., json=... (repeatable)',
      collect,
      [],
    )
    .option(
      '--server <url>',
      "after the run, push its journal to a `faultline serve` control plane's history (a failed push only warns)",
    )
    .action(async (source: string, opts) => {
      const { runCommand } = await import('./run.js');
      process.exitCode = await runCommand(source, opts, out());
    });

  registerServeCommands(program, out);

  program
    .command('push')
    .description("store journals of runs made elsewhere in a `faultline serve` control plane's history")
    .argument('<journals...>', 'journal files written by `faultline run`')
    .requiredOption('--server <url>', 'the control plane, e.g. http://127.0.0.1:7474')
    .option('--tag <tag>', 'a tag for the pushed runs (repeatable)', collect, [])
    .action(async (journals: string[], opts) => {
      const { pushCommand } = await import('./push.js');
      process.exitCode = await pushCommand(journals, opts, out());
    });

  program
    .command('demo')
    .description(
      'start a small demo system in this process and run a real experiment on it (load, faults, safeguard, recovery), then write the HTML report',
    )
    .option('--out <dir>', 'directory for the journal and report.html', './faultline-demo')
    .option('--breach', 'make the HTTP error fault severe enough for the safeguard to stop the run')
    .action(async (opts) => {
      const { demoCommand } = await import('./demo.js');
      process.exitCode = await demoCommand(opts, out());
    });

  program
    .command('report')
    .description('render run journals as a report: html (self-contained page), markdown, junit (XML), json')
    .argument('<journals...>', 'journal files written by `faultline run` (several: a trend report)')
    .option(
      '--format <format>',
      'html, markdown, junit or json (default: from the -o extension, else markdown)',
    )
    .option('-o, --output <file>', 'write the report to this file (default: stdout)')
    .option('--title <title>', 'title of a report over several runs')
    .action(async (journals: string[], opts) => {
      const { reportCommand } = await import('./report.js');
      process.exitCode = await reportCommand(journals, opts, out());
    });

  program
    .command('validate')
    .description(
      "check experiment files (or other tools' manifests) without running them; reports every problem with its position",
    )
    .argument('<files...>', 'experiment or manifest files, or URLs')
    .option('--no-verify-tls', 'do not verify TLS certificates when fetching')
    .option(
      '--import-modules',
      'also import node and Python provider modules and .ts/.js experiments to check them: this RUNS their code',
    )
    .option(
      '--settings <path>',
      "also check a settings file's controls (their Python modules, safeguard probes)",
    )
    .action(async (files: string[], opts) => {
      const { validateCommand } = await import('./validate.js');
      process.exitCode = await validateCommand(files, opts, out());
    });

  program
    .command('convert')
    .description(
      'print the Faultline experiment a Chaos Mesh, Litmus, AWS FIS, Istio or Chaos Monkey manifest becomes, with a comment on every source field (exit 2 when a field is refused)',
    )
    .argument('<file>', 'manifest file (YAML, several documents allowed, or JSON) or http(s) URL')
    .addOption(
      new Option('--format <format>', 'output format (default: from -o, else yaml)').choices([
        'yaml',
        'json',
      ]),
    )
    .option('-o, --output <file>', 'write the experiment to this file (default: stdout)')
    .option(
      '--schedule',
      "also print the manifest's schedules (Schedule, scheduler.cron, Chaos Monkey) as server schedule bodies for POST /api/schedules (JSON)",
    )
    .option(
      '--name <name>',
      'the experiment name the schedules refer to, and it is uploaded under (default: from the file name)',
    )
    .option(
      '--push',
      'upload the experiment to a `faultline serve` control plane (--server) and create the schedules the manifest asks for there; nothing is sent when a field is refused. Token: $FAULTLINE_TOKEN',
    )
    .option('--server <url>', 'with --push: the control plane, e.g. http://127.0.0.1:7474')
    .option('--replace', 'with --push: replace schedules of the same names instead of refusing them')
    .option('--no-verify-tls', 'do not verify TLS certificates when fetching')
    .action(async (file: string, opts) => {
      const { convertCommand } = await import('./convert.js');
      process.exitCode = await convertCommand(file, opts, out());
    });

  program
    .command('schema')
    .description('print the JSON Schema of the experiment format (for editors)')
    .action(async () => {
      const { experimentJsonSchema } = await import('../experiment/json-schema.js');
      const { builtinActivities } = await import('../engine/builtins.js');
      await (await import('../compose.js')).loadBuiltinActivities();
      const activities = builtinActivities.entries().map(([, a]) => a);
      process.stdout.write(`${JSON.stringify(experimentJsonSchema({ activities }), null, 2)}\n`);
    });

  program
    .command('init')
    .description('scaffold an experiment file (prompts on a terminal; flags otherwise)')
    .option('--experiment-path <path>', 'file to write (.json, .yaml or .yml)', './experiment.yaml')
    .option('--title <title>', 'experiment title')
    .option('--description <text>', 'experiment description')
    .option('--url <url>', 'URL of the service whose steady state is checked (an http probe)')
    .option('--status <code>', 'expected HTTP status for the steady state', '200')
    .option('--force', 'overwrite an existing file')
    .option('--no-input', 'never prompt, even on a terminal')
    .action(async (opts) => {
      const { initCommand } = await import('./init.js');
      process.exitCode = await initCommand(opts, out());
    });

  program
    .command('discover')
    .description(
      "list every built-in activity with its arguments, and an installed Python extension's (as `chaos discover`)",
    )
    .argument(
      '[filter]',
      'only built-in activities whose module.func contains it (e.g. network, stress.cpu); otherwise a Python package to list (e.g. chaosk8s)',
    )
    .option(
      '--package <name>',
      'list this installed Python extension package next to the built-ins (imports it)',
    )
    .option('--json', 'print JSON instead of a table')
    .action(async (filter: string | undefined, opts) => {
      const { discoverCommand } = await import('./discover.js');
      process.exitCode = await discoverCommand(filter, opts, out());
    });

  const status = program
    .command('status')
    .description(
      "list the active faults (owner run, target, age, TTL) and whether a halt is in force; with --fleet, the faults on the fleet's agents (holder, lease, ttl) and the fleet halt",
    )
    .option('--json', 'print JSON')
    .option(
      '--fleet',
      "the faults on the fleet's agents instead of this host's ledger: each fault, its holder and lease; leases no agent's fault accounts for; lost agents holding faults",
    );
  withNatsOptions(status).action(async (opts) => {
    if (opts.fleet) {
      const { fleetStatusCommand } = await import('./fleet-status.js');
      process.exitCode = await fleetStatusCommand(opts, out());
      return;
    }
    // A NATS flag without --fleet would be silently ignored: this host's ledger needs no NATS.
    for (const flag of ['nats', ...NATS_DETAIL_FLAGS]) {
      if (opts[flag] !== undefined)
        throw new FaultlineError('FAULTLINE_ERR_USAGE', `${natsFlagName(flag)}: only with --fleet`);
    }
    const { statusCommand } = await import('./faults.js');
    process.exitCode = await statusCommand(opts, out());
  });

  const halt = program
    .command('halt')
    .description(
      'revert every active fault now and refuse new runs until released; with --fleet, on every agent of the fleet',
    )
    .option('--release', 'allow runs again')
    .option('--reason <text>', 'why (shown to anyone whose run is refused)')
    .option(
      '--fleet',
      "halt the fleet instead of this host: every agent reverts its faults and refuses new ones until `halt --fleet --release`; waits for each agent's verified revert",
    )
    .option('--wait <d>', 'with --fleet: how long to wait for the agents to show their revert (default 10s)');
  withNatsOptions(halt).action(async (opts) => {
    if (opts.fleet) {
      const { durationFlag, fleetHaltCommand } = await import('./fleet.js');
      const waitMs = opts.wait === undefined ? 10_000 : durationFlag('--wait', opts.wait);
      process.exitCode = await fleetHaltCommand(opts, waitMs, out());
      return;
    }
    // Every NATS flag, not a few: one left out (a password, a TLS file) would be silently ignored.
    for (const flag of ['wait', 'nats', ...NATS_DETAIL_FLAGS]) {
      if (opts[flag] !== undefined)
        throw new FaultlineError('FAULTLINE_ERR_USAGE', `${natsFlagName(flag)}: only with --fleet`);
    }
    const { haltCommand } = await import('./faults.js');
    process.exitCode = await haltCommand(opts, out());
  });

  program
    .command('recover')
    .description(
      'revert the faults left by runners that died, expired ones, corrupt entries that can be read, and retry the cleanup of failed injections',
    )
    .action(async () => {
      const { recoverCommand } = await import('./faults.js');
      process.exitCode = await recoverCommand(out());
    });

  const ledger = program
    .command('ledger')
    .description('inspect or forget one entry of the fault ledger (the ids `faultline status` shows)');
  ledger
    .command('show')
    .description('print a ledger entry as stored (or what can be read of a corrupt one)')
    .argument('<id>', 'the fault id, or a prefix naming one entry')
    .action(async (id: string) => {
      const { ledgerShowCommand } = await import('./faults.js');
      process.exitCode = await ledgerShowCommand(id, out());
    });
  ledger
    .command('forget')
    .description(
      'remove a ledger entry without reverting it, after confirmation; recorded in $FAULTLINE_HOME/forgotten.log',
    )
    .argument('<id>', 'the fault id, or a prefix naming one entry')
    .option('-y, --yes', 'do not ask (required without a terminal)')
    .action(async (id: string, opts) => {
      const { ledgerForgetCommand } = await import('./faults.js');
      process.exitCode = await ledgerForgetCommand(id, opts, out());
    });

  program
    .command('load')
    .description(
      'send HTTP requests at a constant rate and measure latency (open model: no coordinated omission)',
    )
    .argument('<url>', 'http(s) URL to send requests to')
    .option('--rate <n>', 'requests per second (required)')
    .option('--duration <d>', 'how long to send: 30s, 500ms, 2m', '10s')
    .option(
      '--concurrency <n>',
      'requests in flight at most; requests due beyond it are dropped (default 1000)',
    )
    .option(
      '--overflow <mode>',
      "a request due at the cap: 'drop' it (default) or 'queue' it until a slot frees",
    )
    .option('--method <m>', 'HTTP method', 'GET')
    .option('--header <k:v>', 'request header (repeatable)', collect, [])
    .option('--body <body>', 'request body')
    .option('--timeout <d>', 'per-request timeout: 5s, 500ms (default 10s)')
    .option('--json', 'print the summary (with the per-second series) as JSON on stdout')
    .action(async (url: string, opts) => {
      const { loadCommand } = await import('./load.js');
      process.exitCode = await loadCommand(url, opts, out());
    });

  const inject = program
    .command('inject')
    .description(
      'inject one fault now (network, process, stress, postgres, redis...) and revert it after --duration, on Ctrl-C or on `faultline halt`; without <fault>, list them',
    )
    .argument('[fault]', 'the fault, as group.name (for example network.loss)')
    .argument('[args...]', "the fault's arguments as key=value (for example percent=25 namespace=app)")
    .option('--duration <d>', "how long the fault lasts: '30s', '5m' (required unless --until-halt)")
    .option('--until-halt', 'keep the fault until Ctrl-C or `faultline halt` (no duration)')
    .option('--args <json>', 'arguments as a JSON object (key=value pairs take precedence)')
    .option('--settings <path>', 'settings file (its blast_radius applies)')
    .option('--json', 'print the fault and its revert as JSON on stdout')
    .option(
      '--dry-run',
      'inject nothing: validate, resolve the targets (for process faults, list every matching process and which would be chosen; with --on, the agents that would be hit) and check the blast radius',
    )
    .option(
      '--on <selector>',
      "inject on the fleet's agents this label selector matches (app=web,tier!=db,zone in (a,b),!canary) instead of here",
    )
    .option(
      '--mode <mode>',
      'with --on: one, all, fixed, fixed-percent or random-max-percent (as Chaos Mesh)',
    )
    .option(
      '--value <n>',
      'with --on: how many agents (fixed) or what percentage (fixed-percent, random-max-percent)',
    )
    .option(
      '--lease <d>',
      'with --on: how long an agent keeps the fault without a renewal from here (default 3s)',
    )
    .option(
      '--namespaces <list>',
      "with --on: pick the workloads the agents host (agent --workloads) in these namespaces, by --on on the workloads' labels, instead of agents",
    )
    .option('--names <list>', 'with --on: pick workloads by name (name or namespace/name, comma-separated)');
  withNatsOptions(inject).action(async (fault: string | undefined, args: string[], opts) => {
    const { injectCommand } = await import('./inject.js');
    process.exitCode = await injectCommand(fault, args, opts, out());
  });

  registerProxyCommands(program, out);
  registerAgentCommands(program, out);
  registerFleetCommands(program, out);
  registerGameDayCommands(program, out);

  return program;
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--hypothesis-frequency: expected a positive number of seconds, got '${value}'`,
    );
  }
  return n;
}

function parseMaxMisses(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--max-misses: expected a whole number of checks (0 or more), got '${value}'`,
    );
  }
  return n;
}

function parseMaxMissRatio(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--max-miss-ratio: expected a ratio between 0 and 1 (e.g. 0.2), got '${value}'`,
    );
  }
  return n;
}

function parseMaxDuration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--max-duration: expected a duration such as '90s', '10m' or '1h', got '${value}'`,
    );
  }
  return ms;
}

/** How long the check every command makes waits for one leftover's revert. */
const LEFTOVER_REVERT_TIMEOUT_MS = 5_000;

/**
 * Commands that only read (files, the ledger, the catalogue): they never revert anything, so
 * they work with a ledger they must not change; `ledger show|forget` look at it as it is.
 * `halt` and `recover` revert everything themselves.
 */
const NO_LEFTOVER_CHECK = new Set([
  'validate',
  'convert',
  'schema',
  'discover',
  'report',
  'status',
  'recover',
  'halt',
  // Reads the fleet's NATS only; nothing on this host.
  'fleet',
]);

/**
 * Reverts faults left by dead runners before any command does its work. Whatever
 * goes wrong here is a warning: one broken entry must never fail an unrelated command.
 */
async function recoverLeftovers(output: Output): Promise<void> {
  try {
    // Bounded: an entry whose revert keeps failing (a control URL that no longer answers) is
    // reported, not retried by every command; `recover` and `halt` still try it.
    const report = await recoverOrphans({
      home: faultlineHome(),
      bounded: true,
      revertTimeoutMs: LEFTOVER_REVERT_TIMEOUT_MS,
    });
    const { reportLines } = await import('./faults.js');
    reportLines(report, output, {
      prefix: 'leftovers of runners that died: ',
      notice: output.warn,
      problem: output.warn,
      quietLeft: true,
    });
  } catch (err) {
    output.warn(`could not check the fault ledger for leftovers: ${(err as Error).message}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  let output: Output | undefined;
  const program = buildProgram(() => {
    output ??= createOutput(program.opts<GlobalOptions>());
    return output;
  });
  program.hook('preAction', async (_this, action) => {
    const skip = NO_LEFTOVER_CHECK.has(action.name()) || action.parent?.name() === 'ledger';
    if (!skip) {
      output ??= createOutput(program.opts<GlobalOptions>());
      await recoverLeftovers(output);
    }
  });
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
        return 0;
      return 2;
    }
    output ??= createOutput(program.opts<GlobalOptions>());
    if (err instanceof FaultlineError) {
      for (const line of errorLines(err)) output.error(line);
      return err.exitCode;
    }
    output.error(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  }
}
