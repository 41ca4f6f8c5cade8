/**
 * How an injection honours its signal: a cancelled injection (Ctrl-C, a
 * safeguard breach, fail-fast, halt: FaultSession.revertAll()) gives up at
 * once instead of waiting on what it was doing (a lock, a connection, a busy
 * server). What it had already done is undone by the fault's revert, which the
 * session runs on every failed injection.
 */

/** The error an injection cancelled through its signal fails with. */
export function abortError(signal: AbortSignal): Error {
  const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
  return new Error(`cancelled while injecting: ${why}`);
}

/**
 * Runs `work` until `signal` aborts; then calls `onAbort` (close what `work`
 * waits on, so it fails too and leaves nothing running) and rejects at once,
 * without waiting for `work` to notice. The listener goes when `work` settles:
 * a fault in place is left to its revert.
 */
export async function untilAborted<T>(
  signal: AbortSignal | undefined,
  work: Promise<T>,
  onAbort: () => void,
): Promise<T> {
  if (!signal) return work;
  work.catch(() => undefined); // it loses the race when aborted: its late failure is expected
  let listener = () => undefined as void;
  const aborted = new Promise<never>((_, reject) => {
    listener = () => {
      onAbort();
      reject(abortError(signal));
    };
  });
  if (signal.aborted) listener();
  else signal.addEventListener('abort', listener, { once: true });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', listener);
  }
}
