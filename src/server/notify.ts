/**
 * The control plane's notifications (issue #18): the settings file's webhooks (`notifications:` in
 * $FAULTLINE_HOME/settings.yaml, the same list runs use) are told when a schedule fires or is skipped,
 * an approval is requested, granted, rejected or expires, a blackout opens or stops a run, and a game
 * day starts or ends. The body is Slack-compatible (`text`) with the facts under `faultline`, as a run's
 * own notifications are (observe/notify.ts). Delivery is best-effort, one retry, 5 s each: a receiver
 * that is down is reported to the operator, never to the caller, and never changes what the server does.
 * A webhook's URL is a credential (Slack's is): messages name its host only.
 */
import { loadSettings } from '../experiment/settings.js';
import { postWebhook, type Webhook } from '../observe/notify.js';
import type { Notify, ServerEvent } from './services.js';

const ICONS: Record<ServerEvent, string> = {
  'schedule.fired': ':alarm_clock:',
  'schedule.skipped': ':fast_forward:',
  'approval.requested': ':raising_hand:',
  'approval.granted': ':white_check_mark:',
  'approval.rejected': ':no_entry_sign:',
  'approval.expired': ':hourglass:',
  'blackout.opened': ':new_moon:',
  'blackout.stopped': ':octagonal_sign:',
  'gameday.started': ':checkered_flag:',
  'gameday.ended': ':trophy:',
};

/** The body posted for a server event: Slack's `text` (mrkdwn), the facts under `faultline`. */
export function serverNotificationBody(
  event: ServerEvent,
  summary: string,
  facts: Record<string, unknown> = {},
): Record<string, unknown> {
  return { text: `${ICONS[event]} ${summary}`, faultline: { event, ...facts } };
}

export interface ServerNotifierOptions {
  /** $FAULTLINE_HOME: its settings.yaml's `notifications` are read for each event (edits apply without a restart). */
  home: string;
  /** A receiver that failed (never the URL: its host). */
  onProblem?: (message: string) => void;
  /** The webhooks, instead of the settings file's (tests, benchmarks). */
  webhooks?: readonly Webhook[];
}

export class ServerNotifier {
  readonly #opts: ServerNotifierOptions;
  readonly #pending = new Set<Promise<void>>();

  constructor(opts: ServerNotifierOptions) {
    this.#opts = opts;
  }

  /** The Notify the server's parts are given. */
  readonly notify: Notify = (event, summary, facts) => {
    const p = this.#deliver(event, serverNotificationBody(event, summary, facts)).finally(() =>
      this.#pending.delete(p),
    );
    this.#pending.add(p);
  };

  /** Waits for deliveries in flight (each bounded by its timeout): the server's close. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  async #hooks(): Promise<readonly Webhook[]> {
    if (this.#opts.webhooks) return this.#opts.webhooks;
    try {
      return (await loadSettings(undefined, this.#opts.home)).notifications ?? [];
    } catch (err) {
      this.#opts.onProblem?.(`notifications: cannot read the settings file: ${(err as Error).message}`);
      return [];
    }
  }

  async #deliver(event: ServerEvent, body: Record<string, unknown>): Promise<void> {
    const hooks = (await this.#hooks()).filter((h) => !h.events || h.events.includes(event));
    const warn = (m: string) => this.#opts.onProblem?.(`${event}: ${m}`);
    await Promise.all(hooks.map((h) => postWebhook(h, body, warn)));
  }
}
