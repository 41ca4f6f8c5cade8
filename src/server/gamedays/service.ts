/**
 * The game days this server runs (issue #18 item 5): each started game day is a GameDaySession
 * (src/gameday/session.ts) in this process with a ServerExecutor; every event it records is appended
 * to the store first, then sent to the live stream's viewers, so the dashboard, a reload and the
 * report all read one timeline. The routes (routes.ts) only map requests onto these methods.
 *
 * The emergency stop stops a game day in progress: the run of its step is interrupted by the halt
 * itself (halt.ts), the session is stopped as that run ends (or within a poll, when it waits on a
 * person), and its rollback runs with experiments skipped while the halt holds (executor.ts). A
 * game day ends, in the store and on the stream, only once every run it started has ended, so
 * "ended" always means its faults were reverted. A server that was killed mid-game-day marks its game
 * days failed when it starts again (their runs are interrupted by the server's own recovery).
 */
import type { Issue } from '../../core/errors.js';
import type { Journal } from '../../core/journal.js';
import { runVerdict } from '../../gameday/criteria.js';
import { type GameDayPlan, parsePlan, validatePlan } from '../../gameday/plan.js';
import { type FollowUp as ReportFollowUp, renderGameDayReport } from '../../gameday/report.js';
import {
  evaluateCriteria,
  GameDaySession,
  type GameDayState,
  type TimelineEvent as SessionEvent,
  type StepRun,
} from '../../gameday/session.js';
import { ApiError } from '../api-error.js';
import { approvalForRun } from '../approvals/gate.js';
import { refuseDuringBlackout } from '../blackouts/refuse.js';
import { haltReasonText, refuseWhileHalted } from '../halt.js';
import type { Runner } from '../runner.js';
import type { BlackoutGate, Notify } from '../services.js';
import type { HaltRecord, Store } from '../store.js';
import { ServerExecutor } from './executor.js';
import type { GameDayHub } from './hub.js';
import { type GameDaySnapshot, type GameDayStatus, isEnded, type StoredGameDay } from './model.js';
import { type GameDayView, gameDayView } from './view.js';

export interface GameDayServiceOptions {
  store: Store;
  runner: Runner;
  home: string;
  serverId: string;
  blackout: BlackoutGate;
  notify: Notify;
  hub: GameDayHub;
  onProblem?: (message: string) => void;
  /** How often a game day waiting on a person looks for an emergency stop (default 1 s). */
  haltPollMs?: number;
}

interface Live {
  id: string;
  name: string;
  title: string;
  plan: GameDayPlan;
  session: GameDaySession;
  executor: ServerExecutor;
  /** Recording, one event at a time, in order. */
  queue: Promise<void>;
  /** The status last written: an end is written once every run has ended. */
  stored: GameDayStatus;
  haltSeen: boolean;
  done: Promise<void>;
}

export const ABANDONED =
  'the server stopped while the game day ran (killed or crashed); its runs were interrupted and their faults reverted when it started again';

const problemText = (err: unknown) => (err as Error)?.message ?? String(err);

/** The session's state as the store keeps it: the journals stay with their runs. */
function snapshotOf(state: GameDayState): GameDaySnapshot {
  return {
    ...(state.current !== undefined ? { current: state.current } : {}),
    ...(state.waitingFor !== undefined ? { waitingFor: state.waitingFor } : {}),
    runs: state.runs.map((r) => ({
      step: r.step,
      ...(r.runId !== undefined ? { runId: r.runId } : {}),
      verdict: runVerdict(r.journal).kind,
    })),
    criteria: state.criteria,
  };
}

/** Text a PostgreSQL column cannot hold (NUL) anywhere in the plan, as the caller's 422. */
function nulIssues(value: unknown, path: string): Issue[] {
  if (typeof value === 'string')
    return value.includes('\u0000') ? [{ path, message: 'expected text without NUL characters' }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => nulIssues(v, `${path}[${i}]`));
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => [
      ...nulIssues(k, path),
      ...nulIssues(v, path === '' ? k : `${path}.${k}`),
    ]);
  return [];
}

/** The stored plan, typed (it was validated when stored; a plan this version no longer takes is a 409). */
function planOf(g: StoredGameDay): GameDayPlan {
  const planned = validatePlan(g.plan);
  if (!planned.ok)
    throw new ApiError(
      409,
      'invalid_plan',
      `game day ${g.id}: its stored plan no longer validates`,
      planned.issues,
    );
  return planned.plan;
}

function experimentSteps(plan: GameDayPlan) {
  const lists = [
    ['steps', plan.steps],
    ['rollback.steps', plan.rollback?.steps ?? []],
  ] as const;
  return lists.flatMap(([base, steps]) =>
    steps.flatMap((s, i) => (s.kind === 'experiment' ? [{ step: s, path: `${base}[${i}]` }] : [])),
  );
}

export class GameDayService {
  readonly #o: GameDayServiceOptions;
  readonly #live = new Map<string, Live>();
  #haltTimer: NodeJS.Timeout | undefined;
  #closing: string | undefined;

  constructor(opts: GameDayServiceOptions) {
    this.#o = opts;
  }

  get store() {
    return this.#o.store.gamedays;
  }

  #problem(message: string): void {
    this.#o.onProblem?.(message);
  }

  /** Marks the game days a previous life of this server left running as failed. */
  async recover(): Promise<string[]> {
    return this.store.abandonOf(this.#o.serverId, ABANDONED, new Date().toISOString());
  }

  // ---------------------------------------------------------------- plans

  /**
   * Validates a plan (YAML or JSON text) for this server: the schema and its cross-checks, then every
   * experiment step naming an experiment stored here. Throws ApiError 422 with every issue.
   */
  async checkPlan(source: string): Promise<GameDayPlan> {
    const parsed = parsePlan(source, 'plan');
    if (!parsed.ok) throw this.#invalid(parsed.issues);
    const issues = nulIssues(parsed.plan, '');
    for (const { step, path } of experimentSteps(parsed.plan)) {
      const found = await this.#o.store.getExperiment(step.experiment, step.version);
      if (!found)
        issues.push({
          path: `${path}.experiment`,
          message: `no experiment ${step.experiment}${step.version === undefined ? '' : ` version ${step.version}`} is stored on this server (upload it first: POST /api/experiments); on the server a step names a stored experiment, not a file`,
        });
    }
    if (issues.length > 0) throw this.#invalid(issues);
    return parsed.plan;
  }

  #invalid(issues: Issue[]): ApiError {
    return new ApiError(
      422,
      'invalid_plan',
      `plan: ${issues.length} problem${issues.length === 1 ? '' : 's'}: ${issues[0]?.path ? `${issues[0].path}: ` : ''}${issues[0]?.message ?? ''}`,
      issues,
    );
  }

  async create(source: string, by: string): Promise<GameDayView> {
    const plan = await this.checkPlan(source);
    const g = await this.store.create({
      name: plan.name,
      title: plan.title,
      source,
      plan: plan as unknown as Record<string, unknown>,
      createdBy: by,
    });
    return gameDayView(g, [], []);
  }

  // ---------------------------------------------------------------- reading

  async get(id: string): Promise<StoredGameDay> {
    const g = await this.store.get(id);
    if (!g) throw new ApiError(404, 'not_found', `no game day ${id}`);
    return g;
  }

  async view(id: string, g?: StoredGameDay): Promise<GameDayView> {
    const gd = g ?? (await this.get(id));
    const [timeline, followUps] = await Promise.all([
      this.store.timeline(id),
      this.store.listFollowUps({ gameday: id, limit: 500 }),
    ]);
    return gameDayView(gd, timeline, followUps);
  }

  isLive(id: string): boolean {
    return this.#live.has(id);
  }

  /** The report, from what the store holds (the runs' journals from their runs). */
  async report(id: string, format: 'html' | 'markdown'): Promise<string> {
    const g = await this.get(id);
    const plan = planOf(g);
    const [timeline, followUps] = await Promise.all([
      this.store.timeline(id),
      this.store.listFollowUps({ gameday: id, limit: 500 }),
    ]);
    const runs = await this.#stepRuns(g);
    const state: GameDayState = {
      plan,
      status: g.status,
      ...(g.snapshot.current !== undefined ? { current: g.snapshot.current } : {}),
      ...(g.snapshot.waitingFor !== undefined ? { waitingFor: g.snapshot.waitingFor } : {}),
      timeline: timeline as SessionEvent[],
      runs,
      criteria: g.snapshot.criteria,
      ...(g.startedAt !== undefined ? { startedAt: g.startedAt } : {}),
      ...(g.endedAt !== undefined ? { endedAt: g.endedAt } : {}),
    };
    const fu: ReportFollowUp[] = followUps.map((f) => ({
      id: f.id,
      text: f.text,
      state: f.state,
      ...(f.owner !== undefined ? { owner: f.owner } : {}),
      ...(f.closedBy !== undefined ? { closedBy: f.closedBy } : {}),
      ...(f.closedAt !== undefined ? { closedAt: f.closedAt } : {}),
    }));
    return renderGameDayReport(format, state, fu);
  }

  /** The runs of a game day's steps with their journals, from the store (as the session had them). */
  async #stepRuns(g: StoredGameDay): Promise<StepRun[]> {
    const runs: StepRun[] = [];
    for (const r of g.snapshot.runs) {
      const run = r.runId === undefined ? undefined : await this.#o.store.getRun(r.runId);
      if (run?.journal)
        runs.push({
          step: r.step,
          runId: r.runId as string,
          journal: run.journal as Journal,
          link: `#/runs/${r.runId}`,
        });
    }
    return runs;
  }

  /**
   * A participant's judgement of a manual success criterion, during the game day or after it (the
   * retrospective): the latest judgement is the verdict.
   */
  async judge(id: string, criterion: string, by: string, met: boolean, note?: string): Promise<void> {
    const live = this.#live.get(id);
    const g = await this.get(id);
    const plan = planOf(g);
    const c = plan.success_criteria.find((x) => x.id === criterion);
    if (!c) throw new ApiError(404, 'not_found', `game day ${id} has no success criterion ${criterion}`);
    if (c.measure.kind !== 'manual')
      throw new ApiError(
        409,
        'not_manual',
        `criterion ${criterion} is measured from the runs (${c.measure.kind}), not judged`,
      );
    if (live) {
      live.session.judge(by, criterion, met, note);
      await live.queue;
      return;
    }
    if (g.status === 'pending')
      throw new ApiError(
        409,
        'not_running',
        `game day ${id} has not started: judge its criteria once it runs`,
      );
    if (!isEnded(g.status))
      throw new ApiError(
        409,
        'not_here',
        `game day ${id} runs on another server (${g.server ?? 'unknown'}); judge it there`,
      );
    const [stored] = await this.store.appendEvents(id, [
      {
        at: new Date().toISOString(),
        type: 'criterion',
        by,
        ...(note ? { text: note } : {}),
        data: { id: criterion, verdict: met ? 'met' : 'not-met', source: 'judged' },
      },
    ]);
    if (stored) this.#o.hub.publish(id, 'timeline', stored, stored.seq);
    const criteria = evaluateCriteria(
      plan,
      await this.#stepRuns(g),
      (await this.store.timeline(id)) as SessionEvent[],
    );
    await this.store.update(id, { snapshot: { ...g.snapshot, criteria } });
  }

  // ---------------------------------------------------------------- running

  /** Starts a pending game day here. Refused (409) while halted, in a blackout, or without approvals. */
  async start(id: string, by: string): Promise<GameDayView> {
    const { store, serverId } = this.#o;
    if (this.#closing) throw new ApiError(503, 'closing', `the server is shutting down: ${this.#closing}`);
    await refuseWhileHalted(store);
    await refuseDuringBlackout(this.#o.blackout);
    const g = await this.get(id);
    if (g.status !== 'pending') throw this.#notPending(g);
    const plan = planOf(g);
    // Every experiment is looked at before the first step: a missing approval is this 409, not a
    // failure halfway through the game day.
    for (const { step, path } of experimentSteps(plan)) {
      const experiment = await store.getExperiment(step.experiment, step.version);
      if (!experiment)
        throw new ApiError(409, 'not_found', `${path}.experiment: no stored experiment ${step.experiment}`);
      await approvalForRun(store, this.#o.home, experiment, { standing: true, actor: `gameday:${id}` });
    }
    const claimed = await this.store.claim(id, { by, server: serverId, at: new Date().toISOString() });
    if (!claimed) throw this.#notPending((await this.store.get(id)) ?? g);

    const executor = new ServerExecutor({
      store,
      runner: this.#o.runner,
      home: this.#o.home,
      blackout: this.#o.blackout,
      gameday: { id, name: plan.name },
      startedBy: by,
      ...(this.#o.onProblem ? { onProblem: this.#o.onProblem } : {}),
      onHalt: (halt) => this.#halted(id, halt),
      onWaiting: () => {
        const state = live.session.state();
        live.queue = live.queue.then(() => this.#saveState(live, state));
      },
    });
    const live: Live = {
      id,
      name: plan.name,
      title: plan.title,
      plan,
      executor,
      queue: Promise.resolve(),
      stored: 'running',
      haltSeen: false,
      done: Promise.resolve(),
      session: undefined as unknown as GameDaySession,
    };
    live.session = new GameDaySession(plan, executor, {
      onEvent: (e, state) => {
        live.queue = live.queue.then(() => this.#record(live, e, state));
      },
    });
    this.#live.set(id, live);
    this.#watchHalt();
    live.done = live.session.run().then(
      (state) => this.#finish(live, state),
      (err) => this.#finish(live, undefined, err),
    );
    this.#o.notify('gameday.started', `Game day *${plan.title}* (${plan.name}) started by ${by}`, {
      gameday: id,
      name: plan.name,
      title: plan.title,
      startedBy: by,
    });
    await live.queue;
    return this.view(id);
  }

  #notPending(g: StoredGameDay): ApiError {
    return new ApiError(
      409,
      'not_pending',
      `game day ${g.id} is ${g.status}${g.server && !isEnded(g.status) ? ` on server ${g.server}` : ''}: only a pending game day starts (create another from the same plan to run it again)`,
    );
  }

  /** Records one event of a session: the store first, then the viewers. */
  async #record(live: Live, e: SessionEvent, state: GameDayState): Promise<void> {
    try {
      const { seq: _seq, ...event } = e;
      const [stored] = await this.store.appendEvents(live.id, [event]);
      if (stored) this.#o.hub.publish(live.id, 'timeline', stored, stored.seq);
    } catch (err) {
      this.#problem(`game day ${live.id}: cannot record ${e.type}: ${problemText(err)}`);
    }
    await this.#saveState(live, state);
  }

  /** The session's state into the store, then to the viewers. */
  async #saveState(live: Live, state: GameDayState): Promise<void> {
    try {
      // An end is written by #finish, once the runs have ended.
      const status = isEnded(state.status) ? live.stored : state.status;
      await this.store.update(live.id, { status, snapshot: snapshotOf(state) });
      live.stored = status;
      await this.#publishState(live.id);
    } catch (err) {
      this.#problem(`game day ${live.id}: cannot record its state: ${problemText(err)}`);
    }
  }

  async #publishState(id: string): Promise<void> {
    if (!this.#o.hub.watching(id)) return;
    const { timeline: _timeline, ...rest } = await this.view(id);
    this.#o.hub.publish(id, 'gameday', rest);
  }

  async #finish(live: Live, state: GameDayState | undefined, error?: unknown): Promise<void> {
    const { id } = live;
    try {
      await live.queue;
      await live.executor.settled();
      const final = state ?? live.session.state();
      const status: GameDayStatus = state ? final.status : 'failed';
      const reason = error
        ? `the game day failed: ${problemText(error)}`
        : [...final.timeline].reverse().find((e) => e.type === 'gameday.ended')?.text;
      // A note recorded from now on keeps this end (#saveState writes what `stored` says for an end).
      live.stored = status;
      // The Remediate step: the plan's own follow-ups, and one per criterion that was not met. They
      // are written with the end, in one transaction: a reader never sees the end without them.
      const owner = live.plan.participants.find((p) => p.role === 'incident-commander')?.name;
      const createdBy = `gameday:${id}`;
      const followUps = [
        ...live.plan.follow_ups.map((f) =>
          typeof f === 'string'
            ? { text: f, createdBy }
            : { text: f.text, createdBy, ...(f.owner ? { owner: f.owner } : {}) },
        ),
        ...final.criteria
          .filter((c) => c.verdict === 'not-met')
          .map((c) => ({
            text: `Criterion ${c.id} not met: ${c.description}${c.measured ? ` (measured ${c.measured})` : ''}`,
            createdBy,
            ...(owner ? { owner } : {}),
          })),
      ];
      await this.store.end(
        id,
        {
          status,
          snapshot: snapshotOf(final),
          endedAt: final.endedAt ?? new Date().toISOString(),
          ...(reason !== undefined ? { reason } : {}),
        },
        followUps,
      );
      const met = final.criteria.filter((c) => c.verdict === 'met').length;
      this.#o.notify(
        'gameday.ended',
        `Game day *${live.title}* (${live.name}) ${status}${reason ? `: ${reason}` : ''}; ${met}/${final.criteria.length} success criteria met`,
        {
          gameday: id,
          name: live.name,
          title: live.title,
          status,
          criteria: final.criteria.map((c) => ({ id: c.id, verdict: c.verdict })),
          followUps: followUps.length,
        },
      );
    } catch (err) {
      this.#problem(`game day ${id}: cannot record its end: ${problemText(err)}`);
    } finally {
      this.#live.delete(id);
      const view = await this.view(id).catch(() => undefined);
      this.#o.hub.end(id, view ?? { id });
    }
  }

  /** The live game day `id`, or why it cannot be acted on here (409). */
  async #running(id: string): Promise<Live> {
    const live = this.#live.get(id);
    if (live) return live;
    const g = await this.get(id);
    if (g.status === 'pending')
      throw new ApiError(
        409,
        'not_running',
        `game day ${id} has not started (POST /api/gamedays/${id}/start)`,
      );
    if (!isEnded(g.status) && g.server !== this.#o.serverId)
      throw new ApiError(
        409,
        'not_here',
        `game day ${id} runs on another server (${g.server ?? 'unknown'}); act on it there`,
      );
    throw new ApiError(409, 'not_running', `game day ${id} is ${g.status}: it is over`);
  }

  async confirm(id: string, step: string, by: string, answer: { ok: boolean; note?: string }): Promise<void> {
    const live = await this.#running(id);
    if (
      !live.executor.answer(
        step,
        { by, ok: answer.ok, ...(answer.note ? { note: answer.note } : {}) },
        'confirm',
      )
    )
      throw this.#notWaiting(live, step, 'confirmation');
  }

  async decide(id: string, step: string, by: string, choice: string): Promise<void> {
    const live = await this.#running(id);
    const waiting = live.executor.waiting(step);
    if (waiting?.kind !== 'decision') throw this.#notWaiting(live, step, 'decision');
    const options = waiting.step.kind === 'decision' ? waiting.step.options.map((o) => o.label) : [];
    if (!options.includes(choice))
      throw new ApiError(
        422,
        'invalid_choice',
        `choice: expected one of ${options.map((o) => `"${o}"`).join(', ')}`,
        [{ path: 'choice', message: `expected one of ${options.map((o) => `"${o}"`).join(', ')}` }],
      );
    live.executor.answer(step, { by, choice }, 'decision');
  }

  #notWaiting(live: Live, step: string, what: string): ApiError {
    const w = live.session.state().waitingFor;
    const known = [...live.plan.steps, ...(live.plan.rollback?.steps ?? [])].some((s) => s.id === step);
    if (!known) return new ApiError(404, 'not_found', `game day ${live.id} has no step ${step}`);
    return new ApiError(
      409,
      'not_waiting',
      `step ${step} is not waiting for a ${what}${w ? ` (step ${w.step} waits for a ${w.kind === 'confirm' ? 'confirmation' : 'decision'})` : ''}`,
    );
  }

  /** A timestamped note: into the session when it runs here, else straight into the timeline. */
  async note(id: string, by: string, text: string): Promise<void> {
    const live = this.#live.get(id);
    if (live) {
      live.session.note(by, text);
      await live.queue;
      return;
    }
    await this.get(id);
    const [stored] = await this.store.appendEvents(id, [
      { at: new Date().toISOString(), type: 'note', by, text },
    ]);
    if (stored) this.#o.hub.publish(id, 'timeline', stored, stored.seq);
  }

  /** Stops the game day (again, during its rollback: skips the rest of the rollback). */
  async stop(id: string, by: string, reason: string): Promise<void> {
    const live = await this.#running(id);
    live.session.stop(by, reason);
    await live.queue;
  }

  // ---------------------------------------------------------------- the emergency stop, closing

  /** The step's run ended interrupted while a halt is raised: the game day stops (executor.ts). */
  #halted(id: string, halt: HaltRecord): void {
    const live = this.#live.get(id);
    if (!live || live.haltSeen) return;
    live.haltSeen = true;
    const status = live.session.state().status;
    // A stop already under way keeps its rollback: a second stop would skip it.
    if (status === 'running' || status === 'pending') live.session.stop(halt.by, haltReasonText(halt));
  }

  /** While game days run here, an emergency stop raised anywhere on the database stops them. */
  #watchHalt(): void {
    if (this.#haltTimer) return;
    const tick = async () => {
      this.#haltTimer = undefined;
      if (this.#live.size === 0 || this.#closing) return;
      try {
        const halt = await this.#o.store.getHalt();
        if (halt) for (const id of this.#live.keys()) this.#halted(id, halt);
      } catch {
        // The database is away: the HaltWatcher says so; the next poll asks again.
      }
      if (!this.#haltTimer && this.#live.size > 0) {
        this.#haltTimer = setTimeout(() => void tick(), this.#o.haltPollMs ?? 1000);
        this.#haltTimer.unref();
      }
    };
    this.#haltTimer = setTimeout(() => void tick(), this.#o.haltPollMs ?? 1000);
    this.#haltTimer.unref();
  }

  /**
   * The server is closing: every game day here is stopped (runs interrupted, faults reverted), what
   * waits for a person is answered "not answered", and this waits until each has recorded its end.
   */
  async close(reason: string): Promise<void> {
    this.#closing = reason;
    if (this.#haltTimer) clearTimeout(this.#haltTimer);
    this.#haltTimer = undefined;
    const lives = [...this.#live.values()];
    for (const live of lives) {
      live.executor.close(reason);
      const status = live.session.state().status;
      if (status === 'running' || status === 'pending') live.session.stop('server', reason);
    }
    await Promise.allSettled(lives.map((l) => l.done));
    this.#o.hub.close();
  }
}
