/**
 * The blackout watcher: the server's one answer to "is a blackout in force?" (BlackoutGate, asked
 * before every claim of a queued run, by POST /api/runs and by the scheduler) and what happens when
 * one opens: every run this server runs is aborted (the runner reverts its faults) with a reason
 * naming the window, each stop is audited, and the settings file's webhooks are told (once per
 * opening, then once per run stopped).
 *
 * The windows are the database's (made through the API, shared by every server on it) and the home's
 * settings file's (`blackouts:` and `time_windows`, the latter as the "outside" kind), decided by one
 * function (schedule/blackout.ts). Both are read again at each poll, so a window created, changed or
 * deleted anywhere is followed within `pollMs`; between polls the watcher sleeps until the next
 * instant the answer can change, if that comes sooner, so a window opens on time however long the
 * poll. `current()` is asked before every claim, so it never queries: it answers from the windows
 * last read, and recomputes only once the instant its answer could change has passed.
 * Each server stops its own runs: several servers on one database each follow the same windows.
 */
import { loadSettings } from '../../experiment/settings.js';
import {
  type BlackoutInForce,
  type BlackoutRule,
  blackoutAt,
  blackoutStopReason,
  nextChange,
  settingsBlackouts,
} from '../../schedule/blackout.js';
import type { Runner } from '../runner.js';
import type { ActiveBlackout, BlackoutGate, Notify } from '../services.js';
import type { Store } from '../store.js';

export interface BlackoutWatcherOptions {
  store: Store;
  runner: Runner;
  home: string;
  serverId: string;
  notify: Notify;
  /** How often the windows are looked at (default 1 s). */
  pollMs?: number;
  now?: () => Date;
  onProblem?: (message: string) => void;
}

/** The shortest sleep between looks (a change due now is looked at after this much). */
const MIN_SLEEP_MS = 10;

export const toActive = (b: BlackoutInForce | undefined): ActiveBlackout | undefined =>
  b && {
    name: b.name,
    reason: b.reason,
    ...(b.until ? { until: b.until.toISOString() } : {}),
  };

export class BlackoutWatcher implements BlackoutGate {
  #settingsRules: BlackoutRule[] = [];
  #storeRules: BlackoutRule[] = [];
  #rules: BlackoutRule[] = [];
  #rulesKey = '';
  /** The answer at the last computation, valid until `#validUntil` (ms). */
  #state: BlackoutInForce | undefined;
  #validUntil = Number.NEGATIVE_INFINITY;
  /** The window whose opening was announced, and the runs it stopped (so each is stopped once). */
  #opened: string | undefined;
  #stopped = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #looking: Promise<void> | undefined;
  #closed = false;
  #problems = new Map<string, string>();

  constructor(readonly opts: BlackoutWatcherOptions) {}

  /** Reads the windows and applies a blackout already open (before the run loop claims anything), then watches. */
  async start(): Promise<void> {
    await this.#look({ announce: false });
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#looking;
  }

  /** Looks now (a window was created, changed or deleted through this server). */
  async refresh(): Promise<void> {
    // A look under way may have read the windows before the change: this one starts after it.
    await this.#looking;
    if (this.#closed) return;
    await this.#look({ announce: true });
    this.#schedule();
  }

  async current(now?: Date): Promise<ActiveBlackout | undefined> {
    if (now !== undefined) return toActive(blackoutAt(now, this.#rules));
    this.#recompute(this.#now(), false);
    return toActive(this.#state);
  }

  #now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** Recomputes the answer when the windows changed or the instant it could change has passed. */
  #recompute(now: Date, force: boolean): void {
    if (!force && now.getTime() < this.#validUntil) return;
    this.#state = blackoutAt(now, this.#rules);
    this.#validUntil = nextChange(now, this.#rules)?.getTime() ?? Number.POSITIVE_INFINITY;
  }

  #problem(source: string, message: string | undefined): void {
    if (message !== undefined && message !== this.#problems.get(source)) this.opts.onProblem?.(message);
    if (message === undefined) this.#problems.delete(source);
    else this.#problems.set(source, message);
  }

  /** Arms the one pending look (replacing any: a refresh and a poll never make two loops). */
  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    const poll = this.opts.pollMs ?? 1000;
    const untilChange = this.#validUntil - this.#now().getTime();
    this.#timer = setTimeout(
      () => {
        void this.#look({ announce: true }).finally(() => this.#schedule());
      },
      Math.max(MIN_SLEEP_MS, Math.min(poll, untilChange)),
    );
  }

  /** One look at the windows and what follows from them; never throws. */
  #look(opts: { announce: boolean }): Promise<void> {
    this.#looking ??= this.#lookOnce(opts).finally(() => {
      this.#looking = undefined;
    });
    return this.#looking;
  }

  async #lookOnce({ announce }: { announce: boolean }): Promise<void> {
    // A source that cannot be read keeps its last windows: a database hiccup must not lift a blackout.
    try {
      this.#storeRules = await this.opts.store.blackouts.list();
      this.#problem('store', undefined);
    } catch (err) {
      this.#problem('store', `blackout windows: cannot read the database's: ${(err as Error).message}`);
    }
    try {
      this.#settingsRules = settingsBlackouts(await loadSettings(undefined, this.opts.home));
      this.#problem('settings', undefined);
    } catch (err) {
      this.#problem(
        'settings',
        `blackout windows: ${(err as Error).message} (its last windows stay in force)`,
      );
    }
    // Unchanged windows keep their answer until its next change (a window that never ends costs a
    // 400-day look ahead, not worth repeating every poll).
    const rules = [...this.#settingsRules, ...this.#storeRules];
    const key = JSON.stringify(rules);
    const changed = key !== this.#rulesKey;
    this.#rules = rules;
    this.#rulesKey = key;
    this.#recompute(this.#now(), changed);
    await this.#apply(announce);
  }

  /** In a blackout: announces its opening once, and stops this server's runs, each once. */
  async #apply(announce: boolean): Promise<void> {
    const b = this.#state;
    if (!b) {
      if (this.#opened !== undefined) this.opts.runner.wake();
      this.#opened = undefined;
      this.#stopped.clear();
      return;
    }
    if (this.#opened !== b.name) {
      this.#opened = b.name;
      this.#stopped.clear();
      const until = b.until ? `, until ${b.until.toISOString()}` : '';
      if (announce)
        this.opts.notify('blackout.opened', `${b.reason}: nothing starts${until}`, {
          window: b.name,
          reason: b.reason,
          ...(b.until ? { until: b.until.toISOString() } : {}),
          server: this.opts.serverId,
        });
    }
    const reason = blackoutStopReason(b);
    for (const id of this.opts.runner.runningIds()) {
      if (this.#stopped.has(id) || !this.opts.runner.abort(id, reason)) continue;
      this.#stopped.add(id);
      try {
        await this.opts.store.audit({
          actor: 'blackout',
          action: 'blackout.stop',
          subject: id,
          detail: { window: b.name, reason, server: this.opts.serverId },
        });
      } catch (err) {
        this.#problem(
          'audit',
          `blackout ${b.name} stopped run ${id}, but the audit log could not record it: ${(err as Error).message}`,
        );
      }
      this.opts.notify('blackout.stopped', `run ${id} stopped: ${reason}`, {
        run: id,
        window: b.name,
        reason,
        server: this.opts.serverId,
      });
    }
  }
}
