/**
 * The server's scheduler (issue #18): every server on a database ticks every schedule, and each
 * firing is recorded exactly once because its (schedule, due) row is the claim (db/schedule-store.ts):
 * a server killed at a fire time leaves the firing to the others, which try it anyway.
 *
 * The next fire time of each active schedule is held in a min-heap; the loop sleeps until the earliest
 * (or the next poll, or a wake from this server's API) and fires what is due. Other servers' changes
 * are seen by polling one number (the schedules' revision) every `pollMs`, and only the schedules whose
 * revision moved are read again, so 10,000 idle schedules cost one small query per poll.
 *
 * A firing found later than its starting deadline (no server was up, or the database was away) is
 * missed, and the missed-run policy says which of those still run (model.ts planCatchUp).
 */
import { loadSettings, type Settings, settingsBlastRadius } from '../../experiment/settings.js';
import { type Fire, firesBetween, nextFire, pickTargets } from '../../schedule/index.js';
import { ApiError } from '../api-error.js';
import { approvalForRun, productionTag } from '../approvals/gate.js';
import type { Runner } from '../runner.js';
import type { BlackoutGate, Notify } from '../services.js';
import type { ExperimentVersion, Run, Store } from '../store.js';
import { type FiringRequest, type FiringResult, planCatchUp, type Schedule } from './model.js';

export interface SchedulerOptions {
  store: Store;
  runner: Runner;
  serverId: string;
  home: string;
  blackout: BlackoutGate;
  notify: Notify;
  /** The clock (tests): epoch milliseconds. */
  now?: () => number;
  /** How often schedules changed through another server are read again (default 2 s). */
  pollMs?: number;
  onProblem?: (message: string) => void;
}

/** Firings looked at per round when catching up (what a long outage of a frequent schedule left). */
const SCAN_BATCH = 1000;
/** At most this many of them are recorded (the newest): the history keeps fewer anyway. */
const SCAN_KEEP = 1000;
const SCAN_ROUNDS = 100;
/** Schedules whose firings are recorded in one transaction. */
const BATCH = 50;
/** A schedule whose firing could not be recorded (the database is away) is tried again after this. */
const RETRY_MS = 1000;

interface Entry {
  s: Schedule;
  /** Firings due at or before this are dealt with. */
  cursor: Date;
  next?: Fire;
  /** Changes whenever the entry is rescheduled: heap items of an older generation are stale. */
  gen: number;
}

interface HeapItem {
  at: number;
  id: string;
  gen: number;
}

/** A binary min-heap of fire times, with stale items skipped on pop (cheaper than removing them). */
class FireHeap {
  private readonly items: HeapItem[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): HeapItem | undefined {
    return this.items[0];
  }

  push(item: HeapItem): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as HeapItem).at <= item.at) break;
      a[i] = a[p] as HeapItem;
      i = p;
    }
    a[i] = item;
  }

  pop(): HeapItem | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && (a[r] as HeapItem).at < (a[l] as HeapItem).at ? r : l;
      if ((a[c] as HeapItem).at >= last.at) break;
      a[i] = a[c] as HeapItem;
      i = c;
    }
    a[i] = last;
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

/** What a firing found when it looked (read once per round of due firings, not once per firing). */
interface RoundState {
  /** Experiments read this round, by name and version (many schedules of one experiment read it once). */
  experiments: Map<string, ExperimentVersion | undefined>;
  halt?: string;
  blackout?: string;
  /** The settings file, read once per round: its production tags and blast radius. */
  settings: { ok: Settings } | { error: string };
}

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly heap = new FireHeap();
  private revision: number | undefined;
  /** Every schedule's revision as last read (paused ones too: they are not read again until they change). */
  private known = new Map<string, number>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private nextPoll = 0;
  private gen = 0;
  private lastProblem: string | undefined;

  constructor(readonly opts: SchedulerOptions) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** A schedule changed through this server: read the changes now rather than at the next poll. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
  }

  private problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.opts.onProblem?.(message);
  }

  private async run(): Promise<void> {
    const pollMs = this.opts.pollMs ?? 2000;
    while (!this.stopped) {
      if (this.woken || this.now() >= this.nextPoll) {
        this.woken = false;
        this.nextPoll = this.now() + pollMs;
        try {
          await this.poll();
          this.lastProblem = undefined;
        } catch (err) {
          // The database is away: the next poll tries again; due firings wait (and may become missed).
          this.problem(`the scheduler cannot read schedules: ${(err as Error).message}`);
        }
      }
      if (this.stopped) break;
      await this.fireDue();
      if (this.stopped || this.woken) continue;
      const top = this.heap.peek();
      const wait = Math.min(top ? top.at - this.now() : Number.POSITIVE_INFINITY, this.nextPoll - this.now());
      if (wait <= 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  /** Reads the schedules whose revision moved, and the runs other servers asked this one to abort. */
  private async poll(): Promise<void> {
    const { store, runner } = this.opts;
    const revision = await store.schedules.revision();
    if (revision !== this.revision) {
      const held = await store.schedules.revisions();
      const seen = new Map<string, number>();
      const changed: string[] = [];
      for (const { id, revision: r } of held) {
        seen.set(id, r);
        if (this.known.get(id) !== r) changed.push(id);
      }
      for (const id of [...this.entries.keys()]) if (!seen.has(id)) this.entries.delete(id);
      for (const s of await store.schedules.getByIds(changed)) this.track(s);
      this.known = seen;
      this.revision = revision;
    }
    for (const { run, reason } of await store.schedules.takeAbortRequests(this.opts.serverId))
      runner.abort(run, reason, true);
  }

  /** Holds `s` (as stored now) with its next fire time; a paused schedule is not held. */
  private track(s: Schedule): void {
    if (s.paused) {
      this.entries.delete(s.id);
      return;
    }
    const entry: Entry = { s, cursor: new Date(s.cursor), gen: ++this.gen };
    this.entries.set(s.id, entry);
    this.reschedule(entry);
  }

  private reschedule(entry: Entry, retryAt?: number): void {
    entry.gen = ++this.gen;
    // Items of earlier generations wait in the heap until their time: when they outnumber the live
    // ones (many changes to schedules that fire rarely), the heap is rebuilt from the live ones.
    if (this.heap.size > 2 * this.entries.size + 1024) this.compact(entry);
    this.push(entry, retryAt);
  }

  private push(entry: Entry, retryAt?: number): void {
    if (retryAt !== undefined) {
      this.heap.push({ at: retryAt, id: entry.s.id, gen: entry.gen });
      return;
    }
    try {
      const next = nextFire(entry.s.timing, entry.s.id, entry.cursor, new Date(entry.s.createdAt));
      if (next) {
        entry.next = next;
        this.heap.push({ at: next.at.getTime(), id: entry.s.id, gen: entry.gen });
      } else delete entry.next;
    } catch (err) {
      delete entry.next;
      this.problem(`schedule ${entry.s.name}: cannot compute its next fire time: ${(err as Error).message}`);
    }
  }

  /** The heap anew: one item per live entry but `except` (being rescheduled: it is pushed next). */
  private compact(except: Entry): void {
    this.heap.clear();
    for (const [id, e] of this.entries)
      if (e.next && e !== except) this.heap.push({ at: e.next.at.getTime(), id, gen: e.gen });
  }

  /**
   * Fires every schedule whose time has come: their firings are prepared (what may stop each, its run),
   * then recorded a batch of schedules per transaction (a burst of schedules due at one instant costs
   * a few commits, not one each).
   */
  private async fireDue(): Promise<void> {
    const found = new Set<Entry>();
    const now = this.now();
    for (let top = this.heap.peek(); top && top.at <= now; top = this.heap.peek()) {
      this.heap.pop();
      const entry = this.entries.get(top.id);
      // A Set: an entry is dealt with once per round whatever the heap holds for it.
      if (entry && entry.gen === top.gen) found.add(entry);
    }
    if (found.size === 0) return;
    const due = [...found];
    let round: RoundState;
    try {
      round = await this.roundState();
    } catch (err) {
      this.problem(`the scheduler cannot read the emergency stop: ${(err as Error).message}`);
      for (const entry of due) this.reschedule(entry, this.now() + RETRY_MS);
      return;
    }
    for (let i = 0; i < due.length && !this.stopped; i += BATCH) {
      const batch = due.slice(i, i + BATCH);
      const planned: { entry: Entry; reqs: FiringRequest[]; last?: Date }[] = [];
      try {
        for (const entry of batch) {
          try {
            planned.push({ entry, ...(await this.prepare(entry, round)) });
          } catch (err) {
            // One schedule that cannot be prepared (its experiment cannot be read) waits alone.
            this.problem(`schedule ${entry.s.name}: cannot prepare its firing: ${(err as Error).message}`);
            this.reschedule(entry, this.now() + RETRY_MS);
          }
        }
        const reqs = planned.flatMap((p) => p.reqs);
        // When they are recorded, after the checks: what the firing's lateness is measured by.
        const firedAt = new Date(this.now());
        for (const r of reqs) r.firedAt = firedAt;
        const results = await this.opts.store.schedules.recordFirings(reqs);
        this.announce(reqs, results);
        for (const p of planned) {
          if (p.last) p.entry.cursor = p.last;
          if (this.entries.get(p.entry.s.id) === p.entry) this.reschedule(p.entry);
        }
      } catch (err) {
        // The database is away (or refused): these schedules are tried again soon, and their firings
        // become missed once later than their deadline.
        this.problem(`cannot record schedule firings: ${(err as Error).message}`);
        for (const { entry } of planned)
          if (this.entries.get(entry.s.id) === entry) this.reschedule(entry, this.now() + RETRY_MS);
      }
    }
  }

  private async roundState(): Promise<RoundState> {
    const halt = await this.opts.store.getHalt();
    const blackout = await this.opts.blackout.current(new Date(this.now()));
    let settings: RoundState['settings'];
    try {
      settings = { ok: await loadSettings(undefined, this.opts.home) };
    } catch (err) {
      settings = { error: `the server's settings file cannot be read: ${(err as Error).message}` };
    }
    return {
      experiments: new Map(),
      settings,
      ...(halt
        ? { halt: `the emergency stop is raised (by ${halt.by} since ${halt.since}: ${halt.reason})` }
        : {}),
      ...(blackout ? { blackout: blackout.reason } : {}),
    };
  }

  /**
   * The firings of `entry` due by now, each with what becomes of it: on time, late within its
   * deadline, or missed (the missed-run policy says which of those still run). `last`: the newest due.
   */
  private async prepare(entry: Entry, round: RoundState): Promise<{ reqs: FiringRequest[]; last?: Date }> {
    const { s } = entry;
    const now = this.now();
    const anchor = new Date(s.createdAt);
    let fires: Fire[] = [];
    let after = entry.cursor;
    // A long outage of a frequent schedule: look at every firing since the cursor, keep the newest.
    for (let i = 0; i < SCAN_ROUNDS; i++) {
      const batch = firesBetween(s.timing, s.id, after, new Date(now), SCAN_BATCH, anchor);
      fires.push(...batch);
      if (fires.length > SCAN_KEEP) fires = fires.slice(-SCAN_KEEP);
      const last = batch[batch.length - 1];
      if (batch.length < SCAN_BATCH || !last) break;
      after = last.due;
    }
    // A jittered firing whose due time passed but whose start has not waits for its start.
    fires = fires.filter((f) => f.at.getTime() <= now);
    const reqs: FiringRequest[] = [];
    for (const p of planCatchUp(s, fires, now)) {
      if (p.outcome === 'missed') {
        reqs.push(this.request(s, p.fire, { outcome: 'missed', reason: p.reason as string }));
        continue;
      }
      const { skip, run } = await this.check(s, p.fire, round);
      const reason = skip ?? p.reason;
      reqs.push(
        this.request(s, p.fire, {
          outcome: skip === undefined ? 'fired' : 'skipped',
          ...(reason !== undefined ? { reason } : {}),
          ...(run ? { run } : {}),
          ...(p.reason !== undefined ? { catchUp: true } : {}),
        }),
      );
    }
    const last = fires[fires.length - 1]?.due;
    return { reqs, ...(last ? { last } : {}) };
  }

  private request(
    s: Schedule,
    fire: Fire,
    what: Pick<FiringRequest, 'outcome' | 'reason' | 'run' | 'catchUp'>,
  ): FiringRequest {
    return { schedule: s, fire, firedAt: new Date(this.now()), server: this.opts.serverId, ...what };
  }

  /** What may stop one firing (the monkey's roll, a halt, a blackout, no experiment, no approval), or its run. */
  private async check(
    s: Schedule,
    fire: Fire,
    round: RoundState,
  ): Promise<{ skip?: string; run?: FiringRequest['run'] }> {
    const { store, home } = this.opts;
    if (fire.skipped === 'probability') {
      const p = 'monkey' in s.timing ? s.timing.monkey.probability : 1;
      return { skip: `the day's planned run lost its probability roll (probability ${p})` };
    }
    if (round.halt) return { skip: round.halt };
    if (round.blackout) return { skip: round.blackout };
    const key = `${s.experiment}\u0000${s.version ?? ''}`;
    if (!round.experiments.has(key))
      round.experiments.set(key, await store.getExperiment(s.experiment, s.version));
    const experiment = round.experiments.get(key);
    if (!experiment)
      return {
        skip: `experiment ${s.experiment}${s.version === undefined ? '' : ` version ${s.version}`} is not stored`,
      };
    // Settings that cannot be read refuse the run rather than ignore its approval or blast radius.
    if ('error' in round.settings) return { skip: round.settings.error };
    const settings = round.settings.ok;
    let approval: string | undefined;
    // The gate is asked about production experiments only: for the others it would read the settings
    // file again for every firing of a burst.
    if (productionTag(experiment, settings) !== undefined) {
      try {
        ({ approval } = await approvalForRun(store, home, experiment, {
          standing: true,
          actor: `schedule:${s.name}`,
          now: new Date(this.now()),
          notify: this.opts.notify,
        }));
      } catch (err) {
        // No standing approval (409), or settings that cannot be read (503): recorded as skipped.
        if (!(err instanceof ApiError)) throw err;
        return { skip: err.message };
      }
    }
    const configuration = s.targets ? pick(s, fire, settings) : undefined;
    return {
      run: {
        experiment: experiment.name,
        experimentVersion: experiment.version,
        title: experiment.title,
        tags: [...new Set([...experiment.tags, ...s.tags])],
        ...(approval !== undefined ? { approval } : {}),
        ...(configuration ? { configuration } : {}),
      },
    };
  }

  /** Tells the run loop, the replaced runs' server and the webhooks what the firings did. */
  private announce(reqs: readonly FiringRequest[], results: readonly FiringResult[]): void {
    const missed = new Map<Schedule, { n: number; reason?: string }>();
    for (const [i, result] of results.entries()) {
      const s = (reqs[i] as FiringRequest).schedule;
      if (result.taken) continue;
      const { firing } = result;
      if (result.run) this.opts.runner.notifyQueued(result.run as unknown as Run);
      for (const r of result.replaced)
        if (r.status === 'running' && r.claimedBy === this.opts.serverId)
          this.opts.runner.abort(
            r.id,
            `replaced by a newer run of schedule ${s.name} (concurrency policy replace)`,
            true,
          );
      if (firing.outcome === 'missed') {
        const m = missed.get(s) ?? { n: 0 };
        m.n++;
        if (firing.reason) m.reason = firing.reason;
        missed.set(s, m);
        continue;
      }
      const fired = firing.outcome === 'fired';
      this.opts.notify(
        fired ? 'schedule.fired' : 'schedule.skipped',
        fired
          ? `schedule ${s.name} fired: run ${firing.run} of ${s.experiment}`
          : `schedule ${s.name} skipped its firing due ${firing.due}: ${firing.reason ?? ''}`,
        {
          schedule: s.name,
          experiment: s.experiment,
          due: firing.due,
          ...(firing.run ? { run: firing.run } : {}),
          ...(firing.reason ? { reason: firing.reason } : {}),
        },
      );
    }
    // Missed firings are told once per schedule (an outage of a frequent schedule is one message).
    for (const [s, m] of missed)
      this.opts.notify('schedule.skipped', `schedule ${s.name}: ${m.n} firing(s) missed`, {
        schedule: s.name,
        experiment: s.experiment,
        missed: m.n,
        ...(m.reason ? { reason: m.reason } : {}),
      });
  }
}

/**
 * The targets of a firing: `count` of the candidates, seeded by the firing (every server picks the
 * same), capped by the settings file's blast radius (max_targets, the smallest of either spelling).
 */
function pick(s: Schedule, fire: Fire, settings: Settings): Record<string, unknown> {
  const t = s.targets;
  if (!t) return {};
  let count = t.count;
  for (const { policy } of settingsBlastRadius(settings))
    if (policy.max_targets !== undefined) count = Math.min(count, policy.max_targets);
  return { [t.configurationKey]: pickTargets(t.candidates, count, `${s.id}:${fire.due.toISOString()}`) };
}
