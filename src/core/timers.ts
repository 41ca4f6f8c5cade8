/**
 * One scheduler for every delay that comes from user input (pauses, timeouts,
 * max durations, toxic ttl/latency). Node's timers overflow above 2^31-1 ms
 * (about 24.8 days) and then fire after 1 ms, so a long delay is chained in
 * steps; a delay that is not a finite number is a bug upstream (the schemas
 * refuse it), so it throws instead of silently firing at once or never.
 */

/** The longest delay one Node timer honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A pending timeout: clear() cancels it (idempotent). */
export interface LongTimeout {
  clear(): void;
}

function checkDelay(ms: number): number {
  if (typeof ms !== 'number' || Number.isNaN(ms) || !Number.isFinite(ms)) {
    throw new RangeError(`a delay must be a finite number of milliseconds, got ${String(ms)}`);
  }
  return Math.max(0, ms);
}

/**
 * Calls `fn` once after `ms` milliseconds, for any finite `ms` (negative means
 * now, as setTimeout does). `unref` (default true) keeps a pending timeout from
 * holding the process open, like a timer's unref().
 * @example const t = setLongTimeout(() => stop(), 3_000_000_000); t.clear();
 */
export function setLongTimeout(fn: () => void, ms: number, opts: { unref?: boolean } = {}): LongTimeout {
  const due = performance.now() + checkDelay(ms);
  let timer: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = () => {
    const left = due - performance.now();
    timer = setTimeout(
      () => {
        if (cleared) return;
        // Timers may fire a little early; re-arm until the due time is reached.
        if (due - performance.now() > 0.5) arm();
        else {
          cleared = true;
          fn();
        }
      },
      Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(left))),
    );
    if (opts.unref !== false) timer.unref();
  };
  arm();
  return {
    clear() {
      cleared = true;
      clearTimeout(timer);
    },
  };
}

/** The error a sleep rejects with when its signal aborts (as node:timers/promises does). */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
    name: 'AbortError',
  });
}

/**
 * Resolves after `ms` milliseconds (any finite value, chained past 2^31-1 ms),
 * or rejects with an AbortError as soon as `signal` aborts. The pending timer
 * keeps the process alive, as a sleep should; the abort listener is removed
 * when the sleep ends, so loops that sleep thousands of times do not pile up
 * listeners.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  const delay = checkDelay(ms);
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      timer.clear();
      reject(abortError(signal as AbortSignal));
    };
    const timer = setLongTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      delay,
      { unref: false },
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Like sleep(), but resolves (instead of rejecting) when the signal aborts: for loops that check the signal. */
export async function sleepUntilAborted(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, signal);
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

/**
 * Seconds as milliseconds for the functions above: a finite number of seconds
 * too large to be a finite number of milliseconds (1e308 s) stays the longest
 * finite delay instead of becoming Infinity.
 */
export function secondsToMs(seconds: number): number {
  if (!Number.isFinite(seconds)) {
    throw new RangeError(`a duration must be a finite number of seconds, got ${String(seconds)}`);
  }
  return Math.min(seconds * 1000, Number.MAX_VALUE);
}
