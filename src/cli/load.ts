/**
 * `faultline load URL --rate 500 --duration 30s`: the built-in load generator
 * from the command line. On a terminal, one line redrawn each second (achieved
 * rate, p50/p99, errors); then a summary; `--json` prints the summary (with the
 * per-second series) on stdout. Ctrl-C stops early and still reports.
 */
import { FaultlineError } from '../core/errors.js';
import type { LoadSummary, SecondStats } from '../load/index.js';
import { parseDuration } from '../load/schema.js';
import type { Output } from './output.js';

export interface LoadCommandOptions {
  rate?: string;
  duration?: string;
  concurrency?: string;
  overflow?: string;
  method?: string;
  header?: string[];
  body?: string;
  timeout?: string;
  json?: boolean;
}

function usage(message: string): FaultlineError {
  return new FaultlineError('FAULTLINE_ERR_USAGE', message);
}

function overflowOption(value: string | undefined): 'drop' | 'queue' | undefined {
  if (value === undefined || value === 'drop' || value === 'queue') return value;
  throw usage(`--overflow: expected 'drop' or 'queue', got '${value}'`);
}

function positive(name: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw usage(`${name}: expected a positive ${integer ? 'integer' : 'number'}, got '${value}'`);
  return n;
}

function durationOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined) throw usage(`${name}: expected a duration such as 30s, 500ms or 2m, got '${value}'`);
  return ms;
}

/** Validates the command line into generator options; every mistake names its option. */
export function loadOptionsFromCli(url: string, opts: LoadCommandOptions) {
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
    throw usage(`URL: expected an http(s) URL, got '${url}'`);
  const rate = positive('--rate', opts.rate);
  if (rate === undefined) throw usage('--rate: required (requests per second)');
  if (rate > 1_000_000)
    throw usage(`--rate: expected at most 1000000 requests per second, got '${opts.rate}'`);
  const headers: Record<string, string> = {};
  for (const h of opts.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw usage(`--header: expected 'Name: value', got '${h}'`);
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const method = opts.method ?? 'GET';
  if (!/^[A-Za-z]+$/.test(method)) throw usage(`--method: expected an HTTP method, got '${method}'`);
  return {
    rate,
    durationMs: durationOption('--duration', opts.duration ?? '10s'),
    concurrency: positive('--concurrency', opts.concurrency, true),
    overflow: overflowOption(opts.overflow),
    timeoutMs: durationOption('--timeout', opts.timeout),
    requests: [{ url, method: method.toUpperCase(), headers, body: opts.body }],
  };
}

const pct = (n: number, of: number) => (of === 0 ? '0.0' : ((100 * n) / of).toFixed(1));

function liveLine(s: SecondStats, elapsedS: number): string {
  const errors = s.requests - s.successes;
  return `${String(elapsedS).padStart(4)}s  ${String(s.requests).padStart(6)} req/s  p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms  errors ${errors} (${pct(errors, s.requests)}%)${s.dropped ? `  dropped ${s.dropped}` : ''}`;
}

function summaryLines(url: string, s: LoadSummary): string[] {
  const t = s.totals;
  const errors = Object.entries(s.errors)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return [
    `load ${url}: ${s.sent} requests in ${(s.duration_ms / 1000).toFixed(1)} s, ${s.achieved_rate.toFixed(1)} req/s (target ${s.target_rate})`,
    `  status: 2xx ${t.status['2xx']}, 3xx ${t.status['3xx']}, 4xx ${t.status['4xx']}, 5xx ${t.status['5xx']}; timeouts ${t.timeouts}; connection errors ${t.connection_errors}${errors ? ` (${errors})` : ''}; dropped ${t.dropped}`,
    `  latency (ms, from intended send time): p50 ${s.latency.p50}, p90 ${s.latency.p90}, p95 ${s.latency.p95}, p99 ${s.latency.p99}, max ${s.latency.max}`,
    `  success ratio ${t.requests === 0 ? 0 : (t.successes / t.requests).toFixed(4)}, send jitter p99 ${s.send_jitter.p99} ms`,
  ];
}

export async function loadCommand(url: string, opts: LoadCommandOptions, out: Output): Promise<number> {
  const options = loadOptionsFromCli(url, opts);
  const { explainDrops, LoadGenerator } = await import('../load/index.js');
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  const live = out.tty && !out.quiet;
  let elapsed = 0;
  const gen = new LoadGenerator(options, {
    signal: controller.signal,
    onSecond: (s) => {
      elapsed = s.second + 1;
      if (live) out.raw(`\r\x1b[K${liveLine(s, elapsed)}`);
    },
  });
  out.info(`load: ${options.rate} req/s to ${url} for ${((options.durationMs ?? 0) / 1000).toFixed(1)} s`);
  let summary: LoadSummary;
  try {
    summary = await gen.start();
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  if (live && elapsed > 0) out.raw('\r\x1b[K');
  if (controller.signal.aborted) out.warn('load: interrupted');
  const drops = explainDrops(summary, gen.options.concurrency, {
    concurrency: '--concurrency',
    overflow: '--overflow',
  });
  if (drops) out.warn(drops);
  if (opts.json) process.stdout.write(`${JSON.stringify({ url, ...summary }, null, 2)}\n`);
  else for (const line of summaryLines(url, summary)) out.summary(line);
  return controller.signal.aborted ? 130 : 0;
}
