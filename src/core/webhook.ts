/**
 * A webhook as the settings file and `--notify` declare it: a pure shape, so
 * reading settings does not load the notifier (observe/notify.ts sends them).
 */
import { z } from 'zod';

export const NOTIFY_EVENTS = [
  'started',
  'completed',
  'deviated',
  'failed',
  'aborted',
  'interrupted',
  'refused',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

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
