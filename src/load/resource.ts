/**
 * The `load:` run resource: traffic sent from before the first steady-state
 * check until the run ends (or the declared duration), measured by a
 * LoadGenerator whose window metrics `faultline.load` probes read.
 *
 * How a probe finds the generator: the engine hands resources and activities
 * the same configuration object for a run, so the generator is registered in
 * a module-level WeakMap keyed by that object (loadFor(ctx.configuration)).
 * Nothing is added to the configuration itself (it stays plain data for
 * substitution and the journal), and the entry goes away with the run.
 * trafficOf() tells recovery measurement whether there is still traffic to judge.
 */
import { FaultlineError, type Issue } from '../core/errors.js';
import type { RunResource } from '../core/resource.js';
import type { Configuration, LoadDeclaration } from '../core/schema.js';
import type { LoadGenerator, LoadSummary } from './generator.js';
import { LoadOptionsSchema, loadOptionIssues, parseDuration } from './schema.js';
import type { LoadSeries } from './series.js';

const running = new WeakMap<Configuration, LoadGenerator>();
/** Generators whose schedule has ended (their declared duration elapsed), with when (ISO). */
const ended = new WeakMap<LoadGenerator, string>();

/** The load generator of the run whose configuration this is, if it declares `load:`. */
export function loadFor(configuration: Configuration): LoadGenerator | undefined {
  return running.get(configuration);
}

/**
 * The run's traffic as recovery measurement reads it: the series, and
 * `stopped()`, which says why there is no traffic left to judge (the load's
 * duration ended, or nothing completed in the last second and nothing is in
 * flight), or undefined while the load is sending.
 */
export function trafficOf(
  configuration: Configuration,
): { series: LoadSeries; stopped(): string | undefined } | undefined {
  const gen = running.get(configuration);
  if (!gen) return undefined;
  return {
    series: gen.series,
    stopped() {
      const at = ended.get(gen);
      if (at) return `the load stopped sending at ${at} (its duration ended): no traffic to judge`;
      if (gen.metrics(1000).requests === 0 && gen.inFlight === 0)
        return 'no request completed in the last second and none is in flight: no traffic to judge';
      return undefined;
    },
  };
}

/** How long start() waits for the first request to complete, so the first probe has data. */
const WARMUP_MAX_MS = 2000;

function duration(value: number | string | undefined, path: string, issues: Issue[]): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined)
    issues.push({
      path: `load.${path}`,
      message: `expected seconds or a duration such as '30s', got '${value}'`,
    });
  return ms;
}

/** The generator's option names as the experiment spells them. */
const FIELD: Record<string, string> = { durationMs: 'duration', timeoutMs: 'timeout' };

export const loadResource: RunResource = {
  key: 'load',
  async start(declaration, ctx) {
    // Validated with the experiment (core/schema.ts); ${name} references are substituted by now.
    const decl = declaration as LoadDeclaration;
    const issues: Issue[] = [];
    const durationMs = duration(decl.duration, 'duration', issues);
    const timeoutMs = duration(decl.timeout, 'timeout', issues);
    const { explainDrops, LoadGenerator } = await import('./generator.js');
    const parsed = LoadOptionsSchema.safeParse({
      rate: decl.rate,
      durationMs,
      concurrency: decl.concurrency,
      overflow: decl.overflow,
      timeoutMs,
      requests: decl.requests,
    });
    if (!parsed.success) issues.push(...loadOptionIssues(parsed.error, 'load', FIELD));
    if (issues.length > 0 || !parsed.success)
      throw new FaultlineError('FAULTLINE_ERR_VALIDATION', 'load: invalid load declaration', { issues });

    const gen = new LoadGenerator(parsed.data);
    const { concurrency } = parsed.data;
    const done = gen.start();
    // On the journal's clock, so reports place the load's seconds where they happened.
    const startedAt = new Date(Date.now() - gen.series.elapsed()).toISOString();
    void done.then(() => ended.set(gen, new Date().toISOString()));
    running.set(ctx.configuration, gen);
    const targets = [...new Set(parsed.data.requests.map((r) => new URL(r.url).origin))].join(', ');
    ctx.log('info', `load: ${parsed.data.rate} req/s to ${targets}`);
    // Wait for a first outcome so a steady-state probe that runs at once has something to read.
    const warmupUntil = Date.now() + Math.min(WARMUP_MAX_MS, parsed.data.timeoutMs);
    while (gen.series.totals.requests === 0 && Date.now() < warmupUntil)
      await new Promise((r) => setTimeout(r, 5));

    let summary: LoadSummary | undefined;
    return {
      async stop() {
        summary = await gen.stop({ abort: true });
        await done;
        running.delete(ctx.configuration);
        const t = summary.totals;
        // The journal's totals, so the line and the report agree; requests cancelled in flight at the stop are not outcomes.
        const cancelled = summary.sent - t.requests - t.dropped;
        ctx.log(
          'info',
          `load: ${t.requests} requests completed, ${t.successes} succeeded, ${t.timeouts} timeouts, ${t.connection_errors} connection errors, ${t.dropped} dropped${cancelled > 0 ? ` (${cancelled} more cancelled in flight at the end)` : ''}, p99 ${summary.latency.p99} ms`,
        );
        const drops = explainDrops(summary, concurrency, {
          concurrency: 'load.concurrency',
          overflow: 'load.overflow:',
        });
        if (drops) ctx.log('warn', drops);
      },
      journal: () => summary && { started_at: startedAt, ...summary },
    };
  },
};
