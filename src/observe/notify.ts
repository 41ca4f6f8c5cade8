/**
 * Webhook notifications: a JSON POST when a run starts and when it ends, the
 * end named by Faultline's verdict (completed: passed; deviated, failed,
 * aborted, interrupted, refused) with its reasons. The body is
 * Slack-compatible (`text`, in Slack's mrkdwn) and carries the facts under
 * `faultline` for any other receiver. Delivery is best-effort: a receiver that
 * is down is reported as a warning and never changes the run's outcome.
 *
 * Webhook URLs are secrets (a Slack webhook URL is its own credential): they
 * are never printed; messages name the host only.
 */
import type { Journal } from '../core/journal.js';
import type { NotifyEvent, Webhook } from '../core/webhook.js';
import { outcomeOf, verdictFor } from './run-metrics.js';

export { NOTIFY_EVENTS, type NotifyEvent, type Webhook, WebhookSchema } from '../core/webhook.js';

export interface RunFacts {
  journalPath?: string;
  reports?: string[];
  exitCode?: number;
}

const TIMEOUT_MS = 5000;

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the webhook';
  }
}

/** The body sent for an event: Slack's `text`, plus the facts under `faultline`. */
export function notificationBody(
  event: NotifyEvent,
  run: { title: string; runId: string },
  journal?: Journal,
  facts: RunFacts = {},
): Record<string, unknown> {
  const icon: Record<NotifyEvent, string> = {
    started: ':arrow_forward:',
    completed: ':white_check_mark:',
    deviated: ':warning:',
    failed: ':x:',
    aborted: ':octagonal_sign:',
    interrupted: ':double_vertical_bar:',
    refused: ':no_entry:',
  };
  const lines = [`${icon[event]} *${run.title}*: ${event === 'started' ? 'started' : `run ${event}`}`];
  const details: Record<string, unknown> = { event, experiment: run.title, run_id: run.runId };
  if (journal) {
    const recovery = journal.faultline.recovery as { mttr?: number | null } | undefined;
    const reason = journal.faultline.reason;
    const verdict = verdictFor(journal);
    lines.push(`verdict: ${verdict.label} (exit code ${verdict.exit_code})`);
    for (const r of verdict.reasons) lines.push(`> ${r}`);
    for (const w of verdict.warnings) lines.push(`> :warning: ${w}`);
    lines.push(
      `${journal.faultline.faults.length} fault(s) injected, ${journal.faultline.unreverted.length} not reverted; ${journal.duration.toFixed(1)} s`,
    );
    if (typeof recovery?.mttr === 'number')
      lines.push(`recovered ${recovery.mttr.toFixed(2)} s after the faults were reverted`);
    Object.assign(details, {
      verdict: verdict.kind,
      reasons: verdict.reasons,
      status: journal.status,
      deviated: journal.deviated,
      duration: journal.duration,
      faults: journal.faultline.faults.length,
      unreverted: journal.faultline.unreverted.length,
      ...(reason ? { reason } : {}),
      ...(typeof recovery?.mttr === 'number' ? { mttr: recovery.mttr } : {}),
    });
  }
  if (facts.exitCode !== undefined) details.exit_code = facts.exitCode;
  if (facts.journalPath) details.journal = facts.journalPath;
  if (facts.reports?.length) {
    details.reports = facts.reports;
    lines.push(`report: ${facts.reports.join(', ')}`);
  }
  return { text: lines.join('\n'), faultline: details };
}

export class Notifier {
  readonly #hooks: readonly Webhook[];
  readonly #warn: (message: string) => void;
  readonly #pending = new Set<Promise<void>>();
  #run: { title: string; runId: string } | undefined;

  constructor(hooks: readonly Webhook[], warn: (message: string) => void) {
    this.#hooks = hooks;
    this.#warn = warn;
  }

  get enabled(): boolean {
    return this.#hooks.length > 0;
  }

  /** Sends `started` (without waiting; flush() awaits it). */
  started(run: { title: string; runId: string }): void {
    this.#run = run;
    this.#send('started', notificationBody('started', run));
  }

  /** Sends the outcome of the run, then waits for every delivery (bounded by the timeout). */
  async finished(journal: Journal, facts: RunFacts = {}): Promise<void> {
    const run = this.#run ?? { title: journal.experiment.title, runId: journal.faultline.run_id };
    const event = outcomeOf(journal) as NotifyEvent;
    this.#send(event, notificationBody(event, run, journal, facts));
    await this.flush();
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  #send(event: NotifyEvent, body: Record<string, unknown>): void {
    for (const hook of this.#hooks) {
      if (hook.events && !hook.events.includes(event)) continue;
      const p = this.#post(hook, body).finally(() => this.#pending.delete(p));
      this.#pending.add(p);
    }
  }

  #post(hook: Webhook, body: Record<string, unknown>): Promise<void> {
    return postWebhook(hook, body, this.#warn);
  }
}

/**
 * POSTs `body` to one webhook: best-effort, one retry (a receiver restarting should not lose the
 * outcome of a run), 5 s each; what went wrong goes to `warn`, naming the host only (the URL is a
 * credential). Never throws. The control plane's notifier (server/notify.ts) sends through it too.
 */
export async function postWebhook(
  hook: Webhook,
  body: Record<string, unknown>,
  warn: (message: string) => void,
): Promise<void> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(hook.headers ?? {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      if (res.status < 500 || attempt === 2) {
        warn(`notification to ${hostOf(hook.url)} was refused: HTTP ${res.status}`);
        return;
      }
    } catch (err) {
      if (attempt === 2) {
        const why =
          (err as Error).name === 'TimeoutError'
            ? `no answer within ${TIMEOUT_MS / 1000} s`
            : (err as Error).message;
        warn(`could not notify ${hostOf(hook.url)}: ${why}`);
      }
    }
  }
}
