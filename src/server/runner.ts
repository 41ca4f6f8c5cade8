/**
 * The server's run loop: claims queued runs one at a time (the store makes a
 * claim atomic, so two servers on one database never run the same run) and
 * runs each through runFromSource, the call `faultline run` makes, in a
 * worker thread of the server's process (run-thread.ts), so a run
 * started from the API gets the same settings file, blast radius, safeguards
 * and policies. The stored source is written to a per-run work directory with
 * its format's extension, so validation reports lines and columns as for a
 * file. One run at a time: faults of two runs on one host would confound each
 * other's steady state.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FaultlineError } from '../core/errors.js';
import type { Journal } from '../core/journal.js';
import { decideVerdict } from '../core/verdict.js';
import type { FleetConnectOptions } from '../fleet/connect.js';
import { recoverOrphans } from '../lib/faults.js';
import { LiveHub, type LiveHubOptions } from './live.js';
import { runInThread } from './run-thread.js';
import type { Run, Store } from './store.js';

export interface RunnerOptions {
  store: Store;
  serverId: string;
  home: string;
  /** The environment runs see (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** How often the loop looks for queued runs when nobody told it of one (another server's API, a missed wake). */
  pollMs?: number;
  /** The fleet's NATS for runs whose faults name `targets:` (`serve --nats`); default as runFromSource's. */
  fleet?: FleetConnectOptions;
  /**
   * Asked before each claim: false leaves queued runs queued (the emergency stop is raised). A claim
   * after a halt raised elsewhere but before this server saw it is still stopped by the halt itself.
   */
  mayClaim?: () => Promise<boolean>;
  /** Something the operator should know (a run that could not be recorded). */
  onProblem?: (message: string) => void;
  /** The live view's bounds and clock (tests, benchmarks); defaults as LiveHub's. */
  live?: LiveHubOptions;
}

/** What a journal says about how the run went, as the store records it. */
export function finishedUpdate(journal: Journal) {
  const verdict = decideVerdict(journal);
  return {
    // Interrupted (an abort, a signal, a safeguard) is a status of its own in lists, as a server killed mid-run is.
    status: verdict.kind === 'interrupted' ? ('interrupted' as const) : ('finished' as const),
    verdict: verdict.kind,
    ...(verdict.reasons.length > 0 ? { reason: verdict.reasons.join('; ') } : {}),
    startedAt: journal.start,
    finishedAt: journal.end,
    duration: journal.duration,
    journal,
  };
}

/**
 * Where this server's runs keep their files while they run: in the home, one folder per server, so
 * what a killed server left is found and removed when it starts again (removeWorkDirs).
 */
export function workRoot(home: string, serverId: string): string {
  return join(home, 'server', 'work', serverId);
}

/** Removes the work folders a previous life of this server left (it was killed mid-run). */
export async function removeWorkDirs(home: string, serverId: string): Promise<void> {
  await rm(workRoot(home, serverId), { recursive: true, force: true });
}

export class Runner {
  /** The live view of this server's runs and the server-wide stream (`/api/runs/{id}/live`, `/api/live`). */
  readonly live: LiveHub;
  private readonly opts: RunnerOptions;
  private readonly running = new Map<string, AbortController>();
  /** Aborts asked for between a run's claim and its start. */
  private readonly pendingAborts = new Map<string, string>();
  /** Runs this server has ended (an abort arriving after the end must not linger). */
  private readonly finished = new Set<string>();
  /** The last problem reported by the loop: a database that is away is reported once, not every poll. */
  private lastProblem: string | undefined;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(opts: RunnerOptions) {
    this.opts = opts;
    this.live = new LiveHub(opts.live);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** A run was queued: look now rather than at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  /** A run was queued through this server: `/api/live` viewers see it, and the loop looks now. */
  notifyQueued(run: Run): void {
    this.live.broadcast({ type: 'run', run });
    this.wake();
  }

  /** The runs this server is running now. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** Whether this server is running `id` now. */
  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /**
   * Interrupts a run this server is running; false when it is not running here. Its faults are
   * reverted. `claimedHere`: the store says this server claimed it, so it may be between its claim
   * and its start: it is interrupted as it starts.
   */
  abort(id: string, reason: string, claimedHere = false): boolean {
    const controller = this.running.get(id);
    if (controller) {
      controller.abort(reason);
      return true;
    }
    if (!claimedHere || this.finished.has(id)) return false;
    this.pendingAborts.set(id, reason);
    return true;
  }

  /**
   * Stops `run` wherever it stands, as the API's abort does: interrupts it when this server runs it
   * (or claimed it), or cancels it while it is still queued (it will never run). `interrupting`: it
   * ends `interrupted` once its faults are reverted; `cancelled` with the run as stored; undefined when
   * it is neither queued nor running here (another server's run, or one that ended).
   */
  async abortOrCancel(
    run: Run,
    reason: string,
  ): Promise<{ kind: 'interrupting' } | { kind: 'cancelled'; run: Run | undefined } | undefined> {
    if (this.abort(run.id, reason, run.status === 'running' && run.claimedBy === this.opts.serverId))
      return { kind: 'interrupting' };
    if (run.status !== 'queued') return undefined;
    const cancelled = await this.opts.store.updateRun(run.id, {
      status: 'interrupted',
      verdict: 'interrupted',
      reason: `${reason} before it started`,
      finishedAt: new Date().toISOString(),
    });
    return { kind: 'cancelled', run: cancelled };
  }

  /** Stops claiming runs, interrupts the one running (its faults are reverted) and waits until it is recorded. */
  async stop(reason: string): Promise<void> {
    this.stopped = true;
    for (const controller of this.running.values()) controller.abort(reason);
    this.wakeUp?.();
    await this.loop;
    // Viewers' streams end, so closing the HTTP server does not wait for them.
    this.live.close();
  }

  private async run(): Promise<void> {
    const pollMs = this.opts.pollMs ?? 1000;
    while (!this.stopped) {
      let claimed: Run | undefined;
      try {
        if ((await this.opts.mayClaim?.()) !== false)
          claimed = await this.opts.store.claimQueuedRun(this.opts.serverId);
        this.lastProblem = undefined;
      } catch (err) {
        // The database is away: health reports it; the loop tries again at the next poll.
        const problem = `cannot claim queued runs: ${(err as Error).message}`;
        if (problem !== this.lastProblem) this.opts.onProblem?.(problem);
        this.lastProblem = problem;
      }
      if (claimed) {
        await this.execute(claimed);
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  /** Records the end of `run` and tells its viewers, with the verdict as stored. */
  private async record(run: Run, update: Parameters<Store['updateRun']>[1]): Promise<void> {
    let stored: Run | undefined;
    try {
      stored = await this.opts.store.updateRun(run.id, update);
    } catch (err) {
      this.opts.onProblem?.(`cannot record the end of run ${run.id}: ${(err as Error).message}`);
    }
    // Not recorded (the database is away): viewers still learn how it ended, from the update itself.
    const { journal: _journal, ...fields } = update as typeof update & { journal?: unknown };
    const ended = stored ?? ({ ...run, ...fields } as Run);
    this.live.end(ended);
    this.live.broadcast({ type: 'run', run: ended });
  }

  /** Reverts the ledger entries a run left; says what was done, in words, for the run's reason. */
  private async revertLeftovers(runId: string): Promise<string> {
    try {
      const report = await recoverOrphans({ home: this.opts.home, endedRuns: [runId], bounded: false });
      const done = [...report.reverted, ...report.failed].filter((r) => r.runId === runId);
      if (done.length === 0) return '';
      const failed = done.filter((r) => r.error !== undefined);
      return `; its ${done.length} fault(s) left in the ledger were reverted${failed.length > 0 ? `, ${failed.length} failed: ${failed.map((f) => `${f.kind} ${f.target}: ${f.error}`).join('; ')} (run \`faultline recover\`)` : ''}`;
    } catch (err) {
      return `; its faults could not be reverted: ${(err as Error).message} (run \`faultline recover\`)`;
    }
  }

  private async execute(run: Run): Promise<void> {
    const { store } = this.opts;
    const controller = new AbortController();
    this.running.set(run.id, controller);
    const pending = this.pendingAborts.get(run.id);
    if (pending !== undefined) {
      this.pendingAborts.delete(run.id);
      controller.abort(pending);
    }
    let workDir: string | undefined;
    try {
      const experiment =
        run.experiment === undefined
          ? undefined
          : await store.getExperiment(run.experiment, run.experimentVersion);
      if (!experiment) {
        await this.record(run, {
          status: 'finished',
          verdict: 'refused',
          reason: `experiment ${run.experiment ?? '(none)'} version ${run.experimentVersion ?? 'latest'} is not stored`,
          finishedAt: new Date().toISOString(),
        });
        return;
      }
      // A production run was queued with an approval the API checked: the run records it (journal).
      const approval = run.approval === undefined ? undefined : await store.approvals.grant(run.approval);
      if (run.approval !== undefined && !approval) {
        await this.record(run, {
          status: 'finished',
          verdict: 'refused',
          reason: `approval ${run.approval} that allowed this run is no longer approved`,
          finishedAt: new Date().toISOString(),
        });
        return;
      }
      const started = await store.updateRun(run.id, { startedAt: new Date().toISOString() });
      this.live.begin(run.id, run.title);
      this.live.broadcast({ type: 'run', run: started ?? run });
      workDir = join(workRoot(this.opts.home, this.opts.serverId), run.id);
      await mkdir(workDir, { recursive: true, mode: 0o700 });
      const file = join(workDir, `experiment.${experiment.format}`);
      await writeFile(file, experiment.source, { mode: 0o600 });
      // In a thread of its own: the server's HTTP work (500 viewers connecting cost its loop about
      // half a second) must not show as the run's latency.
      const journal = await runInThread({
        file,
        cwd: workDir,
        home: this.opts.home,
        env: { ...(this.opts.env ?? process.env) },
        runId: run.id,
        signal: controller.signal,
        onEvent: (event) => this.live.publish(run.id, event),
        fleet: this.opts.fleet,
        approval,
        configuration: run.configuration,
      });
      await this.record(run, finishedUpdate(journal));
    } catch (err) {
      // Refused before it started (validation, a policy, the blast radius, a halt): no journal.
      const refused = err instanceof FaultlineError;
      // Otherwise the run's thread died mid-run (it reverts its own faults on every path it
      // survives): what its ledger entries still hold is reverted here, since the process that owns
      // them lives on and no recovery would ever count them as orphans.
      const left = refused ? '' : await this.revertLeftovers(run.id);
      await this.record(run, {
        status: 'finished',
        verdict: refused ? 'refused' : 'failed',
        reason: refused ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}${left}`,
        finishedAt: new Date().toISOString(),
      });
    } finally {
      this.running.delete(run.id);
      this.finished.add(run.id);
      // Only a late abort's race needs it: the last few hundred are plenty.
      if (this.finished.size > 512) this.finished.delete(this.finished.values().next().value as string);
      this.pendingAborts.delete(run.id);
      if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => {});
    }
  }
}
