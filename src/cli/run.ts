/**
 * `faultline run`: flags to runFromSource's options (lib/run-source.ts), its
 * events to the terminal, and the exit code it returns. Everything else (the
 * settings file, policies, observers, the journal, reports) is the library's,
 * so a library caller gets the same run. The signals are the CLI's own: a
 * library caller passes its own AbortSignal.
 */

import { parseDuration } from '../core/duration.js';
import { FaultlineError } from '../core/errors.js';
import type { DryMode, HypothesisStrategy, RollbackStrategy } from '../core/schema.js';
import { ManifestRefusedError, noteLines } from '../experiment/manifest-source.js';
import { parseVarOption } from '../experiment/vars.js';
import type { MetricsOptions } from '../lib/observers.js';
import { runFromSource } from '../lib/run-source.js';
import { WebhookSchema } from '../observe/notify.js';
import { ServerClient } from '../server/client.js';
import { type NatsFlags, natsConnectOptions } from './nats-options.js';
import type { Output } from './output.js';
import { askYes } from './prompt.js';
import { allowedHostsOption } from './proxy.js';
import { pushOne } from './push.js';
import { RunRenderer } from './render-run.js';
import { parseReportSpecs } from './report.js';

export interface RunFlags extends NatsFlags {
  journalPath: string;
  dry?: DryMode;
  validation: boolean;
  /** `--no-native`: natively implemented Python modules run in Python too. */
  native: boolean;
  verifyTls: boolean;
  hypothesisStrategy?: HypothesisStrategy;
  rollbackStrategy?: RollbackStrategy;
  hypothesisFrequency?: number;
  failFast?: boolean;
  /** `--max-misses`: "during" misses the verdict tolerates. */
  maxMisses?: number;
  /** `--max-miss-ratio`: share of "during" misses the verdict tolerates (0..1). */
  maxMissRatio?: number;
  /** Milliseconds (parsed from --max-duration). */
  maxDuration?: number;
  /** Approves an experiment tagged for production without asking. */
  yes?: boolean;
  var: string[];
  varFile: string[];
  settings?: string;
  /** `--report FORMAT=PATH` (repeatable): reports written after the journal. */
  report?: string[];
  metricsPort?: string;
  metricsHost?: string;
  metricsLinger?: string;
  /** `--metrics-allowed-host` (repeatable): names scrapers may send in `Host`. */
  metricsAllowedHost?: string[];
  notify?: string[];
  /** `--server URL`: the journal is pushed to this control plane after the run. */
  server?: string;
}

/**
 * Ctrl-C / SIGTERM: the first interrupts the run (status `interrupted`), the
 * second stops the rollbacks; faults are reverted either way.
 */
export function trapSignals(
  interrupt = new AbortController(),
  rollbacks = new AbortController(),
): { interrupt: AbortController; rollbacks: AbortController; release(): void } {
  let count = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    count += 1;
    if (count === 1) interrupt.abort(`interrupted by ${sig}`);
    else rollbacks.abort(`interrupted by ${sig}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    interrupt,
    rollbacks,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

const usage = (message: string) => new FaultlineError('FAULTLINE_ERR_USAGE', message);

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw usage(`--metrics-port: expected a port number 0-65535, got '${value}'`);
  return n;
}

/** `--metrics-*` flags as the library's metrics options (the library reads FAULTLINE_METRICS_TOKEN from the run's env). */
function metricsOptions(flags: RunFlags, env: NodeJS.ProcessEnv): MetricsOptions | undefined {
  let lingerMs: number | undefined;
  if (flags.metricsLinger !== undefined) {
    lingerMs = parseDuration(flags.metricsLinger);
    if (lingerMs === undefined)
      throw usage(`--metrics-linger: expected a duration such as '30s', got '${flags.metricsLinger}'`);
  }
  if (flags.metricsPort === undefined) {
    if (
      flags.metricsHost !== undefined ||
      flags.metricsLinger !== undefined ||
      (flags.metricsAllowedHost ?? []).length > 0
    )
      throw usage('--metrics-host/--metrics-linger/--metrics-allowed-host: expected --metrics-port too');
    return undefined;
  }
  const allowedHosts = allowedHostsOption(
    '--metrics-allowed-host',
    flags.metricsAllowedHost,
    'FAULTLINE_METRICS_ALLOWED_HOSTS',
    env,
  );
  return {
    port: parsePort(flags.metricsPort),
    ...(flags.metricsHost !== undefined ? { host: flags.metricsHost } : {}),
    ...(lingerMs !== undefined ? { lingerMs } : {}),
    ...(allowedHosts.length > 0 ? { allowedHosts } : {}),
  };
}

/** `--notify URL` (repeatable) as webhooks. */
function notifyWebhooks(urls: readonly string[]) {
  return urls.map((url) => {
    const parsed = WebhookSchema.safeParse({ url });
    if (!parsed.success) throw usage(`--notify: expected an http(s) URL, got '${url}'`);
    return parsed.data;
  });
}

export async function runCommand(source: string, flags: RunFlags, out: Output): Promise<number> {
  const env = { ...process.env };
  // Bad flags are usage errors before anything runs.
  const reports = parseReportSpecs(flags.report ?? []);
  const webhooks = notifyWebhooks(flags.notify ?? []);
  const metrics = metricsOptions(flags, env);
  const configuration = Object.fromEntries(
    flags.var.map((spec) => {
      const v = parseVarOption(spec);
      return [v.key, v.value];
    }),
  );
  // A bad URL is a usage error before anything runs; a push that fails after the run only warns.
  const server = flags.server === undefined ? undefined : new ServerClient(flags.server, '--server');
  const renderer = new RunRenderer(out);
  // Ctrl-C is the run's only while the engine runs it: before (a prompt, a slow fetch) and after (the
  // metrics linger) it ends the process as usual.
  const interrupt = new AbortController();
  const rollbacks = new AbortController();
  let signals: ReturnType<typeof trapSignals> | undefined;
  const release = () => {
    signals?.release();
    signals = undefined;
  };
  try {
    const result = await runFromSource(source, {
      settings: flags.settings,
      vars: { configuration },
      varFiles: flags.varFile,
      validation: flags.validation,
      verifyTls: flags.verifyTls,
      ...(flags.native === false ? { providerOptions: { python: { native: false } } } : {}),
      // Used only by fault actions with `targets:` (the fleet); a run without one never connects.
      fleet: natsConnectOptions(flags, 'faultline-run', env),
      dry: flags.dry,
      hypothesisStrategy: flags.hypothesisStrategy,
      rollbackStrategy: flags.rollbackStrategy,
      hypothesisFrequency: flags.hypothesisFrequency,
      failFast: flags.failFast,
      maxMisses: flags.maxMisses,
      maxMissRatio: flags.maxMissRatio,
      maxDurationMs: flags.maxDuration,
      yes: flags.yes,
      confirm: process.stdin.isTTY && process.stderr.isTTY ? askYes : undefined,
      metrics,
      webhooks,
      journalPath: flags.journalPath,
      reports,
      env,
      signal: interrupt.signal,
      rollbackSignal: rollbacks.signal,
      fieldNames: { journalPath: '--journal-path', reports: '--report' },
      onEvent: (event) => {
        switch (event.type) {
          case 'run-approved':
            signals = trapSignals(interrupt, rollbacks);
            break;
          case 'notice':
            renderer.notice(event.level, event.message);
            break;
          case 'journal':
            if (event.error !== undefined) out.error(event.error);
            renderer.summary(event.journal, event.path, event.exitCode);
            break;
          case 'report':
            if (event.error !== undefined) out.error(event.error);
            else out.summary(`  ${event.format} report: ${event.path}`);
            break;
          case 'run-end':
            release();
            renderer.handle(event);
            break;
          default:
            renderer.handle(event);
        }
      },
    });
    if (server) {
      const pushed = await pushOne(server, result.journal);
      if (pushed.ok) out.summary(`  ${pushed.line}`);
      else out.warn(`warning: --server: the journal was not pushed: ${pushed.line}`);
    }
    return result.exitCode;
  } catch (err) {
    // A manifest with refused fields: one `file:line:col: field: why` line each, nothing run.
    if (!(err instanceof ManifestRefusedError)) throw err;
    out.error(err.message);
    for (const line of noteLines(err.manifest, 'refused', source)) out.error(line);
    return err.exitCode;
  } finally {
    release();
  }
}
