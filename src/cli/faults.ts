/**
 * `faultline status | halt | recover | ledger`: the fault ledger from any terminal.
 * Exit codes say whether a fault may still be in place, never merely that some
 * entry was odd: a broken entry is reported, and `ledger forget` removes it.
 */
import { FaultlineError } from '../core/errors.js';
import { faultlineHome } from '../faults/home.js';
import { FORGOTTEN_LOG, Ledger } from '../faults/ledger.js';
import type { CorruptOutcome, RecoveryReport, RevertOutcome } from '../faults/recovery.js';
import { faultStatus, halt, recover, releaseHalt } from '../lib/status.js';
import { type Output, printJsonDocument, printText } from './output.js';

function age(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms / 60_000)}m`;
}

/** Ids as `status` shows them: the time part and a few random characters, enough to type. */
const shortId = (id: string) => id.slice(0, 12);

function read(c: { salvaged: { kind?: string; target?: string } }): string {
  const parts = [
    c.salvaged.kind ? `kind ${c.salvaged.kind}` : 'kind unreadable',
    c.salvaged.target ? `target ${c.salvaged.target}` : 'target unreadable',
  ];
  return parts.join(', ');
}

export async function statusCommand(opts: { json?: boolean }, out: Output): Promise<number> {
  const home = faultlineHome();
  // With the faults on running proxy servers, ledgered or not (`faultline proxy toxic add`, any client).
  const { faults, corrupt, halt, forgotten, proxyServers } = await faultStatus({ home });
  if (opts.json) {
    printJsonDocument({ halt, faults, corrupt, forgotten, proxy_servers: proxyServers });
    return 0;
  }
  const { describeProxyServers } = await import('../proxy/registry.js');
  const proxyLines = describeProxyServers(proxyServers);
  // Proxy and toxic names come from any API client: printed with control characters escaped.
  if (proxyLines.length) printText(`${proxyLines.join('\n')}\n`);
  if (halt) out.summary(`HALT in force since ${halt.since}${halt.reason ? `: ${halt.reason}` : ''}`);
  for (const c of corrupt) {
    out.warn(
      `corrupt ledger entry ${c.id} (${c.file}): ${c.error}; read: ${read(c)}; \`faultline recover\` or \`faultline halt\` reverts it if it can, \`faultline ledger show ${shortId(c.id)}\` shows it`,
    );
  }
  if (forgotten.length > 0) {
    const last = forgotten[forgotten.length - 1]!;
    out.info(
      `${forgotten.length} ledger entr${forgotten.length === 1 ? 'y' : 'ies'} forgotten by hand (last: ${last.id} ${last.kind ?? '?'} ${last.target ?? '?'} at ${last.at}${last.by.user ? ` by ${last.by.user}` : ''}); see ${home}/${FORGOTTEN_LOG}`,
    );
  }
  if (faults.length === 0) {
    out.summary(
      corrupt.length
        ? `no readable faults; ${corrupt.length} corrupt entr${corrupt.length === 1 ? 'y' : 'ies'}`
        : proxyLines.length
          ? 'no ledgered faults (the proxy faults above are reverted by `faultline halt`)'
          : 'no active faults',
    );
    return 0;
  }
  const rows = faults.map((f) => [
    shortId(f.id),
    f.state,
    f.kind,
    f.target,
    `${f.runId.slice(0, 8)}${f.ownerAlive === null ? ' (other host)' : f.ownerAlive ? '' : ' (dead)'}`,
    age(f.ageMs),
    age(f.ttlMs),
  ]);
  const header = ['ID', 'STATE', 'KIND', 'TARGET', 'RUN', 'AGE', 'TTL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  printText(`${line(header)}\n${rows.map(line).join('\n')}\n`);
  for (const f of faults) {
    if (!f.lastError) continue;
    const tries = f.revertAttempts
      ? ` (${f.revertAttempts} failed revert${f.revertAttempts === 1 ? '' : 's'})`
      : '';
    out.info(`${shortId(f.id)}: last error${tries}: ${f.lastError}`);
  }
  return 0;
}

const what = (r: RevertOutcome) =>
  `${r.kind} ${r.target} (run ${r.runId}${r.corrupt ? ', from a corrupt entry' : ''})`;

/** The lines of a recovery or halt report, shared by `recover`, `halt` and every command's leftover check. */
export function reportLines(
  report: RecoveryReport,
  out: Output,
  {
    prefix = '',
    notice = out.summary,
    problem = out.error,
    quietLeft = false,
  }: {
    prefix?: string;
    notice?: (m: string) => void;
    problem?: (m: string) => void;
    /** Leave out corrupt entries left alone (every command's check: `status` lists them). */
    quietLeft?: boolean;
  } = {},
): void {
  if (report.ledgerError) problem(`${prefix}cannot read the fault ledger: ${report.ledgerError}`);
  for (const r of report.reverted) {
    const note = r.revertError ? ` (its revert failed: ${r.revertError}; verify finds it gone)` : '';
    notice(`${prefix}reverted ${what(r)}${note}`);
    if (r.ledgerError)
      problem(
        `${prefix}reverted ${r.kind} ${r.target}, but its ledger entry ${r.id} could not be removed: ${r.ledgerError}`,
      );
  }
  for (const f of report.failed) problem(`${prefix}could not revert ${what(f)}: ${f.error} (entry ${f.id})`);
  for (const f of report.notApplied) {
    out.warn(
      `${prefix}${f.kind} ${f.target}: its injection had failed and its cleanup still cannot be confirmed (${f.error}); nothing is known to be in place: \`faultline ledger forget ${shortId(f.id)}\` removes the entry`,
    );
  }
  for (const n of report.notRetried) {
    problem(
      `${prefix}not retried: ${n.kind} ${n.target} (run ${n.runId}): its revert failed ${n.attempts} time${n.attempts === 1 ? '' : 's'}${n.firstFailedAt ? ` since ${n.firstFailedAt}` : ''}${n.lastError ? ` (last: ${n.lastError})` : ''}; it may still be in place: \`faultline recover\` tries again, \`faultline ledger forget ${shortId(n.id)}\` dismisses it`,
    );
  }
  const shown = (c: CorruptOutcome) => c.handled === 'unrevertable' || (c.handled === 'left' && !quietLeft);
  for (const c of report.corrupt.filter(shown)) {
    const line = `${prefix}corrupt ledger entry ${c.id} (${c.file}): ${c.error}; read: ${read(c)}; ${c.note ?? ''}; \`faultline ledger show ${shortId(c.id)}\`, \`faultline ledger forget ${shortId(c.id)}\``;
    if (c.handled === 'unrevertable') problem(line);
    else out.warn(line);
  }
}

export async function haltCommand(
  opts: { release?: boolean; reason?: string },
  out: Output,
): Promise<number> {
  const home = faultlineHome();
  if (opts.release) {
    if (await releaseHalt({ home })) out.summary('halt released: runs are allowed again');
    else out.summary('no halt was in force: nothing to release');
    return 0;
  }
  const report = await halt({ home, reason: opts.reason });
  reportLines(report, out);
  if (!report.flag.raised) {
    for (const r of report.signalled) {
      if (r.error) out.error(`could not stop run ${r.runId} (pid ${r.pid}): ${r.error}`);
      else out.summary(`asked run ${r.runId} (pid ${r.pid}) to stop (SIGTERM): it reverts its faults`);
    }
    out.error(
      `could not raise the halt flag (${report.flag.error}): new runs are NOT refused; ${report.reverted.length} fault(s) reverted from the ledger it could read`,
    );
    return 1;
  }
  out.summary(
    `HALT: ${report.reverted.length} fault(s) reverted; new runs are refused until \`faultline halt --release\``,
  );
  return report.faultsInPlace ? 1 : 0;
}

export async function recoverCommand(out: Output): Promise<number> {
  const report = await recover({ home: faultlineHome() });
  reportLines(report, out);
  const nothing =
    report.reverted.length + report.failed.length + report.notApplied.length + report.corrupt.length === 0;
  if (nothing && !report.ledgerError) out.summary('nothing to recover');
  return report.faultsInPlace ? 1 : 0;
}

/** The one entry `idOrPrefix` names; exit 2 (naming it) when it names none or several. */
async function resolveId(ledger: Ledger, idOrPrefix: string): Promise<string> {
  const matches = idOrPrefix ? await ledger.matchIds(idOrPrefix) : [];
  if (matches.includes(idOrPrefix)) return idOrPrefix;
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `<id>: no ledger entry '${idOrPrefix}' in ${ledger.dir} (\`faultline status\` lists them)`,
    );
  }
  throw new FaultlineError(
    'FAULTLINE_ERR_USAGE',
    `<id>: '${idOrPrefix}' matches ${matches.length} ledger entries (${matches.join(', ')}): give more of the id`,
  );
}

export async function ledgerShowCommand(idOrPrefix: string, _out: Output): Promise<number> {
  const ledger = new Ledger({ home: faultlineHome() });
  const id = await resolveId(ledger, idOrPrefix);
  const found = await ledger.inspect(id);
  if (!found) throw new FaultlineError('FAULTLINE_ERR_USAGE', `<id>: ledger entry '${id}' is gone`);
  const shown = 'entry' in found ? found.entry : { corrupt: found.corrupt };
  printJsonDocument(shown);
  return 0;
}

/**
 * Forgets an entry a human has judged: recorded in forgotten.log first. It does not
 * revert anything: that is `recover` or `halt`.
 */
export async function ledgerForgetCommand(
  idOrPrefix: string,
  opts: { yes?: boolean },
  out: Output,
): Promise<number> {
  const home = faultlineHome();
  const ledger = new Ledger({ home });
  const id = await resolveId(ledger, idOrPrefix);
  const found = await ledger.inspect(id);
  if (!found) throw new FaultlineError('FAULTLINE_ERR_USAGE', `<id>: ledger entry '${id}' is gone`);
  const desc =
    'entry' in found
      ? `${found.entry.kind} ${found.entry.target} (state ${found.entry.state}${found.entry.lastError ? `, last error: ${found.entry.lastError}` : ''})`
      : `a corrupt entry (${read(found.corrupt)})`;
  if (!opts.yes) {
    if (!process.stdin.isTTY) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `--yes: required to forget ${id} without a terminal to confirm on`,
      );
    }
    // Loaded here, not at the top: `faultline halt` imports this file and counts every ms.
    const { askYes } = await import('./prompt.js');
    const ok = await askYes(
      `Forget ${id}: ${desc}? Faultline will no longer revert it; whatever it did stays as it is. [y/N] `,
    );
    if (!ok) {
      out.summary(`not forgotten: ${id}`);
      return 1;
    }
  }
  await ledger.forget(id);
  out.summary(`forgot ${id}: ${desc}; recorded in ${home}/${FORGOTTEN_LOG}`);
  return 0;
}
