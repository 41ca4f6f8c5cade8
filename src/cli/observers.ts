/**
 * What watches a `faultline run` besides the terminal: Prometheus metrics
 * (`--metrics-port`), webhook notifications (`--notify`, the settings file's
 * `notifications`) and OpenTelemetry traces (the standard OTEL_* variables,
 * see observe/otel.ts).
 * Each is a RunEvent listener; none can change the run's outcome.
 */
import { parseDuration } from '../core/duration.js';
import { FaultlineError } from '../core/errors.js';
import type { Journal } from '../core/journal.js';
import type { RunEvent } from '../engine/events.js';
import { type MetricsServer, startMetricsServer } from '../observe/metrics-server.js';
import { Notifier, type RunFacts, type Webhook, WebhookSchema } from '../observe/notify.js';
import { attachTracer } from '../observe/otel.js';
import { RunMetrics } from '../observe/run-metrics.js';
import type { Output } from './output.js';
import { allowedHostsOption } from './proxy.js';

export interface ObserverFlags {
  metricsPort?: string;
  metricsHost?: string;
  metricsLinger?: string;
  /** `--metrics-allowed-host` (repeatable): names scrapers may send in `Host`. */
  metricsAllowedHost?: string[];
  notify?: string[];
}

export interface RunObservers {
  onEvent(event: RunEvent): void;
  /** After the journal and reports are written: the final notification, the metrics linger. */
  finish(journal: Journal, facts: RunFacts): Promise<void>;
  /** Stops listening (also when the run never started). */
  close(): Promise<void>;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--metrics-port: expected a port number 0-65535, got '${value}'`,
    );
  }
  return n;
}

/** Validates the flags and starts what they ask for; invalid flags throw before the run starts. */
export async function startRunObservers(
  flags: ObserverFlags,
  settingsHooks: readonly Webhook[],
  env: NodeJS.ProcessEnv,
  out: Output,
): Promise<RunObservers> {
  const hooks: Webhook[] = [...settingsHooks];
  for (const url of flags.notify ?? []) {
    const parsed = WebhookSchema.safeParse({ url });
    if (!parsed.success)
      throw new FaultlineError('FAULTLINE_ERR_USAGE', `--notify: expected an http(s) URL, got '${url}'`);
    hooks.push(parsed.data);
  }
  let lingerMs = 0;
  if (flags.metricsLinger !== undefined) {
    const ms = parseDuration(flags.metricsLinger);
    if (ms === undefined) {
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        `--metrics-linger: expected a duration such as '30s', got '${flags.metricsLinger}'`,
      );
    }
    lingerMs = ms;
  }
  const notifier = new Notifier(hooks, (m) => out.warn(m));
  // Traces go where the standard OTEL_EXPORTER_OTLP_* variables say; off when they say nothing.
  const tracing = attachTracer(undefined, env, (m) => out.warn(m));
  const metrics = new RunMetrics();
  let server: MetricsServer | undefined;
  if (flags.metricsPort !== undefined) {
    const allowedHosts = allowedHostsOption(
      '--metrics-allowed-host',
      flags.metricsAllowedHost,
      'FAULTLINE_METRICS_ALLOWED_HOSTS',
      env,
    );
    server = await startMetricsServer({
      port: parsePort(flags.metricsPort),
      host: flags.metricsHost,
      token: env.FAULTLINE_METRICS_TOKEN,
      ...(allowedHosts.length > 0 ? { allowedHosts } : {}),
      render: () => metrics.render(),
    });
    out.info(`metrics: ${server.url}`);
  } else if (
    flags.metricsHost !== undefined ||
    flags.metricsLinger !== undefined ||
    (flags.metricsAllowedHost ?? []).length > 0
  ) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      '--metrics-host/--metrics-linger/--metrics-allowed-host: expected --metrics-port too',
    );
  }
  return {
    onEvent(event) {
      tracing.onEvent(event);
      if (server) metrics.listener(event);
      if (event.type === 'run-start' && notifier.enabled)
        notifier.started({ title: event.title, runId: event.runId });
    },
    async finish(journal, facts) {
      await tracing.flush();
      if (notifier.enabled) await notifier.finished(journal, facts);
      if (server && lingerMs > 0) {
        out.info(`metrics: serving the final values for ${lingerMs / 1000} s more (--metrics-linger)`);
        await new Promise((r) => setTimeout(r, lingerMs));
      }
    },
    async close() {
      await tracing.flush();
      await notifier.flush();
      await server?.close();
    },
  };
}
