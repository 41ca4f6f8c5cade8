/**
 * What the server's continuous-chaos parts ask of each other (issue #18), as small interfaces so each
 * is one file that depends on these and not on the others: the scheduler and the API ask the blackout
 * watcher whether a blackout is in force (blackouts/watcher.ts implements BlackoutGate), and every part
 * tells the team what happened through the notifier (notify.ts implements Notify).
 */
import type { SERVER_NOTIFY_EVENTS } from '../core/webhook.js';

/** A blackout in force: nothing starts, and what was running has been stopped. */
export interface ActiveBlackout {
  /** The window's name (`settings.time_windows` for the settings file's allowed windows). */
  name: string;
  /** In words, for a refusal or a run's reason: "blackout freeze-2026 (dates 2026-12-20 to 2027-01-04 Europe/Paris)". */
  reason: string;
  /** When it ends, when that is known (ISO 8601). */
  until?: string;
}

export interface BlackoutGate {
  /** The blackout in force at `now` (default: the present), if any. */
  current(now?: Date): Promise<ActiveBlackout | undefined>;
  /** Looks at the windows again now (a window was created, changed or deleted through this server). */
  refresh?(): Promise<void>;
}

/** Events the server sends to the settings file's webhooks (core/webhook.ts lists them with the run's own). */
export type ServerEvent = (typeof SERVER_NOTIFY_EVENTS)[number];

/**
 * Sends `event` to the webhooks that want it, without waiting (delivery is best-effort and never
 * changes what the server does). `summary` is one line in words; `facts` go under `faultline`.
 */
export type Notify = (event: ServerEvent, summary: string, facts?: Record<string, unknown>) => void;
