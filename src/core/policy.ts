/**
 * Run policies from the settings file, checked before anything runs:
 *  - experiments tagged for production need an explicit approval (a "yes" on
 *    a terminal, or `--yes`);
 *  - runs may be allowed only inside given time windows.
 * Both decisions are recorded in the journal (`faultline.policy`).
 *
 * Time windows are also the blackout kind "outside these windows" (schedule/blackout.ts), which reads
 * local time through `localTime` and the windows through `matchingWindow` here, so both agree by
 * construction: runFromSource asks the blackout arithmetic first (it covers the settings file's named
 * `blackouts` too, and watches during the run), and this check then records which window allowed it.
 */
import { z } from 'zod';
import { FaultlineError } from './errors.js';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export const HhMmSchema = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM (24 h)');
export const DaysSchema = z
  .array(z.enum(DAYS, { error: `expected days among ${DAYS.join(', ')}` }))
  .default([...DAYS]);

/** An IANA time zone name this Node knows (its Intl data), `UTC` by default. */
export const TimeZoneSchema = z
  .string()
  .default('UTC')
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'expected an IANA time zone such as Europe/Paris');

export const TimeWindowSchema = z.strictObject({
  days: DaysSchema,
  start: HhMmSchema,
  end: HhMmSchema,
  timezone: TimeZoneSchema,
});
export type TimeWindow = z.output<typeof TimeWindowSchema>;

export const PolicySettingsSchema = z.looseObject({
  /** Tags that mark an experiment as touching production. */
  production_tags: z.array(z.string().min(1)).default(['production', 'prod']),
  /** When set, runs are allowed only inside one of these windows. */
  time_windows: z.array(TimeWindowSchema).optional(),
});
export type PolicySettings = z.output<typeof PolicySettingsSchema>;

export const WEEKDAYS = DAYS;
export type Weekday = (typeof DAYS)[number];

/** Wall-clock fields of an instant in a zone: what every window is written in. */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  weekday: Weekday;
  /** Minutes since local midnight. */
  minutes: number;
}

// Building a formatter is the costly part of reading local time (a blackout watcher reads it many times
// a second while looking ahead), so one per zone is kept.
const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * Local date, day of week and minutes since midnight of `now` in `timezone` (an IANA zone): the one
 * reading of local time that the time windows and the blackout windows (schedule/blackout.ts) share.
 */
export function localTime(now: Date | number, timezone: string): LocalTime {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timezone, f);
  }
  const parts = f.formatToParts(now);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return {
    year: Number(get('year')),
    month: Number(get('month')),
    day: Number(get('day')),
    weekday: get('weekday').toLowerCase().slice(0, 3) as Weekday,
    minutes: Number(get('hour')) * 60 + Number(get('minute')),
  };
}

export const toMinutes = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3));

/** The window `now` falls in, or undefined. A window whose end is before its start spans midnight. */
export function matchingWindow(now: Date, windows: readonly TimeWindow[]): TimeWindow | undefined {
  return windows.find((w) => {
    const { weekday, minutes } = localTime(now, w.timezone);
    const start = toMinutes(w.start);
    const end = toMinutes(w.end);
    if (!w.days.includes(weekday)) return false;
    return start <= end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
  });
}

/**
 * An approval granted on the control plane (`faultline serve`, issue #18): a user with the approver
 * role, not the experiment's author, approved this version of the experiment. The server checks it is
 * valid when it queues the run; the run records it in its journal.
 */
export interface GrantedApproval {
  id: string;
  experiment: string;
  version: number;
  requestedBy: string;
  requestedAt: string;
  approvedBy: string;
  approvedAt: string;
  expiresAt: string;
  /** Standing: for every run (a schedule's) until it expires; otherwise for one run. */
  standing: boolean;
  comment?: string;
}

export interface PolicyDecision {
  production: boolean;
  /**
   * How a production run was approved. `local`: on this machine, by whoever ran the command (a `yes` on
   * the terminal, or `--yes`), named by the operating system's user; `server`: an approval granted on the
   * control plane (`grant`).
   */
  approval?: {
    by: 'terminal' | '--yes' | 'approval';
    kind: 'local' | 'server';
    at: string;
    /** The operating system's user, for a local approval. */
    user?: string;
    grant?: GrantedApproval;
  };
  time_window?: { allowed: true; window: TimeWindow | 'any' };
}

export const describeWindow = (w: TimeWindow) => `${w.days.join(',')} ${w.start}-${w.end} ${w.timezone}`;

/**
 * Applies the policies. `confirm` asks on a terminal (undefined when there is
 * none). Throws FAULTLINE_ERR_POLICY naming the rule when the run is refused.
 */
export async function checkPolicies(
  tags: readonly string[] | undefined,
  settings: PolicySettings,
  opts: {
    yes?: boolean;
    now?: Date;
    confirm?: (question: string) => Promise<boolean>;
    /** Granted on the control plane for this run (the server checked it); it approves without asking. */
    approval?: GrantedApproval;
    /** Who is running this, for a local approval (the CLI: the operating system's user). */
    localUser?: string;
  },
): Promise<PolicyDecision> {
  const now = opts.now ?? new Date();
  const decision: PolicyDecision = { production: false };
  if (settings.time_windows) {
    const w = matchingWindow(now, settings.time_windows);
    if (!w) {
      throw new FaultlineError(
        'FAULTLINE_ERR_POLICY',
        `time_windows: runs are allowed only in ${settings.time_windows.map(describeWindow).join(' or ')}; it is ${now.toISOString()}`,
      );
    }
    decision.time_window = { allowed: true, window: w };
  }
  const prodTag = (tags ?? []).find((t) => settings.production_tags.includes(t));
  if (prodTag) {
    decision.production = true;
    const user = opts.localUser === undefined ? {} : { user: opts.localUser };
    if (opts.approval)
      decision.approval = { by: 'approval', kind: 'server', at: now.toISOString(), grant: opts.approval };
    else if (opts.yes) decision.approval = { by: '--yes', kind: 'local', at: now.toISOString(), ...user };
    else if (
      opts.confirm &&
      (await opts.confirm(`This experiment is tagged '${prodTag}'. Run it? Type yes to continue: `))
    ) {
      decision.approval = { by: 'terminal', kind: 'local', at: new Date().toISOString(), ...user };
    } else {
      throw new FaultlineError(
        'FAULTLINE_ERR_POLICY',
        `production_tags: the experiment is tagged '${prodTag}' and needs approval: answer yes on a terminal, or pass --yes`,
      );
    }
  }
  return decision;
}
