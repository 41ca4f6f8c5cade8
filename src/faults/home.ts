/** Where Faultline keeps state shared by every process on the host: the fault ledger, runs, the halt flag. */
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * `$FAULTLINE_HOME`, or `~/.faultline`.
 *
 * @example faultlineHome({ FAULTLINE_HOME: '/tmp/fl' }) // '/tmp/fl'
 */
export function faultlineHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.FAULTLINE_HOME;
  return fromEnv ? resolve(fromEnv) : join(homedir(), '.faultline');
}

/** Creates `dir` (and parents) readable only by the owner: undo records can name hosts and paths. */
export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}
