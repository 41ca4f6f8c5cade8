/**
 * What watches a run besides its caller: Prometheus metrics (a scrape
 * endpoint), webhook notifications and OpenTelemetry traces (the standard
 * OTEL_* variables, see observe/otel.ts). Each is a RunEvent listener; none
 * can change the run's outcome. Options are typed: the CLI parses its flags
 * (`--metrics-port`, `--notify`...) into them with its own messages, and a
 * library caller passes them directly (runFromSource, lib/run-source.ts).
 */
import { FaultlineError } from '../core/errors.js';
import type { Journal } from '../core/journal.js';
import type { RunEvent } from '../engine/events.js';
import type { MetricsServer } from '../observe/metrics-server.js';
import { Notifier, type RunFacts, type Webhook, WebhookSchema } from '../observe/notify.js';
import type { Tracing } from '../observe/otel.js';
import { tracesMaybeConfigured } from '../observe/otel-env.js';
import { RunMetrics } from '../observe/run-metrics.js';

/** A Prometheus scrape endpoint serving the run's metrics. */
export interface MetricsOptions {
  /** TCP port, 0 for any free one (the URL is told through `onNotice`). */
  port: number;
  /** Address to listen on; default 127.0.0.1. Any other needs `token`. */
  host?: string;
  /** Keep serving the final values this long after the run (for the last scrape); default 0. */
  lingerMs?: number;
  /** Names scrapers may send in `Host` besides localhost and IP addresses (DNS-rebinding protection). */
  allowedHosts?: readonly string[];
  /** Bearer token every scrape must send; required when `host` is not loopback. Default: FAULTLINE_METRICS_TOKEN of `env`. */
  token?: string;
}

export interface ObserverOptions {
  metrics?: MetricsOptions;
  /** Webhooks told when the run starts and ends (Slack-compatible JSON). */
  webhooks?: readonly Webhook[];
  /** Where the OTEL_* trace settings are read from. */
  env: NodeJS.ProcessEnv;
  /** What a terminal would show: the metrics URL (info), a webhook or trace export that failed (warn). */
  onNotice(level: 'info' | 'warn', message: string): void;
}

export interface RunObservers {
  onEvent(event: RunEvent): void;
  /** After the journal and reports are written: the final notification, the metrics linger. */
  finish(journal: Journal, facts: RunFacts): Promise<void>;
  /** Stops listening (also when the run never started). */
  close(): Promise<void>;
}

const usage = (message: string) => new FaultlineError('FAULTLINE_ERR_USAGE', message);

/** Typed options can still be wrong at run time (a library caller's JavaScript): checked before the run. */
function checkMetrics(m: MetricsOptions): void {
  if (!Number.isInteger(m.port) || m.port < 0 || m.port > 65535)
    throw usage(`metrics.port: expected a port number 0-65535, got ${String(m.port)}`);
  if (m.lingerMs !== undefined && !(Number.isFinite(m.lingerMs) && m.lingerMs >= 0))
    throw usage(`metrics.lingerMs: expected a number of milliseconds (0 or more), got ${String(m.lingerMs)}`);
}

function checkWebhooks(hooks: readonly Webhook[]): Webhook[] {
  return hooks.map((hook, i) => {
    const parsed = WebhookSchema.safeParse(hook);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `.${issue.path.join('.')}` : '';
      throw usage(`webhooks[${i}]${where}: ${issue?.message ?? 'expected {url, events?, headers?}'}`);
    }
    return parsed.data;
  });
}

/** Checks the options and starts what they ask for; invalid options throw before the run starts. */
export async function startRunObservers(options: ObserverOptions): Promise<RunObservers> {
  const hooks = checkWebhooks(options.webhooks ?? []);
  const m = options.metrics;
  if (m) checkMetrics(m);
  const lingerMs = m?.lingerMs ?? 0;
  const warn = (message: string) => options.onNotice('warn', message);
  const notifier = new Notifier(hooks, warn);
  // Traces go where the standard OTEL_EXPORTER_OTLP_* variables say; off when they say nothing.
  // The exporter (and node:http, node:https, node:zlib with it) loads only when one of them is set:
  // a run's start is measured against Chaos Toolkit's (docs/benchmarks.md).
  const tracing: Tracing = tracesMaybeConfigured(options.env)
    ? (await import('../observe/otel.js')).attachTracer(undefined, options.env, warn)
    : { onEvent: () => {}, flush: async () => {} };
  const metrics = new RunMetrics();
  let server: MetricsServer | undefined;
  if (m) {
    const { startMetricsServer } = await import('../observe/metrics-server.js');
    server = await startMetricsServer({
      port: m.port,
      host: m.host,
      token: m.token ?? options.env.FAULTLINE_METRICS_TOKEN,
      ...(m.allowedHosts && m.allowedHosts.length > 0 ? { allowedHosts: m.allowedHosts } : {}),
      render: () => metrics.render(),
    });
    options.onNotice('info', `metrics: ${server.url}`);
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
        options.onNotice(
          'info',
          `metrics: serving the final values for ${lingerMs / 1000} s more (--metrics-linger)`,
        );
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
