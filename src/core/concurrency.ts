/** Small concurrency helpers (no I/O). */

/**
 * Calls `fn` on every item, at most `limit` at once, starting them in order.
 * Resolves when all have settled; `fn` is expected to handle its own errors
 * (a rejection is rethrown after every item has run).
 */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
}
