/** Whether a process still runs: a zombie (exited, waiting for a parent that never reaps it) does not. */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function running(pid: number): boolean {
  try {
    // The state follows the command name in parentheses, which may itself hold spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until none of `pids` runs (a hang guard of a minute, polled: exits are not events we can await). */
export async function untilGone(pids: readonly number[]): Promise<number[]> {
  for (let i = 0; i < 1200 && pids.some(running); i++) await sleep(50);
  return pids.filter(running);
}
