/**
 * Faultline's verdict on a run: the one function that decides it, from the
 * journal alone. Chaos Toolkit's `status` and `deviated` stay as Chaos Toolkit
 * sets them (docs/compatibility.md); the verdict is what Faultline gates on:
 * the exit code of `faultline run`, the report banner, JUnit, metrics and
 * webhooks. Pure, and it imports only types, so reports stay light.
 */
import type {
  ActivityRun,
  DuringTolerance,
  DuringVerdict,
  FailFastRecord,
  Journal,
  SteadyState,
  Verdict,
  VerdictKind,
} from './journal.js';

export type {
  DuringTolerance,
  DuringVerdict,
  FailFastRecord,
  Verdict,
  VerdictKind,
} from './journal.js';

const DURING_STRATEGIES: ReadonlySet<string> = new Set(['during-method-only', 'continuously']);

/**
 * Whether `misses` in `checks` are within the tolerance: at most `max_misses`,
 * or, when a ratio is set, at most that share of the checks.
 */
export function missesTolerated(misses: number, checks: number, t: DuringTolerance): boolean {
  if (misses <= t.max_misses) return true;
  return t.max_miss_ratio > 0 && checks > 0 && misses / checks <= t.max_miss_ratio;
}

/** The tolerance a run was judged with: recorded by the engine, else the experiment's own (older journals). */
export function duringToleranceOf(journal: Journal): DuringTolerance {
  const recorded = journal.faultline.during_tolerance as Partial<DuringTolerance> | undefined;
  const rt = journal.experiment.runtime?.hypothesis;
  return {
    max_misses: recorded?.max_misses ?? rt?.max_misses ?? 0,
    max_miss_ratio: recorded?.max_miss_ratio ?? rt?.max_miss_ratio ?? 0,
  };
}

function toleranceText(t: DuringTolerance): string {
  const parts = [`at most ${t.max_misses}`];
  if (t.max_miss_ratio > 0) parts.push(`or ${+(t.max_miss_ratio * 100).toFixed(2)}% of the checks`);
  return parts.join(' ');
}

/** The last line of an activity's error, without the `faultline.Name:` prefix. */
function errorOf(run: ActivityRun): string {
  const line = (run.exception?.at(-1) ?? 'failed').trim();
  return line.replace(/^faultline\.\w+: /, '');
}

/** An activity cut short by an interrupt or fail-fast failed because the run stopped, not on its own. */
const wasInterrupted = (run: ActivityRun): boolean =>
  (run.exception?.at(-1) ?? '').startsWith('faultline.InterruptExecution:');

const RANK: Record<VerdictKind, number> = {
  passed: 0,
  deviated: 1,
  failed: 2,
  interrupted: 3,
  aborted: 4,
  refused: 5,
};

/**
 * Decides the verdict of a finished run. The most severe finding gives the
 * kind (refused > aborted > interrupted > failed > deviated > passed); every
 * finding gives a reason. Exit code: 2 refused, 0 passed, 1 otherwise.
 *
 * @example
 * const v = decideVerdict(journal); // { kind: 'deviated', exit_code: 1, reasons: ['the steady state was not met in 10 of 11 checks during the method (tolerated: at most 0)'], ... }
 */
export function decideVerdict(journal: Journal): Verdict {
  const fl = journal.faultline;
  const reasons: string[] = [];
  const warnings: string[] = [];
  let kind = 'passed' as VerdictKind;
  const find = (k: VerdictKind, reason?: string) => {
    if (RANK[k] > RANK[kind]) kind = k;
    if (reason && !reasons.some((r) => r === reason || r.endsWith(reason) || r.startsWith(reason)))
      reasons.push(reason);
  };
  const failFast = fl.fail_fast as FailFastRecord | undefined;

  if (fl.blast_radius?.violation) find('refused', `blast radius: ${fl.blast_radius.violation}`);
  if (journal.status === 'interrupted' || journal.status === 'aborted') find(journal.status, fl.reason);
  // fail-fast sets Chaos Toolkit's status `failed`: for Faultline it is a deviation, found early.
  if (failFast) find('deviated', failFast.reason);
  if (journal.status === 'failed' && !failFast) find('failed', fl.reason);
  if (journal.status === 'completed' && journal.deviated) find('deviated', fl.reason);

  const before = journal.steady_states.before;
  if (before && !before.steady_state_met) find('deviated', 'the steady state was not met before the method');
  const after = journal.steady_states.after;
  if (after && !after.steady_state_met) find('deviated', 'the steady state deviated after the method');
  const recovery = fl.recovery as { mttr?: number | null; deadline?: number } | undefined;
  if (recovery && recovery.mttr === null && !reasons.some((r) => r.startsWith('did not recover')))
    find('deviated', `did not recover within ${recovery.deadline} s of the faults being reverted`);
  if (journal.deviated) find('deviated');

  const during = duringVerdict(journal);
  if (during && during.misses > 0) {
    const text = `the steady state was not met in ${during.misses} of ${during.checks} checks during the method`;
    const t = duringToleranceOf(journal);
    if (during.tolerated) warnings.push(`${text} (within the tolerance: ${toleranceText(t)})`);
    else find('deviated', `${text} (tolerated: ${toleranceText(t)})`);
  }

  for (const run of journal.run) {
    if (run.activity.type !== 'action' || run.status !== 'failed' || wasInterrupted(run)) continue;
    find('failed', `action '${run.activity.name}' failed: ${errorOf(run)}`);
  }
  if (fl.unreverted.length > 0)
    find(
      'failed',
      `${fl.unreverted.length} fault(s) not reverted: ${fl.unreverted.map((f) => f.target).join(', ')}`,
    );

  const exit_code: 0 | 1 | 2 = kind === 'refused' ? 2 : kind === 'passed' ? 0 : 1;
  return {
    kind,
    label: kind.toUpperCase(),
    exit_code,
    reasons,
    warnings,
    ...(during ? { during } : {}),
  };
}

/** The "during" checks and whether their misses are tolerated; undefined when none were made or planned. */
function duringVerdict(journal: Journal): DuringVerdict | undefined {
  const states: SteadyState[] = journal.steady_states.during ?? [];
  const planned = DURING_STRATEGIES.has(journal.faultline.strategies?.hypothesis ?? '');
  if (states.length === 0 && !planned) return undefined;
  const t = duringToleranceOf(journal);
  const misses = states.filter((s) => !s.steady_state_met).length;
  return {
    checks: states.length,
    misses,
    ...(t.max_misses > 0 ? { max_misses: t.max_misses } : {}),
    ...(t.max_miss_ratio > 0 ? { max_miss_ratio: t.max_miss_ratio } : {}),
    tolerated: missesTolerated(misses, states.length, t),
  };
}
