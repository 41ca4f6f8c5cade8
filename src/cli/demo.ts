/**
 * `faultline demo`: starts the demo system in this process (src/demo/system.ts),
 * runs examples/demo/experiment.yaml on it with the same live view as
 * `faultline run`, writes the journal and the HTML report to --out, and
 * prints a short summary, derived from the same model as the report
 * (report/model.ts), so the two never disagree.
 *
 * Exit code: the experiment's, as `faultline run` would exit and as the
 * report's banner says (the demo system is built to deviate under the 503
 * fault: DEVIATED, exit 1; `--breach`: INTERRUPTED, exit 1). When the demo
 * did not run as designed (no fault, a fault left behind, no recovery, a
 * report that could not be written) it says why, and exits 1 even if the
 * verdict passed.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaultlineError } from '../core/errors.js';
import type { Journal } from '../core/journal.js';
import { checkOutputPath } from '../core/safe-write.js';
import type { Experiment } from '../core/schema.js';
import { startDemoSystem } from '../demo/system.js';
import { loadExperimentSource } from '../experiment/index.js';
import { faultlineHome } from '../faults/home.js';
import { writeJournalFile, writeReportFile } from '../lib/output-files.js';
import { runExperiment } from '../lib/run.js';
import { assertValidExperiment } from '../lib/validate.js';
import { renderReport } from '../report/index.js';
import {
  duringState,
  duringText,
  formatValue,
  hypothesisRows,
  recoveryOf,
  recoveryText,
  safeguardOf,
  trafficByFault,
  verdictOf,
} from '../report/model.js';
import type { Output } from './output.js';
import { RunRenderer } from './render-run.js';
import { trapSignals } from './run.js';

export interface DemoFlags {
  /** Directory for journal.json and report.html (default ./faultline-demo). */
  out: string;
  /** Make the 503 fault severe enough for the safeguard to stop the run. */
  breach?: boolean;
}

/** The experiment the demo runs, shipped with the package. */
export const DEMO_EXPERIMENT = fileURLToPath(new URL('../../examples/demo/experiment.yaml', import.meta.url));

/** What `--breach` sets `abort_percentage` to: 95% of datastore calls fail, ~90% of orders after the retry. */
const BREACH_PERCENTAGE = 95;

const ms = (v: number | undefined) => (v === undefined ? 'n/a' : `${Math.round(v)} ms`);
const pct = (v: number | undefined) => (v === undefined ? 'n/a' : `${(v * 100).toFixed(1)}%`);

/** Whether the run went as the demo is designed to go (see the module comment). */
export function ranAsDesigned(journal: Journal, breach: boolean): { ok: boolean; why?: string } {
  const fl = journal.faultline;
  if (fl.faults.length === 0) return { ok: false, why: 'no fault was injected' };
  if (fl.unreverted.length > 0) return { ok: false, why: `${fl.unreverted.length} fault(s) not reverted` };
  if (journal.status === 'interrupted' && !(breach && fl.safeguard))
    return { ok: false, why: `the run was interrupted: ${String(fl.reason ?? '')}` };
  if (journal.status !== 'completed' && journal.status !== 'interrupted')
    return { ok: false, why: `the run ended ${journal.status}: ${String(fl.reason ?? '')}` };
  const rec = fl.recovery as { mttr?: number | null } | undefined;
  if (!rec || rec.mttr === null || rec.mttr === undefined)
    return { ok: false, why: 'the steady state did not hold again after the faults' };
  return { ok: true };
}

/** The summary printed after the run: every figure from report/model.ts, as in the report. */
export function demoSummary(journal: Journal): string[] {
  const v = verdictOf(journal);
  const fl = journal.faultline;
  const rows = hypothesisRows(journal);
  const served = rows.find((r) => r.probe === 'orders-served');
  const cell = (c: { met: boolean | undefined } | undefined) =>
    c === undefined ? 'not checked' : c.met === true ? 'met' : 'NOT met';
  const during = served ? duringState(journal, served) : 'none';
  const lines = [
    `verdict: ${v.label}, exit code ${v.exitCode}${v.reasons.length ? ` (${v.reasons.join('; ')})` : ''}`,
    `steady state (orders served): before ${cell(served?.before)}; while a fault was active ${during === 'none' ? 'not checked' : during === 'met' ? 'met' : 'NOT met'} (${served ? duringText(journal, served) : '-'}); after ${cell(served?.after)}`,
  ];
  const verified = fl.faults.filter((f) => f.reverted_at && f.verified !== false && !f.error).length;
  const kinds = fl.faults.map((f) => f.target.split(' @ ')[0]).join(', ');
  const guard = safeguardOf(journal);
  lines.push(
    `faults: ${fl.faults.length} injected (${kinds}), ${verified} reverted and verified${guard ? `; safeguard '${guard.name}' tripped at ${formatValue(guard.value)}` : ''}`,
  );
  const traffic = trafficByFault(journal);
  if (traffic.before || traffic.during)
    lines.push(
      `traffic, per second: orders served ${pct(traffic.before?.successRatio)} before the faults, as low as ${pct(traffic.during?.minSuccessRatio)} while one was active; ` +
        `p99 latency ${ms(traffic.before?.p99)} before, up to ${ms(traffic.during?.maxP99)} (charted, not judged)`,
    );
  lines.push(`recovery: ${recoveryText(recoveryOf(journal)).text}`);
  return lines;
}

export async function demoCommand(flags: DemoFlags, out: Output): Promise<number> {
  const started = Date.now();
  const outDir = resolve(flags.out);
  const breach = Boolean(flags.breach);
  const env = { ...process.env };
  const home = faultlineHome(env);
  try {
    await mkdir(outDir, { recursive: true });
  } catch (err) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--out: cannot create ${outDir}: ${(err as Error).message}`,
    );
  }
  // Files that would be refused later (a symbolic link planted in --out) are refused before the demo runs.
  await checkOutputPath(resolve(outDir, 'journal.json'), '--out');
  await checkOutputPath(resolve(outDir, 'report.html'), '--out');

  out.info('Starting the demo system: order API -> Faultline proxy -> datastore (all in this process)');
  const system = await startDemoSystem();
  const signals = trapSignals();
  let journal: Journal;
  try {
    out.info(
      `  order API  ${system.orderApiUrl}  (GET /orders/:id; 2 s timeout and 1 retry per datastore call)`,
    );
    out.info(
      `  datastore  ${system.datastore}, reached through proxy '${system.proxyName}' on ${system.datastoreProxy}`,
    );
    out.info(`  proxy API  ${system.proxyApiUrl}`);
    await system.warmUp();

    const loaded = await loadExperimentSource(DEMO_EXPERIMENT, { env });
    const api = new URL(system.proxyApiUrl);
    const configuration: Record<string, unknown> = {
      order_api_url: system.orderApiUrl,
      toxiproxy_host: api.hostname,
      toxiproxy_port: Number(api.port),
      ...(breach ? { abort_percentage: BREACH_PERCENTAGE } : {}),
    };
    const { experiment } = await assertValidExperiment(loaded, {
      baseDir: loaded.baseDir,
      env,
      overrides: { configuration, secrets: {} },
    });
    const config = (experiment as Experiment).configuration ?? {};
    const abort = breach ? BREACH_PERCENTAGE : config.abort_percentage;
    const secs = config.fault_seconds;
    out.info(`Running ${DEMO_EXPERIMENT}:`);
    out.info(
      `  50 req/s on the order API; the datastore gets 200 ms slower for ${String(secs)} s, then answers 503 to ${String(abort)}% of its requests for ${String(secs)} s${breach ? ' (--breach: the safeguard should stop the run)' : ''}`,
    );
    out.info('  steady state: >= 99% of orders served (latency is charted, not judged)');
    const renderer = new RunRenderer(out);
    journal = await runExperiment(experiment as Experiment, {
      baseDir: loaded.baseDir,
      env,
      home,
      configuration,
      signal: signals.interrupt.signal,
      rollbackSignal: signals.rollbacks.signal,
      onEvent: renderer.handle,
    });
  } finally {
    signals.release();
    await system.close();
  }

  const journalPath = resolve(outDir, 'journal.json');
  const reportPath = resolve(outDir, 'report.html');
  let written = true;
  try {
    await writeJournalFile(journalPath, journal, '--out');
    await writeReportFile(reportPath, renderReport('html', [journal], { title: 'Faultline demo' }), '--out');
  } catch (err) {
    written = false;
    out.error(
      err instanceof FaultlineError
        ? err.message
        : `--out: cannot write to ${outDir}: ${(err as Error).message}`,
    );
  }
  const designed = ranAsDesigned(journal, breach);
  for (const line of demoSummary(journal)) out.summary(line);
  if (written) {
    out.summary(`report: ${reportPath}`);
    out.summary(`journal: ${journalPath}`);
  }
  const took = ((Date.now() - started) / 1000).toFixed(1);
  const { exitCode, label } = verdictOf(journal);
  if (!designed.ok || !written) {
    if (!designed.ok) out.error(`the demo did not run as designed: ${designed.why}`);
    return Math.max(exitCode, 1);
  }
  out.summary(
    `demo done in ${took} s; exit code ${exitCode}: the experiment's verdict (${label}), as \`faultline run\` exits and the report's banner says`,
  );
  return exitCode;
}
