/**
 * Polls `check` until it gives something truthy and returns it. The limit is a
 * hang guard, never a timing assertion: tests wait for outcomes, however long a
 * loaded machine takes (within reason).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export async function until<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 60_000,
): Promise<Exclude<T, null | undefined | false>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, null | undefined | false>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
