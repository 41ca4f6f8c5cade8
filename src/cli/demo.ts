/**
 * `faultline demo`: starts the demo system in this process (src/demo/system.ts),
 * runs examples/demo/experiment.yaml on it with the same live view as
 * `faultline run`, writes the journal and the HTML report to --out, and
 * prints a short summary.
 *
 * Exit code: 0 when the demo ran as designed (journal and report written,
 * every fault reverted and verified, the steady state measured again after
 * the faults), whatever the experiment's verdict: the demo system is built
 * to deviate under the 503 fault, and the verdict says so. 1 otherwise
 * (Ctrl-C, a fault left behind, a report that could not be written).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaultlineError } from '../core/errors.js';
import type { Experiment } from '../core/schema.js';
import { startDemoSystem } from '../demo/system.js';
import type { Journal } from '../engine/journal.js';
import { runExperiment } from '../engine/run.js';
import { assertValidExperiment, loadExperimentSource } from '../experiment/index.js';
import { faultlineHome } from '../faults/home.js';
import { renderReport } from '../report/index.js';
import { formatSeconds, formatValue, hypothesisRows, verdictOf } from '../report/model.js';
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

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
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

/** The 3-5 line summary printed after the run. */
export function demoSummary(journal: Journal): string[] {
  const v = verdictOf(journal);
  const fl = journal.faultline;
  const lines: string[] = [];
  const ss = journal.steady_states;
  const met = (s: { steady_state_met: boolean } | null) =>
    s === null ? 'not checked' : s.steady_state_met ? 'met' : 'NOT met';
  const duringMet = ss.during.filter((d) => d.steady_state_met).length;
  lines.push(
    `verdict: ${v.label}${v.reasons.length ? ` (${v.reasons.join('; ')})` : ''}`,
    `steady state: before ${met(ss.before)}, during ${duringMet}/${ss.during.length} checks met, after ${met(ss.after)}`,
  );
  const verified = fl.faults.filter((f) => f.reverted_at && f.verified !== false && !f.error).length;
  const kinds = fl.faults.map((f) => f.target.split(' @ ')[0]).join(', ');
  const guard = fl.safeguard as { name?: unknown; value?: unknown } | undefined;
  lines.push(
    `faults: ${fl.faults.length} injected (${kinds}), ${verified} reverted and verified${guard ? `; safeguard '${String(guard.name)}' tripped at ${formatValue(guard.value)}` : ''}`,
  );
  const rows = hypothesisRows(journal);
  const p99 = rows.find((r) => r.probe === 'p99-latency-ms');
  const ok = rows.find((r) => r.probe === 'orders-served');
  const maxOf = (xs: (number | undefined)[]) => {
    const ns = xs.filter((x): x is number => x !== undefined);
    return ns.length ? Math.max(...ns) : undefined;
  };
  const minOf = (xs: (number | undefined)[]) => {
    const ns = xs.filter((x): x is number => x !== undefined);
    return ns.length ? Math.min(...ns) : undefined;
  };
  const rec = fl.recovery as { mttr?: number | null } | undefined;
  lines.push(
    `p99 latency: ${ms(num(p99?.before?.value))} before the faults, up to ${ms(maxOf(p99?.during.map((c) => num(c.value)) ?? []))} during; ` +
      `orders served: ${pct(num(ok?.before?.value))} before, as low as ${pct(minOf(ok?.during.map((c) => num(c.value)) ?? []))} during`,
    rec?.mttr === null || rec?.mttr === undefined
      ? 'recovery: the steady state did not hold again within the deadline'
      : `recovery: the steady state held again ${formatSeconds(rec.mttr)} after the last fault was reverted (MTTR)`,
  );
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

  out.info('Starting the demo system: order API -> Faultline proxy -> datastore (all in this process)');
  const system = await startDemoSystem();
  const signals = trapSignals();
  let journal: Journal;
  try {
    out.info(
      `  order API  ${system.orderApiUrl}  (GET /orders/:id; 500 ms timeout and 1 retry per datastore call)`,
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
      `  100 req/s on the order API; the datastore gets 200 ms slower for ${String(secs)} s, then answers 503 to ${String(abort)}% of its requests for ${String(secs)} s${breach ? ' (--breach: the safeguard should stop the run)' : ''}`,
    );
    out.info('  steady state: >= 99% of orders served and p99 latency <= 150 ms');
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
    await writeFile(journalPath, `${JSON.stringify(journal, null, 2)}\n`, 'utf8');
    await writeFile(reportPath, renderReport('html', [journal], { title: 'Faultline demo' }), 'utf8');
  } catch (err) {
    written = false;
    out.error(`--out: cannot write to ${outDir}: ${(err as Error).message}`);
  }
  const designed = ranAsDesigned(journal, breach);
  for (const line of demoSummary(journal)) out.summary(line);
  if (written) {
    out.summary(`report: ${reportPath}`);
    out.summary(`journal: ${journalPath}`);
  }
  const took = ((Date.now() - started) / 1000).toFixed(1);
  if (!designed.ok) {
    out.error(`the demo did not run as designed: ${designed.why}`);
    return 1;
  }
  if (!written) return 1;
  out.summary(
    `demo done in ${took} s; exit code 0: the demo ran as designed (the verdict above is the experiment's)`,
  );
  return 0;
}
