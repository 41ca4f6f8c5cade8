/** SCAFFOLD (issue #18, being written): the blackout watcher. */
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

export class BlackoutWatcher implements BlackoutGate {
  constructor(readonly opts: BlackoutWatcherOptions) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async current(_now?: Date): Promise<ActiveBlackout | undefined> {
    return undefined;
  }
}
