/**
 * `faultline status --fleet`: the faults on the fleet's agents, their
 * holders, leases and last renewals as the agents saw them, as a table or
 * (`--json`) the library's FleetStatus document. Kinds, targets and
 * controller ids come from the wire (any client allowed to put in the
 * buckets): every cell is shown with its control characters escaped before
 * the columns are measured.
 */
import { hostname } from 'node:os';
import { escapeControlChars } from '../core/control-chars.js';
import { type FleetStatus, fleetStatus, LOST_AGENT_NOTE, NO_LEASE_NOTE } from '../fleet/status.js';
import { type NatsFlags, natsConnectOptions } from './nats-options.js';
import { type Output, printJsonDocument, printText } from './output.js';

/** A span of time as the table shows it; `past` words a negative one (clock skew, or already over). */
function span(ms: number | undefined, past: string): string {
  if (ms === undefined) return '-';
  if (ms < 0) return past;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 7_200_000) return `${Math.floor(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

/** How long ago, by this clock against the server's timestamp (or an agent's estimate). */
const ago = (ms: number) => (ms < 0 ? 'now (clock skew)' : `${span(ms, '')} ago`);

const cell = (s: string | undefined) => (s === undefined || s === '' ? '-' : escapeControlChars(s));
/** Fleet fault ids are UUIDs: the first 8 characters tell them apart on a screen. */
const short = (id: string) => id.slice(0, 8);

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

/** The text form of a FleetStatus: halt line, faults table, notes, orphan leases, lost agents. */
export function fleetStatusLines(status: FleetStatus): string[] {
  const lines: string[] = [];
  const { halt } = status;
  if (halt) {
    lines.push(
      `fleet HALTED since ${cell(halt.since)} by ${cell(halt.by)}${halt.reason ? `: ${cell(halt.reason)}` : ''} (\`faultline halt --fleet --release\`)`,
    );
  } else lines.push('fleet: no halt in force');
  if (status.faults.length === 0) {
    lines.push(
      status.agents === 0
        ? 'no agent has registered (start `faultline agent --nats URL` on each host)'
        : `no fault on any of the ${status.agents} agent(s)`,
    );
  } else {
    const rows = status.faults.map((f) => [
      cell(f.agent),
      f.health,
      cell(short(f.id)),
      cell(f.kind),
      cell(f.target),
      cell(f.controller),
      span(f.ageMs, '0s (clock skew)'),
      f.leaseMs === undefined ? '-' : span(f.leaseMs, '-'),
      // A missing key outranks what the agent last saw: the agent reverts it at the delete.
      !f.lease ? 'none: reverting by lease' : f.renewedAgoMs === undefined ? '-' : ago(f.renewedAgoMs),
      span(f.ttlLeftMs, 'ended'),
    ]);
    lines.push(
      ...table(
        ['AGENT', 'HEALTH', 'ID', 'KIND', 'TARGET', 'HOLDER', 'AGE', 'LEASE', 'LEASE RENEWED', 'TTL LEFT'],
        rows,
      ),
    );
    for (const f of status.faults) {
      for (const note of f.notes) {
        // The LEASE RENEWED column and the lost agents' lines below say these.
        if (note === NO_LEASE_NOTE || note === LOST_AGENT_NOTE) continue;
        lines.push(`${cell(f.agent)} ${cell(short(f.id))}: ${cell(note)}`);
      }
    }
  }
  for (const o of status.orphanLeases) {
    const holder = o.lease.holder === undefined ? 'an unreadable holder' : cell(o.lease.holder);
    lines.push(
      `orphan lease ${cell(o.key)} (held by ${holder}, put ${ago(o.lease.putAgoMs)}): ${cell(o.reason)}`,
    );
  }
  for (const a of status.lostAgents) {
    lines.push(`agent ${cell(a.agent)} (last seen ${ago(a.ageMs)}) ${cell(a.note)}`);
  }
  return lines;
}

export async function fleetStatusCommand(
  flags: NatsFlags & { json?: boolean },
  _out: Output,
): Promise<number> {
  // The NATS clients load only when the command runs (the table's unit test does not need them).
  const { FleetController } = await import('../fleet/controller.js');
  const id = `faultline-status-${hostname()}-${process.pid}`;
  const ctl = await FleetController.open(natsConnectOptions(flags, id), { id });
  try {
    const status = await fleetStatus(ctl);
    if (flags.json) printJsonDocument(status);
    else printText(`${fleetStatusLines(status).join('\n')}\n`);
    return 0;
  } finally {
    // It holds nothing; `leave` only skips the revert pass of a controller that placed faults.
    await ctl.close({ leave: true });
  }
}
