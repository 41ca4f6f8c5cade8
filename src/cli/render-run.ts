/**
 * Renders engine events. Plain log lines when not on a terminal; on a
 * terminal, the same lines plus a live status line at the bottom (phase,
 * current activity, elapsed time) redrawn ten times a second. The final
 * summary is derived from report/model.ts, like every report. Names and titles
 * are shown on one line with every control character escaped (name()); output.ts
 * escapes whole lines as well.
 */
import { escapeControlChars } from '../core/control-chars.js';
import type { ActivityRun, Journal } from '../core/journal.js';
import type { Activity } from '../core/schema.js';
import { type Phase, type RunEvent, STEADY_STATE_PHASES } from '../engine/events.js';
import { hypothesisRows, loadOf, recoveryOf, recoveryText, verdictOf } from '../report/model.js';
import type { Output } from './output.js';

const PHASE_LABEL: Record<Phase, string> = {
  'before-hypothesis': 'steady state (before)',
  method: 'method',
  'during-hypothesis': 'steady state (during)',
  'after-hypothesis': 'steady state (after)',
  rollbacks: 'rollbacks',
  revert: 'reverting faults',
  recovery: 'waiting for the steady state to recover',
};

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A short form of an activity's output: status codes for http/process, compact JSON otherwise. */
export function briefValue(output: unknown): string {
  if (output && typeof output === 'object' && 'status' in output) {
    const o = output as { status: unknown; body?: unknown; stdout?: unknown };
    return `status ${String(o.status)}`;
  }
  const s = JSON.stringify(output) ?? String(output);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** A user-derived name or title on one line: newlines too are shown as escapes (a title cannot forge a log line). */
const name = (s: string): string => escapeControlChars(s);

function briefTolerance(t: unknown): string {
  const s = JSON.stringify(t) ?? String(t);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export class RunRenderer {
  #phase: Phase | undefined;
  #current = new Map<Activity, { started: number; label: string }>();
  #timer: NodeJS.Timeout | undefined;
  #frame = 0;
  #statusShown = false;

  constructor(private readonly out: Output) {}

  #line(level: 'info' | 'warn' | 'error' | 'debug', message: string, fields?: Record<string, unknown>) {
    this.#clearStatus();
    this.out[level](message, fields);
    this.#drawStatus();
  }

  #clearStatus() {
    if (this.#statusShown) {
      this.out.raw('\r\x1b[K');
      this.#statusShown = false;
    }
  }

  #drawStatus() {
    if (!this.out.tty || this.out.quiet || !this.#phase) return;
    const now = Date.now();
    const running = [...this.#current.values()]
      .map((c) => `${c.label} ${((now - c.started) / 1000).toFixed(1)}s`)
      .join(', ');
    const spin = SPINNER[this.#frame++ % SPINNER.length];
    const text = `${spin} ${PHASE_LABEL[this.#phase]}${running ? ` › ${running}` : ''}`;
    const width = process.stderr.columns || 100;
    this.out.raw(`\r\x1b[K\x1b[36m${text.slice(0, width - 1)}\x1b[0m`);
    this.#statusShown = true;
  }

  /** A line from around the run (validation warnings, the metrics URL, a webhook that failed), under the status line. */
  notice = (level: 'info' | 'warn', message: string): void => {
    this.#line(level, message);
  };

  handle = (event: RunEvent): void => {
    const { out } = this;
    switch (event.type) {
      case 'run-start':
        if (out.tty && !out.quiet) {
          this.#timer = setInterval(() => this.#drawStatus(), 100);
          this.#timer.unref();
        }
        this.#line('info', `Running experiment: ${name(event.title)}`, { run_id: event.runId });
        if (event.dry) this.#line('info', `Running experiment with dry ${event.dry}`);
        this.#line(
          'debug',
          `Runtime strategies: hypothesis - ${event.strategies.hypothesis} / rollbacks - ${event.strategies.rollbacks}`,
        );
        break;
      case 'phase':
        // Once per phase: the engine announces a phase at every check (the recovery and warm-up checks repeat).
        if (event.phase !== this.#phase && event.phase !== 'during-hypothesis')
          this.#line('info', `» ${PHASE_LABEL[event.phase]}`);
        this.#phase = event.phase;
        break;
      case 'activity-start':
        this.#current.set(event.activity, {
          started: Date.now(),
          label: `${event.activity.type} '${name(event.activity.name)}'${event.background ? ' (background)' : ''}`,
        });
        this.#line('debug', `${event.activity.type} '${name(event.activity.name)}' started`);
        break;
      case 'activity-end':
        this.#current.delete(event.run.activity);
        this.#activityLine(event.phase, event.run, event.reason);
        break;
      case 'hypothesis-end':
        if (event.phase !== 'during-hypothesis' || !event.state.steady_state_met) {
          this.#line(
            event.state.steady_state_met ? 'info' : 'warn',
            `Steady state ${event.phase === 'during-hypothesis' ? '(during) ' : ''}${event.state.steady_state_met ? 'met' : 'NOT met'}`,
          );
        }
        break;
      case 'fault':
        this.#line(
          event.action === 'revert-failed' ? 'error' : 'info',
          `fault ${event.action}: ${event.fault.kind} ${name(event.fault.target)}${event.fault.error ? ` (${event.fault.error})` : ''}`,
        );
        break;
      case 'log':
        this.#line(event.level, event.message);
        break;
      case 'run-end':
        if (this.#timer) clearInterval(this.#timer);
        this.#phase = undefined;
        this.#clearStatus();
        break;
    }
  };

  #activityLine(phase: Phase, run: ActivityRun, reason?: string) {
    const a = run.activity;
    const took = `${run.duration.toFixed(2)}s`;
    if (run.status === 'failed') {
      this.#line(
        'error',
        `${a.type} '${name(a.name)}' failed after ${took}: ${run.exception?.at(-1)?.trim() ?? ''}`,
      );
      return;
    }
    if (STEADY_STATE_PHASES.has(phase) && run.tolerance_met !== undefined) {
      if (phase === 'during-hypothesis' && run.tolerance_met) return;
      const verdict = run.tolerance_met ? 'ok' : 'MISSED';
      this.#line(
        run.tolerance_met ? 'info' : 'warn',
        `probe '${name(a.name)}': ${briefValue(run.output)} vs tolerance ${briefTolerance(a.tolerance)}: ${verdict}${reason ? ` (${reason})` : ''}`,
      );
      return;
    }
    const value = run.output === null || run.output === undefined ? '' : ` -> ${briefValue(run.output)}`;
    this.#line('info', `${a.type} '${name(a.name)}' succeeded in ${took}${value}`);
  }

  /** The final summary, printed even with --quiet: from report/model.ts, so it says what the report says. */
  summary(journal: Journal, journalPath: string | undefined, exitCode: number) {
    const { out } = this;
    const ended = journal.deviated ? 'deviated' : journal.status;
    out.summary(`Experiment ended with status: ${ended}`, {
      status: journal.status,
      deviated: journal.deviated,
      exit_code: exitCode,
    });
    const v = verdictOf(journal);
    out.summary(`  verdict: ${v.label}, exit code ${v.exitCode}`, { verdict: v.kind });
    for (const r of v.reasons) out.summary(`  reason: ${r}`);
    if (v.reasons.length === 0 && journal.faultline.reason)
      out.summary(`  reason: ${journal.faultline.reason}`);
    for (const w of v.warnings) out.summary(`  warning: ${w}`);
    const ss = journal.steady_states;
    const fmt = (s: { steady_state_met: boolean } | null) =>
      s === null ? 'not checked' : s.steady_state_met ? 'met' : 'NOT met';
    // "During" as the report counts it: all the method's checks, and those made while a fault was active.
    const underFault = new Set(hypothesisRows(journal).flatMap((r) => r.during.map((c) => c.start)));
    const faulted = ss.during.filter((d) => d.probes.some((p) => underFault.has(p.start)));
    const during = ss.during.length
      ? `, during: ${ss.during.filter((d) => d.steady_state_met).length}/${ss.during.length} met` +
        (journal.faultline.faults.length
          ? ` (${faulted.filter((d) => d.steady_state_met).length}/${faulted.length} while a fault was active)`
          : '')
      : '';
    out.summary(`  steady state before: ${fmt(ss.before)}, after: ${fmt(ss.after)}${during}`);
    const failed = journal.run.filter((r) => r.status === 'failed').length;
    out.summary(
      `  method: ${journal.run.length} activities (${failed} failed), rollbacks: ${journal.rollbacks.length}, faults: ${journal.faultline.faults.length} injected, ${journal.faultline.unreverted.length} unreverted, ${journal.duration.toFixed(2)}s`,
    );
    for (const f of journal.faultline.unreverted)
      out.error(`  UNREVERTED FAULT: ${f.kind} ${name(f.target)}: ${f.error ?? 'not verified'}`);
    const rec = recoveryOf(journal);
    if (rec) out.summary(`  recovery: ${recoveryText(rec).text}`);
    const load = loadOf(journal);
    if (load)
      out.summary(
        `  load: ${load.totals.requests} requests, ${load.totals.successes} succeeded, p99 ${load.latency.p99} ms`,
      );
    if (journalPath) out.summary(`  journal: ${journalPath}`);
  }
}
