/**
 * A webhook as the settings file and `--notify` declare it: a pure shape, so
 * reading settings does not load the notifier (observe/notify.ts sends them).
 */
import { z } from 'zod';

/** A run's own events, which the engine sends (observe/notify.ts). */
export const RUN_NOTIFY_EVENTS = [
  'started',
  'completed',
  'deviated',
  'failed',
  'aborted',
  'interrupted',
  'refused',
] as const;
export type NotifyEvent = (typeof RUN_NOTIFY_EVENTS)[number];

/**
 * The control plane's events (`faultline serve`, server/notify.ts): a schedule fired or was skipped,
 * an approval was requested, granted, rejected or expired, a blackout opened or stopped a run, a game
 * day started or ended. A run's deviation or a safeguard's stop is the run's own event (`deviated`,
 * `interrupted` with the safeguard's reason).
 */
export const SERVER_NOTIFY_EVENTS = [
  'schedule.fired',
  'schedule.skipped',
  'approval.requested',
  'approval.granted',
  'approval.rejected',
  'approval.expired',
  'blackout.opened',
  'blackout.stopped',
  'gameday.started',
  'gameday.ended',
] as const;

/** Every event a webhook may ask for. */
export const NOTIFY_EVENTS = [...RUN_NOTIFY_EVENTS, ...SERVER_NOTIFY_EVENTS] as const;

export const WebhookSchema = z.strictObject({
  url: z
    .string({ error: 'expected an http(s) URL' })
    .refine((u) => /^https?:\/\/[^\s]+$/i.test(u) && URL.canParse(u), 'expected an http(s) URL'),
  events: z
    .array(z.enum(NOTIFY_EVENTS, { error: `expected events among ${NOTIFY_EVENTS.join(', ')}` }))
    .optional()
    .describe('which events to send (default: all)'),
  headers: z.record(z.string(), z.string()).optional().describe('extra request headers (an auth token, say)'),
});
export type Webhook = z.output<typeof WebhookSchema>;
