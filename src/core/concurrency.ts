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

/**
 * Like forEachLimit, but items with the same key run one after another, in the
 * order given, while different keys run concurrently (at most `limit` keys at
 * once). Reverts use it: faults on one target unwind newest first (a later
 * fault may sit on an earlier one), other targets meanwhile.
 */
export async function forEachByKeyLimit<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  await forEachLimit([...groups.values()], limit, async (group) => {
    let failure: { error: unknown } | undefined;
    for (const item of group) {
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  });
}
