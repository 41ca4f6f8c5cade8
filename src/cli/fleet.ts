/**
 * The controller's commands: `faultline fleet` (who is there), `faultline
 * inject --on <selector>` (one fault on the agents a selector and a mode pick,
 * held by leases for its duration) and `faultline halt --fleet` (every agent
 * reverts everything and refuses new faults until `--release`).
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { BlastRadiusPolicy } from '../core/blast-radius.js';
import { parseDuration } from '../core/duration.js';
import { FaultlineError } from '../core/errors.js';
// The NATS clients load only when a fleet command runs, not at every CLI start.
import type { FleetAgent, FleetController, FleetTargets } from '../fleet/controller.js';
import type { FleetFault } from '../fleet/protocol.js';
import { type NatsFlags, natsConnectOptions, withNatsOptions } from './nats-options.js';
import { type Output, printJsonDocument, printText } from './output.js';

const labelsText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '-';

function age(ms: number): string {
  if (ms < 0) return 'now (clock skew)';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s ago`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m ago`;
  return `${(ms / 3_600_000).toFixed(1)}h ago`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function open(flags: NatsFlags): Promise<FleetController> {
  const { FleetController } = await import('../fleet/controller.js');
  // Who holds the leases and raised a halt, as people and `faultline fleet` see it.
  const id = `faultline-${hostname()}-${process.pid}`;
  return FleetController.open(natsConnectOptions(flags, id), { id });
}

export async function fleetCommand(flags: NatsFlags & { json?: boolean }, _out: Output): Promise<number> {
  // Here, not at the top: the CLI's start (every command) would build the selector schemas.
  const { workloadsText } = await import('../fleet/select.js');
  const ctl = await open(flags);
  try {
    const agents = await ctl.agents();
    if (flags.json) {
      printJsonDocument(agents);
      return 0;
    }
    if (agents.length === 0) {
      printText('no agent has registered (start `faultline agent --nats URL` on each host)\n');
    }
    const rows = agents.map((a) => [
      a.name,
      labelsText(a.labels),
      a.health,
      age(a.ageMs),
      a.version,
      String(a.faults.length),
      workloadsText(a),
    ]);
    if (rows.length)
      printText(
        `${table(['NAME', 'LABELS', 'HEALTH', 'HEARTBEAT', 'VERSION', 'FAULTS', 'WORKLOADS'], rows)}\n`,
      );
    const halt = await ctl.halted();
    if (halt) {
      printText(
        `fleet HALTED since ${halt.since} by ${halt.by}${halt.reason ? `: ${halt.reason}` : ''} (\`faultline halt --fleet --release\`)\n`,
      );
    }
    return 0;
  } finally {
    await ctl.close({ leave: true });
  }
}

export interface FleetInjectRequest {
  /** `group.name`, as typed. */
  fault: string;
  /** The kind as agents list it (`group.name`). */
  kind: string;
  args: Record<string, unknown>;
  targets: FleetTargets;
  leaseMs: number;
  /** How long to hold the faults; undefined: until Ctrl-C or a fleet halt. */
  durationMs?: number;
  /** The fault's own limit on each agent (a backstop beyond the leases). */
  ttlMs: number;
  settings?: string;
  json?: boolean;
  dryRun?: boolean;
  nats: NatsFlags;
}

async function blastRadius(settings: string | undefined): Promise<BlastRadiusPolicy[]> {
  const { loadSettings, settingsBlastRadius } = await import('../experiment/settings.js');
  const { faultlineHome } = await import('../faults/home.js');
  return settingsBlastRadius(await loadSettings(settings, faultlineHome()));
}

const short = (id: string) => id.slice(0, 8);

function outcomeLine(f: FleetFault): string {
  switch (f.state) {
    case 'active':
      return `injected (fault ${short(f.id)})`;
    case 'refused':
      return `REFUSED by the agent: ${f.error ?? f.reason ?? 'no reason given'}`;
    case 'failed':
      return `FAILED: ${f.error ?? f.reason ?? 'no reason given'}`;
    case 'reverted':
      return f.verified
        ? `reverted and verified (fault ${short(f.id)})`
        : `revert NOT verified (fault ${short(f.id)}): ${f.reason ?? f.error ?? 'unknown'}${f.error && f.reason ? ` (${f.error})` : ''}`;
  }
}

function dryRunLines(fault: string, plan: Awaited<ReturnType<FleetController['plan']>>): string[] {
  const hit = new Set(plan.targets.map((a) => a.name));
  const mode = `mode ${plan.mode}${plan.value === undefined ? '' : ` ${plan.value}`}`;
  const random = plan.mode === 'one' || plan.mode === 'fixed' || plan.mode.includes('percent');
  if (plan.workloads) {
    const { candidates, picked } = plan.workloads;
    const ref = (h: (typeof candidates)[number]) =>
      `${h.agent.name}:${h.workload.namespace}/${h.workload.name}`;
    const chosen = new Set(picked.map(ref));
    return [
      `${fault} (dry run: nothing injected) on workloads matching '${plan.selector}', ${mode}`,
      `${candidates.length} matching workload${candidates.length === 1 ? '' : 's'} on alive agents; * = would be hit${random && picked.length < candidates.length ? ' (a random draw: a real inject draws again)' : ''}:`,
      ...candidates.map(
        (h) =>
          `  ${chosen.has(ref(h)) ? '*' : ' '} ${h.workload.namespace}/${h.workload.name} on ${h.agent.name}  ${labelsText(h.workload.labels)}`,
      ),
      ...(plan.workloads.peers.length ? [`peers: ${plan.workloads.peers.join(', ')}`] : []),
      ...(plan.halt ? [`the fleet is HALTED (since ${plan.halt.since}): a real inject is refused`] : []),
    ];
  }
  const lines = [
    `${fault} (dry run: nothing injected) on agents matching '${plan.selector}', ${mode}`,
    `${plan.candidates.length} matching alive agent${plan.candidates.length === 1 ? '' : 's'}; * = would be hit${random && plan.targets.length < plan.candidates.length ? ' (a random draw: a real inject draws again)' : ''}:`,
    ...plan.candidates.map(
      (a: FleetAgent) => `  ${hit.has(a.name) ? '*' : ' '} ${a.name}  ${labelsText(a.labels)}`,
    ),
  ];
  for (const name of plan.notOffering)
    lines.push(`agent ${name} does not offer ${plan.kind}: it would refuse it`);
  if (plan.halt) lines.push(`the fleet is HALTED (since ${plan.halt.since}): a real inject is refused`);
  return lines;
}

export async function fleetInjectCommand(req: FleetInjectRequest, out: Output): Promise<number> {
  const { formatSelector } = await import('../fleet/select.js');
  const policies = await blastRadius(req.settings);
  const ctl = await open(req.nats);
  const signals = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => signals.abort(`interrupted by ${sig}`);
  try {
    if (req.dryRun) {
      const plan = await ctl.plan(req.kind, req.args, req.targets, { blastRadius: policies });
      if (req.json) {
        printJsonDocument({
          fault: req.fault,
          dry_run: true,
          selector: plan.selector,
          mode: plan.mode,
          value: plan.value,
          candidates: plan.candidates.map((a) => a.name),
          targets: plan.targets.map((a) => a.name),
          not_offering: plan.notOffering,
          halted: plan.halt !== undefined,
        });
      } else {
        printText(`${dryRunLines(req.fault, plan).join('\n')}\n`);
        out.summary(
          policies.length ? "blast radius: within the settings file's policy" : 'blast radius: no policy set',
        );
      }
      return 0;
    }

    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const started = Date.now();
    const placed = await ctl.inject(req.kind, req.args, req.targets, {
      blastRadius: policies,
      leaseMs: req.leaseMs,
      ttlMs: req.ttlMs,
    });
    const outcomes = new Map(placed.map((f) => [f.id, f]));
    const active = placed.filter((f) => f.state === 'active');
    if (placed.length === 0) {
      out.summary(
        `${req.fault}: mode ${req.targets.mode} selected no agent out of those matching (percentages round down, as Chaos Mesh): nothing injected`,
      );
      return 0;
    }
    const hold =
      req.durationMs === undefined ? 'until Ctrl-C or a fleet halt' : `for ${req.durationMs / 1000} s`;
    for (const f of placed) {
      const line = `${req.fault} on agent ${f.agent}: ${outcomeLine(f)}`;
      if (f.state === 'active') out.summary(`${line} ${hold}; Ctrl-C reverts it now`);
      else out.error(line);
    }

    // The first of the duration, a signal and a fleet halt says why it ended.
    let endedBy: string | undefined;
    if (active.length > 0) {
      const halted = ctl.whenHalted(signals.signal).then((h) => {
        if (h) endedBy ??= `fleet halt by ${h.by}${h.reason ? `: ${h.reason}` : ''}`;
      });
      const timer =
        req.durationMs === undefined
          ? undefined
          : new Promise<void>((r) => setTimeout(r, req.durationMs).unref());
      const aborted = new Promise<void>((r) =>
        signals.signal.addEventListener(
          'abort',
          () => {
            endedBy ??= String(signals.signal.reason);
            r();
          },
          { once: true },
        ),
      );
      await Promise.race([halted, aborted, ...(timer ? [timer] : [])]);
      endedBy ??= 'its duration elapsed';
      if (!signals.signal.aborted) signals.abort('done');
    } else endedBy = 'nothing was injected';

    for (const f of await ctl.revertAll()) outcomes.set(f.id, f);
    const final = [...outcomes.values()];
    const seconds = (Date.now() - started) / 1000;
    for (const f of final) {
      if (!active.some((a) => a.id === f.id)) continue;
      const line = `${req.fault} on agent ${f.agent}: ${outcomeLine(f)}`;
      if (f.verified) out.summary(line);
      else out.error(line);
    }
    if (req.json) {
      printJsonDocument({
        fault: req.fault,
        kind: req.kind,
        selector: formatSelector(req.targets.selector),
        mode: req.targets.mode,
        value: req.targets.value,
        lease_ms: req.leaseMs,
        ended_by: endedBy,
        seconds,
        targets: final,
      });
    }
    const clean = final.every((f) => f.state === 'reverted' && f.verified);
    if (!req.json) {
      out.summary(
        `${req.fault}: ${active.length} of ${placed.length} agent(s) injected, ${final.filter((f) => f.verified).length} reverted and verified after ${seconds.toFixed(1)} s (${endedBy})`,
      );
    }
    return clean ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!signals.signal.aborted) signals.abort('done');
    await ctl.close();
  }
}

export interface FleetHaltFlags extends NatsFlags {
  release?: boolean;
  reason?: string;
  wait?: string;
}

export async function fleetHaltCommand(
  flags: FleetHaltFlags,
  timeoutMs: number,
  out: Output,
): Promise<number> {
  const ctl = await open(flags);
  try {
    if (flags.release) {
      if (await ctl.releaseFleet()) out.summary('fleet halt released: agents accept faults again');
      else out.summary('no fleet halt was in force: nothing to release');
      return 0;
    }
    const report = await ctl.haltFleet(flags.reason, { timeoutMs });
    for (const name of report.reverted) out.info(`agent ${name}: halted, no fault left`);
    for (const a of report.noAnswer) {
      out.error(
        `agent ${a.name}: no verified revert within ${timeoutMs / 1000} s (${a.halted ? 'halted' : 'not showing the halt'}, ${a.faults.length} fault(s) listed): its faults revert by lease anyway`,
      );
    }
    out.summary(
      `fleet HALT: ${report.reverted.length} agent(s) reverted everything${report.noAnswer.length ? `, ${report.noAnswer.length} did not answer` : ''}; new faults are refused until \`faultline halt --fleet --release\``,
    );
    return report.noAnswer.length ? 1 : 0;
  } finally {
    await ctl.close({ leave: true });
  }
}

export function registerFleetCommands(program: Command, out: () => Output): void {
  withNatsOptions(
    program
      .command('fleet')
      .description(
        'list the fleet: every agent (name, labels, health, last heartbeat, version, active faults) and whether a fleet halt is in force',
      )
      .option('--json', 'print JSON'),
  ).action(async (opts) => {
    process.exitCode = await fleetCommand(opts, out());
  });
}

/** A duration flag in ms, FAULTLINE_ERR_USAGE naming it otherwise. */
export function durationFlag(flag: string, text: string, min = 1): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < min) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `${flag}: expected a duration such as '3s' or '500ms'${min > 1 ? ` of at least ${min} ms` : ''}, got '${text}'`,
    );
  }
  return Math.round(ms);
}
