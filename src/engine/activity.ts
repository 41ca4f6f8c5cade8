/**
 * Executes one activity: pauses, provider, timing, journal record. Pauses are
 * never counted in `duration` (the before pause happens before `start`, the
 * after pause after `end`), as in Chaos Toolkit.
 */
import { InterruptExecution } from '../core/errors.js';
import { type ActivityRun, isoNow } from '../core/journal.js';
import type { Activity, DryMode, Provider } from '../core/schema.js';
import { secondsToMs, sleep } from '../core/timers.js';
import { substitute, type Vars } from '../experiment/substitute.js';
import type { ActivityContext, ProviderLookup, ProviderRunner } from './context.js';

/** Sleeps (any finite length: 1e308 s waits until interrupted), or rejects with InterruptExecution when the signal aborts. */
export async function pause(seconds: number, signal: AbortSignal): Promise<void> {
  if (!(seconds > 0)) return;
  try {
    await sleep(secondsToMs(seconds), signal);
  } catch {
    throw new InterruptExecution(reasonOf(signal));
  }
}

export function reasonOf(signal: AbortSignal): string {
  const r = signal.reason;
  if (r instanceof Error) return r.message;
  return typeof r === 'string' ? r : 'the run was interrupted';
}

/**
 * A provider with configuration and secrets substituted: `arguments` when there is
 * anything to substitute, and the fields its runner names (`substituted`: http's url,
 * headers, timeout). Never path, module, func, method or verify_tls, per Chaos Toolkit.
 */
export function substituteProvider(
  provider: Provider,
  vars: Vars,
  runner?: Pick<ProviderRunner<any>, 'substituted'>,
): Provider {
  const hasVars = Object.keys(vars).length > 0;
  const p = { ...provider } as Record<string, unknown>;
  if (hasVars && p.arguments !== undefined) p.arguments = substitute(p.arguments, vars);
  for (const field of runner?.substituted ?? []) {
    if (p[field] !== undefined) p[field] = substitute(p[field], vars);
  }
  return p as Provider;
}

/** Whether `dry` means this activity is not executed. */
export function isDry(activity: Activity, dry: DryMode | null | undefined): boolean {
  if (dry === 'activities') return true;
  if (dry === 'probes') return activity.type === 'probe';
  if (dry === 'actions') return activity.type === 'action';
  return false;
}

function pauseSeconds(value: unknown, vars: Vars): number {
  const v = substitute(value, vars);
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}

export interface ExecuteOptions {
  ctx: ActivityContext;
  /** The run's providers (received by the engine, never imported). */
  providers: ProviderLookup;
  vars: Vars;
  dry: DryMode | null;
  /** Called with the final record before the "after" pause (the live view shows it at once). */
  onRecorded?: (run: ActivityRun) => void;
}

/** Formats an error the way the journal stores it: a list of lines, the last one naming the failure. */
export function exceptionLines(err: unknown): string[] {
  // A provider that ran foreign code (a Python traceback) hands its own lines in the journal's shape.
  const own = (err as { exceptionLines?: unknown })?.exceptionLines;
  if (Array.isArray(own) && own.length > 0 && own.every((l) => typeof l === 'string')) return own;
  const e = err as Error;
  const name = e?.name && e.name !== 'Error' ? e.name : 'ActivityFailed';
  return [`faultline.${name}: ${e?.message ?? String(err)}\n`];
}

/**
 * Runs the provider of an activity. Resolves with the run record; rejects only
 * with InterruptExecution (the record of the interrupted activity is attached).
 */
export async function executeActivity(activity: Activity, opts: ExecuteOptions): Promise<ActivityRun> {
  const { ctx, vars, dry } = opts;
  const skip = isDry(activity, dry);
  const pauses = activity.pauses;
  if (pauses?.before !== undefined && !skip && dry !== 'pause') {
    await pause(pauseSeconds(pauses.before, vars), ctx.signal);
  }
  const started = Date.now();
  // The duration from the monotonic clock, to the microsecond: Chaos Toolkit records a float even for
  // an instant, failed or dry-run activity, and a whole-millisecond difference would often be 0.
  const clock = performance.now();
  const run: ActivityRun = {
    activity,
    output: null,
    status: 'succeeded',
    start: isoNow(new Date(started)),
    end: '',
    duration: 0,
  };
  let interrupted: InterruptExecution | undefined;
  if (!skip) {
    try {
      if (ctx.signal.aborted) throw new InterruptExecution(reasonOf(ctx.signal));
      const runner = opts.providers.get(activity.provider.type);
      if (!runner) throw new Error(`unknown provider type '${activity.provider.type}'`);
      // A `targets:` block sends the activity's fault to the fleet's agents (activities/faults.ts).
      const actx = activity.targets ? { ...ctx, targets: activity.targets } : ctx;
      run.output = (await runner.run(substituteProvider(activity.provider, vars, runner), actx)) ?? null;
    } catch (err) {
      run.status = 'failed';
      run.output = null;
      if (ctx.signal.aborted) {
        interrupted = new InterruptExecution(reasonOf(ctx.signal));
        run.exception = exceptionLines(interrupted);
      } else {
        run.exception = exceptionLines(err);
      }
    }
  }
  const ended = Date.now();
  run.end = isoNow(new Date(ended));
  run.duration = (performance.now() - clock) / 1000;
  if (interrupted) throw Object.assign(interrupted, { run });
  opts.onRecorded?.(run);
  if (pauses?.after !== undefined && !skip && dry !== 'pause') {
    try {
      await pause(pauseSeconds(pauses.after, vars), ctx.signal);
    } catch (err) {
      throw Object.assign(err as Error, { run });
    }
  }
  return run;
}

/** The run record attached to an InterruptExecution raised mid-activity, if any. */
export function interruptedRun(err: unknown): ActivityRun | undefined {
  return (err as { run?: ActivityRun })?.run;
}
