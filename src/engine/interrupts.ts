/**
 * What can interrupt a run from outside its activities: the caller's signal
 * (Ctrl-C, SIGTERM), `faultline halt` from any terminal (its flag is watched,
 * and polled in case the filesystem drops watch events), and the run's max
 * duration. Controls and safeguards abort the same controller.
 */
import { type FSWatcher, watch } from 'node:fs';
import { setLongTimeout } from '../core/timers.js';
import { ensureDir, HALT_FILE } from '../faults/home.js';
import { haltState } from '../faults/recovery.js';

export interface RunInterrupts {
  /** Aborted when the run must stop; its reason says why. */
  controller: AbortController;
  /** Stops watching (the run is over); idempotent. */
  stop(): void;
}

export async function watchInterrupts(opts: {
  home: string;
  signal?: AbortSignal;
  haltPollMs?: number;
  maxDurationMs?: number;
  /** The abort reason when maxDurationMs elapses. */
  maxDurationReason?: string;
}): Promise<RunInterrupts> {
  const controller = new AbortController();
  const { signal } = opts;
  const onOuterAbort = () => controller.abort(signal?.reason ?? 'interrupted by signal');
  if (signal?.aborted) onOuterAbort();
  signal?.addEventListener('abort', onOuterAbort, { once: true });

  const checkHalt = () => {
    haltState({ home: opts.home }).then(
      (h) =>
        h &&
        !controller.signal.aborted &&
        controller.abort(`halted by \`faultline halt\`${h.reason ? `: ${h.reason}` : ''}`),
      () => {},
    );
  };
  const haltTimer = setInterval(checkHalt, opts.haltPollMs ?? 100);
  haltTimer.unref();
  let haltWatch: FSWatcher | undefined;
  try {
    await ensureDir(opts.home);
    haltWatch = watch(opts.home, (_event, file) => file === HALT_FILE && checkHalt());
    haltWatch.on('error', () => {});
    haltWatch.unref();
  } catch {
    // Polling alone still finds the halt.
  }

  const max = opts.maxDurationMs;
  const maxTimer =
    max === undefined
      ? undefined
      : // Chained past 2^31-1 ms: a plain timer would fire after 1 ms (max_duration: 3000000s).
        setLongTimeout(
          () =>
            controller.abort(
              opts.maxDurationReason ?? `the experiment exceeded its max duration (${max / 1000} s)`,
            ),
          max,
        );

  return {
    controller,
    stop() {
      clearInterval(haltTimer);
      maxTimer?.clear();
      haltWatch?.close();
      signal?.removeEventListener('abort', onOuterAbort);
    },
  };
}
