/**
 * Adaptive busy polling: after any socket activity the event loop keeps
 * polling (a chain of `setImmediate`, so libuv polls with a zero timeout)
 * for a short window instead of sleeping in epoll_wait.
 *
 * Why: on a VM, waking a sleeping process costs 15-25 µs per hop (an IPI
 * through the hypervisor); a ping-pong through the proxy pays it four times
 * per round trip, ~90 µs in all (Toxiproxy: +100 µs). Spinning for 100 µs after
 * each event removes the proxy's two wake-ups from a request/response exchange
 * (measured on the project's machine: +35 µs instead of +121 µs at p50). The
 * cost is CPU only while traffic flows, at most the window after the last
 * event; an idle proxy never spins (and the spin never outlives the window, so
 * it does not keep a process alive). `busyPollMicros: 0` turns it off.
 *
 * Under CPU contention spinning backfires: the spinner uses up its time slice
 * and loses the scheduler's wake-up preference, so the next packet waits for
 * its turn on a core (milliseconds) instead of waking it at once, and it takes
 * CPU from the other runnable tasks. A gap between two spins longer than
 * CONTENDED_GAP_MS means the process was descheduled: polling then stops and
 * stays off for BACKOFF_MS (sleeping in epoll is the better bet meanwhile).
 */
/** A gap between two spins this long (ms) means another task had the core. */
export const CONTENDED_GAP_MS = 2;
/** How long (ms) polling stays off after contention was seen. */
export const BACKOFF_MS = 500;

export class BusyPoller {
  readonly #windowMs: number;
  #spinning = false;
  #active = false;
  #deadline = 0;
  #last = 0;
  #backoffUntil = 0;

  /** Whether it is polling now. */
  get spinning(): boolean {
    return this.#spinning;
  }

  /** Whether polling is off for a while because the CPU is contended. */
  get backingOff(): boolean {
    return performance.now() < this.#backoffUntil;
  }

  constructor(windowMicros: number) {
    this.#windowMs = Math.max(0, windowMicros) / 1000;
  }

  /** Called on every read; cheap when already spinning. */
  poke(): void {
    if (this.#spinning) {
      this.#active = true;
      return;
    }
    if (this.#windowMs === 0) return;
    const now = performance.now();
    if (now < this.#backoffUntil) return;
    this.#spinning = true;
    this.#last = now;
    this.#deadline = now + this.#windowMs;
    setImmediate(this.#spin);
  }

  #spin = (): void => {
    const now = performance.now();
    if (now - this.#last > CONTENDED_GAP_MS) {
      this.#spinning = false;
      this.#active = false;
      this.#backoffUntil = now + BACKOFF_MS;
      return;
    }
    this.#last = now;
    if (this.#active) {
      this.#active = false;
      this.#deadline = now + this.#windowMs;
    } else if (now >= this.#deadline) {
      this.#spinning = false;
      return;
    }
    setImmediate(this.#spin);
  };
}
