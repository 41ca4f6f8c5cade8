/** `faultline status | halt | recover`: the fault ledger from any terminal. */
import { faultlineHome } from '../faults/home.js';
import { haltAll, haltState, listActiveFaults, recoverOrphans, releaseHalt } from '../faults/recovery.js';
import type { Output } from './output.js';

function age(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms / 60_000)}m`;
}

export async function statusCommand(opts: { json?: boolean }, out: Output): Promise<number> {
  const home = faultlineHome();
  const [faults, halt] = await Promise.all([listActiveFaults({ home }), haltState({ home })]);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ halt, faults }, null, 2)}\n`);
    return 0;
  }
  if (halt) out.summary(`HALT in force since ${halt.since}${halt.reason ? `: ${halt.reason}` : ''}`);
  if (faults.length === 0) {
    out.summary('no active faults');
    return 0;
  }
  const rows = faults.map((f) => [
    f.id.slice(0, 8),
    f.kind,
    f.target,
    `${f.runId.slice(0, 8)}${f.ownerAlive === null ? ' (other host)' : f.ownerAlive ? '' : ' (dead)'}`,
    age(f.ageMs),
    f.ttlMs === undefined || f.ttlMs === null ? '-' : age(f.ttlMs),
  ]);
  const header = ['ID', 'KIND', 'TARGET', 'RUN', 'AGE', 'TTL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  process.stdout.write(`${line(header)}\n${rows.map(line).join('\n')}\n`);
  return 0;
}

export async function haltCommand(
  opts: { release?: boolean; reason?: string },
  out: Output,
): Promise<number> {
  const home = faultlineHome();
  if (opts.release) {
    await releaseHalt({ home });
    out.summary('halt released: runs are allowed again');
    return 0;
  }
  const report = await haltAll({ home, reason: opts.reason });
  for (const r of report.reverted) out.summary(`reverted ${r.kind} ${r.target} (run ${r.runId})`);
  for (const f of report.failed) out.error(`could not revert ${f.kind} ${f.target}: ${f.error}`);
  out.summary(
    `HALT: ${report.reverted.length} fault(s) reverted; new runs are refused until \`faultline halt --release\``,
  );
  return report.failed.length ? 1 : 0;
}

export async function recoverCommand(out: Output): Promise<number> {
  const report = await recoverOrphans({ home: faultlineHome(), includeExpired: true });
  for (const r of report.reverted) out.summary(`reverted ${r.kind} ${r.target} (run ${r.runId})`);
  for (const f of report.failed) out.error(`could not revert ${f.kind} ${f.target}: ${f.error}`);
  if (report.reverted.length === 0 && report.failed.length === 0) out.summary('nothing to recover');
  return report.failed.length ? 1 : 0;
}
