/**
 * Success criteria from the runs' data: recovery time from the journal's `faultline.recovery`, the error
 * rate from its load totals (`faultline.load`), the verdict by the same rule as the run's exit code, a
 * probe's value from the steady state. What the journal does not hold is `unknown`, never a guess; manual
 * criteria take the latest judgement recorded in the timeline. Pure: the session, the server and the
 * report all call it on the same data.
 */
import type { Journal } from '../core/journal.js';
import { formatNumber, formatSeconds, formatValue, loadOf, recoveryOf, verdictOf } from '../report/model.js';
import { durationMs, type GameDayPlan, type Measure, type SuccessCriterion } from './plan.js';
import type { CriterionResult, StepRun, TimelineEvent } from './types.js';

/** A run's verdict and its first reason, as the timeline shows it. */
export function runVerdict(journal: Journal): { kind: string; reason?: string } {
  const v = verdictOf(journal);
  return { kind: v.kind, ...(v.reasons[0] ? { reason: v.reasons[0] } : {}) };
}

type Result = Omit<CriterionResult, 'id' | 'description'>;

function percent(r: number): string {
  return `${formatNumber(Math.round(r * 10_000) / 100)}%`;
}

/** A dotted path into a value (`status`, `body.items.0`). */
function pick(value: unknown, field: string | undefined): unknown {
  if (field === undefined) return value;
  let v: unknown = value;
  for (const seg of field.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

function measureRun(m: Exclude<Measure, { kind: 'manual' }>, j: Journal): Result {
  switch (m.kind) {
    case 'recovery_time': {
      const maxS = durationMs(m.max) / 1000;
      const rec = recoveryOf(j);
      if (!rec)
        return {
          verdict: 'unknown',
          detail: 'the run did not measure recovery (set runtime.recovery in the experiment)',
        };
      if (rec.skipped !== undefined)
        return { verdict: 'unknown', detail: `recovery not measured: ${rec.skipped}` };
      if (rec.mttr === null || rec.mttr === undefined)
        return {
          verdict: 'not-met',
          measured: `not recovered within ${formatSeconds(rec.deadline)}`,
          detail: `at most ${formatSeconds(maxS)}`,
        };
      return {
        verdict: rec.mttr <= maxS ? 'met' : 'not-met',
        measured: formatSeconds(rec.mttr),
        detail: `recovery after the faults' revert, at most ${formatSeconds(maxS)}`,
      };
    }
    case 'error_rate': {
      const load = loadOf(j);
      if (!load)
        return { verdict: 'unknown', detail: 'the run generated no load (faultline.load is absent)' };
      const { requests, successes } = load.totals;
      if (requests <= 0) return { verdict: 'unknown', detail: 'the load sent no requests' };
      const rate = (requests - successes) / requests;
      return {
        verdict: rate <= m.max ? 'met' : 'not-met',
        measured: percent(rate),
        detail: `${requests - successes} of ${requests} requests failed; at most ${percent(m.max)}`,
      };
    }
    case 'verdict': {
      const v = verdictOf(j);
      return {
        verdict: v.kind === m.equals ? 'met' : 'not-met',
        measured: v.kind,
        detail: `expected ${m.equals}${v.reasons[0] ? `; ${v.reasons[0]}` : ''}`,
      };
    }
    case 'probe': {
      const state = m.phase === 'before' ? j.steady_states.before : j.steady_states.after;
      const probe = state?.probes.find((p) => p.activity.name === m.probe);
      if (!probe)
        return {
          verdict: 'unknown',
          detail: `no probe "${m.probe}" in the steady state ${m.phase} the method`,
        };
      if (probe.status !== 'succeeded')
        return { verdict: 'not-met', measured: 'the probe failed', detail: probe.exception?.at(-1)?.trim() };
      const value = pick(probe.output, m.field);
      if (value === undefined)
        return { verdict: 'unknown', detail: `the probe's output has no ${m.field ?? 'value'}` };
      const bounds: string[] = [];
      let ok = true;
      if (m.equals !== undefined) {
        bounds.push(`= ${formatValue(m.equals)}`);
        ok &&= value === m.equals;
      }
      if (m.min !== undefined || m.max !== undefined) {
        if (typeof value !== 'number')
          return {
            verdict: 'unknown',
            measured: formatValue(value),
            detail: 'min/max compare numbers; the value is not one',
          };
        if (m.min !== undefined) {
          bounds.push(`>= ${formatNumber(m.min)}`);
          ok &&= value >= m.min;
        }
        if (m.max !== undefined) {
          bounds.push(`<= ${formatNumber(m.max)}`);
          ok &&= value <= m.max;
        }
      }
      return {
        verdict: ok ? 'met' : 'not-met',
        measured: formatValue(value),
        detail: `expected ${bounds.join(' and ')}`,
      };
    }
  }
}

function judged(c: SuccessCriterion, timeline: readonly TimelineEvent[]): Result {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const e = timeline[i]!;
    if (e.type !== 'criterion' || e.data?.source !== 'judged' || e.data.id !== c.id) continue;
    const verdict = e.data.verdict === 'met' ? 'met' : 'not-met';
    return { verdict, detail: `judged by ${e.by ?? 'someone'}${e.text ? `: ${e.text}` : ''}` };
  }
  return { verdict: 'manual', detail: 'to be judged by the participants' };
}

/**
 * Each criterion's verdict from the runs (the latest run of its step) and the timeline's judgements.
 *
 * @example
 * evaluateCriteria(plan, state.runs, state.timeline)
 * // [{ id: 'failover', description: 'Failover within 2 minutes', verdict: 'met', measured: '42 s', detail: ... }]
 */
export function evaluateCriteria(
  plan: GameDayPlan,
  runs: readonly StepRun[],
  timeline: readonly TimelineEvent[],
): CriterionResult[] {
  return plan.success_criteria.map((c) => {
    const head = { id: c.id, description: c.description };
    if (c.measure.kind === 'manual') return { ...head, ...judged(c, timeline) };
    const step = c.measure.step;
    const run = runs.findLast((r) => r.step === step);
    if (!run) return { ...head, verdict: 'unknown', detail: `step ${step} has not run` };
    return { ...head, ...measureRun(c.measure, run.journal) };
  });
}
