/**
 * What can interrupt a run from outside its activities: the caller's signal
 * (Ctrl-C, SIGTERM), `faultline halt` from any terminal (its flag is watched,
 * and polled in case the filesystem drops watch events), and the run's max
 * duration. Controls and safeguards abort the same controller.
 */
import { setLongTimeout } from '../core/timers.js';

/**
 * Where the engine learns of a halt. The engine does not read the halt switch
 * itself: the library supplies the local halt file (faults/halt-source.ts), a
 * fleet agent its own.
 */
export interface HaltSource {
  /** The halt in force, or null. */
  state(): Promise<{ since: string; reason?: string } | null>;
  /**
   * Calls `onChange` when the halt may have changed (a file watch); returns a
   * stop function. Optional: the engine polls state() anyway, in case a watch
   * drops events.
   */
  watch?(onChange: () => void): Promise<() => void>;
}

export interface RunInterrupts {
  /** Aborted when the run must stop; its reason says why. */
  controller: AbortController;
  /** Stops watching (the run is over); idempotent. */
  stop(): void;
}

export async function watchInterrupts(opts: {
  halt: HaltSource;
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
    opts.halt.state().then(
      (h) =>
        h &&
        !controller.signal.aborted &&
        controller.abort(`halted by \`faultline halt\`${h.reason ? `: ${h.reason}` : ''}`),
      () => {},
    );
  };
  const haltTimer = setInterval(checkHalt, opts.haltPollMs ?? 100);
  haltTimer.unref();
  const stopWatch = await opts.halt.watch?.(checkHalt).catch(() => undefined);

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
      stopWatch?.();
      signal?.removeEventListener('abort', onOuterAbort);
    },
  };
}
