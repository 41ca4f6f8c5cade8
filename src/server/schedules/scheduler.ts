/** SCAFFOLD (issue #18, being written): the server's scheduler. */
import type { Runner } from '../runner.js';
import type { BlackoutGate, Notify } from '../services.js';
import type { Store } from '../store.js';

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

export class Scheduler {
  constructor(readonly opts: SchedulerOptions) {}
  start(): void {}
  wake(): void {}
  async stop(): Promise<void> {}
}
